"""Helpers of the Lightning and reliability tests: quiet trainers, tiny models, small data, recorders."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch

from datamodules import Seq2SeqDataModule
from lit_seq2seq import LitSeq2Seq, Seq2Seq
from seq2seq_fit import Seq2SeqConfig

CELLS = ("gru", "lstm")
ATTENTIONS = ("bahdanau", "luong", "none")
#: The tiny model's sizes: many CPU steps per second.
TINY = {"embedding_dim": 12, "hidden_size": 16}


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One intra-op thread (tiny models gain nothing from more, and on a shared 2-core box two OpenMP
    threads competing with another process slow a step down many times over) and no Lightning warnings
    about the tiny setup; the thread count is restored after. Autouse where a ``conftest.py`` imports it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*smaller than the logging interval.*")
        warnings.filterwarnings("ignore", ".*LeafSpec.*")
        warnings.filterwarnings("ignore", ".*callbacks used to create the checkpoint need to be provided.*")
        warnings.filterwarnings("ignore", ".*dataloader is not resumable.*")
        yield
    torch.set_num_threads(threads)


def quiet_trainer(validate: bool = True, **kwargs: Any) -> pl.Trainer:
    """A CPU ``Trainer`` without logger, progress bar, summary, sanity check or checkpoints unless asked,
    logging every step.

    ``validate=False`` also skips validation (``limit_val_batches=0``); ``kwargs`` override everything.
    """
    options: dict[str, Any] = {
        "accelerator": "cpu",
        "devices": 1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
        "log_every_n_steps": 1,  # per-step train/tf_ratio, train/fed_from_model in callback_metrics
    }
    if not validate:
        options["limit_val_batches"] = 0
    options.update(kwargs)
    return pl.Trainer(**options)


def tiny_config(**overrides: Any) -> Seq2SeqConfig:
    """A model config small enough for many CPU tests per second."""
    return Seq2SeqConfig(**{**TINY, **overrides})


def tiny_model(seed: int = 0, src_vocab_size: int = 11, tgt_vocab_size: int = 13, **overrides: Any) -> Seq2Seq:
    """A tiny ``Seq2Seq`` network in eval mode, initialised from ``seed``."""
    torch.manual_seed(seed)
    return Seq2Seq(tiny_config(**overrides), src_vocab_size, tgt_vocab_size).eval()


def random_batch(
    b: int = 4, s: int = 7, t: int = 6, src_vocab_size: int = 11, tgt_vocab_size: int = 13, seed: int = 1
) -> dict[str, torch.Tensor]:
    """A right-padded batch in the DataModule's layout, with rows of different lengths."""
    g = torch.Generator().manual_seed(seed)
    src_len = torch.tensor([s, max(1, s - 2), max(1, s - 4), 1][:b] + [s] * max(0, b - 4))  # (B,)
    tgt_len = torch.tensor([t - 1, max(1, t - 3), 1, max(1, t - 2)][:b] + [t - 1] * max(0, b - 4))  # (B,)
    source = torch.randint(4, src_vocab_size, (b, s), generator=g)  # (B, S)
    source[torch.arange(s) >= src_len[:, None]] = 0
    target = torch.randint(4, tgt_vocab_size, (b, t), generator=g)  # (B, T)
    target_in = target.clone()
    target_in[:, 0] = 1
    target_in[torch.arange(t) > tgt_len[:, None]] = 0
    target_out = torch.cat([target[:, 1:], torch.zeros(b, 1, dtype=torch.long)], 1)
    target_out[torch.arange(t) >= tgt_len[:, None]] = 0
    target_out[torch.arange(b), tgt_len] = 2
    return {"source": source, "source_lengths": src_len, "target_in": target_in, "target_out": target_out}


def small_data(n_train: int = 24, batch_size: int = 4, **kwargs: Any) -> Seq2SeqDataModule:
    """``reverse`` with ``n_train / batch_size`` training steps per epoch."""
    options = {"n_train": n_train, "n_val": 4, "n_test": 4}
    return Seq2SeqDataModule("reverse", batch_size=batch_size, corpus_options=options, **kwargs)


def small_model(dm: Seq2SeqDataModule, **kwargs: Any) -> LitSeq2Seq:
    """A tiny ``LitSeq2Seq`` over ``dm``'s vocabularies with a decaying schedule, so the teacher-forcing
    coins matter; ``kwargs`` override the constructor arguments."""
    torch.manual_seed(0)
    options: dict[str, Any] = {
        "config": TINY,
        "teacher_forcing": {"schedule": "linear", "start": 0.9, "end": 0.2, "decay_steps": 12},
        "lr": 1e-2,
        "seed": 5,
    }
    options.update(kwargs)
    return LitSeq2Seq(dm.src_vocab, dm.tgt_vocab, **options)


def train_and_save(tmp_path: Path, steps: int = 2) -> Path:
    """A checkpoint of a briefly trained tiny model, written by ``Trainer.save_checkpoint``."""
    dm = small_data()
    trainer = quiet_trainer(validate=False, max_steps=steps, default_root_dir=tmp_path)
    trainer.fit(small_model(dm), dm)
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    return path


def toy_checkpoint(path: Path, config: dict[str, Any], steps: int) -> Path:
    """A small model with ``config`` trained ``steps`` steps on the four toy pairs (lr 0.02: 20-40 steps memorise
    them) on one thread, written to ``path`` by ``Trainer.save_checkpoint`` (the command-line tests' model)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a module fixture runs before the per-test thread limit
    try:
        dm = Seq2SeqDataModule("toy", batch_size=4)
        torch.manual_seed(0)
        model = LitSeq2Seq(dm.src_vocab, dm.tgt_vocab, config, lr=0.02)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", ".*LeafSpec.*")
            trainer = quiet_trainer(max_steps=steps, validate=False, default_root_dir=path.parent)
            trainer.fit(model, dm)
        trainer.save_checkpoint(path)
    finally:
        torch.set_num_threads(threads)
    return path


class StepRecorder(pl.Callback):
    """Records ``(global_step, tf_ratio, fed_from_model, loss)`` after every training step."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, float, float, float]] = []

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        m = trainer.callback_metrics
        self.rows.append(
            (trainer.global_step, float(m["train/tf_ratio"]), float(m["train/fed_from_model"]), float(m["train/loss"]))
        )


class BatchRecorder(pl.Callback):
    """Records ``(global_step, source ids)`` of every training batch."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, list[list[int]]]] = []

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, *args: Any) -> None:
        self.rows.append((trainer.global_step, batch["source"].tolist()))


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of ``model``'s state dict."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    """Bitwise equal state dicts."""
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"parameters differ: {different}"
