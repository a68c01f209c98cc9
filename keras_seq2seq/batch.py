"""The batch contract on Keras tensors (any backend): the Hugging Face adapter and the first-batch check.

The layout and its checks live in :mod:`seq2seq_fit.batch`. ``Seq2SeqModel``'s steps take a batch
as Keras hands it over: ``(x, y)`` with ``x = {"source", "target_in"}`` and ``y = target_out``
(what ``datamodules.KerasData`` yields), ``x`` alone as a dict of all four keys (numpy dicts,
``tf.data``, a ``PyDataset``, a ``DataLoader`` with ``seq2seq_fit.collate_pairs``), or ``x`` in the
Hugging Face layout.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

import keras
from keras import ops
from seq2seq_fit.batch import LABEL_PAD_ID, check_batch, layout_of
from seq2seq_fit.vocab import BOS_ID, PAD_ID


def from_hugging_face(batch: Mapping[str, Any]) -> dict[str, Any]:
    """Our batch from the Hugging Face seq2seq layout, in Keras ops (int32).

    The arithmetic of :func:`seq2seq_fit.batch.from_hugging_face`: ``source`` is ``input_ids``
    where ``attention_mask`` (0 elsewhere), ``target_out`` is ``labels`` with -100 as 0,
    ``target_in`` is ``[<bos>, target_out[:, :-1]]`` where the label is not -100.

    Example:
        >>> hf = {"input_ids": [[5, 6, 1]], "attention_mask": [[1, 1, 0]], "labels": [[8, 2, -100]]}
        >>> batch = from_hugging_face({k: np.array(v) for k, v in hf.items()})
        >>> [ops.convert_to_numpy(batch[k]).tolist() for k in ("source", "target_in", "target_out")]
        [[[5, 6, 0]], [[1, 8, 0]], [[8, 2, 0]]]
    """
    input_ids = ops.cast(batch["input_ids"], "int32")  # (B, S)
    mask = ops.not_equal(batch.get("attention_mask", input_ids), 0)  # (B, S): without a mask, the non-pad ids
    out = {
        "source": ops.where(mask, input_ids, PAD_ID),  # (B, S)
        "source_lengths": ops.sum(ops.cast(mask, "int32"), axis=-1),  # (B,)
    }
    if "labels" in batch:
        labels = ops.cast(batch["labels"], "int32")  # (B, T)
        valid = ops.not_equal(labels, LABEL_PAD_ID)
        target_out = ops.where(valid, labels, PAD_ID)  # (B, T)
        shifted = ops.concatenate([ops.full_like(target_out[:, :1], BOS_ID), target_out[:, :-1]], axis=1)  # (B, T)
        out["target_in"] = ops.where(valid, shifted, PAD_ID)
        out["target_out"] = target_out
    return out


def to_batch(x: Any, y: Any = None) -> dict[str, Any]:
    """Our batch (``source``, ``target_in``, ``target_out`` as present, int32) from ``x`` and ``y`` (``target_out``)."""
    if isinstance(x, Mapping) and layout_of(x) == "hugging_face":
        return from_hugging_face(x)
    batch = dict(x) if isinstance(x, Mapping) else {"source": x}
    if y is not None:
        batch["target_out"] = y
    return {k: ops.cast(batch[k], "int32") for k in ("source", "target_in", "target_out") if k in batch}


def check_first_batch(batch: Any, where: str, targets: bool = True) -> None:
    """:func:`seq2seq_fit.batch.check_batch` on what a Keras step receives (``source_lengths`` not required)."""
    x, y, _ = keras.utils.unpack_x_y_sample_weight(batch)
    if isinstance(x, Mapping):
        checked = {**x, "target_out": y} if y is not None and layout_of(x) == "seq2seq_fit" else x
    elif not targets and y is None and len(getattr(x, "shape", ())) == 2:
        checked = {"source": x}  # predict on bare source ids
    else:
        checked = batch
    check_batch(checked, where, targets=targets, lengths=False)


def is_torch_dataloader(data: Any) -> bool:
    """Whether ``data`` is a ``torch.utils.data.DataLoader`` (without importing torch)."""
    return any(c.__module__.startswith("torch.utils.data") and c.__name__ == "DataLoader" for c in type(data).__mro__)


class LoaderSequence(keras.utils.PyDataset):  # type: ignore[misc]
    """A ``torch.utils.data.DataLoader`` as a ``PyDataset`` of numpy batches, read in order.

    Keras' own adapter turns each batch into a tuple, so a loader of dict batches (what
    ``seq2seq_fit.collate_pairs`` makes) loses its keys on the TensorFlow and JAX backends; this
    one keeps them. Index ``i`` is the loader's ``i``-th batch of the current pass (the loader's own
    shuffling and workers apply).
    """

    def __init__(self, loader: Any) -> None:
        super().__init__()
        self.loader = loader
        self._iterator: Iterator[Any] | None = None
        self._next = 0

    def __len__(self) -> int:
        return len(self.loader)

    def __getitem__(self, index: int) -> Any:
        if self._iterator is None or index < self._next or index == 0:
            self._iterator, self._next = iter(self.loader), 0
        while self._next <= index:
            batch = next(self._iterator)
            self._next += 1
        return keras.tree.map_structure(lambda a: np.asarray(a.cpu() if hasattr(a, "cpu") else a), batch)


__all__ = ["LoaderSequence", "check_first_batch", "from_hugging_face", "is_torch_dataloader", "to_batch"]
