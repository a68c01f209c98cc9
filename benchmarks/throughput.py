"""Per-step training throughput: trainer overhead and decoder modes, both frameworks (protocol: benchmarks/README.md).

The rows are the jobs of a config file (``--config``; its fields: ``benchmarks/configs/throughput.yaml``). Each
framework's rows (Keras: each backend's) run in one child process of ``benchmarks.common.run_jobs``, timed by
``throughput_lightning.py`` or ``throughput_keras.py``; each row's result file lands in
``results/throughput_<tag>_runs/`` (a rerun measures only the rows without one). Writes
``results/throughput_<tag>.json``, ``.md`` and ``.png``, rewritten after every row.

    python -m benchmarks.throughput                                   # make bench
    python -m benchmarks.throughput --config benchmarks/configs/throughput-gpu.yaml
    python -m benchmarks.throughput --quick --results /tmp/tp        # the quick rows at tiny sizes
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import logging
import os
import shlex
import statistics
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from benchmarks.common import (
    BenchData,
    add_run_options,
    alternate,
    gnmt_like_corpus,
    keras_env,
    markdown_table,
    peak_memory,
    run_jobs,
    serve_jobs,
    set_backend_threads,
    thread_env,
    versions,
    write_results,
)
from seq2seq_fit import Seq2SeqConfig, TeacherForcing
from seq2seq_fit.presets import PRESETS

CONFIG = Path(__file__).resolve().parent / "configs" / "throughput.yaml"
STEP_LOOP = "teacher forcing, step loop"
MODES = {
    "teacher forcing": TeacherForcing(),
    # Ratio 1 - 1e-9: not 1 on the host, so both sides run the step loop instead of the one-call path, yet every
    # coin still comes up gold (torch.rand < 1 - 2**-24; Keras rounds the float32 ratio to 1.0).
    STEP_LOOP: TeacherForcing(start=1 - 1e-9, mode="sequential"),
    "sequential SS": TeacherForcing(start=0.75, mode="sequential"),
    "parallel SS K=1": TeacherForcing(start=0.75, mode="parallel", passes=1),
    "parallel SS K=2": TeacherForcing(start=0.75, mode="parallel", passes=2),
}
NOTES = {STEP_LOOP: "step loop forced by ratio 1 - 1e-9 (all coins gold)",
         "bahdanau": "bahdanau always steps one token at a time"}  # fmt: skip
OVERHEAD_GOAL, PARALLEL_GOAL = 0.05, 1.5
#: ``--quick``: every row at a tiny width (embedding 8, hidden 16, one layer), on one small random batch, two steps.
QUICK_TIMING = {"batch_size": 8, "n_batches": 1, "steps": 2, "warmup": 1, "rounds": 1}
JOB_KEYS = {"section", "framework", "size", "mode", "precision", "compile", "trainer", "timing", "cell", "attention",
            "quick"}  # fmt: skip
#: Dense peak TFLOP/s (data sheets, without sparsity) by a substring of the GPU's name, first match wins:
#: (name, bf16/fp16 tensor cores, TF32 tensor cores, plain fp32).
PEAKS = [("H200 NVL", 835.0, 417.5, 60.0), ("H200", 989.4, 494.7, 66.9), ("H100 NVL", 835.0, 417.5, 60.0),
         ("H100 PCIe", 756.5, 378.0, 51.2), ("H100", 989.4, 494.7, 66.9), ("A100", 312.0, 156.0, 19.5)]  # fmt: skip
#: GNMT v2 (NVIDIA DeepLearningExamples, PyTorch) on one A100 with AMP: training tokens/s.
GNMT_V2_A100_TOKENS_PER_S = 140_909


def peak_of(gpu: str | None) -> dict[str, Any]:
    """The :data:`PEAKS` row of a GPU name, or ``{"match": None}`` where the table has none."""
    for key, bf16, tf32, fp32 in PEAKS if gpu else ():
        if key.lower() in str(gpu).lower():
            return {"match": key, "bf16": bf16, "fp16": bf16, "tf32": tf32, "fp32": fp32}
    return {"match": None}


def load_config(path: Path) -> dict[str, Any]:
    import yaml

    config = yaml.safe_load(Path(path).read_text())
    if missing := {"device", "tag", "timing", "sizes", "jobs"} - set(config):
        raise SystemExit(f"{path}: missing key(s) {sorted(missing)} (see benchmarks/configs/throughput.yaml)")
    return dict(config)


def expand(config: dict[str, Any], path: Path, quick: bool = False) -> tuple[list[dict[str, Any]], list[str]]:
    """The jobs of a config file in run order (grouped by framework), and the rows left out with the reason.

    Example:
        >>> jobs, _ = expand(load_config(CONFIG), CONFIG)
        >>> len(jobs), jobs[0]["name"], jobs[-1]["name"]
        (72, 'lightning g2p overhead fp32', 'keras-torch g2p-transformer parallel SS K=2')
    """
    jobs, skipped = [], []
    for i, entry in enumerate(config["jobs"]):
        if unknown := set(entry) - JOB_KEYS:
            raise SystemExit(f"{path}: jobs[{i}]: unknown key(s) {sorted(unknown)}; expected {sorted(JOB_KEYS)}")
        if quick and not entry.get("quick"):
            continue
        lists = {k: v if isinstance(v, list) else [v] for k, v in entry.items()}
        for values in itertools.product(*lists.values()):
            job = make_job(dict(zip(lists, values, strict=True)), config, path, quick)
            if job["precision"] == "fp16" and config["device"] != "cuda":
                skipped.append(f"{job['name']}: fp16 needs CUDA")
            else:
                jobs.append(job)
    labels = list(dict.fromkeys(j["label"] for j in jobs))
    return sorted(jobs, key=lambda j: labels.index(j["label"])), skipped


def make_job(entry: dict[str, Any], config: dict[str, Any], path: Path, quick: bool) -> dict[str, Any]:
    """One row as plain data (the child reads it as JSON)."""
    section, size, mode = entry["section"], entry["size"], entry.get("mode", "teacher forcing")
    framework, _, backend = entry["framework"].partition("/")
    if size not in config["sizes"] or mode not in MODES:
        raise SystemExit(f"{path}: size {size!r} / mode {mode!r}: expected one of {list(config['sizes'])} / {[*MODES]}")
    model = dict(config["sizes"][size])
    model = {**PRESETS[model.pop("preset")].to_dict(), **model} if "preset" in model else model
    model |= {k: entry[k] for k in ("cell", "attention") if k in entry}
    transformer = model.get("architecture") == "transformer"
    if quick:  # a Transformer's embedding is its width, as in the preset
        model |= {"embedding_dim": 16 if transformer else 8, "hidden_size": 16, "num_layers": 1}
        model |= {"ffn_size": 32} if transformer else {}
    jit, precision = bool(entry.get("compile", False)), entry.get("precision", "fp32")
    who = "lightning" if framework == "lightning" else f"keras-{backend}"
    compiled = "torch.compile" if jit and backend in ("", "torch") else "XLA" if jit else "no"
    suffix = f" {compiled}" if jit else " op-by-op" if backend == "jax" else ""
    network = "" if transformer else f" {model['cell']} {model['attention']}"  # a Transformer's size names it
    names = {"overhead": f"{who} {size} overhead {precision}{suffix}", "modes": f"{who} {size}{network} {mode}{suffix}"}
    label = "lightning" if framework == "lightning" else f"keras/{backend}"
    timing = QUICK_TIMING if quick else config["timing"][entry.get("timing", section)]
    return {
        "section": section, "name": names.get(section, f"{who} {size} {mode} {precision}{suffix}"), "size": size,
        "mode": mode, "note": "; ".join(n for key, n in NOTES.items() if key in (mode, model["attention"])),
        "precision": precision, "config": Seq2SeqConfig(**model).to_dict(), "teacher_forcing": MODES[mode].to_dict(),
        "jit": jit, "trainer_too": bool(entry.get("trainer")), "framework": framework, "backend": backend or "torch",
        "device": config["device"], "smoke": quick, "label": label, "compiled": compiled, **timing,
    }  # fmt: skip


def size_data(size: str, batch_size: int, n_batches: int, smoke: bool = False) -> BenchData:
    """The batches of a size: CMUdict (``g2p``, ``g2p-*``), random token sequences of 8k (``gnmt-like``) or 32k
    (``gnmt-v2``) words, lengths 20-50; ``smoke``: small random corpora."""
    g2p = size == "g2p" or size.startswith("g2p-")
    if g2p and not smoke:
        return BenchData.build("cmudict", batch_size, n_batches)
    if smoke:
        vocab = 40 if g2p else {"gnmt-like": 60, "gnmt-v2": 80}[size]
        corpus = gnmt_like_corpus(n=batch_size * (n_batches + 8), vocab=vocab, min_len=3, max_len=8)
    else:
        vocab = {"gnmt-like": 8000, "gnmt-v2": 32_000}[size]
        corpus = gnmt_like_corpus(n=batch_size * max(40 if size == "gnmt-like" else 48, n_batches + 8), vocab=vocab)
    corpus.name = f"{size}-smoke" if smoke else {"gnmt-like": "gnmt-like", "gnmt-v2": "gnmt-v2-like"}[size]
    return BenchData.build(corpus, batch_size, n_batches)


_DATA: dict[tuple[Any, ...], BenchData] = {}


def measure_job(spec: dict[str, Any]) -> dict[str, Any]:
    """One row in the child process of its framework (and Keras backend): hand loop and, with ``trainer_too``,
    ``fit`` alternating ``rounds`` times; medians, overhead, tokens/s (target; source + target), memory."""
    job, device, backend = spec["settings"], spec["settings"]["device"], spec["settings"]["backend"]
    if not _DATA:  # the first job of this process: threads, quiet logs
        set_backend_threads(backend, job.get("threads", 0), pin_jax=not job.get("smoke"))
        for name in ("lightning.pytorch", "lightning.fabric"):
            logging.getLogger(name).setLevel(logging.ERROR)  # no "GPU available" banners per Trainer
        warnings.filterwarnings("ignore", message=".*(val_dataloader|LeafSpec|litlogger|have many workers).*")
    key = (job["size"], job["batch_size"], job["n_batches"], job.get("smoke", False))
    data = _DATA[key] = _DATA.get(key) or size_data(*key)
    if job["framework"] == "lightning":
        import benchmarks.throughput_lightning as side
    else:
        import benchmarks.throughput_keras as side  # type: ignore[no-redef]
    run = {**job, "precision": "fp32", "tf32": True} if job["precision"] == "tf32" else job
    warmup = max(job["warmup"], len(data.batches)) if job["jit"] else job["warmup"]
    hand, fit, cudnn, extra = side.loops(run, data, data.order(warmup, job["steps"]))
    timing = alternate(job, data, warmup, hand, fit if job["trainer_too"] else None)
    memory, memory_kind = peak_memory(backend, device)
    src = statistics.mean(float((b["source"] != 0).sum()) for b in data.batches)
    tokens = src + data.target_tokens_per_batch
    row = {"framework": job["framework"], "backend": backend, "variant": job["name"], "config": job["config"],
           "teacher_forcing": job["teacher_forcing"], "precision": run["precision"], "compile": job["jit"],
           "compiler": None if job["compiled"] == "no" else job["compiled"], "device": device,
           "peak_memory_mb": memory, "peak_memory_kind": memory_kind, "cudnn_rnn": device == "cuda" and cudnn(),
           **extra, **timing, "src_tokens_per_batch": src, "tgt_tokens_per_batch": data.target_tokens_per_batch,
           "tokens_per_s": tokens / timing["hand_step_ms"] * 1000}  # fmt: skip
    if "trainer_step_ms" in timing:
        row["trainer_tokens_per_s"] = tokens / timing["trainer_step_ms"] * 1000
    framework = "lightning" if job["framework"] == "lightning" else "keras"
    info = versions(backend, framework, "numpy") | {"tensorflow_imported": str("tensorflow" in sys.modules)}
    return row | {"versions": info}


def finish(row: dict[str, Any] | None, j: dict[str, Any]) -> dict[str, Any]:
    """A row with its job's settings (``error`` where the child did not measure it), printed as it lands."""
    row = {"framework": j["framework"], "backend": j["backend"], **(row or {"error": "not run: its child stopped"})}
    row |= {k: j[k] for k in ("section", "size", "mode", "note", "precision", "label", "compiled")}
    row["variant"] = j["name"]
    row["settings"] = {k: j[k] for k in ("batch_size", "n_batches", "steps", "warmup", "rounds")}
    c = row.get("config", j["config"])
    transformer = c.get("architecture") == "transformer"
    row["cell"], row["attention"] = ("transformer", "multi-head") if transformer else (c["cell"], c["attention"])
    uncompiled = {"keras/tensorflow": "tf.function, no XLA", "keras/jax": "no (op by op)"}
    row["compiled"] = uncompiled.get(j["label"], "no") if row["compiled"] == "no" else row["compiled"]
    if "error" in row:
        print(f"{row['variant']}: not measured ({row['error'][:200]})", flush=True)
    else:
        fit = f" / fit {row['trainer_step_ms']:.1f} ms, overhead {row['trainer_overhead']:+.1%}" if (
            "trainer_overhead" in row) else ""  # fmt: skip
        print(f"{row['variant']}: hand {row['hand_step_ms']:.1f} ms{fit}", flush=True)
    return row


def add_costs(rows: list[dict[str, Any]], peak: dict[str, Any]) -> None:
    """``cost_vs_tf`` (hand-loop step time / the teacher-forced row of the same setting), the goal columns, and
    MFU against ``peak`` (:func:`peak_of`; none without a match): model TFLOP/s / the peak of the row's precision."""

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r["label"], r["size"], r["precision"], r["compiled"], r["cell"], r["attention"])

    taught = [r for r in rows if r["mode"] == "teacher forcing" and "hand_step_ms" in r]
    base = {key(r): r["hand_step_ms"] for r in sorted(taught, key=lambda r: r["section"] != "overhead")}
    for r in rows:
        if r["section"] != "overhead" and "hand_step_ms" in r and key(r) in base:
            r["cost_vs_tf"] = r["hand_step_ms"] / base[key(r)]
        if "trainer_overhead" in r:
            r["overhead_goal_met"] = "yes" if r["trainer_overhead"] <= OVERHEAD_GOAL else "no"
        if r["mode"] == "parallel SS K=1" and "cost_vs_tf" in r:
            r["parallel_goal_met"] = "yes" if r["cost_vs_tf"] <= PARALLEL_GOAL else "no"
        if peak.get("match") and "model_tflops_per_s" in r:
            kind = "tf32" if r["precision"] == "fp32" and r["label"] == "keras/jax" else r["precision"]  # XLA: TF32
            r |= {"peak_kind": kind, "peak_tflops": peak[kind], "mfu": r["model_tflops_per_s"] / peak[kind]}
            if "trainer_step_ms" in r:
                r["trainer_mfu"] = r["mfu"] * r["hand_step_ms"] / r["trainer_step_ms"]


def columns(section: str, rows: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """The table columns of a section (a size column where it has several sizes; MFU where measured)."""
    head = [("label", "framework", ""), ("precision", "precision", ""), ("compiled", "compiled", "")]
    head += [("size", "size", "")] if len({r["size"] for r in rows}) > 1 else []
    hand = [("hand_step_ms", "hand loop ms/step", ".1f")]
    fit = [("trainer_step_ms", "fit ms/step", ".1f"), ("trainer_overhead", "trainer overhead", "+.1%")]
    rates = [("target_tokens_per_s", "target tok/s", ",.0f")]
    if any("mfu" in r for r in rows):
        rates += [("tokens_per_s", "tok/s (src+tgt)", ",.0f"), ("mfu", "MFU", ".2%")]
    more = [("pad_ratio", "pad ratio", ".3f"), ("model_tflops_per_s", "model TFLOP/s", ".4f"),
            ("peak_memory_mb", "peak MB", ",.0f"), ("cudnn_rnn", "cuDNN RNN", "")]  # fmt: skip
    cost = [("cost_vs_tf", "x teacher forcing", ".2f")]
    if section == "overhead":
        return [*head, *hand, *fit, ("overhead_goal_met", "<= 5%", ""), *rates, *more, ("n_steps", "steps timed", "")]
    if section == "modes":
        mode = [("cell", "cell", ""), ("attention", "attention", ""), ("mode", "decoder mode", "")]
        return [head[0], *head[2:], *mode, *hand, *cost, ("parallel_goal_met", "K=1 <= 1.5x", ""), *rates,
                ("note", "note", "")]  # fmt: skip
    return [*head, ("mode", "decoder mode", ""), *hand, *fit, *cost, *rates, *more]


def title(section: str, rows: list[dict[str, Any]]) -> str:
    sizes, s = sorted({r["size"] for r in rows}), rows[0]["settings"]
    models = {
        f"Transformer {c['num_layers']}+{c['num_layers']}x{c['hidden_size']}, {c['num_heads']} heads"
        if c.get("architecture") == "transformer"
        else f"{c['cell'].upper()} {c['num_layers']}x{c['hidden_size']}, {c['attention']}"
        for c in (r["config"] for r in rows)
    }
    model = models.pop() + "; " if len(models) == 1 else ""
    batches = f"batch {s['batch_size']}, {s['n_batches']} distinct batch(es) cycled"
    where = f"{sizes[0]} size ({model}{batches})" if len(sizes) == 1 else f"sizes {', '.join(sizes)}"
    return {"overhead": f"Trainer overhead, {where}",
            "modes": f"Decoder modes, {where}; hand loops, goal: parallel SS K=1 at most 1.5x teacher forcing",
            }.get(section, f"The {where}")  # fmt: skip


def report(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The Markdown page: how to reproduce, versions, one table per section, what was not measured."""
    done = [r for r in rows if "error" not in r]
    libraries = "; ".join(f"{k}: " + ", ".join(f"{n} {v}" for n, v in i.items()) for k, i in meta["versions"].items())
    memory = "GPU allocator peak" if meta["device"] == "cuda" else "process peak RSS so far (earlier rows included)"
    about = (
        "Median per-step wall time over the timed window after warm-up; within a section every row of a size trains on "
        "the same batches (digest in the JSON), trainer and hand loop alternating. Tokens/s and model TFLOP/s come "
        "from the hand loop; `trainer overhead` = fit / hand loop - 1 (goal: at most 5%). Peak memory: "
        f"{memory}. `compiled`: torch.compile, or XLA (`jit_compile` on TensorFlow and JAX); TensorFlow without it "
        "still runs a `tf.function` graph, JAX runs op by op. `teacher forcing` is the fused one-call decoder where "
        "the attention allows it; `teacher forcing, step loop` forces the step-by-step loop with a ratio of 1 - 1e-9 "
        "(every coin still gold); scheduled sampling at ratio 0.75."
    )
    reproduce = f"Reproduce: `python -m benchmarks.throughput {shlex.join(meta['argv'])}`"
    written = f"(written {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs); versions: {libraries}"
    lines = [f"{reproduce} {written}", "", f"# Training throughput, {meta['device']}", "", about, ""]
    if any("mfu" in r for r in done):
        p = meta["peak"]
        lines += [f"MFU: model FLOPs (3x forward) / the data-sheet dense peak of the row's precision ({p['match']}: "
                  f"bf16/fp16 {p['bf16']}, TF32 {p['tf32']}, fp32 {p['fp32']} TFLOP/s). GNMT v2 reference: "
                  f"{GNMT_V2_A100_TOKENS_PER_S:,} tok/s (src+tgt) on one A100 with AMP.", ""]  # fmt: skip
    for section in sorted({r["section"] for r in done}, key=lambda s: {"overhead": 0, "modes": 1}.get(s, 2)):
        part = [r for r in done if r["section"] == section]
        lines += [f"## {title(section, part)}", "", markdown_table(part, columns(section, part))]
    skipped = [f"- {r['variant']}: {r['error']}" for r in rows if "error" in r]
    skipped += [f"- {n}" for n in meta["not_measured"]]
    return "\n".join(lines + (["## Not measured", "", *skipped, ""] if skipped else []))


def chart(rows: list[dict[str, Any]], path: Path) -> None:
    """Left: fit / hand-loop step time per framework and setting (dashed: the 5% goal). Right: each decoder mode's
    cost relative to teacher forcing (dots: cell x attention; bar: median; dashed: 1.5x)."""
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
    left.set(xlabel="trainer overhead per step, % (fit / hand-written loop - 1)", title="Trainer vs hand-written loop")
    left.invert_yaxis()
    left.legend(loc="lower right", fontsize=8)
    frameworks = sorted({r["label"] for r in modes})
    width = 0.8 / max(1, len(frameworks))
    for (i, fw), (m, mode) in itertools.product(enumerate(frameworks), enumerate(MODES)):
        if costs := [r["cost_vs_tf"] for r in modes if r["label"] == fw and r["mode"] == mode]:
            x = m + (i - (len(frameworks) - 1) / 2) * width
            right.bar(x, statistics.median(costs), width, color=colours[fw], alpha=0.5, label=fw if m == 0 else None)
            right.scatter([x] * len(costs), costs, color=colours[fw], s=10)
    right.axhline(PARALLEL_GOAL, color="tab:red", linestyle="--", label="goal for parallel SS K=1: 1.5x")
    right.set_xticks(range(len(MODES)), [m.replace(", ", ",\n") for m in MODES], fontsize=8)
    right.set(ylabel="step time / teacher forcing (fused)", title="Decoder modes, hand loops (dots: cell x attention)")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> Path | None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        serve_jobs(measure_job)
        return None
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=CONFIG, help="the jobs (default configs/throughput.yaml)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help="instead of the config's")
    parser.add_argument("--quick", action="store_true", help="the rows marked quick, tiny, at once (tag <tag>-quick)")
    parser.add_argument("--tag", default="", help="results/throughput_<tag>.* (default: the config's)")
    parser.add_argument("--max-seconds", type=float, default=None, help="stop every child after this many seconds")
    add_run_options(parser, cpus=False)
    args = parser.parse_args(argv)
    config = load_config(args.config)
    config["device"] = args.device or config["device"]
    jobs, not_measured = expand(config, args.config, args.quick)
    tag = args.tag or config["tag"] + ("-quick" if args.quick else "")
    labels = list(dict.fromkeys(j["label"] for j in jobs))
    for label in [x for x in labels if x.startswith("keras/")]:
        if not (importlib.util.find_spec("keras") and importlib.util.find_spec(label.removeprefix("keras/"))):
            not_measured.append(f"{label}: keras or {label.removeprefix('keras/')} is not installed")
            labels.remove(label)
    started, lock, landed = time.perf_counter(), threading.RLock(), dict[str, dict[str, Any]]()
    shown = argv if "--config" in argv else ["--config", str(CONFIG.relative_to(CONFIG.parents[2])), *argv]
    modes = {k: v.to_dict() for k, v in MODES.items()}
    meta: dict[str, Any] = {"argv": shown, "config": config, "device": config["device"], "versions": {},
                            "not_measured": not_measured, "modes": modes}  # fmt: skip

    def save(rows: list[dict[str, Any]]) -> None:
        with lock:
            meta["versions"] = {r["label"]: r["versions"] for r in rows if "versions" in r}
            gpu = next((v["gpu"] for v in meta["versions"].values() if "gpu" in v), None)
            meta["peak"] = peak_of(gpu if config["device"] == "cuda" else None)
            meta["seconds"] = time.perf_counter() - started
            add_costs(rows, meta["peak"])
            write_results(f"throughput_{tag}", rows, meta, report(rows, meta), results=args.results)

    def landed_row(job: dict[str, Any], row: dict[str, Any]) -> None:
        with lock:
            landed[job["name"]] = finish(row, job["settings"])
            save([landed[j["name"]] for j in jobs if j["name"] in landed])

    def run_group(label: str) -> None:
        """One framework's (Keras: one backend's) rows in one child process."""
        group = [{"name": j["name"], "settings": j | {"threads": args.threads}} for j in jobs if j["label"] == label]
        framework, backend = group[0]["settings"]["framework"], group[0]["settings"]["backend"]
        env = {"TF_CPP_MIN_LOG_LEVEL": "2", **thread_env(args.threads)} | (
            keras_env(backend, config["device"] == "cpu", args.threads) if framework == "keras" else {}
        )
        env |= {"TORCH_COMPILE_DISABLE": "1"} if args.quick else {}  # the code path runs; inductor takes minutes
        left = None if args.max_seconds is None else args.max_seconds - (time.perf_counter() - started)
        budgets = [b for b in (left, None if args.quick else config.get("budget_s", {}).get(label)) if b is not None]
        run_jobs([sys.executable, "-m", "benchmarks.throughput", "--child"], group,
                 args.results / f"throughput_{tag}_runs", env=env, timeout=min(budgets, default=None),
                 fresh=args.fresh, on_result=landed_row)  # fmt: skip

    threads = [threading.Thread(target=run_group, args=(label,)) for label in labels]
    for thread in threads:  # --quick: every child at once; else one after the other, each with the machine
        thread.start()
        if not args.quick:
            thread.join()
    for thread in threads:
        thread.join()
    rows = [landed.get(j["name"]) or finish(None, j) for j in jobs if j["label"] in labels]
    save(rows)
    chart(rows, args.results / f"throughput_{tag}.png")
    print(f"wrote {args.results}/throughput_{tag}.json, .md and .png in {meta['seconds'] / 60:.1f} min")
    return args.results / f"throughput_{tag}.json"


if __name__ == "__main__":
    main()
