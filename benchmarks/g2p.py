"""Model quality on a real task: grapheme-to-phoneme on CMUdict (REFERENCE.md section 4).

Trains the same config under each teacher-forcing variant and seed with early stopping on dev
WER, then scores the test words with greedy decoding and beam search (width 5), any-reference
WER and closest-reference PER. Writes ``results/g2p_<tag>.json`` / ``.md`` and a learning-curve
PNG, and prints the published numbers beside ours (they use a different split).

    python benchmarks/g2p.py --framework lightning --minutes 10 --seeds 0 1 2      # on a GPU
    python benchmarks/g2p.py --framework lightning --preset cpu --minutes 15 --seeds 0 --threads 1
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import RESULTS, markdown_table, write_results
from seq2seq_fit import Seq2SeqConfig, TeacherForcing, g2p_scores

#: The G2P model of the quality benchmark (both frameworks).
G2P_CONFIG = Seq2SeqConfig(
    cell="lstm",
    embedding_dim=128,
    hidden_size=512,
    num_layers=2,
    bidirectional=True,
    attention="luong",
    luong_score="general",
    dropout=0.3,
    label_smoothing=0.1,
)

#: The smaller model the 2-core CPU runs (the demo's config): a bi-GRU of 256 with Luong attention.
CPU_CONFIG = Seq2SeqConfig(
    cell="gru", embedding_dim=64, hidden_size=256, num_layers=1, bidirectional=True, attention="luong", dropout=0.1
)
CONFIGS = {"gpu": G2P_CONFIG, "cpu": CPU_CONFIG}

VARIANTS: dict[str, TeacherForcing] = {
    "teacher-forcing": TeacherForcing(),
    "ss-sequential": TeacherForcing(schedule="linear", start=1.0, end=0.75, decay_steps=8000, mode="sequential"),
    "ss-parallel": TeacherForcing(schedule="linear", start=1.0, end=0.75, decay_steps=8000, mode="parallel"),
}

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
        dm.src_vocab, dm.tgt_vocab, CONFIGS[args.preset], VARIANTS[variant], lr=args.lr, warmup_steps=200, seed=seed
    )
    best = ModelCheckpoint(dirpath=out / "ckpt", monitor="val/wer", mode="min", save_top_k=1, filename="best")
    logger = CSVLogger(out, name="logs")
    trainer = pl.Trainer(
        accelerator=args.accelerator,
        devices=1,
        precision=args.precision,
        max_epochs=args.max_epochs,
        max_time=timedelta(minutes=args.minutes),
        gradient_clip_val=1.0,
        limit_val_batches=args.val_batches,
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


def plot_curves(runs: list[dict[str, Any]], path: Path) -> None:
    try:
        from seq2seq_fit.plots import _pyplot

        plt = _pyplot()
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    for run in runs:
        xs = [p["epoch"] + 1 for p in run["curve"]]
        ax.plot(xs, [p["val_wer"] for p in run["curve"]], marker="o", ms=3, label=f"{run['variant']} s{run['seed']}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("dev WER % (greedy)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("CMUdict G2P learning curves")
    fig.tight_layout()
    fig.savefig(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--framework", default="lightning", choices=["lightning"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--preset", default="gpu", choices=list(CONFIGS), help="model: gpu (LSTM 2x512) or cpu")
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per run")
    parser.add_argument("--max-epochs", type=int, default=40)
    parser.add_argument("--patience", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--precision", default="32-true")
    parser.add_argument("--accelerator", default="auto")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--val-batches", type=float, default=1.0)
    parser.add_argument("--test-words", type=int, default=0, help="score only the first N test words (0: all)")
    parser.add_argument("--tag", default="")
    args = parser.parse_args(argv)

    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() and args.accelerator != "cpu" else "cpu"
    tag = args.tag or f"{args.framework}-{'gpu' if device != 'cpu' else 'cpu'}"
    workdir = RESULTS / f"g2p_{tag}_runs"
    runs: list[dict[str, Any]] = []
    for variant in args.variants:
        for seed in args.seeds:
            print(f"== {args.framework} {variant} seed {seed} on {device}", flush=True)
            model, curve, seconds = train_lightning(variant, seed, args, workdir / f"{variant}_s{seed}")
            scores = evaluate(model, args)
            runs.append(
                {
                    "framework": args.framework,
                    "variant": variant,
                    "seed": seed,
                    "train_minutes": seconds / 60,
                    "epochs": len(curve),
                    "curve": curve,
                    **scores,
                }
            )
            print({k: v for k, v in runs[-1].items() if k != "curve"}, flush=True)

    summary = []
    for variant in args.variants:
        rs = [r for r in runs if r["variant"] == variant]
        row: dict[str, Any] = {"framework": args.framework, "variant": variant, "seeds": len(rs)}
        for key in ("greedy_wer", "greedy_per", "beam5_wer", "beam5_per", "train_minutes"):
            values = [r[key] for r in rs]
            row[key] = statistics.mean(values)
            row[key + "_sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
        summary.append(row)
    cols = [
        ("framework", "framework", ""),
        ("variant", "teacher forcing", ""),
        ("seeds", "seeds", "d"),
        ("greedy_wer", "WER greedy %", ".2f"),
        ("greedy_wer_sd", "sd", ".2f"),
        ("greedy_per", "PER greedy %", ".2f"),
        ("beam5_wer", "WER beam5 %", ".2f"),
        ("beam5_per", "PER beam5 %", ".2f"),
        ("train_minutes", "train min", ".1f"),
    ]
    table = f"# CMUdict G2P on {device} ({tag})\n\nSplit: REFERENCE.md section 4 (12,533 test words"
    table += f"{', first ' + str(args.test_words) if args.test_words else ''}). Config: `{CONFIGS[args.preset]}`.\n\n"
    table += markdown_table(summary, cols)
    table += "\nPublished (older standard split, 12,000 test words: compare loosely)\n\n"
    table += "| system | WER % | PER % |\n|---|---|---|\n"
    table += "".join(f"| {n} | {w} | {p} |\n" for n, w, p in PUBLISHED)
    print(table)
    meta = {
        "device": device,
        "args": vars(args),
        "config": CONFIGS[args.preset].to_dict(),
        "variants": {k: VARIANTS[k].to_dict() for k in args.variants},
        "torch": torch.__version__,
    }
    write_results(f"g2p_{tag}", runs + summary, meta, table)
    plot_curves(runs, RESULTS / f"g2p_{tag}_curves.png")


if __name__ == "__main__":
    main()
