"""Inference speed and quality of one trained G2P model, served four ways.

Words per second and test WER/PER (the 12,533 CMUdict test words of benchmarks/README.md's split,
any-reference WER, closest-reference PER, ``seq2seq_fit.g2p_scores``) for greedy decoding and beam
search (width 5) at batch 1 and batch 256, for these rows:

- ``lightning``: ``LitSeq2Seq.from_pretrained(model).translate`` (torch, CPU);
- ``keras-<backend>``: ``Seq2SeqModel.from_pretrained(model).translate`` on TensorFlow, JAX and/or
  torch. With more than one backend, each first decodes a pick subset (``--pick-words``, greedy at
  batch 1 and 256) and only the fastest runs the full set (``--keras-all``: every backend does);
- ``onnxruntime``: ``seq2seq_fit.serving.OnnxTranslator(export).translate``, the export made from the
  same model directory with ``seq2seq_fit.onnx_export.export_pretrained``;
- ``g2p_en``: the peer package's neural part (``G2p.predict``: a GRU encoder-decoder in numpy,
  greedy, one word at a time, at most 20 phones), its stress digits removed; its NLTK downloads and
  dictionary are bypassed (the network is never touched).

The three project rows load the same ``save_pretrained`` directory, so their greedy outputs must be
identical and their beam outputs nearly so: every row reports how many words its output differs
from the Lightning row's. Each row runs in a child process of its own (a Keras backend is fixed at
import; thread settings hold per process), with the same ``--threads`` (torch, TensorFlow, XLA,
onnxruntime intra-op, and the BLAS of numpy through ``OMP_NUM_THREADS`` and friends). The children
start once and take one job at a time, the rows alternating within each setting, so the ratios come
from one run. Each job decodes ``--warmup`` words untimed first. Results are rewritten after every
row (``results/inference_<tag>.json`` / ``.md``), so an interrupted run keeps what it measured;
the children's own output goes to ``inference_<tag>.log`` beside the model.

The model: ``--train-minutes M`` trains the ``--preset`` (default ``cpu``) with Lightning on CMUdict
(``benchmarks.g2p.train_lightning``: teacher forcing, AdamW 2e-3, cosine decay over
``--train-epochs`` epochs, early stopping on dev WER, the best epoch kept) and ``save_pretrained``\\ s
it to ``--model`` (default ``benchmarks/models/g2p-cpu``, not committed); without it, ``--model``
must already hold one. The sizes of the model directory and of its ONNX export are in the results.

    python -m benchmarks.inference --train-minutes 22 --train-epochs 15 --threads 1 --train-only  # 16 min
    python -m benchmarks.inference --threads 1            # that model, Keras on the fastest backend: 4 min
    python -m benchmarks.inference --threads 1 --keras-all --tag g2p-cpu-t1-keras-all          # 14 min
    python -m benchmarks.inference --threads 1 --batch1-words 3000  # batch-1 rows on 3,000 spread words
    python -m benchmarks.inference --smoke                # every row, a tiny random model, 20 words
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, keras_env, write_results

HERE = Path(__file__).resolve().parent
DEFAULT_MODEL = HERE / "models" / "g2p-cpu"
#: (name, translate keyword arguments) of the two decoding strategies.
STRATEGIES: dict[str, dict[str, Any]] = {
    "greedy": {"strategy": "greedy"},
    "beam5": {"strategy": "beam", "beam_width": 5},
}
#: The measured settings, in run order: (strategy name, batch size).
SETTINGS = (("greedy", 256), ("beam5", 256), ("greedy", 1), ("beam5", 1))
KERAS_BACKENDS = ("tensorflow", "jax", "torch")
#: The rows of each setting, in run order (Keras, the slowest at batch 1, last: a run cut short keeps the others).
RUNNERS = ("lightning", "onnxruntime", "g2p_en", "keras")
#: g2p_en's published figures on this project's split (benchmarks/README.md, Protocols).
G2P_EN_PUBLISHED = {"wer": 27.08, "per": 8.01}


# ------------------------------------------------------------------------------- the model


def train_model(args: argparse.Namespace) -> dict[str, Any]:
    """Train ``--preset`` with :func:`benchmarks.g2p.train_lightning` and ``save_pretrained`` it to
    ``--model``; the training summary goes to ``<model>.train.json`` beside it and is returned."""
    from benchmarks.g2p import train_lightning

    options = argparse.Namespace(
        threads=args.threads, batch_size=256, workers=0, preset=args.preset, lr=2e-3, lr_schedule="cosine",
        min_lr_ratio=0.05, max_epochs=args.train_epochs, limit_train_batches=args.limit_train_batches,
        accelerator="cpu", precision="32-true", minutes=args.train_minutes, val_batches=0.25, patience=4,
    )  # fmt: skip
    model_dir = Path(args.model)
    workdir = model_dir.parent / f"{model_dir.name}_runs"
    module, curve, seconds = train_lightning("teacher-forcing", args.seed, options, workdir)
    module.save_pretrained(model_dir)
    summary = {
        "preset": args.preset,
        "seed": args.seed,
        "variant": "teacher-forcing",
        "train_minutes": seconds / 60,
        "epochs": len(curve),
        "best_val_wer": min((c["val_wer"] for c in curve), default=None),
        "curve": curve,
        "options": vars(options),
    }
    training_file(model_dir).write_text(json.dumps(summary, indent=2))
    print(f"saved {model_dir} after {seconds / 60:.1f} min, {len(curve)} epochs", flush=True)
    return summary


def training_file(model_dir: Path) -> Path:
    return model_dir.parent / f"{model_dir.name}.train.json"


def tiny_model(directory: Path, words: Sequence[Sequence[str]], references: Sequence[Sequence[Sequence[str]]]) -> None:
    """A random model of the ``cpu`` preset's shape at a tiny size (for ``--smoke``), written by the
    core alone (no framework import in this process; the ``<pad>`` embedding rows are zero, as trained)."""
    import numpy as np

    from seq2seq_fit import Seq2SeqConfig, TeacherForcing, Vocab
    from seq2seq_fit.model_format import save_pretrained
    from seq2seq_fit.presets import PRESETS
    from seq2seq_fit.weight_layout import canonical_shapes

    src = Vocab.build(words)
    tgt = Vocab.build(r for refs in references for r in refs)
    config = Seq2SeqConfig(**{**PRESETS["cpu"].to_dict(), "embedding_dim": 8, "hidden_size": 16})
    rng = np.random.default_rng(0)
    weights = {
        name: rng.normal(0.0, 0.5, shape).astype(np.float32)
        for name, shape in canonical_shapes(config, len(src), len(tgt)).items()
    }
    for name in ("encoder.embedding.weight", "decoder.embedding.weight"):
        weights[name][0] = 0.0
    save_pretrained(
        directory, config=config, teacher_forcing=TeacherForcing(), src_vocab=src, tgt_vocab=tgt, weights=weights
    )


def shown(path: Path | str) -> str:
    """``path`` relative to the repository when inside it (results name no home directories)."""
    try:
        return str(Path(path).resolve().relative_to(HERE.parent))
    except ValueError:
        return str(path)


def directory_size(directory: Path) -> dict[str, Any]:
    """Total bytes of the files in ``directory`` and the size of each."""
    files = {p.name: p.stat().st_size for p in sorted(directory.iterdir()) if p.is_file()}
    return {"bytes": sum(files.values()), "files": files}


# -------------------------------------------------------------------------- child processes


def thread_env(threads: int) -> dict[str, str]:
    """``threads`` for the BLAS and OpenMP pools of a child (numpy, torch's intra-op pool at start)."""
    if threads <= 0:
        return {}
    names = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")
    return {name: str(threads) for name in names} | {"TF_NUM_INTEROP_THREADS": str(threads)}


def make_runner(name: str, model: Path, export: Path, threads: int) -> tuple[dict[str, Any], Callable[..., Any]]:
    """Load ``model`` for runner ``name``; returns its description and ``decode(sources, kwargs, batch_size)``."""
    import numpy as np

    info: dict[str, Any] = {"python": platform.python_version(), "numpy": np.__version__}
    if name == "lightning":
        import lightning
        import torch

        if threads > 0:
            torch.set_num_threads(threads)
        from lit_seq2seq import LitSeq2Seq

        module = LitSeq2Seq.from_pretrained(model).eval()
        info |= {"torch": torch.__version__, "lightning": lightning.__version__, "threads": torch.get_num_threads()}
        return info, lambda sources, kwargs, batch: module.translate(sources, batch_size=batch, **kwargs)
    if name.startswith("keras-"):
        backend = name.removeprefix("keras-")
        import keras
        from benchmarks.common import set_backend_threads

        assert keras.backend.backend() == backend, (keras.backend.backend(), backend)
        set_backend_threads(backend, threads)
        from benchmarks.throughput_keras import versions
        from keras_seq2seq import Seq2SeqModel

        model_ = Seq2SeqModel.from_pretrained(model)
        info |= versions(backend, "cpu") | {"threads": threads, "xla_flags": os.environ.get("XLA_FLAGS", "")}
        if backend == "torch":
            import torch

            info["threads"] = torch.get_num_threads()
        return info, lambda sources, kwargs, batch: model_.translate(sources, batch_size=batch, **kwargs)
    if name == "onnxruntime":
        import onnxruntime

        from seq2seq_fit.onnx_export import export_pretrained

        start = time.perf_counter()
        export_pretrained(model, export)
        info["export_s"] = time.perf_counter() - start
        from seq2seq_fit.serving import OnnxTranslator

        translator = OnnxTranslator(export, threads=threads if threads > 0 else None)
        info |= {"onnxruntime": onnxruntime.__version__, "threads": threads, "providers": ["CPUExecutionProvider"]}
        try:
            import onnx

            info["onnx"] = onnx.__version__
        except ImportError:
            pass
        return info, lambda sources, kwargs, batch: translator.translate(sources, batch_size=batch, **kwargs)
    if name == "g2p_en":
        predict, peer = g2p_en_predict()
        info |= peer | {"threads": threads}

        def decode(sources: Sequence[Sequence[str]], kwargs: dict[str, Any], batch: int) -> list[list[str]]:
            if kwargs != STRATEGIES["greedy"] or batch != 1:
                raise ValueError(f"g2p_en: greedy at batch 1 only, got {kwargs} at batch {batch}")
            return [predict("".join(word)) for word in sources]

        return info, decode
    raise ValueError(f"inference.runner: got {name!r}, expected lightning, keras-<backend>, onnxruntime or g2p_en")


def g2p_en_predict() -> tuple[Callable[[str], list[str]], dict[str, Any]]:
    """``g2p_en``'s network on one word, stress digits removed, without its NLTK downloads; and its
    version, parameter count and GRU width.

    Importing ``g2p_en`` looks up two NLTK data packages and downloads the missing ones, and
    ``G2p()`` reads NLTK's copy of CMUdict (for its dictionary lookup, which we skip): here
    ``nltk.download`` refuses to run and the dictionary is an empty one, so the constructor only
    builds the vocabularies and loads the network's weights (``checkpoint20.npz``, in the wheel).
    """
    import importlib.metadata

    import nltk

    def no_download(*args: Any, **kwargs: Any) -> bool:
        return False  # what nltk.download returns when it fails; g2p_en ignores it

    nltk.download = no_download
    import g2p_en.g2p as module

    class NoDictionary:
        @staticmethod
        def dict() -> dict[str, list[list[str]]]:
            return {}

    module.cmudict = NoDictionary  # type: ignore[assignment]
    g2p = module.G2p()

    def predict(word: str) -> list[str]:
        return [phone.rstrip("012") for phone in g2p.predict(word)]

    info = {
        "g2p_en": importlib.metadata.version("g2p_en"),
        "parameters": sum(int(g2p.variables[name].size) for name in g2p.variables.files),
        "hidden_size": int(g2p.enc_w_hh.shape[1]),
    }
    return predict, info


def child_main(name: str, model: Path, export: Path, threads: int) -> None:
    """Serve jobs from stdin, one JSON line each, answering one ``ROW {json}`` line per job.

    A job is ``{"sources": [[chars...]...], "strategy": "greedy"|"beam5", "batch_size": n,
    "warmup": n}``; the row holds the outputs, the timed seconds and the warm-up seconds.
    """
    try:
        info, decode = make_runner(name, model, export, threads)
    except Exception:
        print("READY " + json.dumps({"error": traceback.format_exc()}), flush=True)
        return
    print("READY " + json.dumps(info), flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        kwargs = STRATEGIES[job["strategy"]]
        try:
            warm = time.perf_counter()
            decode(job["sources"][: job["warmup"]], kwargs, job["batch_size"])
            start = time.perf_counter()
            outputs = decode(job["sources"], kwargs, job["batch_size"])
            seconds = time.perf_counter() - start
            row = {"outputs": outputs, "seconds": seconds, "warmup_s": start - warm}
        except Exception:
            row = {"error": traceback.format_exc()}
        print("ROW " + json.dumps(row), flush=True)


class Child:
    """One runner in a child process (``python -m benchmarks.inference --child NAME``)."""

    def __init__(self, name: str, args: argparse.Namespace, export: Path, log: Any) -> None:
        self.name = name
        env = {**os.environ, **thread_env(args.threads)}
        if name.startswith("keras-"):
            env |= keras_env(name.removeprefix("keras-"), cpu_only=True, threads=args.threads)
        env["PYTHONUNBUFFERED"] = "1"
        command = [sys.executable, "-m", "benchmarks.inference", "--child", name, "--model", str(args.model)]
        command += ["--export", str(export), "--threads", str(args.threads)]
        self.proc = subprocess.Popen(
            command, cwd=HERE.parent, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True
        )
        self.info: dict[str, Any] | None = None

    def reply(self, prefix: str) -> dict[str, Any]:
        """The next ``PREFIX {json}`` line (other output is echoed to stderr)."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(prefix + " "):
                return json.loads(line[len(prefix) + 1 :])  # type: ignore[no-any-return]
            sys.stderr.write(f"[{self.name}] {line}")
        return {"error": f"{self.name}: the child process ended (exit code {self.proc.wait()}); see its log"}

    def ready(self) -> dict[str, Any]:
        if self.info is None:
            self.info = self.reply("READY")
        return self.info

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        if "error" in self.ready():
            return {"error": self.ready()["error"]}
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(job) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            return {"error": f"{self.name}: the child process ended (exit code {self.proc.wait()})"}
        return self.reply("ROW")

    def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# --------------------------------------------------------------------------------- the run


def spread(n_total: int, n: int) -> list[int]:
    """``n`` indices spread evenly over ``range(n_total)`` (all of them for ``n <= 0`` or ``n >= n_total``).

    The test words are in alphabetical order, so a prefix would be a biased sample.

    Example:
        >>> spread(10, 3)
        [0, 3, 6]
    """
    if n <= 0 or n >= n_total:
        return list(range(n_total))
    return [i * n_total // n for i in range(n)]


def scored_row(
    runner: str,
    strategy: str,
    batch: int,
    index: list[int],
    reply: dict[str, Any],
    references: Sequence[Sequence[Sequence[str]]],
) -> dict[str, Any]:
    from seq2seq_fit import g2p_scores

    row: dict[str, Any] = {"runner": runner, "strategy": strategy, "batch_size": batch, "words": len(index)}
    row["load_avg_1min"] = os.getloadavg()[0]  # the machine is shared: other jobs' load, for reading the times
    if "error" in reply:
        row["error"] = reply["error"]
        print(f"!! {runner} {strategy} batch {batch}: {reply['error']}", file=sys.stderr, flush=True)
        return row
    scores = g2p_scores(reply["outputs"], [references[i] for i in index])
    row |= {
        "seconds": reply["seconds"],
        "warmup_s": reply["warmup_s"],
        "words_per_s": len(index) / reply["seconds"] if reply["seconds"] > 0 else None,
        "ms_per_word": 1000 * reply["seconds"] / len(index),
        "wer": scores.wer,
        "per": scores.per,
        "word_errors": scores.word_errors,
    }
    return row


def compare(rows: list[dict[str, Any]], outputs: dict[tuple[str, str, int], list[list[str]]]) -> None:
    """Each row's speed relative to the Lightning row of its setting and the words its outputs differ on."""
    for row in rows:
        key = (row["strategy"], row["batch_size"])
        base = next((r for r in rows if r["runner"] == "lightning" and (r["strategy"], r["batch_size"]) == key), None)
        mine, theirs = outputs.get((row["runner"], *key)), outputs.get(("lightning", *key))
        if base is None or mine is None or theirs is None or base["words"] != row["words"]:
            continue
        row["differs_from_lightning"] = sum(a != b for a, b in zip(mine, theirs, strict=True))
        if base.get("words_per_s") and row.get("words_per_s"):
            row["speed_vs_lightning"] = row["words_per_s"] / base["words_per_s"]


def speedups(rows: list[dict[str, Any]]) -> list[str]:
    """Lines for the issue's goal: onnxruntime against every other row of the same setting and words."""
    lines = []
    for row in rows:
        if row["runner"] != "onnxruntime" or not row.get("words_per_s"):
            continue
        key = (row["strategy"], row["batch_size"], row["words"])
        others = [
            f"{row['words_per_s'] / r['words_per_s']:.2f}x {r['runner']}"
            for r in rows
            if r is not row and r.get("words_per_s") and (r["strategy"], r["batch_size"], r["words"]) == key
        ]
        if others:
            lines.append(f"- {row['strategy']} batch {row['batch_size']}: onnxruntime is " + ", ".join(others))
    return lines


def fmt(value: Any, spec: str) -> str:
    return "" if value is None else format(value, spec)


def results_table(rows: list[dict[str, Any]], pick: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    sizes = meta.get("sizes", {})
    mb = {k: f"{v['bytes'] / 1e6:.2f} MB" for k, v in sizes.items()}
    table = f"# G2P inference on {meta['device']} ({meta['tag']})\n\n"
    table += (
        f"One `save_pretrained` model (`{meta['config']}`), {meta['threads']} thread(s) in every row; "
        f"CMUdict test words of the fixed split in benchmarks/README.md ({meta['test_words']:,} in all; "
        "the words column says how many a row decoded, spread evenly over the alphabetical list). "
        "words/s times one `translate` call over "
        "all of them after a warm-up; x lightning is the speed ratio to the Lightning row of the same setting, "
        "measured in the same run; differs = words whose output differs from the Lightning row's.\n"
    )
    if sizes:
        table += (
            f"Sizes: model directory {mb.get('model', '?')} ({meta.get('parameters', 0):,} parameters), "
            f"ONNX export {mb.get('onnx_export', '?')}.\n"
        )
    table += "\n| runner | decoding | batch | words | words/s | ms/word | x lightning | WER % | PER % | differs |\n"
    table += "|---|---|---|---|---|---|---|---|---|---|\n"
    for row in rows:
        if "na" in row:
            table += f"| {row['runner']} | {row['strategy']} | {row['batch_size']} | | n/a ({row['na']}) | | | | | |\n"
            continue
        if "error" in row:
            last = row["error"].strip().splitlines()[-1][:120]
            table += f"| {row['runner']} | {row['strategy']} | {row['batch_size']} | | failed: {last} | | | | | |\n"
            continue
        table += (
            f"| {row['runner']} | {row['strategy']} | {row['batch_size']} | {row['words']} "
            f"| {fmt(row.get('words_per_s'), '.1f')} | {fmt(row.get('ms_per_word'), '.2f')} "
            f"| {fmt(row.get('speed_vs_lightning'), '.2f')} | {fmt(row.get('wer'), '.2f')} "
            f"| {fmt(row.get('per'), '.2f')} | {fmt(row.get('differs_from_lightning'), 'd')} |\n"
        )
    lines = speedups(rows)
    if lines:
        table += "\nonnxruntime's speed relative to the other rows (same setting and words):\n\n" + "\n".join(lines)
        table += "\n"
    if pick:
        picked = meta.get("keras_backend_picked")
        ran = f"{picked}, the fastest at batch 1, ran the table above" if picked else "every backend ran the table"
        table += f"\nKeras backend pick (greedy; {ran}):\n\n"
        table += "| backend | batch | words | words/s | WER % |\n|---|---|---|---|---|\n"
        for row in pick:
            table += (
                f"| {row['runner']} | {row['batch_size']} | {row['words']} | "
                f"{fmt(row.get('words_per_s'), '.1f') or 'failed'} | {fmt(row.get('wer'), '.2f')} |\n"
            )
    peer = meta.get("versions", {}).get("g2p_en", {})
    network = f"GRU {peer['hidden_size']} encoder and decoder without attention, " if "hidden_size" in peer else ""
    network += f"{peer['parameters']:,} parameters; " if "parameters" in peer else ""
    table += (
        f"\ng2p_en {peer.get('g2p_en', '2.1.0')}: its network only ({network}"
        "`G2p.predict`, greedy, one word at a time, at most 20 phones, no NLTK, no dictionary lookup), stress "
        f"digits removed; published on this split: {G2P_EN_PUBLISHED['wer']}% WER / {G2P_EN_PUBLISHED['per']}% PER.\n"
    )
    if meta.get("training"):
        t = meta["training"]
        table += (
            f"Model: {t['preset']} preset, Lightning, {t['variant']}, seed {t['seed']}, {t['epochs']} epochs in "
            f"{t['train_minutes']:.1f} min (best dev WER {fmt(t.get('best_val_wer'), '.2f')}%).\n"
        )
    return table


def run_benchmark(args: argparse.Namespace, sources: list[list[str]], references: list[Any]) -> Path:
    """Every row; results rewritten after each. Returns the JSON path."""
    model = Path(args.model)
    export = Path(args.export) if args.export else model.parent / f"{model.name}-onnx"
    tag = args.tag or ("smoke" if args.smoke else f"{model.name}-t{args.threads}")
    stem = f"inference_{tag}"
    log_path = model.parent / f"{stem}.log"  # the children's stderr, beside the (uncommitted) model
    training = training_file(model)
    from seq2seq_fit.model_format import load_pretrained

    saved = load_pretrained(model)
    meta: dict[str, Any] = {
        "device": "cpu",
        "tag": tag,
        "threads": args.threads,
        "model": shown(model),
        "export": shown(export),
        "config": str(saved.config),
        "config_dict": saved.config.to_dict(),
        "test_words": len(sources),
        "args": {k: shown(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "platform": platform.platform(),
        "processor": platform.processor(),
        "training": json.loads(training.read_text()) if training.exists() else None,
        "sizes": {"model": directory_size(model)},
        "parameters": sum(int(w.size) for w in saved.weights.values()),
        "versions": {},
        "protocol": "one translate call per row after a warm-up on the first --warmup words; same words in every row",
    }
    rows: list[dict[str, Any]] = []
    pick: list[dict[str, Any]] = []
    outputs: dict[tuple[str, str, int], list[list[str]]] = {}

    def save() -> None:
        compare(rows, outputs)
        write_results(
            stem, [*rows, *({**r, "phase": "keras-pick"} for r in pick)], meta, results_table(rows, pick, meta)
        )

    runner_names = [r for r in RUNNERS if r in args.rows]
    backends = list(args.keras_backends)
    with open(log_path, "a") as log:
        log.write(f"\n== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(sys.argv)}\n")
        log.flush()
        children: dict[str, Child] = {}
        for name in runner_names:
            if name == "keras":
                for backend in backends:
                    children[f"keras-{backend}"] = Child(f"keras-{backend}", args, export, log)
            else:
                children[name] = Child(name, args, export, log)
        try:
            for name, child in children.items():
                info = child.ready()
                meta["versions"][name] = info
                print(f"== {name} ready: {json.dumps(info)[:300]}", flush=True)
            if export.exists() and "onnxruntime" in children:
                meta["sizes"]["onnx_export"] = directory_size(export)
            keras = [n for n in children if n.startswith("keras-")]
            if len(keras) > 1:
                pick_index = spread(len(sources), args.pick_words)
                for batch in (1, 256):
                    for name in keras:
                        reply = children[name].run(job(sources, pick_index, "greedy", batch, args.warmup))
                        pick.append(scored_row(name, "greedy", batch, pick_index, reply, references))
                        print(json.dumps(pick[-1])[:300], flush=True)
                        save()
                if not args.keras_all:
                    timed = [r for r in pick if r["batch_size"] == 1 and r.get("words_per_s")]
                    best = max(timed, key=lambda r: r["words_per_s"])["runner"] if timed else keras[0]
                    meta["keras_backend_picked"] = best
                    for name in keras:
                        if name != best:
                            children.pop(name).close()
            for strategy, batch in SETTINGS:
                count = args.batch1_words if batch == 1 and args.batch1_words else args.words
                index = spread(len(sources), count)
                for name, child in children.items():
                    if name == "g2p_en" and (strategy != "greedy" or batch != 1):
                        why = "no batching" if batch != 1 else "greedy only"
                        rows.append({"runner": name, "strategy": strategy, "batch_size": batch, "na": why})
                        continue
                    print(f"== {name} {strategy} batch {batch} on {len(index)} words", flush=True)
                    reply = child.run(job(sources, index, strategy, batch, args.warmup))
                    rows.append(scored_row(name, strategy, batch, index, reply, references))
                    if "outputs" in reply:
                        outputs[(name, strategy, batch)] = reply["outputs"]
                    save()
                    print(json.dumps({k: v for k, v in rows[-1].items() if k != "error"}), flush=True)
        finally:
            for child in children.values():
                child.close()
    save()
    print(results_table(rows, pick, meta))
    return RESULTS / f"{stem}.json"


def job(sources: list[list[str]], index: list[int], strategy: str, batch: int, warmup: int) -> dict[str, Any]:
    return {"sources": [sources[i] for i in index], "strategy": strategy, "batch_size": batch, "warmup": warmup}


def main(argv: list[str] | None = None) -> Path | None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="save_pretrained directory")
    parser.add_argument("--export", type=Path, default=None, help="ONNX export directory (default: <model>-onnx)")
    parser.add_argument("--train-minutes", type=float, default=0.0, help="train --model first, at most this long")
    parser.add_argument("--train-epochs", type=int, default=15, help="cosine learning-rate budget in epochs")
    parser.add_argument("--train-only", action="store_true", help="train (or check --model) and stop")
    parser.add_argument("--limit-train-batches", type=int, default=0, help="batches per training epoch (0: all)")
    parser.add_argument("--preset", default="cpu", help="seq2seq_fit.presets name of the model to train")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of every row (0: each library's default)")
    parser.add_argument("--rows", nargs="+", default=list(RUNNERS), choices=list(RUNNERS))
    parser.add_argument("--keras-backends", nargs="+", default=list(KERAS_BACKENDS), choices=list(KERAS_BACKENDS))
    parser.add_argument("--keras-all", action="store_true", help="every Keras backend runs the full table")
    parser.add_argument("--pick-words", type=int, default=300, help="words of the Keras backend pick")
    parser.add_argument("--words", type=int, default=0, help="decode N test words spread over the list (0: all)")
    parser.add_argument("--batch1-words", type=int, default=0, help="words of the batch-1 rows (0: as --words)")
    parser.add_argument("--warmup", type=int, default=32, help="untimed words decoded first in each row")
    parser.add_argument("--tag", default="", help="results/inference_<tag>.* (default: <model name>-t<threads>)")
    parser.add_argument("--smoke", action="store_true", help="a tiny random model and 20 words, every code path")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(args.child, args.model, args.export, args.threads)
        return None

    from datamodules import load_corpus

    sources, references = load_corpus("cmudict").references("test")
    if args.smoke:
        index = spread(len(sources), 20)
        sources, references = [sources[i] for i in index], [references[i] for i in index]
        workdir = Path(tempfile.mkdtemp(prefix="inference-smoke-"))
        args.model, args.export = workdir / "model", workdir / "model-onnx"
        args.pick_words, args.warmup = 8, 2
        tiny_model(args.model, sources, references)
    elif args.train_minutes > 0:
        train_model(args)
    if args.train_only:
        return None
    if not (Path(args.model) / "config.json").exists():
        raise SystemExit(
            f"inference.py --model: {args.model} holds no saved model; train one with --train-minutes M "
            "or give a save_pretrained directory"
        )
    try:
        return run_benchmark(args, sources, references)
    finally:
        if args.smoke:
            shutil.rmtree(Path(args.model).parent, ignore_errors=True)


if __name__ == "__main__":
    main()
