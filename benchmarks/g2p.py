"""Model quality on a real task: grapheme-to-phoneme on CMUdict (REFERENCE.md section 4).

Trains the same config under each teacher-forcing variant and seed with early stopping on dev
WER, then scores the test words with greedy decoding and beam search (width 5), any-reference
WER and closest-reference PER. Writes ``results/g2p_<tag>.json`` / ``.md`` and a learning-curve
PNG, and prints the published numbers beside ours (they use a different split).

Both frameworks train the same way: AdamW (weight decay 0, LitSeq2Seq's default) at ``--lr`` with
a linear warm-up over the first 200 steps, then (``--lr-schedule cosine``, the default) a cosine
decay to ``--min-lr-ratio`` of it at the end of epoch ``--max-epochs`` (``seq2seq_fit.lr_factor``:
``LitSeq2Seq(lr_decay_steps=...)`` and ``keras_seq2seq.WarmupCosineDecay``), gradients clipped to
global norm 1, early stopping on the greedy dev WER of the first ``--val-batches`` dev batches
(patience ``--patience``), the best epoch's weights restored for testing. The budget is
``--max-epochs`` epochs (the same optimizer steps in both frameworks, whatever the machine's load),
capped by a wall-clock ``--minutes`` per run. Pick ``--max-epochs`` so that a run ends inside
``--minutes``: a run the clock stops never reaches the end of its learning-rate decay.

``make bench-g2p`` runs the CPU set (both frameworks, 3 seeds) and merges it with ``--combine``.

    python -m benchmarks.g2p --framework lightning --max-epochs 30 --minutes 10 --seeds 0 1 2   # on a GPU
    python -m benchmarks.g2p --framework lightning --preset cpu --max-epochs 7 --minutes 60 --threads 1 \
        --val-batches 0.25
    python -m benchmarks.g2p --framework keras --backend jax --max-epochs 30 --minutes 10 --seeds 0 1 2   # on a GPU
    python -m benchmarks.g2p --framework keras --backend torch --preset cpu --max-epochs 7 --minutes 60 --threads 1 \
        --val-batches 0.25
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import shutil
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, keras_env, markdown_table, set_backend_threads, write_results
from seq2seq_fit import Seq2SeqConfig, TeacherForcing, g2p_scores
from seq2seq_fit.precision import PRECISIONS, keras_dtype_policy, lightning_precision
from seq2seq_fit.presets import PRESETS

VARIANTS: dict[str, TeacherForcing] = {
    "teacher-forcing": TeacherForcing(),
    "ss-sequential": TeacherForcing(schedule="linear", start=1.0, end=0.75, decay_steps=8000, mode="sequential"),
    "ss-parallel": TeacherForcing(schedule="linear", start=1.0, end=0.75, decay_steps=8000, mode="parallel"),
}

#: Linear learning-rate warm-up steps (both frameworks).
WARMUP_STEPS = 200


def lr_decay_steps(args: argparse.Namespace, steps_per_epoch: int) -> int:
    """Cosine decay from the end of the warm-up to the end of epoch ``--max-epochs`` (0: constant)."""
    if args.lr_schedule == "constant":
        return 0
    return max(1, args.max_epochs * min(steps_per_epoch, args.limit_train_batches or steps_per_epoch) - WARMUP_STEPS)


PUBLISHED = [
    ("Sequitur G2P (joint n-gram)", "24.5", "5.9"),
    ("Phonetisaurus (WFST)", "24.4", "-"),
    ("Yao & Zweig 2015, encoder-decoder LSTM", "~28.6", "~7.6"),
    ("Yao & Zweig 2015, bi-directional LSTM", "23.6", "5.5"),
    ("Toshniwal & Livescu 2016, attention (single)", "~21.7", "~5.0"),
    ("CMUSphinx g2p-seq2seq, LSTM 2x512", "23.3", "-"),
    ("Sun et al. 2019, transformer + distillation", "19.9", "4.6"),
]


def train_lightning(
    variant: str, seed: int, args: argparse.Namespace, out: Path
) -> tuple[Any, list[dict[str, float]], float]:
    """Train with ``Trainer.fit``; returns the best-on-dev module, the dev curve and training seconds."""
    import lightning.pytorch as pl
    import torch
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    from datamodules import Seq2SeqDataModule
    from lit_seq2seq import LitSeq2Seq

    pl.seed_everything(seed, verbose=False)
    if args.threads:
        torch.set_num_threads(args.threads)
    dm = Seq2SeqDataModule("cmudict", batch_size=args.batch_size, seed=seed, num_workers=args.workers)
    dm.setup("fit")
    module = LitSeq2Seq(
        dm.src_vocab, dm.tgt_vocab, PRESETS[args.preset], VARIANTS[variant], lr=args.lr, warmup_steps=WARMUP_STEPS,
        lr_decay_steps=lr_decay_steps(args, len(dm.train_dataloader())), min_lr_ratio=args.min_lr_ratio, seed=seed,
    )  # fmt: skip
    best = ModelCheckpoint(dirpath=out / "ckpt", monitor="val/wer", mode="min", save_top_k=1, filename="best")
    logger = CSVLogger(out, name="logs")
    trainer = pl.Trainer(
        accelerator=args.accelerator,
        devices=1,
        precision=lightning_precision(args.precision),
        max_epochs=args.max_epochs,
        max_time=timedelta(minutes=args.minutes),
        gradient_clip_val=1.0,
        limit_val_batches=args.val_batches,
        limit_train_batches=args.limit_train_batches or 1.0,
        callbacks=[best, EarlyStopping(monitor="val/wer", mode="min", patience=args.patience)],
        logger=logger,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    start = time.perf_counter()
    trainer.fit(module, datamodule=dm)
    seconds = time.perf_counter() - start
    if best.best_model_path:
        module = LitSeq2Seq.load_from_checkpoint(best.best_model_path, map_location="cpu")
    module = module.to("cuda" if torch.cuda.is_available() and args.accelerator != "cpu" else "cpu").eval()
    curve = []
    with open(Path(logger.log_dir) / "metrics.csv") as f:
        for row in csv.DictReader(f):
            if row.get("val/wer"):
                curve.append(
                    {"step": float(row["step"]), "epoch": float(row["epoch"]), "val_wer": float(row["val/wer"])}
                )
    return module, curve, seconds


def val_batch_count(total: int, limit: float) -> int:
    """Dev batches used under Lightning's ``limit_val_batches`` rule: a value in ``(0, 1]`` is a
    fraction (``int(total * limit)``), a whole number above 1 a count (at most ``total``)."""
    if 0.0 < limit <= 1.0:
        count = int(total * limit)
    elif limit > 1.0 and limit % 1.0 == 0.0:
        count = min(total, int(limit))
    else:
        raise SystemExit(f"g2p.py: --val-batches: got {limit}, expected a fraction in (0, 1] or a whole number > 1")
    if count == 0:
        raise SystemExit(f"g2p.py: --val-batches {limit} of {total} dev batches is none; use at least {1 / total:.4f}")
    return count


def default_backend(accelerator: str) -> str:
    """TensorFlow on a CPU machine; on a GPU machine TensorFlow if it is a CUDA build, else JAX."""
    installed = [b for b in ("tensorflow", "jax", "torch") if importlib.util.find_spec(b) is not None]
    if not installed:
        raise SystemExit("g2p.py: --framework keras needs TensorFlow, JAX or torch installed")
    gpu = accelerator != "cpu" and shutil.which("nvidia-smi") is not None
    if "tensorflow" in installed and gpu:
        import tensorflow as tf

        if not tf.test.is_built_with_cuda():
            installed.remove("tensorflow")
    return installed[0]


def configure_keras(args: argparse.Namespace) -> tuple[str, str]:
    """Pick the Keras backend and its threads before Keras is imported; returns ``(backend, device)``."""
    backend = args.backend or default_backend(args.accelerator)
    if "keras" in sys.modules and os.environ.get("KERAS_BACKEND", "tensorflow") != backend:
        raise SystemExit(f"g2p.py: Keras was imported before --backend {backend} could take effect")
    os.environ.update(keras_env(backend, args.accelerator == "cpu", args.threads))
    import keras

    set_backend_threads(backend, args.threads)

    device = "cpu"
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            device = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    elif backend == "jax":
        import jax

        if jax.default_backend() != "cpu":
            device = jax.devices()[0].device_kind
    else:
        import torch

        if torch.cuda.is_available():
            device = torch.cuda.get_device_name(0)
    assert keras.backend.backend() == backend
    return backend, device


def keras_jit_compile(option: str, accelerator: str) -> bool | str:
    """``jit_compile`` for ``model.compile``. ``auto``: off for TensorFlow on the CPU (seen with the
    cpu preset, 1 thread: the same 0.2 s per step, but an XLA compile of 20-28 s per new batch shape
    against 3-5 s of tracing), Keras' own choice otherwise (XLA on JAX, where it is needed)."""
    if option != "auto":
        return option == "true"
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if accelerator == "cpu" or not tf.config.list_physical_devices("GPU"):
            return False
    return "auto"


def train_keras(
    variant: str, seed: int, args: argparse.Namespace, out: Path
) -> tuple[Any, list[dict[str, float]], float]:
    """Train with ``model.fit``; returns the best-on-dev model, the dev curve and training seconds.

    The Keras counterpart of :func:`train_lightning`: validation logs ``val_wer`` (greedy, on the
    first ``--val-batches`` dev batches, the batches of ``val_loss``) to the epoch logs, where
    ``EarlyStopping`` and ``ModelCheckpoint`` find it, and ``CSVLogger`` writes the curve.
    """
    import keras
    from datamodules.keras import KerasData
    from keras import ops
    from keras_seq2seq import (
        AtomicModelCheckpoint,
        Seq2SeqModel,
        TrainingThroughput,
        make_optimizer,
    )

    class FirstBatches(keras.utils.PyDataset):  # type: ignore[misc]
        """The first ``count`` batches of a sequence, the same ones every epoch (``validation_steps``
        would continue where the previous validation stopped)."""

        def __init__(self, sequence: Any, count: int) -> None:
            super().__init__()
            self.sequence, self.count = sequence, count

        def __len__(self) -> int:
            return self.count

        def __getitem__(self, index: int) -> Any:
            return self.sequence[index]

    class TimeBudget(keras.callbacks.Callback):  # type: ignore[misc]
        """Stops training once ``minutes`` have passed since ``fit`` began (Lightning's ``max_time``);
        the epoch in progress is still validated. Also logs ``step`` (optimizer steps so far)."""

        def __init__(self, minutes: float) -> None:
            super().__init__()
            self.seconds = 60.0 * minutes

        def on_train_begin(self, logs: Any = None) -> None:
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if time.perf_counter() - self.start > self.seconds:
                self.model.stop_training = True

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.on_train_batch_end(0)
            if logs is not None:
                logs["step"] = int(ops.convert_to_numpy(self.model.optimizer.iterations))

    keras.utils.set_random_seed(seed)
    keras.config.set_dtype_policy(keras_dtype_policy(args.precision))
    data = KerasData("cmudict", batch_size=args.batch_size, seed=seed)
    model = Seq2SeqModel(data.src_vocab, data.tgt_vocab, PRESETS[args.preset], VARIANTS[variant], seed=seed)
    # LitSeq2Seq's optimizer (torch.optim.AdamW, eps 1e-8) with Lightning's gradient_clip_val=1.0.
    train = data.train()
    optimizer = make_optimizer(args.lr, WARMUP_STEPS, lr_decay_steps(args, len(train)), args.min_lr_ratio, 1.0)
    model.compile(optimizer=optimizer, jit_compile=keras_jit_compile(args.jit_compile, args.accelerator))
    val = data.val()
    n_val = val_batch_count(len(val), args.val_batches)
    out.mkdir(parents=True, exist_ok=True)
    best_path, log_path = out / "best.weights.h5", out / "history.csv"
    callbacks = [  # the ones that add to the epoch logs first (val_wer comes from evaluate itself)
        TrainingThroughput(),
        TimeBudget(args.minutes),
        keras.callbacks.EarlyStopping(monitor="val_wer", mode="min", patience=args.patience),
        AtomicModelCheckpoint(
            str(best_path), monitor="val_wer", mode="min", save_best_only=True, save_weights_only=True
        ),
        keras.callbacks.CSVLogger(str(log_path)),
    ]
    start = time.perf_counter()
    model.fit(
        FirstBatches(train, args.limit_train_batches) if 0 < args.limit_train_batches < len(train) else train,
        validation_data=FirstBatches(val, n_val), epochs=args.max_epochs, callbacks=callbacks, verbose=2,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    if best_path.exists():
        model.load_weights(str(best_path))
    with open(log_path) as f:
        curve = [
            {"step": float(row["step"]), "epoch": float(row["epoch"]), "val_wer": float(row["val_wer"])}
            for row in csv.DictReader(f)
            if row.get("val_wer") not in (None, "", "NA")
        ]
    return model, curve, seconds


def evaluate(model: Any, args: argparse.Namespace) -> dict[str, float]:
    """Test WER/PER with greedy decoding and beam 5 (any-reference WER, closest-reference PER)."""
    from datamodules import load_corpus

    sources, references = load_corpus("cmudict").references("test")
    if args.test_words:
        sources, references = sources[: args.test_words], references[: args.test_words]
    scores: dict[str, float] = {}
    for name, kwargs in (("greedy", {"strategy": "greedy"}), ("beam5", {"strategy": "beam", "beam_width": 5})):
        start = time.perf_counter()
        hyps = model.translate(sources, batch_size=512, **kwargs)
        s = g2p_scores(hyps, references)
        scores[f"{name}_wer"], scores[f"{name}_per"] = s.wer, s.per
        scores[f"{name}_decode_s"] = time.perf_counter() - start
    scores["test_words"] = len(sources)
    return scores


#: Test scores of a run, shown in the table as "mean ± sd".
SCORE_KEYS = ("greedy_wer", "greedy_per", "beam5_wer", "beam5_per")
#: Summarised per (framework, variant): mean and sample standard deviation over the seeds.
SUMMARY_KEYS = (*SCORE_KEYS, "train_minutes", "epochs")


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and sample standard deviation over the seeds of each (framework, variant); with one
    seed the deviation is ``None`` and the table shows the value alone."""
    summary = []
    for framework, variant in dict.fromkeys((r["framework"], r["variant"]) for r in runs):
        rs = [r for r in runs if r["framework"] == framework and r["variant"] == variant]
        row: dict[str, Any] = {"framework": framework, "variant": variant, "seeds": len(rs)}
        for key in SUMMARY_KEYS:
            values = [float(r[key]) for r in rs]
            row[key] = statistics.mean(values)
            row[key + "_sd"] = statistics.stdev(values) if len(values) > 1 else None  # undefined for one seed
        for key in SCORE_KEYS:
            sd = row[key + "_sd"]
            row[key + "_text"] = f"{row[key]:.2f}" if sd is None else f"{row[key]:.2f} ± {sd:.2f}"
        summary.append(row)
    return summary


def results_table(title: str, summary: list[dict[str, Any]], config: Seq2SeqConfig, test_words: int) -> str:
    """The Markdown results: ours (mean ± sd over seeds), then the published numbers."""
    cols = [
        ("framework", "framework", ""),
        ("variant", "teacher forcing", ""),
        ("seeds", "seeds", "d"),
        ("greedy_wer_text", "WER greedy %", ""),
        ("greedy_per_text", "PER greedy %", ""),
        ("beam5_wer_text", "WER beam5 %", ""),
        ("beam5_per_text", "PER beam5 %", ""),
        ("epochs", "epochs", ".1f"),
        ("train_minutes", "train min", ".1f"),
    ]
    table = f"# {title}\n\nSplit: REFERENCE.md section 4 (12,533 test words"
    table += f"{', first ' + str(test_words) if test_words else ''}). Config: `{config}`.\n"
    table += "Mean ± sample standard deviation over the seeds; train min is wall time, machine load included.\n\n"
    table += markdown_table(summary, cols)
    table += "\nPublished (older standard split, 12,000 test words: compare loosely)\n\n"
    table += "| system | WER % | PER % |\n|---|---|---|\n"
    table += "".join(f"| {n} | {w} | {p} |\n" for n, w, p in PUBLISHED)
    return table


def plot_curves(runs: list[dict[str, Any]], path: Path) -> None:
    try:
        from seq2seq_fit.plots import _pyplot

        plt = _pyplot()
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(6.5, 3.8), dpi=120)
    for framework, variant in dict.fromkeys((r["framework"], r["variant"]) for r in runs):
        curves = [r["curve"] for r in runs if r["framework"] == framework and r["variant"] == variant and r["curve"]]
        if not curves:
            continue
        n = min(len(c) for c in curves)  # early stopping may end a seed sooner
        steps = [statistics.mean(c[i]["step"] for c in curves) for i in range(n)]
        wers = [[c[i]["val_wer"] for c in curves] for i in range(n)]
        label = f"{framework} {variant} ({len(curves)} seed{'s' if len(curves) > 1 else ''})"
        (line,) = ax.plot(steps, [statistics.mean(w) for w in wers], marker="o", ms=3, label=label)
        if len(curves) > 1:
            ax.fill_between(steps, [min(w) for w in wers], [max(w) for w in wers], color=line.get_color(), alpha=0.2)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("dev WER % (greedy)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("CMUdict G2P learning curves")
    fig.tight_layout()
    fig.savefig(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--framework", default="lightning", choices=["lightning", "keras"])
    parser.add_argument(
        "--backend", choices=["tensorflow", "jax", "torch"], default=None,
        help="Keras backend (default: tensorflow on a CPU machine; jax on a GPU one without a CUDA TensorFlow)",
    )  # fmt: skip
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--preset",
        default="gpu",
        choices=list(PRESETS),
        help="model (seq2seq_fit.presets.PRESETS): gpu (bi-LSTM 2x512, Luong), cpu (bi-GRU 256, Luong; the "
        "demo's) or gnmt (LSTM 2+2 x512, the throughput benchmark's size)",
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="wall-clock cap on the training of each run")
    parser.add_argument("--max-epochs", type=int, default=40, help="training budget per run, in epochs")
    parser.add_argument(
        "--lr-schedule", choices=["cosine", "constant"], default="cosine",
        help="after the warm-up: cosine decay to --min-lr-ratio at the end of --max-epochs, or constant",
    )  # fmt: skip
    parser.add_argument("--min-lr-ratio", type=float, default=0.05, help="final learning rate / --lr (cosine)")
    parser.add_argument("--limit-train-batches", type=int, default=0, help="batches per epoch (0: all; smoke tests)")
    parser.add_argument("--patience", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--precision", default="32-true", choices=list(PRECISIONS), help="seq2seq_fit.precision name")
    parser.add_argument("--accelerator", default="auto")
    parser.add_argument("--jit-compile", default="auto", choices=["auto", "true", "false"], help="Keras only")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (torch, TF intra/inter-op, XLA)")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument(
        "--val-batches", type=float, default=1.0,
        help="dev batches for dev loss/WER, as Lightning's limit_val_batches: fraction in (0, 1] or a count",
    )  # fmt: skip
    parser.add_argument("--test-words", type=int, default=0, help="score only the first N test words (0: all)")
    parser.add_argument("--tag", default="")
    parser.add_argument(
        "--combine", nargs="+", metavar="TAG", default=None,
        help="train nothing: merge the runs of results/g2p_TAG.json files into results/g2p_<--tag>.*",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.combine:
        if not args.tag:
            parser.error("--combine needs --tag, the name of the merged results")
        combine(args.combine, args.tag)
        return

    if args.framework == "keras":
        backend, device = configure_keras(args)
        import keras

        framework, train, versions = f"keras-{backend}", train_keras, {"keras": keras.__version__, "backend": backend}
    else:
        import torch

        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() and args.accelerator != "cpu" else "cpu"
        framework, train, versions = "lightning", train_lightning, {"torch": torch.__version__}
    tag = args.tag or f"{args.framework}-{'gpu' if device != 'cpu' else 'cpu'}"
    workdir = RESULTS / f"g2p_{tag}_runs"
    runs: list[dict[str, Any]] = []
    for variant in args.variants:
        for seed in args.seeds:
            print(f"== {framework} {variant} seed {seed} on {device}", flush=True)
            model, curve, seconds = train(variant, seed, args, workdir / f"{variant}_s{seed}")
            scores = evaluate(model, args)
            runs.append(
                {
                    "framework": framework,
                    "variant": variant,
                    "seed": seed,
                    "train_minutes": seconds / 60,
                    "epochs": len(curve),
                    "curve": curve,
                    **scores,
                }
            )
            print({k: v for k, v in runs[-1].items() if k != "curve"}, flush=True)

    summary = summarise(runs)
    table = results_table(f"CMUdict G2P on {device} ({tag})", summary, PRESETS[args.preset], args.test_words)
    print(table)
    meta = {
        "device": device,
        "args": vars(args),
        "config": PRESETS[args.preset].to_dict(),
        "variants": {k: VARIANTS[k].to_dict() for k in args.variants},
        **versions,
    }
    write_results(f"g2p_{tag}", runs + summary, meta, table)
    plot_curves(runs, RESULTS / f"g2p_{tag}_curves.png")


#: Arguments that change what a run's scores mean (how it was trained or scored): ``--combine``
#: refuses to average runs that differ in any of them.
PROTOCOL_ARGS = ("test_words", "max_epochs", "lr", "lr_schedule", "min_lr_ratio", "batch_size", "patience",
                 "val_batches", "limit_train_batches", "precision")  # fmt: skip


def combine(tags: list[str], out: str) -> None:
    """One table and one plot from the runs of several result files (``g2p_<tag>.json``), e.g. one
    file per variant or per framework, run at different times or on several machines."""
    runs: list[dict[str, Any]] = []
    metas: list[dict[str, Any]] = []
    for tag in tags:
        path = RESULTS / f"g2p_{tag}.json"
        if not path.exists():
            raise SystemExit(f"g2p.py --combine: {path} does not exist")
        data = json.loads(path.read_text())
        runs += [row for row in data["rows"] if "seed" in row]
        metas.append(data["meta"])
    configs = {json.dumps(m["config"], sort_keys=True) for m in metas}
    if len(configs) != 1:
        raise SystemExit(f"g2p.py --combine: the files hold different model configs: {sorted(configs)}")
    for key in PROTOCOL_ARGS:
        values = {json.dumps(m["args"].get(key)) for m in metas}
        if len(values) != 1:
            raise SystemExit(
                f"g2p.py --combine: the files hold different --{key.replace('_', '-')}: {sorted(values)} "
                "(runs of different training budgets or protocols are not seeds of one result)"
            )
    devices = sorted({m["device"] for m in metas})
    config = Seq2SeqConfig(**metas[0]["config"])
    test_words = metas[0]["args"]["test_words"]
    summary = summarise(runs)
    table = results_table(f"CMUdict G2P on {', '.join(devices)} ({out})", summary, config, test_words)
    table += "\nCombined from " + ", ".join(f"`g2p_{t}.json`" for t in tags) + ".\n"
    print(table)
    meta = {"device": devices, "combined": tags, "config": metas[0]["config"], "sources": metas}
    write_results(f"g2p_{out}", runs + summary, meta, table)
    plot_curves(runs, RESULTS / f"g2p_{out}_curves.png")


if __name__ == "__main__":
    main()
