"""Helpers of the Lightning tests: tiny models, random padded batches, quiet trainers (shared)."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch

from lit_seq2seq import Seq2Seq
from seq2seq_fit import Seq2SeqConfig
from trainer_helpers import quiet_trainer

__all__ = ["ATTENTIONS", "CELLS", "StepRecorder", "quiet_trainer", "random_batch", "tiny_config", "tiny_model"]

CELLS = ("gru", "lstm")
ATTENTIONS = ("bahdanau", "luong", "none")


def tiny_config(**overrides: Any) -> Seq2SeqConfig:
    """A model small enough for many CPU tests per second."""
    base: dict[str, Any] = {"embedding_dim": 12, "hidden_size": 16}
    base.update(overrides)
    return Seq2SeqConfig(**base)


def tiny_model(seed: int = 0, src_vocab_size: int = 11, tgt_vocab_size: int = 13, **overrides: Any) -> Seq2Seq:
    torch.manual_seed(seed)
    return Seq2Seq(tiny_config(**overrides), src_vocab_size, tgt_vocab_size).eval()


def random_batch(
    b: int = 4, s: int = 7, t: int = 6, src_vocab_size: int = 11, tgt_vocab_size: int = 13, seed: int = 1
) -> dict[str, torch.Tensor]:
    """A right-padded batch in the DataModule's layout, with rows of different lengths."""
    g = torch.Generator().manual_seed(seed)
    src_len = torch.tensor([s, max(1, s - 2), max(1, s - 4), 1][:b] + [s] * max(0, b - 4))
    tgt_len = torch.tensor([t - 1, max(1, t - 3), 1, max(1, t - 2)][:b] + [t - 1] * max(0, b - 4))
    source = torch.randint(4, src_vocab_size, (b, s), generator=g)
    source[torch.arange(s) >= src_len[:, None]] = 0
    target = torch.randint(4, tgt_vocab_size, (b, t), generator=g)
    target_in = target.clone()
    target_in[:, 0] = 1
    target_in[torch.arange(t) > tgt_len[:, None]] = 0
    target_out = torch.cat([target[:, 1:], torch.zeros(b, 1, dtype=torch.long)], 1)
    target_out[torch.arange(t) >= tgt_len[:, None]] = 0
    target_out[torch.arange(b), tgt_len] = 2
    return {"source": source, "source_lengths": src_len, "target_in": target_in, "target_out": target_out}


class StepRecorder(pl.Callback):
    """Records ``(global_step, tf_ratio, fed_from_model, loss)`` after every training step."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, float, float, float]] = []

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        m = trainer.callback_metrics
        self.rows.append(
            (
                trainer.global_step,
                float(m["train/tf_ratio"]),
                float(m["train/fed_from_model"]),
                float(m["train/loss"]),
            )
        )
