"""Per-step training throughput (protocol: benchmarks/README.md): trainer overhead and decoder modes, both frameworks.

Lightning: ``Trainer.fit`` with ``LitSeq2Seq`` vs a hand-written PyTorch loop over the same
``nn.Module`` (``throughput_lightning.py``). Keras: ``Seq2SeqModel.fit`` vs a hand-written loop over
the same layers (``throughput_keras.py``). The rows of each framework (and Keras backend, fixed at
import) run in one child process (``benchmarks.common.run_jobs``): each row's result file lands in
``results/throughput_<tag>_runs/``, and a rerun measures only the rows without one. Same batches
(checked by a digest in every row), alternating
rounds, the median per-step time of the timed window. Three tables: trainer overhead on the G2P
model, the decoder modes (hand loops only) with their cost relative to teacher forcing, and the
GNMT-like size. Writes ``results/throughput_<device>.json`` (every row, setting and version),
``.md`` and ``.png``.

    python -m benchmarks.throughput --device cpu --compile          # make bench (about 15 min on 2 cores)
    python -m benchmarks.throughput --device cuda --framework lightning keras --backends jax torch \\
        --precision fp32 bf16 fp16
    python -m benchmarks.throughput --quick                         # a smoke run of every code path

Nothing here imports TensorFlow unless the ``tensorflow`` backend is asked for, nor torch/Lightning
unless ``lightning`` is.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.common import (
    RESULTS,
    BenchData,
    add_run_options,
    gnmt_like_corpus,
    keras_env,
    markdown_table,
    run_jobs,
    serve_jobs,
    set_backend_threads,
    thread_env,
    write_results,
)
from seq2seq_fit import Seq2SeqConfig, TeacherForcing
from seq2seq_fit.presets import PRESETS

STEP_LOOP = "teacher forcing, step loop"
MODES = {
    "teacher forcing": TeacherForcing(),
    # Ratio 1 - 1e-9: not 1 on the host, so both sides run the step loop instead of the one-call
    # path, yet every coin still comes up gold (torch.rand < 1 - 2**-24; Keras rounds the float32
    # ratio to 1.0), so the numbers are teacher forcing's.
    STEP_LOOP: TeacherForcing(start=1 - 1e-9, mode="sequential"),
    "sequential SS": TeacherForcing(start=0.75, mode="sequential"),
    "parallel SS K=1": TeacherForcing(start=0.75, mode="parallel", passes=1),
    "parallel SS K=2": TeacherForcing(start=0.75, mode="parallel", passes=2),
}
NOTES = {
    STEP_LOOP: "step loop forced by ratio 1 - 1e-9 (all coins gold)",
    "bahdanau": "bahdanau always steps one token at a time",
}
#: The demo's G2P size (preset ``cpu``) timed without dropout, and the GNMT-like size.
G2P = replace(PRESETS["cpu"], dropout=0.0)
GNMT = PRESETS["gnmt"]
OVERHEAD_GOAL, PARALLEL_GOAL = 0.05, 1.5


def settings(device: str, quick: bool) -> dict[str, dict[str, int]]:
    """Batch size, distinct batches, timed steps, warm-up and rounds of each section.

    Few distinct batches (cycled) keep the XLA / ``jax.jit`` compilation of every padded shape
    cheap; on CPU that compilation, not the steps, is most of the run.
    """
    if quick:
        tiny = {"batch_size": 128, "n_batches": 1, "steps": 2, "warmup": 1, "rounds": 1}
        return {"overhead": tiny, "eager": tiny, "modes": tiny, "gnmt": {**tiny, "batch_size": 8}}
    if device == "cuda":
        return {
            "overhead": {"batch_size": 128, "n_batches": 6, "steps": 96, "warmup": 8, "rounds": 3},
            "eager": {"batch_size": 128, "n_batches": 6, "steps": 6, "warmup": 2, "rounds": 1},
            "modes": {"batch_size": 128, "n_batches": 2, "steps": 48, "warmup": 4, "rounds": 1},
            "gnmt": {"batch_size": 128, "n_batches": 4, "steps": 32, "warmup": 4, "rounds": 2},
        }
    return {
        "overhead": {"batch_size": 128, "n_batches": 4, "steps": 40, "warmup": 4, "rounds": 5},
        "eager": {"batch_size": 128, "n_batches": 4, "steps": 4, "warmup": 1, "rounds": 1},
        "modes": {"batch_size": 128, "n_batches": 4, "steps": 24, "warmup": 2, "rounds": 1},
        "gnmt": {"batch_size": 16, "n_batches": 2, "steps": 8, "warmup": 2, "rounds": 2},
    }


def job(
    section: str,
    name: str,
    size: str,
    config: Seq2SeqConfig,
    mode: str,
    precision: str,
    compile: bool,
    trainer_too: bool,
    s: dict[str, int],
) -> dict[str, Any]:
    """One measurement, as plain data (sent to the Keras workers as JSON)."""
    note = "; ".join(n for key, n in NOTES.items() if key in (mode, config.attention))
    return {
        "section": section,
        "name": name,
        "size": size,
        "mode": mode,
        "note": note,
        "config": config.to_dict(),
        "teacher_forcing": MODES[mode].to_dict(),
        "precision": precision,
        "jit": compile,
        "trainer_too": trainer_too,
        **s,
    }


def mode_jobs(prefix: str, precision: str, compile: bool, s: dict[str, int]) -> list[dict[str, Any]]:
    """Decoder modes for gru/lstm x none/luong/bahdanau, hand loop only (bahdanau + parallel refused)."""
    jobs = []
    for cell in ("gru", "lstm"):
        for attention in ("none", "luong", "bahdanau"):
            config = Seq2SeqConfig(**{**G2P.to_dict(), "cell": cell, "attention": attention})
            for mode, tf in MODES.items():
                if attention == "bahdanau" and tf.mode == "parallel":
                    continue  # refused by design: the recurrence consumes the attention context
                name = f"{prefix} g2p {cell} {attention} {mode}"
                jobs.append(job("modes", name, "g2p", config, mode, precision, compile, False, s))
    return jobs


def gnmt_jobs(prefix: str, precisions: list[str], compile: bool, s: dict[str, int]) -> list[dict[str, Any]]:
    jobs = []
    for precision in precisions:
        for mode in ("teacher forcing", "parallel SS K=1"):
            name = f"{prefix} gnmt-like {mode} {precision}"
            trainer_too = mode == "teacher forcing"
            jobs.append(job("gnmt", name, "gnmt-like", GNMT, mode, precision, compile, trainer_too, s))
    return jobs


def lightning_jobs(args: argparse.Namespace, s: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    jobs = []
    for precision in args.precision:
        name = f"lightning g2p overhead {precision}"
        jobs.append(job("overhead", name, "g2p", G2P, "teacher forcing", precision, False, True, s["overhead"]))
    # torch.compile: one row on CPU (compiling is slow there), every precision on CUDA.
    for precision in (args.precision if args.device == "cuda" else args.precision[:1]) if args.compile else []:
        name = f"lightning g2p overhead {precision} torch.compile"
        jobs.append(job("overhead", name, "g2p", G2P, "teacher forcing", precision, True, True, s["overhead"]))
    jobs += mode_jobs("lightning", args.precision[0], False, s["modes"])
    gnmt_precisions = args.precision if args.device == "cuda" else args.precision[:1]
    jobs += gnmt_jobs("lightning", gnmt_precisions, False, s["gnmt"])
    return jobs


def keras_jit_options(backend: str, device: str, compile: bool) -> list[bool]:
    """``jit_compile`` settings measured per backend: XLA on/off on TensorFlow and JAX (JAX off is
    op by op, measured on few steps); torch.compile on the torch backend only with ``--compile``
    on CUDA (on a busy 2-core CPU a first try had not finished one row after 9 minutes)."""
    if backend == "torch":
        return [False, True] if compile and device == "cuda" else [False]
    return [True, False]


def keras_jobs(backend: str, args: argparse.Namespace, s: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    jobs = []
    for precision in args.precision:
        for jit in keras_jit_options(backend, args.device, args.compile):
            eager_jax = backend == "jax" and not jit
            if eager_jax and precision != args.precision[0]:
                continue  # op-by-op JAX: one precision is enough to show what it costs
            label = {True: " XLA", False: ""}[jit] if backend != "torch" else (" torch.compile" if jit else "")
            name = f"keras-{backend} g2p overhead {precision}{label}{' op-by-op' if eager_jax else ''}"
            section = s["eager"] if eager_jax else s["overhead"]
            jobs.append(job("overhead", name, "g2p", G2P, "teacher forcing", precision, jit, True, section))
    if backend in args.mode_backends:
        jit = backend != "torch"  # XLA where it is the usual way to run (TensorFlow, JAX), eager torch
        jobs += mode_jobs(f"keras-{backend}", args.precision[0], jit, s["modes"])
        gnmt_precisions = args.precision if args.device == "cuda" else args.precision[:1]
        jobs += gnmt_jobs(f"keras-{backend}", gnmt_precisions, jit, s["gnmt"])
    return jobs


def size_data(size: str, batch_size: int, n_batches: int, smoke: bool = False) -> BenchData:
    """The batches of a size: CMUdict (``g2p``), random token sequences of 8k (``gnmt-like``) or 32k
    (``gnmt-v2``) words, lengths 20-50; ``smoke``: small random corpora."""
    if size == "g2p" and not smoke:
        return BenchData.build("cmudict", batch_size, n_batches)
    if smoke:
        vocab = {"g2p": 40, "gnmt-like": 60, "gnmt-v2": 80}[size]
        corpus = gnmt_like_corpus(n=batch_size * (n_batches + 8), vocab=vocab, min_len=3, max_len=8)
    else:
        vocab = {"gnmt-like": 8000, "gnmt-v2": 32_000}[size]
        corpus = gnmt_like_corpus(n=batch_size * max(40 if size == "gnmt-like" else 48, n_batches + 8), vocab=vocab)
    corpus.name = f"{size}-smoke" if smoke else {"gnmt-like": "gnmt-like", "gnmt-v2": "gnmt-v2-like"}[size]
    return BenchData.build(corpus, batch_size, n_batches)


def token_fields(row: dict[str, Any], data: BenchData) -> dict[str, Any]:
    """Tokens per second counting source and target non-pad tokens (GNMT's count), hand loop and trainer."""
    src = statistics.mean(float((b["source"] != 0).sum()) for b in data.batches)
    fields: dict[str, Any] = {"src_tokens_per_batch": src, "tgt_tokens_per_batch": data.target_tokens_per_batch}
    for key, out in (("hand_step_ms", "tokens_per_s"), ("trainer_step_ms", "trainer_tokens_per_s")):
        if key in row:
            fields[out] = (src + data.target_tokens_per_batch) / (row[key] / 1000)
    return fields


_DATA: dict[tuple[Any, ...], BenchData] = {}


def measure_job(spec: dict[str, Any]) -> dict[str, Any]:
    """One row, in the child process of its framework (and Keras backend): ``spec`` is a job's settings."""
    job, device = spec["settings"], spec["settings"]["device"]
    if not _DATA:  # the first job of this process: threads, quiet logs, the backend it runs
        set_backend_threads(job["backend"], job.get("threads", 0), pin_jax=not job.get("smoke"))
        for name in ("lightning.pytorch", "lightning.fabric"):
            logging.getLogger(name).setLevel(logging.ERROR)  # no "GPU available" banners per Trainer
        warnings.filterwarnings("ignore", message=".*(val_dataloader|LeafSpec|litlogger|have many workers).*")
    key = (job["size"], job["batch_size"], job["n_batches"], job.get("smoke", False))
    data = _DATA[key] = _DATA.get(key) or size_data(*key)
    if job["framework"] == "lightning":
        import torch

        import benchmarks.throughput_lightning as side

        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = bool(job.get("tf32"))
    else:
        import benchmarks.throughput_keras as side  # type: ignore[no-redef]
    row = side.measure(job, job["backend"], device, data)
    info = side.versions(job["backend"], device) | {"tensorflow_imported": str("tensorflow" in sys.modules)}
    if device == "cuda" and job["framework"] == "lightning":
        torch.cuda.empty_cache()
    return {**row, **token_fields(row, data), "versions": info}


def measure_rows(
    jobs: list[dict[str, Any]], folder: Path, *, threads: int = 0, cpu_only: bool = True, timeout: float | None = None,
    fresh: bool = False, extra_env: dict[str, str] | None = None,
    on_row: Callable[[dict[str, Any], dict[str, Any]], None] | None = None, log: Any = None,
) -> list[dict[str, Any] | None]:  # fmt: skip
    """Each row of ``jobs`` (all of one framework and backend) measured in one child process; a row
    with a result file in ``folder`` is read, not measured again."""
    backend = jobs[0]["backend"]
    env = {"TF_CPP_MIN_LOG_LEVEL": "2", **thread_env(threads), **(extra_env or {})}
    if jobs[0]["framework"] == "keras":
        env.update(keras_env(backend, cpu_only, threads))
    wrapped = [{"name": j["name"], "settings": j} for j in jobs]
    return run_jobs([sys.executable, "-m", "benchmarks.throughput", "--child"], wrapped, folder, env=env,
                    timeout=timeout, fresh=fresh, on_result=on_row, log=log)  # fmt: skip


def finish(row: dict[str, Any] | None, j: dict[str, Any]) -> dict[str, Any]:
    """Add the job's settings to a row and print a progress line."""
    row = {"framework": j["framework"], "backend": j["backend"], **(row or {"error": "not run: its child stopped"})}
    row = {**row, **{k: j[k] for k in ("section", "size", "mode", "note", "precision")}}
    row["variant"] = j["name"]
    row["label"] = "lightning" if row["framework"] == "lightning" else f"keras/{row['backend']}"
    row["settings"] = {k: j[k] for k in ("batch_size", "n_batches", "steps", "warmup", "rounds")}
    if "error" in row:
        print(f"{j['name']}: not measured ({row['error'][:200]})", flush=True)
    elif "trainer_overhead" in row:
        ms = f"{row['hand_step_ms']:.1f} / {row['trainer_step_ms']:.1f} ms"
        print(f"{j['name']}: hand / fit {ms}, overhead {row['trainer_overhead']:+.1%}", flush=True)
    else:
        print(f"{j['name']}: {row['hand_step_ms']:.1f} ms", flush=True)
    return row


def add_costs(rows: list[dict[str, Any]]) -> None:
    """``cost_vs_tf``: hand-loop step time / the teacher-forced fused step of the same setting."""

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        c = r.get("config", {})
        return (r["section"], r["label"], r["precision"], c.get("cell"), c.get("attention"))

    base = {key(r): r["hand_step_ms"] for r in rows if r["mode"] == "teacher forcing" and "hand_step_ms" in r}
    for r in rows:
        if r["section"] in ("modes", "gnmt") and "hand_step_ms" in r and key(r) in base:
            r["cost_vs_tf"] = r["hand_step_ms"] / base[key(r)]
        if "trainer_overhead" in r:
            r["overhead_goal_met"] = "yes" if r["trainer_overhead"] <= OVERHEAD_GOAL else "no"
        if r["mode"] == "parallel SS K=1" and "cost_vs_tf" in r:
            r["parallel_goal_met"] = "yes" if r["cost_vs_tf"] <= PARALLEL_GOAL else "no"
        c = r.get("config", {})
        r["cell"], r["attention"] = c.get("cell"), c.get("attention")
        r["compiled"] = r.get("compiler") or {
            "keras/tensorflow": "tf.function, no XLA",
            "keras/jax": "no (op by op)",
        }.get(r["label"], "no")


OVERHEAD_COLUMNS = [("label", "framework", ""), ("precision", "precision", ""), ("compiled", "compiled", ""),
                    ("hand_step_ms", "hand loop ms/step", ".1f"), ("trainer_step_ms", "fit ms/step", ".1f"),
                    ("trainer_overhead", "trainer overhead", "+.1%"), ("overhead_goal_met", "<= 5%", ""),
                    ("target_tokens_per_s", "target tok/s", ",.0f"), ("pad_ratio", "pad ratio", ".3f"),
                    ("model_tflops_per_s", "model TFLOP/s", ".4f"), ("peak_memory_mb", "peak MB", ",.0f"),
                    ("cudnn_rnn", "cuDNN RNN", ""), ("n_steps", "steps timed", "")]  # fmt: skip
MODE_COLUMNS = [("label", "framework", ""), ("compiled", "compiled", ""), ("cell", "cell", ""),
                ("attention", "attention", ""), ("mode", "decoder mode", ""),
                ("hand_step_ms", "hand loop ms/step", ".1f"), ("cost_vs_tf", "x teacher forcing", ".2f"),
                ("parallel_goal_met", "K=1 <= 1.5x", ""), ("target_tokens_per_s", "target tok/s", ",.0f"),
                ("note", "note", "")]  # fmt: skip
GNMT_COLUMNS = [("label", "framework", ""), ("precision", "precision", ""), ("compiled", "compiled", ""),
                ("mode", "decoder mode", ""), ("hand_step_ms", "hand loop ms/step", ".1f"),
                ("trainer_step_ms", "fit ms/step", ".1f"), ("trainer_overhead", "trainer overhead", "+.1%"),
                ("cost_vs_tf", "x teacher forcing", ".2f"), ("target_tokens_per_s", "target tok/s", ",.0f"),
                ("pad_ratio", "pad ratio", ".3f"), ("model_tflops_per_s", "model TFLOP/s", ".4f"),
                ("peak_memory_mb", "peak MB", ",.0f"), ("cudnn_rnn", "cuDNN RNN", "")]  # fmt: skip


def report(rows: list[dict[str, Any]], args: argparse.Namespace, argv: list[str], meta: dict[str, Any]) -> str:
    """The Markdown page: how to reproduce, versions, the three tables, what was not measured."""
    done = [r for r in rows if "error" not in r]
    s = meta["settings"]
    lines = [
        f"Reproduce: `python -m benchmarks.throughput {shlex.join(argv)}`"
        f" (written {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs); versions: "
        + "; ".join(
            f"{label}: " + ", ".join(f"{k} {v}" for k, v in info.items()) for label, info in meta["versions"].items()
        ),
        "",
        f"# Training throughput, {args.device}",
        "",
        "Median per-step wall time over the timed window after warm-up; within a section every row trains "
        "on the same batches (digest in the JSON), trainer and hand loop alternating. Tokens/s and model "
        "TFLOP/s come from the hand loop; `trainer overhead` = fit / hand loop - 1 (goal: at most 5%). Peak memory: "
        f"{'GPU allocator peak' if args.device == 'cuda' else 'process peak RSS so far (earlier rows included)'}. "
        "Keras `compiled`: `jit_compile` (XLA on TensorFlow and JAX, torch.compile on torch); TensorFlow "
        f"without it still runs a `tf.function` graph, JAX without it runs op by op (seconds per step, so "
        f"timed on {s['eager']['steps']} steps, one round).",
        "",
        f"## Trainer overhead, G2P model (bi-GRU 256, Luong; batch {s['overhead']['batch_size']}, "
        f"{s['overhead']['n_batches']} distinct batch(es) cycled)",
        "",
        markdown_table([r for r in done if r["section"] == "overhead"], OVERHEAD_COLUMNS),
        "## Decoder modes, G2P size (hand loops; goal: parallel SS K=1 at most 1.5x teacher forcing)",
        "",
        f"Keras backends here: {', '.join(args.mode_backends) if 'keras' in args.framework else 'none'} "
        "(`--mode-backends`). "
        "`teacher forcing` is the fused one-call decoder where the attention allows it; "
        "`teacher forcing, step loop` forces the step-by-step loop with a ratio of 1 - 1e-9 (every coin "
        "still gold); scheduled sampling at ratio 0.75.",
        "",
        markdown_table([r for r in done if r["section"] == "modes"], MODE_COLUMNS),
        f"## GNMT-like size (2+2 LSTM 512, Luong, vocabulary 8k, lengths 20-50, batch {s['gnmt']['batch_size']})",
        "",
        markdown_table([r for r in done if r["section"] == "gnmt"], GNMT_COLUMNS),
    ]
    skipped = [f"- {r['variant']}: {r['error']}" for r in rows if "error" in r]
    skipped += [f"- {n}" for n in meta["not_measured"]]
    if skipped:
        lines += ["## Not measured", "", *skipped, ""]
    return "\n".join(lines)


def chart(rows: list[dict[str, Any]], path: Path) -> None:
    """Left: fit / hand-loop step time per framework and setting (dashed: the 5% goal). Right: each
    decoder mode's cost relative to teacher forcing (dots: cell x attention; bar: median; dashed: 1.5x)."""
    from seq2seq_fit.plots import _pyplot

    plt = _pyplot()
    over = [r for r in rows if r["section"] == "overhead" and "trainer_overhead" in r]
    modes = [r for r in rows if r["section"] == "modes" and "cost_vs_tf" in r]
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5))
    labels = [f"{r['label']} {r['precision']}{'' if r['compiled'] == 'no' else ', ' + r['compiled']}" for r in over]
    colours = {label: f"C{i}" for i, label in enumerate(sorted({r["label"] for r in rows}))}
    left.barh(range(len(over)), [100 * r["trainer_overhead"] for r in over], color=[colours[r["label"]] for r in over])
    left.set_yticks(range(len(over)), labels, fontsize=8)
    left.axvline(0.0, color="black", linewidth=0.8)
    left.axvline(100 * OVERHEAD_GOAL, color="tab:red", linestyle="--", label="goal: at most 5%")
    left.set_xlabel("trainer overhead per step, % (fit / hand-written loop - 1)")
    left.set_title("Trainer vs hand-written loop, G2P model")
    left.invert_yaxis()
    left.legend(loc="lower right", fontsize=8)
    frameworks = sorted({r["label"] for r in modes})
    width = 0.8 / max(1, len(frameworks))
    for i, fw in enumerate(frameworks):
        for m, mode in enumerate(MODES):
            costs = [r["cost_vs_tf"] for r in modes if r["label"] == fw and r["mode"] == mode]
            if not costs:
                continue
            x = m + (i - (len(frameworks) - 1) / 2) * width
            right.bar(x, statistics.median(costs), width, color=colours[fw], alpha=0.5, label=fw if m == 0 else None)
            right.scatter([x] * len(costs), costs, color=colours[fw], s=10)
    right.axhline(PARALLEL_GOAL, color="tab:red", linestyle="--", label="goal for parallel SS K=1: 1.5x")
    right.set_xticks(range(len(MODES)), [m.replace(", ", ",\n") for m in MODES], fontsize=8)
    right.set_ylabel("step time / teacher forcing (fused)")
    right.set_title("Decoder modes, hand loops (dots: cell x attention)")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        serve_jobs(measure_job)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--framework", nargs="+", default=["lightning", "keras"], choices=["lightning", "keras"])
    parser.add_argument(
        "--backends", nargs="+", default=["tensorflow", "jax", "torch"], choices=["tensorflow", "jax", "torch"]
    )
    parser.add_argument(
        "--mode-backends",
        nargs="+",
        default=None,
        choices=["tensorflow", "jax", "torch"],
        help="Keras backends for the decoder-mode and GNMT-like rows (default: torch on CPU, every backend on CUDA)",
    )
    parser.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "bf16", "fp16"])
    parser.add_argument(
        "--compile", action="store_true", help="add torch.compile rows (Lightning; Keras torch on CUDA)"
    )
    add_run_options(parser, cpus=False, results=False)
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (results written with a -quick tag)")
    parser.add_argument(
        "--tag", default="", help="results/throughput_<tag>.* (default: the device, e.g. cpu; cpu-quick with --quick)"
    )
    args = parser.parse_args(argv)
    if args.mode_backends is None:
        args.mode_backends = (
            list(args.backends) if args.device == "cuda" else [b for b in ("torch",) if b in args.backends]
        )
    s = settings(args.device, args.quick)
    started = time.perf_counter()
    tag = args.tag or f"{args.device}{'-quick' if args.quick else ''}"
    groups = [("lightning", "torch", lightning_jobs(args, s))] if "lightning" in args.framework else []
    if "keras" in args.framework:
        groups += [("keras", backend, keras_jobs(backend, args, s)) for backend in args.backends]
    rows: list[dict[str, Any]] = []
    versions: dict[str, dict[str, str]] = {}
    for framework, backend, jobs in groups:
        for j in jobs:
            j.update(framework=framework, backend=backend, device=args.device, threads=args.threads)
        got = measure_rows(jobs, RESULTS / f"throughput_{tag}_runs", threads=args.threads,
                           cpu_only=args.device == "cpu", fresh=args.fresh)  # fmt: skip
        rows += [finish(row, j) for row, j in zip(got, jobs, strict=True)]
        label = "lightning" if framework == "lightning" else f"keras/{backend}"
        versions[label] = next((r["versions"] for r in rows[-len(jobs) :] if "versions" in r), {})
    add_costs(rows)
    not_measured = []
    if "keras" in args.framework and "torch" in args.backends and not (args.compile and args.device == "cuda"):
        not_measured.append("keras/torch with torch.compile (jit_compile=True): only with --compile on CUDA")
    meta: dict[str, Any] = {
        "argv": argv,
        "args": vars(args),
        "settings": s,
        "versions": versions,
        "goals": {"trainer_overhead_max": OVERHEAD_GOAL, "parallel_k1_vs_tf_max": PARALLEL_GOAL},
        "modes": {k: v.to_dict() for k, v in MODES.items()},
        "not_measured": not_measured,
        "seconds": time.perf_counter() - started,
    }
    json_path, md_path = write_results(f"throughput_{tag}", rows, meta, report(rows, args, argv, meta))
    png_path = RESULTS / f"throughput_{tag}.png"
    chart(rows, png_path)
    print(f"wrote {json_path}, {md_path} and {png_path} in {meta['seconds'] / 60:.1f} min")


if __name__ == "__main__":
    main()
