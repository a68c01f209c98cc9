"""Helpers of the reliability tests: a tiny model on a small task, quiet trainers, recorders."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from datamodules import Seq2SeqDataModule
from lit_seq2seq import LitSeq2Seq

if str(Path(__file__).resolve().parent.parent) not in sys.path:  # crash_worker.py runs outside pytest
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from trainer_helpers import quiet_trainer as shared_quiet_trainer

TINY = {"embedding_dim": 12, "hidden_size": 16}


def small_data(n_train: int = 24, batch_size: int = 4, **kwargs: Any) -> Seq2SeqDataModule:
    """``reverse`` with ``n_train / batch_size`` training steps per epoch."""
    options = {"n_train": n_train, "n_val": 4, "n_test": 4}
    return Seq2SeqDataModule("reverse", batch_size=batch_size, corpus_options=options, **kwargs)


def small_model(dm: Seq2SeqDataModule, **kwargs: Any) -> LitSeq2Seq:
    """A tiny model with a decaying schedule, so the teacher-forcing coins matter."""
    torch.manual_seed(0)
    options: dict[str, Any] = {
        "config": TINY,
        "teacher_forcing": {"schedule": "linear", "start": 0.9, "end": 0.2, "decay_steps": 12},
        "lr": 1e-2,
        "seed": 5,
    }
    options.update(kwargs)
    return LitSeq2Seq(dm.src_vocab, dm.tgt_vocab, **options)


#: The shared ``quiet_trainer``, without validation unless asked (``limit_val_batches=...``).
quiet_trainer = partial(shared_quiet_trainer, validate=False)


def train_and_save(tmp_path: Path, steps: int = 2) -> Path:
    """A checkpoint of a briefly trained tiny model, written by ``Trainer.save_checkpoint``."""
    dm = small_data()
    trainer = quiet_trainer(max_steps=steps, default_root_dir=tmp_path)
    trainer.fit(small_model(dm), dm)
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    return path


class BatchRecorder(pl.Callback):
    """Records ``(global_step, source ids)`` of every training batch."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, list[list[int]]]] = []

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, *args: Any) -> None:
        self.rows.append((trainer.global_step, batch["source"].tolist()))


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    """Bitwise equal state dicts."""
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"parameters differ: {different}"
