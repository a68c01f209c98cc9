"""The batch contract on torch tensors: the Hugging Face adapter and the first-batch check of ``LitSeq2Seq``.

The layout and its checks live in :mod:`seq2seq_fit.batch`; this module applies them to the
batches a ``DataLoader`` yields (tensors, or the numpy arrays of ``seq2seq_fit.collate_pairs``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from seq2seq_fit.batch import LABEL_PAD_ID, check_batch, layout_of
from seq2seq_fit.vocab import BOS_ID, PAD_ID


def from_hugging_face(batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Our batch from the Hugging Face seq2seq layout, on the tensors' device.

    The arithmetic of :func:`seq2seq_fit.batch.from_hugging_face` in torch: ``source`` is
    ``input_ids`` where ``attention_mask`` (0 elsewhere), ``target_out`` is ``labels`` with -100 as
    0, ``target_in`` is ``[<bos>, target_out[:, :-1]]`` where the label is not -100.

    Example:
        >>> hf = {"input_ids": [[5, 6, 1]], "attention_mask": [[1, 1, 0]], "labels": [[8, 2, -100]]}
        >>> batch = from_hugging_face({k: torch.tensor(v) for k, v in hf.items()})
        >>> batch["source"].tolist(), batch["target_in"].tolist(), batch["target_out"].tolist()
        ([[5, 6, 0]], [[1, 8, 0]], [[8, 2, 0]])
    """
    input_ids = batch["input_ids"]  # (B, S)
    mask = batch["attention_mask"] != 0 if "attention_mask" in batch else input_ids != PAD_ID  # (B, S)
    out = {"source": torch.where(mask, input_ids, PAD_ID), "source_lengths": mask.sum(-1)}  # (B, S), (B,)
    if "labels" in batch:
        labels = batch["labels"]  # (B, T)
        valid = labels != LABEL_PAD_ID
        target_out = torch.where(valid, labels, PAD_ID)  # (B, T)
        shifted = torch.cat([torch.full_like(target_out[:, :1], BOS_ID), target_out[:, :-1]], dim=1)  # (B, T)
        out["target_in"] = torch.where(valid, shifted, PAD_ID)
        out["target_out"] = target_out
    return out


def as_tensors(batch: Any) -> Any:
    """A dict batch with its numpy arrays as tensors (what ``seq2seq_fit.collate_pairs`` yields); else ``batch``."""
    if not isinstance(batch, Mapping) or not any(isinstance(v, np.ndarray) for v in batch.values()):
        return batch
    return {k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for k, v in batch.items()}


def check_first_batch(batch: Any, where: str, targets: bool = True) -> None:
    """:func:`seq2seq_fit.batch.check_batch` on a batch of tensors, values included for CPU id tensors."""
    if isinstance(batch, Mapping):
        batch = {
            k: v.numpy() if isinstance(v, torch.Tensor) and v.device.type == "cpu" and not v.is_floating_point() else v
            for k, v in batch.items()
        }
    check_batch(batch, where, targets=targets)


def to_batch(batch: Any) -> Any:
    """``batch`` in our layout: a Hugging Face batch converted by :func:`from_hugging_face`, others as they are."""
    if isinstance(batch, Mapping) and layout_of(batch) == "hugging_face":
        return from_hugging_face(batch)
    return batch


__all__ = ["as_tensors", "check_first_batch", "from_hugging_face", "to_batch"]
