"""Shared pieces of the benchmarks: the one job runner, child environments and CPU pinning, result files and tables,
the fixed batches and model FLOPs of the throughput rows. Imports no framework at module level, so a driver runs
without those it was not asked to measure."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import platform
import signal
import statistics
import subprocess
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from datamodules import PreparedData, Vocab, collate, pad_ratio
from datamodules.corpus import Corpus
from seq2seq_fit import Seq2SeqConfig
from seq2seq_fit.atomic_file import atomic_write_path
from seq2seq_fit.batch import Batch

RESULTS = Path(__file__).resolve().parent / "results"

# ------------------------------------------------------------------------------- child processes and CPUs


def add_run_options(parser: Any, threads: int = 0, cpus: bool = True, results: bool = True) -> None:
    """``--threads`` (default ``threads``), ``--fresh`` and, where asked, ``--cpus`` and ``--results``."""
    parser.add_argument("--threads", type=int, default=threads, help="CPU threads of each run (0: libraries' default)")
    parser.add_argument("--fresh", action="store_true", help="measure again what has a result file")
    if cpus:
        parser.add_argument("--cpus", default=None, help="run on these CPUs only (taskset -c syntax: 0, 0,1, 0-3)")
    if results:
        parser.add_argument("--results", type=Path, default=RESULTS, help="results folder (default benchmarks/results)")


def thread_env(threads: int) -> dict[str, str]:
    """``threads`` for the BLAS and OpenMP pools of a child process (numpy, torch, TensorFlow; 0: leave them)."""
    names = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
             "TF_NUM_INTEROP_THREADS")  # fmt: skip
    return dict.fromkeys(names, str(threads)) if threads > 0 else {}


def keras_env(backend: str, cpu_only: bool, threads: int) -> dict[str, str]:
    """Environment of a Keras process: the backend, no GPU on CPU runs, XLA's thread flags (JAX ignores them:
    :func:`set_backend_threads` pins the process instead)."""
    env = {"KERAS_BACKEND": backend} | ({"CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"} if cpu_only else {})
    if threads:
        flags = f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'}"
        env["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags} intra_op_parallelism_threads={threads}".strip()
    return env


def parse_cpus(text: str) -> set[int]:
    """CPU ids from ``"0"``, ``"0,2"`` or ``"0-3"`` (the ``taskset -c`` syntax).

    Example:
        >>> sorted(parse_cpus("0-2,5"))
        [0, 1, 2, 5]
    """
    cpus: set[int] = set()
    try:
        for part in text.split(","):
            first, _, last = part.strip().partition("-")
            cpus.update(range(int(first), int(last or first) + 1))
    except ValueError:
        raise SystemExit(f"--cpus: got {text!r}, expected CPU ids such as 0, 0,1 or 0-3") from None
    if not cpus:
        raise SystemExit(f"--cpus: got {text!r}, expected at least one CPU id")
    return cpus


def allowed_cpus() -> list[int] | None:
    """The CPUs this process may run on (``None`` where the system does not say: not Linux)."""
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None


def idlest_cpus(allowed: list[int], count: int, seconds: float = 0.2) -> list[int]:
    """The ``count`` CPUs of ``allowed`` idlest over ``seconds`` (``/proc/stat``; else the first), in id order."""

    def idle() -> dict[int, int]:  # idle + iowait ticks per CPU
        rows = (line.split() for line in Path("/proc/stat").read_text().splitlines())
        return {int(r[0][3:]): int(r[4]) + int(r[5]) for r in rows if r[0].startswith("cpu") and r[0][3:].isdigit()}

    try:
        before, _, after = idle(), time.sleep(seconds), idle()
    except (OSError, ValueError, IndexError):
        return allowed[:count]
    return sorted(sorted(allowed, key=lambda cpu: (before.get(cpu, 0) - after.get(cpu, 0), cpu))[:count])


def pin_cpus(cpus: str | None = None, threads: int = 0) -> list[int] | None:
    """Run this process (and what it starts from now on) on the CPUs ``cpus`` names, or else on its ``threads``
    idlest CPUs; returns them, ``None`` where nothing changed. Thread counts alone do not keep two runs apart: XLA
    on the CPU sizes its pool from the CPUs it may use."""
    allowed = allowed_cpus()
    if allowed is None or (cpus is None and threads <= 0):
        return None
    wanted = sorted(parse_cpus(cpus)) if cpus is not None else idlest_cpus(allowed, threads)
    if not set(wanted) <= set(allowed):
        raise SystemExit(f"--cpus {cpus}: this process may only run on CPUs {allowed}")
    os.sched_setaffinity(0, wanted)
    return wanted


def set_backend_threads(backend: str, threads: int, pin_jax: bool = True) -> None:
    """CPU threads of TensorFlow / torch (0: their default); JAX (``pin_jax``): the process pinned to ``threads``
    CPUs, which works only before JAX starts its CPU backend (a warning otherwise)."""
    if threads <= 0:
        return
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    elif backend == "torch":
        import torch

        torch.set_num_threads(threads)
    elif backend == "jax" and pin_jax and len(allowed_cpus() or ()) > threads:
        from jax._src import xla_bridge

        if xla_bridge.backends_are_initialized():
            warnings.warn(f"JAX started before it could be limited to {threads} CPU thread(s)", stacklevel=2)
        pin_cpus(threads=threads)


def versions(backend: str, *packages: str) -> dict[str, Any]:
    """Python's version, the ``packages``' and the ``backend``'s (torch, jax or tensorflow) with its CUDA build and
    threads; ``gpu``: the name of the GPU it sees, if any."""
    info: dict[str, Any] = {"python": platform.python_version(), "backend": backend}
    for name in (*packages, backend):
        with contextlib.suppress(ImportError):
            info[name] = importlib.import_module(name).__version__
    if backend == "torch":
        import torch

        info |= {"cuda": str(torch.version.cuda), "threads": torch.get_num_threads()}
        if torch.cuda.is_available():
            info |= {"cudnn": str(torch.backends.cudnn.version()), "gpu": torch.cuda.get_device_name(0)}
    elif backend == "jax":
        import jax

        info["jax_platform"] = jax.default_backend()
        if info["jax_platform"] == "gpu":
            info["gpu"] = jax.devices()[0].device_kind
    elif backend == "tensorflow":
        import tensorflow as tf

        info["cuda"] = str(tf.sysconfig.get_build_info().get("cuda_version"))
        if gpus := tf.config.list_physical_devices("GPU"):
            info["gpu"] = gpus[0].name
    return info


# ------------------------------------------------------------------------------- result files and tables


def write_text(path: Path, text: str) -> None:
    """``text`` at ``path``, replaced atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, default=str))


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object at ``path``, or ``{}`` when there is no such file."""
    return json.loads(path.read_text()) if path.exists() else {}


def write_results(
    stem: str, rows: list[dict[str, Any]], meta: dict[str, Any], table: str | None, results: Path | None = None
) -> tuple[Path, Path]:
    """``<results>/<stem>.json`` (every setting and version) and ``.md`` (``table``, unless ``None``)."""
    folder = RESULTS if results is None else results
    meta = {**meta, "written": time.strftime("%Y-%m-%d %H:%M:%S"), "cpu_count": os.cpu_count()}
    write_json(folder / f"{stem}.json", {"meta": meta, "rows": rows})
    if table is not None:
        write_text(folder / f"{stem}.md", table)
    return folder / f"{stem}.json", folder / f"{stem}.md"


def config_text(config: dict[str, Any]) -> str:
    """``Seq2SeqConfig(...)`` with the fields a result file stored, in its order."""
    return "Seq2SeqConfig(" + ", ".join(f"{k}={v!r}" for k, v in config.items()) + ")"


def markdown_table(rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> str:
    """Rows as a Markdown table; ``columns`` are ``(key, header, format)``, a missing value an empty cell."""
    lines = ["| " + " | ".join(h for _, h, _ in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = ("" if row.get(k) is None else format(row[k], fmt) if fmt else str(row[k]) for k, _, fmt in columns)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def random_model(directory: Path, config: Any, src: Any, tgt: Any, scale: float = 1.0) -> Path:
    """A ``save_pretrained`` directory of random weights (seed 0; ``<pad>`` embeddings zero, as trained), written by
    the core alone (no framework import)."""
    from seq2seq_fit import TeacherForcing
    from seq2seq_fit.model_format import save_pretrained
    from seq2seq_fit.weight_layout import canonical_shapes

    rng = np.random.default_rng(0)
    shapes = canonical_shapes(config, len(src), len(tgt))
    weights = {name: rng.normal(0.0, scale, shape).astype(np.float32) for name, shape in shapes.items()}
    for name in ("encoder.embedding.weight", "decoder.embedding.weight"):
        weights[name][0] = 0.0
    save_pretrained(directory, config=config, teacher_forcing=TeacherForcing(), src_vocab=src, tgt_vocab=tgt,
                    weights=weights)  # fmt: skip
    return directory


# ------------------------------------------------------------------------------- the job runner
# A job is a JSON-able dict with a ``name`` (its result file under the run folder, without ``.json``) and the
# ``settings`` its result depends on. Resume = the same command again: a job with a result file is read, not run.

#: Environment variable naming the jobs file a child reads (set by :func:`run_jobs`).
JOBS_ENV = "BENCH_JOBS"


def result_path(folder: Path, job: dict[str, Any]) -> Path:
    """``<folder>/<job name>.json``; the name may hold ``/`` (sub-folders) but not ``..``."""
    name = str(job["name"])
    if not name or ".." in name.split("/") or name.startswith("/"):
        raise ValueError(f"job name {name!r}: expected a relative path such as 'sort/ss-linear_s0'")
    return folder / f"{name}.json"


def finished(folder: Path, job: dict[str, Any]) -> dict[str, Any] | None:
    """The result of ``job`` if its file exists and holds no error, else ``None``.

    Raises:
        SystemExit: the file was written for other ``settings`` (``--fresh`` runs the job again).
    """
    done = read_json(result_path(folder, job))
    if not done or "error" in done.get("run", {}):
        return None
    if done.get("settings") != job.get("settings"):
        raise SystemExit(
            f"{result_path(folder, job)} was written with other settings; pass --fresh to run it again, or use "
            "another --tag"
        )
    return dict(done["run"])


def run_jobs(
    command: Sequence[str],
    jobs: Sequence[dict[str, Any]],
    folder: Path,
    *,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    fresh: bool = False,
    on_result: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
    log: Any = None,
) -> list[dict[str, Any] | None]:
    """Run ``jobs`` without a result file (``fresh``: all) in one child process ``command`` (it calls
    :func:`serve_jobs`); returns each job's result in order (``None``: not finished). The child's process group is
    stopped after ``timeout`` seconds or 15 s after its last result; ``on_result(job, run)`` is called as each
    result file appears; the child's output goes to ``log`` (default: ours)."""
    results = [None if fresh else finished(folder, job) for job in jobs]
    todo = [i for i, run in enumerate(results) if run is None]
    if not todo:
        return results
    for i in todo:
        result_path(folder, jobs[i]).unlink(missing_ok=True)
    spec = folder / f".jobs-{os.getpid()}-{time.time_ns()}.json"
    write_json(spec, {"folder": str(folder), "jobs": [jobs[i] for i in todo]})
    child_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {}), JOBS_ENV: str(spec)}
    proc = subprocess.Popen(list(command), env=child_env, stdout=log, stderr=log, start_new_session=True)
    deadline = float("inf") if timeout is None else time.time() + timeout
    try:
        while todo and time.time() < deadline:
            for i in [i for i in todo if result_path(folder, jobs[i]).exists()]:
                results[i] = read_json(result_path(folder, jobs[i]))["run"]
                todo.remove(i)
                if on_result is not None:
                    on_result(jobs[i], results[i])  # type: ignore[arg-type]
            if proc.poll() is not None and not any(result_path(folder, jobs[i]).exists() for i in todo):
                break
            time.sleep(0.2)
        with contextlib.suppress(subprocess.TimeoutExpired):  # a slow interpreter exit must not spend the budget
            proc.wait(timeout=max(0.0, min(15.0, deadline - time.time())))
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):  # the child's process group, its own children too
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
        spec.unlink(missing_ok=True)
    return results


def serve_jobs(run: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """The child's side of :func:`run_jobs`: ``run(job)`` for each job it was handed, each result (or
    ``{"error": ...}``: one failing job must not lose the others) written to its file at once."""
    spec = read_json(Path(os.environ[JOBS_ENV]))
    for job in spec["jobs"]:
        try:
            result = run(job)
        except Exception as e:
            traceback.print_exc()
            result = {"error": f"{type(e).__name__}: {str(e)[:400]}"}
        write_json(result_path(Path(spec["folder"]), job), {"settings": job.get("settings"), "run": result})


# ------------------------------------------------------------------------------- throughput: batches, timing, FLOPs


def gnmt_like_corpus(n: int = 4096, vocab: int = 8000, min_len: int = 20, max_len: int = 50, seed: int = 0) -> Corpus:
    """Random token sequences with an 8k vocabulary and lengths 20-50 (the GNMT-like size)."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(vocab - 4)]

    def sentence() -> list[str]:
        return [words[i] for i in rng.integers(0, len(words), rng.integers(min_len, max_len + 1))]

    pairs = [(sentence(), sentence()) for _ in range(n)]
    return Corpus("gnmt-like", train=pairs, val=pairs[:64], test=pairs[:64])


@dataclass
class BenchData:
    """A fixed list of collated batches (epoch 0 of the shared sampler), identical for both frameworks."""

    name: str
    src_vocab: Vocab
    tgt_vocab: Vocab
    batches: list[Batch]

    @classmethod
    def build(cls, corpus: str | Corpus, batch_size: int, n_batches: int) -> BenchData:
        """The first ``n_batches`` full batches of epoch 0."""
        data = PreparedData(corpus, batch_size=batch_size)
        data.setup()
        assert data.src_vocab is not None and data.tgt_vocab is not None and data.corpus is not None
        enc = data.encoded["train"]
        full = [b for b in data.sampler("train").batches(0) if len(b) == batch_size][:n_batches]
        if len(full) < n_batches:
            raise ValueError(f"{data.corpus.name}: only {len(full)} full batches of {batch_size}, need {n_batches}")
        batches = [collate([enc.sources[i] for i in b], [enc.targets[i] for i in b]) for b in full]
        return cls(data.corpus.name, data.src_vocab, data.tgt_vocab, batches)

    @property
    def target_tokens_per_batch(self) -> float:
        return float(np.mean([(b["target_out"] != 0).sum() for b in self.batches]))

    @property
    def mean_lengths(self) -> tuple[float, float]:
        src = np.mean([(b["source"] != 0).sum(1).mean() for b in self.batches])
        tgt = np.mean([(b["target_out"] != 0).sum(1).mean() for b in self.batches])
        return float(src), float(tgt)

    @property
    def digest(self) -> str:
        """Short hash of every batch array: equal digests mean both frameworks saw the same data."""
        h = hashlib.sha1()
        for b in self.batches:
            for key, value in sorted(b.items()):
                h.update(key.encode() + np.ascontiguousarray(value).tobytes())
        return h.hexdigest()[:12]

    def order(self, warmup: int, steps: int) -> list[int]:
        """Batch indices of one run, cycling: ``warmup`` steps (a whole pass compiles every padded shape), ``steps``
        rounded up to whole passes (so tokens/s uses the right mean), then one batch closing the last interval."""
        n = len(self.batches)
        return [i % n for i in range(warmup)] + [i % n for i in range(-(-steps // n) * n)] + [0]

    def torch_loader(self, order: list[int] | None = None) -> Any:
        import torch
        from torch.utils.data import DataLoader

        tensors = [{k: torch.from_numpy(v) for k, v in self.batches[i].items()} for i in order or range(len(self))]
        return DataLoader(tensors, batch_size=None, shuffle=False)  # type: ignore[arg-type]

    def keras_batches(self, order: list[int]) -> list[tuple[dict[str, np.ndarray], np.ndarray]]:
        from datamodules.keras import keras_batch

        return [keras_batch(self.batches[i]) for i in order]

    def __len__(self) -> int:
        return len(self.batches)


class StepClock:
    """Wall time between consecutive :meth:`tick` calls, each after ``sync()``: ticked at every batch start, it
    times whole steps (data, forward, backward, optimiser, the trainer's bookkeeping)."""

    def __init__(self, sync: Callable[[], Any] = lambda: None) -> None:
        self.sync = sync
        self.times: list[float] = []
        self._last: float | None = None

    def tick(self) -> None:
        self.sync()
        now = time.perf_counter()
        if self._last is not None:
            self.times.append(now - self._last)
        self._last = now


def timed_steps(batches: Sequence[Any], step: Callable[[int, Any], Any], sync: Callable[[], Any]) -> list[float]:
    """Per-step times of ``step(i, batch)`` over ``batches``; the last batch's start only closes the last interval."""
    clock = StepClock(sync)
    for i, batch in enumerate(batches):
        clock.tick()
        if i < len(batches) - 1:
            step(i, batch)
    return clock.times


def alternate(
    job: dict[str, Any], data: BenchData, warmup: int, hand: Callable[[], list[float]],
    fit: Callable[[], list[float]] | None,
) -> dict[str, Any]:  # fmt: skip
    """Timing fields of a row: ``hand()`` and ``fit()`` (per-step times, warm-up included) alternately
    ``job["rounds"]`` times; medians, ``trainer_overhead = trainer / hand - 1``, and tokens/s and model TFLOP/s of
    the hand loop (the model's own speed)."""
    times: dict[str, list[float]] = {"hand": [], "trainer": []}
    warm: dict[str, list[float]] = {"hand": [], "trainer": []}
    for i in range(job["rounds"]):
        for name, run in (("hand", hand), ("trainer", fit)):
            if run is not None:
                got = run()
                times[name] += got[warmup:]
                warm[name] += got[:warmup] if i == 0 else []
    flops = 3 * flops_per_target_token(Seq2SeqConfig.from_dict(job["config"]), data) * data.target_tokens_per_batch
    hand_s = statistics.median(times["hand"])
    row: dict[str, Any] = {
        "warmup": warmup, "rounds": job["rounds"],
        "times_ms": {k: [1000 * t for t in v] for k, v in times.items()},
        "warmup_ms": {k: [1000 * t for t in v] for k, v in warm.items()},
        "hand_step_ms": 1000 * hand_s, "hand_steps_per_s": 1 / hand_s,
        "target_tokens_per_s": data.target_tokens_per_batch / hand_s, "pad_ratio": pad_ratio(data.batches),
        "model_tflops_per_s": flops / hand_s / 1e12, "n_steps": len(times["hand"]),
        "batch_size": int(data.batches[0]["source"].shape[0]), "data": data.name, "data_digest": data.digest,
    }  # fmt: skip
    if times["trainer"]:
        fit_s = statistics.median(times["trainer"])
        row.update({"trainer_step_ms": 1000 * fit_s, "trainer_overhead": fit_s / hand_s - 1})
    return row


def flops_per_target_token(config: Seq2SeqConfig, data: BenchData) -> float:
    """Forward model FLOPs per target token, the encoder's cost spread over the targets (benchmarks/README.md)."""
    src_len, tgt_len = data.mean_lengths
    e, h, layers, out = config.embedding_dim, config.hidden_size, config.num_layers, 2 * config.hidden_size
    if config.architecture == "transformer":  # per block: projections, scores and sums over L keys, feed-forward
        f, project = config.feed_forward_size, 2 * e * h if e != h else 0
        enc = project + layers * (8 * h * h + 4 * src_len * h + 4 * h * f)
        dec = project + layers * (8 * h * h + 4 * tgt_len * h + 4 * h * h + 4 * src_len * h + 4 * h * f)
        cross_memory = layers * 4 * h * h  # keys and values of each source token, once per sequence
        return (enc + cross_memory) * src_len / tgt_len + dec + out * len(data.tgt_vocab)
    g, dirs, u = 3 if config.cell == "gru" else 4, 2 if config.bidirectional else 1, config.encoder_units
    enc = sum(dirs * 2 * g * ((e if layer == 0 else h) * u + u * u) for layer in range(layers))
    dec_in = e + (h if config.attention == "bahdanau" else 0)
    dec = sum(2 * g * ((dec_in if layer == 0 else h) * h + h * h) for layer in range(layers))
    att = 0.0
    if config.attention == "luong":
        att = 4 * src_len * h + 4 * h * h + (2 * h * h * src_len / tgt_len if config.luong_score == "general" else 0)
    elif config.attention == "bahdanau":
        att = 4 * src_len * h + 2 * h * h + 2 * h * h * src_len / tgt_len
    return enc * src_len / tgt_len + dec + att + out * len(data.tgt_vocab)


def peak_memory(backend: str, device: str) -> tuple[float, str]:
    """Peak memory in MiB and what it measures: the device allocator's peak on CUDA (torch, JAX), else this
    process's peak resident memory (``VmHWM``: unlike ``ru_maxrss`` not inherited across ``exec``)."""
    if device == "cuda" and backend == "torch":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20, "torch.cuda.max_memory_allocated"
    if device == "cuda" and backend == "jax":
        import jax

        stats = jax.local_devices()[0].memory_stats() or {}
        return stats.get("peak_bytes_in_use", 0) / 2**20, "jax peak_bytes_in_use (process)"
    peak = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:"))
    return int(peak.split()[1]) / 1024, "process peak RSS so far"


def cudnn_rnn_ran(step: Any) -> bool:
    """Whether ``step()`` dispatched a cuDNN RNN op (``aten::_cudnn_rnn``), seen by the torch profiler."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
        torch.cuda.synchronize()
    return any("cudnn_rnn" in event.key for event in prof.key_averages())
