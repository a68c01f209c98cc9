"""When scheduled sampling helps: teacher forcing against seven scheduled-sampling variants (:func:`variants`).

Each run trains one task (``sort``, ``addition``, ``g2p``) under one variant and seed with the shipped
``lit-seq2seq fit`` for a fixed number of steps (:func:`fit_command`) and scores the model it saved on the test
split: free running (greedy, as ``LitSeq2Seq`` logs ``test/...``), teacher forced (token accuracy, test loss) and
their gap. Each run is a job of ``benchmarks.common.run_jobs`` (result file ``<results>/ss_<tag>_runs/<task>/
<variant>_s<seed>.json``, read on a rerun); ``ss_<tag>.json`` / ``.md`` / ``.png`` are rewritten from all the run
files of the tag after every run, so several processes (one per task) can share a tag.

    python -m benchmarks.scheduled_sampling                              # the full study (make bench-ss)
    python -m benchmarks.scheduled_sampling --smoke --results /tmp/ss   # tiny, < 40 s
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import math
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import (
    add_run_options,
    allowed_cpus,
    config_text,
    markdown_table,
    pin_cpus,
    read_json,
    run_jobs,
    serve_jobs,
    thread_env,
    write_results,
)
from seq2seq_fit import Seq2SeqConfig, TeacherForcing
from seq2seq_fit.atomic_file import atomic_write_path
from seq2seq_fit.presets import PRESETS

#: Variant name -> label in the table and plot, in table order. Schedules: :func:`variants`.
VARIANT_LABELS = {
    "teacher-forcing": "teacher forcing",
    "ss-linear": "SS sequential, linear",
    "ss-inverse-sigmoid": "SS sequential, inverse sigmoid",
    "ss-sample": "SS sequential, linear, sample feed",
    "ss-sequence": "SS sequential, linear, sequence coins",
    "ss-parallel-k1": "SS parallel K=1, linear",
    "ss-parallel-k2": "SS parallel K=2, linear",
}
TASK_NAMES = ("sort", "addition", "g2p")
#: Variants of ``--smoke`` (unless ``--variants`` is given).
SMOKE_VARIANTS = ("teacher-forcing", "ss-linear")
#: Share of the inverse sigmoid's range (start - end) left at the end of its decay.
INVERSE_SIGMOID_LEFT = 0.05


def inverse_sigmoid_k(decay_steps: int, left: float = INVERSE_SIGMOID_LEFT) -> float:
    """The ``k >= 1`` of an inverse-sigmoid schedule with ``left`` of its range still to go at ``decay_steps``
    (bisection: ``k / (k + exp(s / k))`` grows with ``k``; 1 when even ``k = 1`` leaves less).

    Example:
        >>> k = inverse_sigmoid_k(1000)
        >>> tf = TeacherForcing(schedule="inverse_sigmoid", start=1.0, end=0.5, k=k)
        >>> round(tf.ratio(1000), 3), round(k, 1)
        (0.525, 128.2)
    """
    if not 0.0 < left < 1.0:
        raise ValueError(f"inverse_sigmoid_k.left: got {left!r}, expected a number in (0, 1)")

    def share(k: float) -> float:
        return k / (k + math.exp(min(decay_steps / k, 700.0)))

    lo, hi = 1.0, float(max(decay_steps, 2))
    if share(lo) >= left:
        return lo
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if share(mid) < left else (lo, mid)
    return (lo + hi) / 2


def variants(total_steps: int, end: float = 0.5, decay_fraction: float = 0.75) -> dict[str, TeacherForcing]:
    """The study's variants for a run of ``total_steps``: each scheduled-sampling one decays from 1 to ``end`` by
    step ``decay_fraction * total_steps`` and stays there.

    Example:
        >>> vs = variants(1000)
        >>> list(vs) == list(VARIANT_LABELS)
        True
        >>> [round(v.ratio(1000), 2) for v in vs.values()]
        [1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    """
    if not 0.0 <= end < 1.0:
        raise ValueError(f"--ss-end: got {end!r}, expected a number in [0, 1)")
    if not 0.0 < decay_fraction <= 1.0:
        raise ValueError(f"--decay-fraction: got {decay_fraction!r}, expected a number in (0, 1]")
    decay = max(1, round(decay_fraction * total_steps))
    linear: dict[str, Any] = {"schedule": "linear", "start": 1.0, "end": end, "decay_steps": decay}
    return {
        "teacher-forcing": TeacherForcing(),
        "ss-linear": TeacherForcing(**linear),
        "ss-inverse-sigmoid": TeacherForcing(
            schedule="inverse_sigmoid", start=1.0, end=end, decay_steps=decay, k=inverse_sigmoid_k(decay)
        ),
        "ss-sample": TeacherForcing(**linear, feed="sample"),
        "ss-sequence": TeacherForcing(**linear, granularity="sequence"),
        "ss-parallel-k1": TeacherForcing(**linear, mode="parallel", passes=1),
        "ss-parallel-k2": TeacherForcing(**linear, mode="parallel", passes=2),
    }


def schedule_text(tf: TeacherForcing, total_steps: int) -> str:
    """One line for the table: ``linear 1 -> 0.5 over 750 steps, 0.50 at the end``."""
    if tf.schedule == "constant":
        return f"constant {tf.start:g}"
    shape = f"k={tf.k:.1f}, " if tf.schedule == "inverse_sigmoid" else ""
    return (
        f"{tf.schedule.replace('_', ' ')} {tf.start:g} -> {tf.end:g} ({shape}decay {tf.decay_steps} steps), "
        f"{tf.ratio(total_steps):.2f} at step {total_steps}"
    )


# -- tasks ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """One task: data, model, budget (``steps``, or ``epochs`` when 0), the free-running ``metric`` compared
    (``exact_match`` higher is better, ``wer`` lower), ``limit_batches`` per epoch and for test (0: all)."""

    name: str
    corpus: str
    corpus_options: dict[str, Any]
    config: Seq2SeqConfig
    batch_size: int = 64
    steps: int = 0
    epochs: int = 0
    lr: float = 2e-3
    warmup_steps: int = 100
    min_lr_ratio: float = 0.05
    metric: str = "exact_match"
    limit_batches: int = 0
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["config"] = self.config.to_dict()
        return out

    def data_module(self, seed: int) -> Any:
        """The ``Seq2SeqDataModule`` of this task; ``seed`` orders the batches."""
        from datamodules import Seq2SeqDataModule

        return Seq2SeqDataModule(
            self.corpus, batch_size=self.batch_size, seed=seed, corpus_options=self.corpus_options or None
        )


#: The synthetic tasks' model: bi-GRU 2x64 (hidden 128), embedding 32, Luong attention.
SYNTHETIC_CONFIG = Seq2SeqConfig(
    cell="gru", embedding_dim=32, hidden_size=128, num_layers=1, bidirectional=True, attention="luong"
)
SMOKE_CONFIG = Seq2SeqConfig(cell="gru", embedding_dim=8, hidden_size=16, bidirectional=True, attention="luong")


def make_tasks(args: argparse.Namespace) -> dict[str, Task]:
    """The tasks named by ``--tasks``, full size or ``--smoke`` size."""
    smoke = args.smoke
    n = {"n_train": 128, "n_val": 16, "n_test": 32} if smoke else {"n_train": 20000, "n_val": 200, "n_test": 1000}
    synthetic: dict[str, Any] = {
        "config": SMOKE_CONFIG if smoke else SYNTHETIC_CONFIG,
        "batch_size": 16 if smoke else 64,
        "steps": 6 if smoke else args.steps,
        "warmup_steps": 2 if smoke else 100,
    }
    tasks = {
        "sort": Task(
            "sort", "sort", {"seed": 0, "min_len": 20, "max_len": 40, "num_symbols": 10, **n}, **synthetic,
            description="sort 20-40 letters of 10 (targets 20-40 tokens)",
        ),
        "addition": Task(
            "addition", "addition", {"seed": 0, "min_digits": 20, "max_digits": 30, **n}, **synthetic,
            description="a+b, operands of 20-30 digits, most significant digit first (targets 20-31 tokens)",
        ),
        "g2p": Task(
            "g2p", "cmudict", {}, SMOKE_CONFIG if smoke else PRESETS[args.g2p_preset], batch_size=256,
            epochs=1 if smoke else args.g2p_epochs, warmup_steps=2 if smoke else 200, metric="wer",
            limit_batches=2 if smoke else 0,
            description=f"CMUdict G2P, preset {args.g2p_preset}{' (smoke: tiny model)' if smoke else ''}",
        ),
    }  # fmt: skip
    return {name: tasks[name] for name in args.tasks}


def total_steps(task: Task) -> int:
    """Optimizer steps of one run: ``task.steps``, or ``task.epochs`` times the batches of an epoch."""
    if task.steps:
        return task.steps
    dm = task.data_module(0)
    dm.setup("fit")
    per_epoch = len(dm.train_dataloader())
    return task.epochs * (min(per_epoch, task.limit_batches) if task.limit_batches else per_epoch)


# -- one run ----------------------------------------------------------------------------------------------


def fit_command(task: Task, tf: TeacherForcing, seed: int, steps: int, run_dir: Path) -> list[str]:
    """The ``lit-seq2seq fit`` command of one run (after the Python interpreter): ``steps`` optimizer steps,
    no validation, the model saved to ``<run_dir>/model``."""
    options: dict[str, Any] = {
        "data.corpus": task.corpus, "data.batch_size": task.batch_size, "data.seed": seed, "seed_everything": seed,
        "model.seed": seed, "model.lr": task.lr, "model.warmup_steps": task.warmup_steps,
        "model.lr_decay_steps": max(1, steps - task.warmup_steps), "model.min_lr_ratio": task.min_lr_ratio,
        "trainer.max_steps": steps, "trainer.max_epochs": -1, "trainer.limit_val_batches": 0,
        "trainer.num_sanity_val_steps": 0, "trainer.logger": False, "trainer.enable_progress_bar": False,
        "trainer.enable_model_summary": False, "trainer.default_root_dir": str(run_dir),
        "save_pretrained": str(run_dir / "model"),
        **({"data.corpus_options": task.corpus_options} if task.corpus_options else {}),
        **({"trainer.limit_train_batches": task.limit_batches} if task.limit_batches else {}),
        **{f"model.config.{k}": v for k, v in task.config.to_dict().items()},
        **{f"model.teacher_forcing.{k}": v for k, v in tf.to_dict().items()},
    }  # fmt: skip
    command = ["-m", "lit_seq2seq.cli", "fit"]
    for key, value in options.items():
        if value is not None:
            command += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
    return command


def train_and_test(
    task: Task, variant: str, tf: TeacherForcing, seed: int, steps: int, run_dir: Path
) -> dict[str, Any]:
    """Train one run with ``lit-seq2seq fit`` and score the model it saved on the test split."""
    import lightning.pytorch as pl

    from lit_seq2seq import LitSeq2Seq

    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with open(run_dir / "fit.log", "w") as log:
        fit = [sys.executable, *fit_command(task, tf, seed, steps, run_dir)]
        subprocess.run(fit, stdout=log, stderr=subprocess.STDOUT, check=True)
    train_seconds = time.perf_counter() - started
    module = LitSeq2Seq.from_pretrained(run_dir / "model").eval()
    dm = task.data_module(seed)
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, limit_test_batches=task.limit_batches or 1.0,
                         enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        start = time.perf_counter()
        (test,) = trainer.test(module, datamodule=dm, verbose=False)
        tf_acc = teacher_forced_accuracy(module, dm.test_dataloader(), task.limit_batches)
    scores = {key.removeprefix("test/"): float(value) for key, value in test.items()}
    run: dict[str, Any] = {
        "task": task.name,
        "variant": variant,
        "seed": seed,
        "steps": steps,
        "train_minutes": train_seconds / 60,
        "test_seconds": time.perf_counter() - start,
        "final_ratio": float(tf.ratio(steps)),
        "tf_token_acc": tf_acc,
        "tf_loss": scores.pop("loss"),
        **{name: scores[name] for name in ("exact_match", "token_acc", "wer", "per", "bleu")},
    }
    run["gap"] = run["tf_token_acc"] - run["token_acc"]
    return run


def teacher_forced_accuracy(module: Any, loader: Any, limit: int = 0) -> float:
    """Percent of non-pad ``target_out`` tokens (``<eos>`` included) the teacher-forced argmax gets right, over
    ``loader``'s first ``limit`` batches (0: all)."""
    import torch

    from seq2seq_fit.vocab import PAD_ID

    module.eval()
    correct = total = 0
    with torch.no_grad():
        for i, batch in enumerate(loader):
            if limit and i >= limit:
                break
            logits = module(batch["source"], batch["source_lengths"], batch["target_in"])  # (B, T, V)
            target = batch["target_out"]  # (B, T)
            mask = target != PAD_ID
            correct += int(((logits.argmax(-1) == target) & mask).sum())
            total += int(mask.sum())
    return 100.0 * correct / total if total else 0.0


def run_settings(task: Task, tf: TeacherForcing, seed: int, steps: int) -> dict[str, Any]:
    """What a run's numbers depend on: a run file with other settings is not reused."""
    return {"task": task.to_dict(), "teacher_forcing": tf.to_dict(), "seed": seed, "total_steps": steps}


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """One run in the child process: the job's settings are :func:`run_settings`."""
    settings = job["settings"]
    task = Task(**{**settings["task"], "config": Seq2SeqConfig.from_dict(settings["task"]["config"])})
    tf = TeacherForcing.from_dict(settings["teacher_forcing"])
    with tempfile.TemporaryDirectory(prefix="ss-run-") as run_dir:
        run = train_and_test(task, job["variant"], tf, settings["seed"], settings["total_steps"], Path(run_dir))
    return run | {"teacher_forcing": tf.to_dict()}


# -- report ---------------------------------------------------------------------------------------------------

#: Per-run numbers summarised as mean and sample standard deviation over the seeds.
SUMMARY_KEYS = ("exact_match", "token_acc", "wer", "per", "tf_token_acc", "tf_loss", "gap", "train_minutes", "steps")


def read_runs(runs_dir: Path) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Every finished run under ``runs_dir`` (task, variant, seed order) and each task's settings and variants."""
    runs: list[dict[str, Any]] = []
    tasks: dict[str, dict[str, Any]] = {}
    for path in sorted(runs_dir.glob("*/*.json")):
        data = read_json(path)
        run, settings = data["run"], data["settings"]
        if "error" in run:
            continue
        runs.append(run)
        task = tasks.setdefault(run["task"], {**settings["task"], "total_steps": settings["total_steps"]})
        task.setdefault("variants", {})[run["variant"]] = settings["teacher_forcing"]
    order = {name: i for i, name in enumerate(TASK_NAMES)}
    variant_order = {name: i for i, name in enumerate(VARIANT_LABELS)}
    runs.sort(key=lambda r: (order.get(r["task"], 99), r["task"], variant_order.get(r["variant"], 99), r["seed"]))
    return runs, {name: tasks[name] for name in sorted(tasks, key=lambda t: (order.get(t, 99), t))}


def beyond_spread(values: list[float], reference: list[float]) -> bool | None:
    """Whether two sets of seeds do not overlap (``None`` with fewer than 2 on a side); with 3 seeds each, two
    sets from the same distribution fail to overlap with probability 2 / C(6, 3) = 0.1.

    Example:
        >>> beyond_spread([3.0, 4.0], [1.0, 2.0]), beyond_spread([1.5, 4.0], [1.0, 2.0]), beyond_spread([3.0], [1.0])
        (True, False, None)
    """
    if len(values) < 2 or len(reference) < 2:
        return None
    return min(values) > max(reference) or max(values) < min(reference)


def summarise(runs: list[dict[str, Any]], tasks: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean ± sd per (task, variant), with the difference of the task's metric from teacher forcing."""
    summary = []
    for task, variant in dict.fromkeys((r["task"], r["variant"]) for r in runs):
        rs = [r for r in runs if r["task"] == task and r["variant"] == variant]
        metric = tasks[task]["metric"]
        row: dict[str, Any] = {"task": task, "variant": variant, "label": VARIANT_LABELS.get(variant, variant),
                               "metric": metric, "seeds": len(rs), "seed_list": [r["seed"] for r in rs],
                               "final_ratio": rs[0]["final_ratio"]}  # fmt: skip
        for key in SUMMARY_KEYS:
            values = [float(r[key]) for r in rs]
            row[key] = statistics.mean(values)
            row[key + "_sd"] = statistics.stdev(values) if len(values) > 1 else None
            row[key + "_text"] = f"{row[key]:.2f}" + (f" ± {row[key + '_sd']:.2f}" if len(values) > 1 else "")
        reference = [float(r[metric]) for r in runs if r["task"] == task and r["variant"] == "teacher-forcing"]
        if reference and variant != "teacher-forcing":
            row["delta"] = row[metric] - statistics.mean(reference)
            row["beyond_spread"] = beyond_spread([float(r[metric]) for r in rs], reference)
            better = row["delta"] > 0 if metric == "exact_match" else row["delta"] < 0
            spread = {True: ", beyond spread", False: ", within spread", None: ""}[row["beyond_spread"]]
            row["delta_text"] = f"{row['delta']:+.2f} ({'better' if better else 'worse'}{spread})"
            if row["delta"] == 0:
                row["delta_text"] = "+0.00"
        summary.append(row)
    return summary


def results_table(title: str, summary: list[dict[str, Any]], tasks: dict[str, dict[str, Any]]) -> str:
    """The Markdown report: protocol, then one table per task."""
    text = f"# {title}\n\n"
    text += (
        "Fixed optimizer-step budget per run, final weights, test split. Free running: greedy decoding "
        "(`seq2seq_fit.decoding.length_budget` steps per source), scored as `LitSeq2Seq` logs `test/...`. "
        "TF: teacher forced (gold prefix), token accuracy of the logits' argmax on the same tokens as the "
        "free-running token accuracy (`<eos>` included) and the test loss. Gap = TF token accuracy minus "
        "free-running token accuracy, in points (what exposure bias costs). Mean ± sample standard deviation over "
        "the seeds; Δ: the variant's mean minus teacher forcing's on the task's metric, *beyond spread* when the "
        "seeds' ranges do not overlap (with 3 seeds each that happens by chance with probability 0.1). "
        "train min: wall time, machine load included.\n"
    )
    for name, task in tasks.items():
        rows = [r for r in summary if r["task"] == name]
        if not rows:
            continue
        epochs = task["epochs"]
        budget = f"{task['total_steps']} steps" + (f" ({epochs} epoch{'s' if epochs > 1 else ''})" if epochs else "")
        data = f"; data {task['corpus_options']}" if task["corpus_options"] else ""
        text += f"\n## {name}: {task['description']}\n\n"
        text += f"Model `{config_text(task['config'])}`; batch {task['batch_size']}, {budget}, "
        text += f"AdamW {task['lr']:g} with "
        text += f"{task['warmup_steps']} warm-up steps and a cosine decay to {task['min_lr_ratio']:g} of it{data}.\n\n"
        if task["metric"] == "wer":
            metric_cols = [("wer_text", "WER %", ""), ("per_text", "PER %", ""), ("delta_text", "Δ WER", "")]
        else:
            metric_cols = [("exact_match_text", "exact %", ""), ("delta_text", "Δ exact", "")]
        cols = [
            ("label", "variant", ""),
            ("seeds", "seeds", "d"),
            *metric_cols,
            ("token_acc_text", "token acc %", ""),
            ("tf_token_acc_text", "TF token acc %", ""),
            ("gap_text", "gap (pts)", ""),
            ("tf_loss_text", "TF loss", ""),
            ("final_ratio", "final ratio", ".2f"),
            ("train_minutes", "train min", ".1f"),
        ]
        text += markdown_table(rows, cols)
        text += "\nSchedules: " + "; ".join(
            f"{VARIANT_LABELS.get(v, v)}: {schedule_text(TeacherForcing.from_dict(tf), task['total_steps'])}"
            for v, tf in sorted(task["variants"].items(), key=lambda kv: list(VARIANT_LABELS).index(kv[0]))
            if v != "teacher-forcing"
        )
        text += ".\n"
    return text


#: Short variant labels for the plot's axis.
PLOT_LABELS = {"teacher-forcing": "TF", "ss-linear": "seq lin", "ss-inverse-sigmoid": "seq inv-sig",
               "ss-sample": "seq sample", "ss-sequence": "seq per-seq", "ss-parallel-k1": "par K=1",
               "ss-parallel-k2": "par K=2"}  # fmt: skip


def plot(runs: list[dict[str, Any]], tasks: dict[str, dict[str, Any]], path: Path) -> None:
    """Per task, the free-running metric (top) and token accuracy (bottom) of each variant: mean, range and
    each seed; dashed: teacher forcing's mean."""
    try:
        from seq2seq_fit.plots import _pyplot

        plt = _pyplot()
    except ImportError:
        return
    names = [name for name in tasks if any(r["task"] == name for r in runs)]
    fig, axes = plt.subplots(2, len(names), figsize=(4.0 * len(names), 5.6), dpi=120, squeeze=False)
    for column, name in enumerate(names):
        metric = tasks[name]["metric"]
        rows = [
            (metric, "free-running WER % (lower is better)" if metric == "wer" else "free-running exact match %"),
            ("token_acc", "free-running token accuracy %"),
        ]
        for (key, ylabel), ax in zip(rows, axes[:, column], strict=True):
            variant_names = [v for v in VARIANT_LABELS if any(r["task"] == name and r["variant"] == v for r in runs)]
            for x, variant in enumerate(variant_names):
                values = [float(r[key]) for r in runs if r["task"] == name and r["variant"] == variant]
                mean = statistics.mean(values)
                color = "tab:gray" if variant == "teacher-forcing" else "tab:blue"
                ax.errorbar([x], [mean], yerr=[[mean - min(values)], [max(values) - mean]], fmt="o", color=color,
                            capsize=4, ms=5)  # fmt: skip
                ax.scatter([x] * len(values), values, color=color, s=9, alpha=0.5)
                if variant == "teacher-forcing":
                    ax.axhline(mean, color="tab:gray", lw=0.8, ls="--")
            ax.set_xlim(-0.5, len(variant_names) - 0.5)
            ax.set_xticks(range(len(variant_names)))
            ax.set_xticklabels([PLOT_LABELS.get(v, v) for v in variant_names], fontsize=7, rotation=45, ha="right")
            ax.set_ylabel(ylabel, fontsize=8)
            ax.grid(alpha=0.3, axis="y")
        axes[0, column].set_title(name, fontsize=9)
    fig.suptitle("Scheduled sampling (SS) vs teacher forcing (TF): mean, range over seeds and each seed", fontsize=9)
    fig.tight_layout()
    with atomic_write_path(path, suffix=".png") as tmp:
        fig.savefig(tmp)
    plt.close(fig)


@contextlib.contextmanager
def report_lock(runs_dir: Path) -> Iterator[None]:
    """One report writer at a time among the processes sharing a tag."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    with open(runs_dir / ".report.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def write_report(results: Path, tag: str, meta: dict[str, Any]) -> str:
    """``ss_<tag>.json`` / ``.md`` / ``.png`` from every finished run file of the tag; returns the table."""
    runs_dir = results / f"ss_{tag}_runs"
    with report_lock(runs_dir):
        runs, tasks = read_runs(runs_dir)
        summary = summarise(runs, tasks)
        table = results_table(f"When scheduled sampling helps ({tag})", summary, tasks)
        write_results(f"ss_{tag}", runs + summary, {**meta, "tasks": tasks}, table, results=results)
        if runs:
            plot(runs, tasks, results / f"ss_{tag}.png")
    return table


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        serve_jobs(run_job)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=None, choices=TASK_NAMES,
                        help="default: all (--smoke: sort addition)")  # fmt: skip
    parser.add_argument("--variants", nargs="+", default=None, choices=list(VARIANT_LABELS),
                        help="default: all (--smoke: teacher-forcing ss-linear)")  # fmt: skip
    parser.add_argument("--seeds", nargs="+", type=int, default=None,
                        help="seeds of the synthetic tasks (default: 0 1 2; --smoke: 0)")  # fmt: skip
    parser.add_argument("--g2p-seeds", nargs="+", type=int, default=[0], help="seeds of g2p")
    parser.add_argument("--steps", type=int, default=1000, help="optimizer steps per synthetic run")
    parser.add_argument("--g2p-preset", default="cpu", choices=list(PRESETS), help="g2p model (seq2seq_fit.presets)")
    parser.add_argument("--g2p-epochs", type=int, default=10, help="epochs per g2p run")
    parser.add_argument("--ss-end", type=float, default=0.5, help="teacher-forcing ratio at the end of the decay")
    parser.add_argument(
        "--decay-fraction", type=float, default=0.75, help="share of the run over which the schedules decay"
    )
    add_run_options(parser, threads=1)
    parser.add_argument("--tag", default=None, help="results name ss_<tag> (default: cpu, or smoke with --smoke)")
    parser.add_argument(
        "--smoke", action="store_true",
        help="tiny models, 6 steps, 2 variants, seed 0, tasks sort and addition unless --tasks is given (< 40 s)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    args.variants = args.variants or list(SMOKE_VARIANTS if args.smoke else VARIANT_LABELS)
    args.seeds = args.seeds or ([0] if args.smoke else [0, 1, 2])
    args.tasks = args.tasks or (["sort", "addition"] if args.smoke else list(TASK_NAMES))
    tag = args.tag or ("smoke" if args.smoke else "cpu")
    pin_cpus(args.cpus)

    import lightning
    import torch

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # not the GPU/TPU lines of every run

    meta = {"device": "cpu", "threads": args.threads, "cpus": allowed_cpus(), "torch": torch.__version__,
            "lightning": lightning.__version__,
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}}  # fmt: skip
    jobs = []
    for task in make_tasks(args).values():
        steps = total_steps(task)
        schedules = variants(steps, args.ss_end, args.decay_fraction)
        jobs += [
            {"name": f"{task.name}/{variant}_s{seed}", "variant": variant,
             "settings": run_settings(task, schedules[variant], seed, steps)}
            for variant in args.variants for seed in (args.g2p_seeds if task.name == "g2p" else args.seeds)
        ]  # fmt: skip

    def done(job: dict[str, Any], run: dict[str, Any]) -> None:
        print(f"== {job['name']}: " + str({k: v for k, v in run.items() if k != "teacher_forcing"}), flush=True)
        write_report(args.results, tag, meta)

    runs = run_jobs([sys.executable, "-m", "benchmarks.scheduled_sampling", "--child"], jobs,
                    args.results / f"ss_{tag}_runs", env=thread_env(args.threads), fresh=args.fresh,
                    on_result=done)  # fmt: skip
    print(f"{sum(r is not None for r in runs)} of {len(jobs)} runs finished (trained now or before)")
    print(write_report(args.results, tag, meta))


if __name__ == "__main__":
    main()
