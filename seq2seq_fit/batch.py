"""The batch contract of both trainers: its layout, the collate functions, the Hugging Face adapter, the check.

A batch is a dict of integer id arrays, right-padded with ``<pad>`` = 0:

================== ======== ================================================================
key                shape    holds
================== ======== ================================================================
``source``         (B, S)   source ids
``source_lengths`` (B,)     non-pad source lengths (Keras derives them from ``source != 0``)
``target_in``      (B, T)   ``<bos>`` + target ids: the decoder's inputs
``target_out``     (B, T)   target ids + ``<eos>``: what the decoder predicts
================== ======== ================================================================

Specials: ``<pad>`` 0, ``<bos>`` 1, ``<eos>`` 2, ``<unk>`` 3. :func:`collate` (and
:func:`collate_pairs`, a ``collate_fn`` for a ``torch.utils.data.DataLoader``) makes this layout
from id sequences without ``<bos>``/``<eos>``. Both trainers also take the Hugging Face seq2seq
layout that ``transformers.DataCollatorForSeq2Seq`` makes (``input_ids``, ``attention_mask``,
``labels`` padded with -100, each label row ending with ``<eos>``) and convert it with the
arithmetic of :func:`from_hugging_face`. :func:`check_batch` is what they run on the first batch
of each stage, so a wrong batch is one :class:`~seq2seq_fit.errors.InputError` naming the key.
Numpy only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypedDict

import numpy as np

from seq2seq_fit.errors import InputError
from seq2seq_fit.vocab import BOS_ID, EOS_ID, PAD_ID

BATCH_KEYS: tuple[str, ...] = ("source", "source_lengths", "target_in", "target_out")
"""The keys of :class:`Batch`, in order."""

HUGGING_FACE_KEYS: tuple[str, ...] = ("input_ids", "attention_mask", "labels")
"""The keys of the Hugging Face seq2seq layout (``attention_mask`` may be left out: ``input_ids != 0``)."""

LABEL_PAD_ID = -100
"""The padding of Hugging Face ``labels`` (``DataCollatorForSeq2Seq(label_pad_token_id=-100)``)."""

LAYOUT = (
    "expected a dict {source: (B, S), source_lengths: (B,), target_in: (B, T) = <bos> + target, "
    "target_out: (B, T) = target + <eos>} of integer ids right-padded with 0 (seq2seq_fit.collate_pairs makes it), "
    "or the Hugging Face layout {input_ids: (B, S), attention_mask: (B, S), labels: (B, T) padded with -100}"
)
"""The expected layout, as every error of :func:`check_batch` ends."""

Layout = Literal["seq2seq_fit", "hugging_face"]


class Batch(TypedDict):
    """One batch of both trainers: integer id arrays (int64 from :func:`collate`), right-padded with 0.

    Attributes:
        source: (B, S) source ids.
        source_lengths: (B,) non-pad source lengths.
        target_in: (B, T) ``<bos>`` + target ids.
        target_out: (B, T) target ids + ``<eos>``.
    """

    source: np.ndarray
    source_lengths: np.ndarray
    target_in: np.ndarray
    target_out: np.ndarray


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def collate(sources: Sequence[Any], targets: Sequence[Any], pad_to_multiple: int = 1) -> Batch:
    """Right-pad one batch of id sequences (without ``<bos>``/``<eos>``) into a :class:`Batch`.

    Args:
        sources: source id sequences.
        targets: target id sequences, one per source, without ``<bos>`` and ``<eos>`` (added here).
        pad_to_multiple: round ``S`` and ``T`` up to a multiple of this (fewer distinct shapes for
            compiled steps).

    Returns:
        A :class:`Batch` of int64 arrays.

    Example:
        >>> import numpy as np
        >>> batch = collate([np.array([5, 6, 7]), np.array([8])], [np.array([9]), np.array([10, 11])])
        >>> batch["source"].tolist(), batch["source_lengths"].tolist()
        ([[5, 6, 7], [8, 0, 0]], [3, 1])
        >>> batch["target_in"].tolist(), batch["target_out"].tolist()  # <bos> = 1, <eos> = 2
        ([[1, 9, 0], [1, 10, 11]], [[9, 2, 0], [10, 11, 2]])
    """
    if not len(sources):
        raise InputError("collate: got an empty batch; expected at least one (source, target) pair")
    if len(sources) != len(targets):
        raise InputError(f"collate: got {len(sources)} sources and {len(targets)} targets; expected one target each")
    b = len(sources)
    s = _round_up(max(len(x) for x in sources), pad_to_multiple)
    t = _round_up(max(len(y) for y in targets) + 1, pad_to_multiple)
    source = np.full((b, s), PAD_ID, dtype=np.int64)
    target_in = np.full((b, t), PAD_ID, dtype=np.int64)
    target_out = np.full((b, t), PAD_ID, dtype=np.int64)
    for i, (x, y) in enumerate(zip(sources, targets, strict=True)):
        source[i, : len(x)] = x
        target_in[i, 0] = BOS_ID
        target_in[i, 1 : len(y) + 1] = y
        target_out[i, : len(y)] = y
        target_out[i, len(y)] = EOS_ID
    lengths = np.array([len(x) for x in sources], dtype=np.int64)
    return {"source": source, "source_lengths": lengths, "target_in": target_in, "target_out": target_out}


def collate_pairs(pairs: Sequence[tuple[Any, Any]], pad_to_multiple: int = 1) -> Batch:
    """:func:`collate` for ``(source_ids, target_ids)`` pairs: the ``collate_fn`` of a user's ``DataLoader``.

    Each pair holds two id sequences (lists, numpy arrays or CPU tensors) in the model's
    vocabularies, without ``<bos>``/``<eos>``. ``LitSeq2Seq`` turns the numpy arrays into tensors;
    Keras takes them as they are. For another ``pad_to_multiple``, pass
    ``functools.partial(collate_pairs, pad_to_multiple=8)``.

    Example:
        >>> batch = collate_pairs([([5, 6], [7]), ([8], [9, 10])])
        >>> batch["source"].tolist(), batch["target_out"].tolist()
        ([[5, 6], [8, 0]], [[7, 2, 0], [9, 10, 2]])
    """
    sources, targets = [], []
    for i, pair in enumerate(pairs):
        if not isinstance(pair, Sequence) or len(pair) != 2:
            raise InputError(
                f"collate_pairs: item {i} is {type(pair).__name__}, expected a (source_ids, target_ids) pair"
            )
        source, target = (np.asarray(ids, dtype=np.int64).reshape(-1) for ids in pair)
        if len(target) and target[-1] == EOS_ID:
            raise InputError(
                f"collate_pairs: item {i}: the target ends with <eos> ({EOS_ID}); pass the ids without "
                "<bos>/<eos>, collate_pairs adds them"
            )
        sources.append(source)
        targets.append(target)
    return collate(sources, targets, pad_to_multiple)


def from_hugging_face(batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Our :class:`Batch` from the Hugging Face seq2seq layout (what ``DataCollatorForSeq2Seq`` makes).

    ``source = input_ids`` where ``attention_mask`` (0 elsewhere), ``source_lengths`` its row sums;
    ``target_out = labels`` with -100 as 0; ``target_in = [<bos>, target_out[:, :-1]]`` where the
    label is not -100 (0 elsewhere). Label rows must end with ``<eos>`` (the tokenizer's end token
    at id 2); other keys (``decoder_input_ids``) are ignored. Without ``labels`` only ``source``
    and ``source_lengths`` are returned. Both trainers do the same arithmetic on their tensors.

    Example:
        >>> batch = from_hugging_face({"input_ids": [[5, 6, 1], [7, 1, 1]], "attention_mask": [[1, 1, 0], [1, 0, 0]],
        ...                            "labels": [[8, 9, 2], [10, 2, -100]]})
        >>> batch["source"].tolist(), batch["source_lengths"].tolist()
        ([[5, 6, 0], [7, 0, 0]], [2, 1])
        >>> batch["target_in"].tolist(), batch["target_out"].tolist()
        ([[1, 8, 9], [1, 10, 0]], [[8, 9, 2], [10, 2, 0]])
    """
    input_ids = np.asarray(batch["input_ids"])
    mask = np.asarray(batch["attention_mask"]) != 0 if "attention_mask" in batch else input_ids != PAD_ID  # (B, S)
    out = {
        "source": np.where(mask, input_ids, PAD_ID),  # (B, S)
        "source_lengths": mask.sum(axis=-1).astype(input_ids.dtype),  # (B,)
    }
    if "labels" in batch:
        labels = np.asarray(batch["labels"])  # (B, T)
        valid = labels != LABEL_PAD_ID
        target_out = np.where(valid, labels, PAD_ID)  # (B, T)
        shifted = np.concatenate([np.full_like(target_out[:, :1], BOS_ID), target_out[:, :-1]], axis=1)  # (B, T)
        out["target_in"] = np.where(valid, shifted, PAD_ID)
        out["target_out"] = target_out
    return out


# -- the check -------------------------------------------------------------------------------------

#: ``key: (dimension names, bool allowed)`` of each layout.
_SPECS: dict[str, dict[str, tuple[tuple[str, ...], bool]]] = {
    "seq2seq_fit": {
        "source": (("B", "S"), False),
        "source_lengths": (("B",), False),
        "target_in": (("B", "T"), False),
        "target_out": (("B", "T"), False),
    },
    "hugging_face": {
        "input_ids": (("B", "S"), False),
        "attention_mask": (("B", "S"), True),
        "labels": (("B", "T"), False),
    },
}


def layout_of(batch: Mapping[str, Any]) -> Layout:
    """``"hugging_face"`` for a dict with ``input_ids`` or ``labels`` and no ``source``, else ``"seq2seq_fit"``.

    Example:
        >>> layout_of({"input_ids": None, "labels": None}), layout_of({"source": None})
        ('hugging_face', 'seq2seq_fit')
    """
    if "source" not in batch and ("input_ids" in batch or "labels" in batch):
        return "hugging_face"
    return "seq2seq_fit"


def dtype_name(array: Any) -> str:
    """The dtype of a numpy, torch, TensorFlow, JAX or Keras array as numpy spells it (``int64``, ``float32``).

    Example:
        >>> dtype_name(np.zeros(2, dtype=np.int32)), dtype_name([1.5])
        ('int32', 'float64')
    """
    dtype = getattr(array, "dtype", None)
    if dtype is None:
        dtype = np.asarray(array).dtype
    name = getattr(dtype, "name", None)
    return str(name if isinstance(name, str) else dtype).rsplit(".", 1)[-1]


def _shape(array: Any) -> tuple[int | None, ...] | None:
    """The shape as a tuple (``None`` for an unknown size), or ``None`` when even the rank is unknown."""
    shape = getattr(array, "shape", None)
    if shape is None:
        shape = np.shape(array)
    try:
        return tuple(None if d is None else int(d) for d in shape)
    except (TypeError, ValueError):  # a symbolic shape of unknown rank
        return None


def check_batch(batch: Any, where: str = "batch", *, targets: bool = True, lengths: bool = True) -> Layout:
    """Check a batch's keys, integer dtypes, ranks and matching sizes; raise one :class:`InputError` if wrong.

    Works on numpy, torch, TensorFlow, JAX and symbolic Keras tensors (only what is known of their
    shapes). On numpy arrays it also checks the values: no negative ids (a -100 in ``target_out``
    is Hugging Face's label padding under our key), right padding of ``attention_mask``, and label
    rows ending with ``<eos>``. Extra keys are allowed.

    Args:
        batch: the batch, in our layout (:class:`Batch`) or the Hugging Face one.
        where: what the message starts with (the step that got the batch).
        targets: require the targets (``target_in``/``target_out``, or ``labels``); ``False`` for prediction.
        lengths: require ``source_lengths`` (Keras derives them from the padding).

    Returns:
        The layout: ``"seq2seq_fit"`` or ``"hugging_face"``.

    Raises:
        InputError: naming the key, what it got and the expected layout.

    Example:
        >>> check_batch(collate_pairs([([5], [6])]))
        'seq2seq_fit'
        >>> check_batch({"source": np.zeros((2, 3), "int64")}, where="training_step")
        Traceback (most recent call last):
        ...
        seq2seq_fit.errors.InputError: training_step: the batch has keys ['source'], missing 'source_lengths'; ...
    """
    if not isinstance(batch, Mapping):
        count = f" of {len(batch)} items" if isinstance(batch, (tuple, list)) else ""
        raise InputError(f"{where}: got a {type(batch).__name__}{count} as the batch; {LAYOUT}")
    layout = layout_of(batch)
    spec = _SPECS[layout]
    if layout == "seq2seq_fit":
        required = ["source", *(["source_lengths"] if lengths else []), *(["target_in", "target_out"] * targets)]
    else:
        required = ["input_ids", *(["labels"] if targets else [])]
    for key in required:
        if key not in batch:
            raise InputError(f"{where}: the batch has keys {sorted(map(str, batch))}, missing {key!r}; {LAYOUT}")
    sizes: dict[str, tuple[int, str]] = {}  # dimension name -> (size, the key it was read from)
    for key, (dims, bool_ok) in spec.items():
        if key not in batch:
            continue
        value = batch[key]
        dtype, shape = dtype_name(value), _shape(value)
        integer = dtype.startswith(("int", "uint")) or (bool_ok and dtype == "bool")
        if not integer or (shape is not None and len(shape) != len(dims)):
            shown = "unknown shape" if shape is None else f"shape {shape}"
            raise InputError(
                f"{where}: batch[{key!r}] is {dtype} with {shown}, expected integer ids of shape "
                f"({', '.join(dims)}{',' if len(dims) == 1 else ''}); {LAYOUT}"
            )
        known: tuple[int | None, ...] = shape or ()
        for dim, size in zip(dims, known, strict=False):
            if size is None:
                continue
            seen = sizes.setdefault(dim, (size, key))
            if seen[0] != size:
                raise InputError(
                    f"{where}: batch[{key!r}] has shape {shape} and batch[{seen[1]!r}] {_shape(batch[seen[1]])}: "
                    f"their {dim} must agree; {LAYOUT}"
                )
    _check_values(batch, layout, where)
    return layout


def _check_values(batch: Mapping[str, Any], layout: Layout, where: str) -> None:
    """The value checks of :func:`check_batch`, on the keys that hold numpy arrays."""
    arrays = {k: v for k, v in batch.items() if k in _SPECS[layout] and isinstance(v, np.ndarray) and v.size}
    if layout == "seq2seq_fit":
        for key, array in arrays.items():
            if array.min() < 0:
                hint = (
                    "; -100 is Hugging Face's label padding: pass {input_ids, attention_mask, labels} as they are"
                    if (array == LABEL_PAD_ID).any()
                    else ""
                )
                raise InputError(
                    f"{where}: batch[{key!r}] holds {int(array.min())}, expected ids >= 0 padded with 0{hint}; {LAYOUT}"
                )
        return
    for key in ("attention_mask", "labels"):
        if key in arrays:
            kept = arrays[key] != (0 if key == "attention_mask" else LABEL_PAD_ID)  # (B, W)
            left = np.nonzero((np.diff(kept.astype(np.int8), axis=-1) > 0).any(axis=-1))[0]
            if len(left):
                raise InputError(
                    f"{where}: batch[{key!r}] row {int(left[0])} is left-padded; expected right padding "
                    "(tokenize with padding_side='right')"
                )
    labels = arrays.get("labels")
    if labels is None:
        return
    if ((labels < 0) & (labels != LABEL_PAD_ID)).any():
        raise InputError(f"{where}: batch['labels'] holds {int(labels.min())}, expected ids >= 0 padded with -100")
    n = (labels != LABEL_PAD_ID).sum(axis=-1)  # (B,)
    last = np.where(n > 0, labels[np.arange(len(labels)), np.maximum(n - 1, 0)], LABEL_PAD_ID)  # (B,)
    wrong = np.nonzero(last != EOS_ID)[0]
    if len(wrong):
        row = int(wrong[0])
        raise InputError(
            f"{where}: batch['labels'] row {row} ends with {int(last[row])}, expected <eos> ({EOS_ID}): "
            f"tokenize the targets with the end-of-sequence token appended, at id {EOS_ID}"
        )


__all__ = [
    "BATCH_KEYS",
    "HUGGING_FACE_KEYS",
    "LABEL_PAD_ID",
    "LAYOUT",
    "Batch",
    "check_batch",
    "collate",
    "collate_pairs",
    "dtype_name",
    "from_hugging_face",
    "layout_of",
]
