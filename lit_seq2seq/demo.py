"""The main job (``make demo``): train a grapheme-to-phoneme model on CMUdict with ``Trainer.fit``.

Trains for a fixed wall-clock budget on whatever accelerator is there (CPU by default here), then
prints test WER/PER on the held-out CMUdict words (the fixed hash split of ``datamodules/splits.py``, any-reference
scoring), shows a handful of words with predicted and reference pronunciations, and writes a
checkpoint, CSV and TensorBoard logs (loss, ``tf_ratio``, ``fed_from_model``, ``tokens_per_s``,
validation ``ppl``/``wer``/``per``...) and an attention heat map.

Run: ``python -m lit_seq2seq.demo [--minutes 5] [--out runs/demo]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger

from lit_seq2seq.callbacks import TrainingThroughput
from lit_seq2seq.system import LitSeq2Seq
from seq2seq_fit import TeacherForcing, cosine_decay, g2p_scores, lr_factor
from seq2seq_fit.data_layer import require_data_layer
from seq2seq_fit.errors import InputError
from seq2seq_fit.presets import PRESETS

#: The demo's model (preset ``cpu``): a bidirectional GRU encoder and a Luong-attention GRU decoder.
DEMO_CONFIG = PRESETS["cpu"]
#: ``--teacher-forcing scheduled``: scheduled sampling that stays cheap (parallel mode, one pass, ratio 1 -> 0.8).
#: Not the default: in the 5-minute budget it scored 1.7 points of WER worse than teacher forcing (README, Quick start).
DEMO_TEACHER_FORCING = TeacherForcing(schedule="linear", start=1.0, end=0.8, decay_steps=2000, mode="parallel")


class WallClockCosine(pl.Callback):
    """Cosine-decays the learning rate over a wall-clock budget instead of a step count.

    A demo that trains for ``minutes`` cannot know its step count in advance (it depends on the
    machine), so a step-based schedule either stops before its decay ends or idles at its floor.
    Before each training batch this sets every parameter group's learning rate to
    ``lr`` times the schedule's linear warm-up over ``warmup_steps`` optimizer steps
    (``seq2seq_fit.lr_factor``) and its cosine from 1 to ``min_lr_ratio`` as the elapsed fraction of
    ``seconds`` goes from 0 to 1 (``seq2seq_fit.cosine_decay``), then the floor. Use it with a module
    that has no scheduler of its own (``warmup_steps=0``, ``lr_decay_steps=0``).
    """

    def __init__(self, seconds: float, warmup_steps: int = 100, min_lr_ratio: float = 0.02) -> None:
        self.seconds, self.warmup_steps, self.min_lr_ratio = seconds, warmup_steps, min_lr_ratio
        self.start = 0.0
        self.base_lrs: list[float] = []

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.start = time.perf_counter()
        self.base_lrs = [group["lr"] for group in trainer.optimizers[0].param_groups]

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        t = min(1.0, (time.perf_counter() - self.start) / self.seconds)  # the elapsed fraction of the budget
        factor = lr_factor(trainer.global_step, self.warmup_steps) * cosine_decay(t, self.min_lr_ratio)
        for group, base in zip(trainer.optimizers[0].param_groups, self.base_lrs, strict=True):
            group["lr"] = base * factor


WORDS = ["phoneme", "lightning", "keras", "scheduled", "teacher", "forcing", "pronounce", "dictionary"]


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(prog="python -m lit_seq2seq.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="training budget in minutes (default 5)")
    parser.add_argument("--out", default="runs/demo", help="folder for the checkpoint, logs and plots")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--accelerator", default="auto")
    parser.add_argument("--test-words", type=int, default=None, help="score only the first N test words")
    parser.add_argument(
        "--lr-schedule",
        choices=["cosine", "constant"],
        default="cosine",
        help="cosine: warm up, then decay to 2%% of --lr over the --minutes budget; constant: warm up, then hold",
    )
    parser.add_argument(
        "--teacher-forcing",
        choices=["always", "scheduled"],
        default="always",
        help="scheduled: parallel scheduled sampling, ratio 1 -> 0.8; always: plain teacher forcing",
    )
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: one per core)")
    args = parser.parse_args(argv)
    if args.minutes <= 0:
        parser.error(f"--minutes: got {args.minutes}, expected a positive number")
    try:  # the data layer, imported here so that importing this module imports no datamodules
        require_data_layer()
    except InputError as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    from datamodules import Seq2SeqDataModule

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(args.seed, verbose=False)
    torch.set_num_threads(args.threads or max(1, os.cpu_count() or 1))
    print(f"[1/4] loading CMUdict (train / dev / test words: 106,063 / 6,315 / 12,533) into {out}/")
    dm = Seq2SeqDataModule("cmudict", batch_size=args.batch_size, seed=args.seed)
    dm.setup("fit")
    teacher_forcing = DEMO_TEACHER_FORCING if args.teacher_forcing == "scheduled" else TeacherForcing()
    cosine = args.lr_schedule == "cosine"
    warmup_steps = 0 if cosine else 100  # the cosine callback warms up itself
    model = LitSeq2Seq(
        dm.src_vocab, dm.tgt_vocab, DEMO_CONFIG, teacher_forcing, lr=args.lr, warmup_steps=warmup_steps,
        seed=args.seed, src_tokenizer=dm.src_tokenizer, tgt_tokenizer=dm.tgt_tokenizer,
    )  # fmt: skip
    n_params = sum(p.numel() for p in model.parameters())
    print(f"[2/4] training {n_params / 1e6:.2f}M parameters for {args.minutes:g} minutes ({DEMO_CONFIG})")
    checkpoint = ModelCheckpoint(dirpath=out / "checkpoints", filename="g2p-{step}", save_last=True, save_top_k=0)
    throughput = TrainingThroughput()
    loggers: list[Logger] = [CSVLogger(out, name="logs")]
    if importlib.util.find_spec("tensorboard") is not None:
        board = TensorBoardLogger(out, name="tensorboard")
        _ = board.experiment  # open the writer (it imports TensorFlow when installed) before the clock starts
        loggers.append(board)
    trainer = pl.Trainer(
        accelerator=args.accelerator,
        devices=1,
        max_time=timedelta(minutes=args.minutes),
        max_epochs=100,
        limit_val_batches=8,
        num_sanity_val_steps=0,
        callbacks=[
            checkpoint,
            throughput,
            TQDMProgressBar(refresh_rate=20),
            *([WallClockCosine(60 * args.minutes)] if cosine else []),
        ],
        logger=loggers,
        log_every_n_steps=20,
        enable_model_summary=False,
    )
    start = time.perf_counter()
    trainer.fit(model, datamodule=dm)
    trained_s = time.perf_counter() - start
    trainer.save_checkpoint(out / "checkpoints" / "last.ckpt", weights_only=False)

    tokens_per_s = throughput.tokens / trained_s
    print(f"[3/4] scoring the test words (greedy decoding) after {trained_s / 60:.1f} min of training")
    print(f"      {trainer.global_step:,} steps, {tokens_per_s:,.0f} target tokens/s (whole fit, validation included)")
    sources, references = dm.references("test")
    if args.test_words:
        sources, references = sources[: args.test_words], references[: args.test_words]
    model.eval()
    hypotheses = model.translate(sources, batch_size=512)
    assert isinstance(hypotheses, list)
    scores = g2p_scores(hypotheses, references)
    print(f"      test WER {scores.wer:.2f}%  PER {scores.per:.2f}%  over {scores.words:,} words")
    print("      (published, on a different split: Sequitur 24.5% WER, attention seq2seq 21.7%)")
    print(f"      {'word':<12} {'predicted':<28} reference(s)")
    for src, hyp, refs in list(zip(sources, hypotheses, references, strict=True))[:8]:
        mark = "ok " if hyp in refs else "err"
        print(f"  {mark} {''.join(src):<12} {' '.join(hyp):<28} {' | '.join(' '.join(r) for r in refs)}")

    print("[4/4] attention heat map and pronunciations of a few words")
    words = [list(w) for w in WORDS]
    result = model.translate(words, return_attention=True)
    assert isinstance(result, tuple)
    decoded, attention = result
    for w, d in zip(WORDS, decoded, strict=True):
        print(f"      {w:<12} {' '.join(d)}")
    try:
        from seq2seq_fit.plots import plot_attention

        plot_attention(
            attention[0],
            words[0],
            decoded[0],
            path=out / "attention.png",
            title=f"'{WORDS[0]}' -> {' '.join(decoded[0])}",
        )
        print(f"      wrote {out / 'attention.png'}")
    except ImportError:
        print("      (install matplotlib for the attention heat map)")
    log_dirs = "  ".join(str(logger.log_dir) for logger in loggers)
    print(f"      checkpoint: {out / 'checkpoints' / 'last.ckpt'}  logs: {log_dirs}")
    return {"wer": scores.wer, "per": scores.per, "train_minutes": trained_s / 60, "tokens_per_s": tokens_per_s}


if __name__ == "__main__":
    main()
