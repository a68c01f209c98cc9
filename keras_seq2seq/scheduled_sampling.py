"""Scheduled teacher forcing in ``keras.ops``: coins, the model's tokens, parallel-pass inputs.

Backend-agnostic functions of tensors (TensorFlow, JAX and torch), used inside the compiled
``train_step`` of :class:`~keras_seq2seq.Seq2SeqModel`. The maths is the one of
``docs/architecture.md`` ("Scheduled teacher forcing").
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops
from seq2seq_fit.config import check_choice
from seq2seq_fit.teacher_forcing import GRANULARITIES
from seq2seq_fit.vocab import BOS_ID, PAD_ID


def draw_coins(seed: Any, ratio: Any, batch: Any, time: Any, granularity: str) -> Any:
    """Which decoder inputs are gold: one uniform draw per coin, ``gold = u < ratio``.

    All coins of a batch come from one call, before decoding. Position 0 is always gold
    (``<bos>``).

    Args:
        seed: a ``keras.random.SeedGenerator`` (or seed).
        ratio: scalar probability of feeding the ground truth.
        batch, time: ``B`` and ``T`` (ints or scalar tensors).
        granularity: ``token`` (B, T), ``sequence`` (B, 1) or ``batch`` (1, T) draws.

    Returns:
        ``(B, T)`` bool tensor.
    """
    check_choice("draw_coins", "granularity", granularity, GRANULARITIES)
    shape = {"token": (batch, time), "sequence": (batch, 1), "batch": (1, time)}[granularity]
    u = keras.random.uniform(shape, seed=seed)
    gold = ops.broadcast_to(ops.less(u, ops.cast(ratio, u.dtype)), (batch, time))  # (B, T)
    first = ops.expand_dims(ops.equal(ops.arange(time, dtype="int32"), 0), 0)  # (1, T)
    return ops.logical_or(gold, first)


def fed_from_model(gold: Any, target_in: Any) -> Any:
    """Fraction of real decoder inputs (not padding, not ``<bos>``) that came from the model."""
    time = ops.shape(target_in)[1]
    valid = ops.logical_and(
        ops.not_equal(target_in, PAD_ID), ops.expand_dims(ops.arange(time, dtype="int32") >= 1, 0)
    )  # (B, T)
    from_model = ops.logical_and(ops.logical_not(gold), valid)
    n_valid = ops.sum(ops.cast(valid, "float32"))
    return ops.sum(ops.cast(from_model, "float32")) / ops.maximum(n_valid, 1.0)


def gumbel_noise(seed: Any, shape: Any) -> Any:
    """Gumbel(0, 1) noise: ``argmax(logits / temperature + g)`` samples ``softmax(logits / temperature)``."""
    u = keras.random.uniform(shape, minval=1e-7, maxval=1.0 - 1e-7, seed=seed)
    return -ops.log(-ops.log(u))


def model_tokens(logits: Any, feed: str, temperature: float = 1.0, gumbel: Any = None, top_k: int | None = None) -> Any:
    """Tokens the model feeds itself: ``argmax`` of ``logits``, or a sample (needs ``gumbel``).

    No gradient flows through the choice. ``logits`` is ``(..., V)``; returns int32 ``(...)``.
    """
    logits = ops.stop_gradient(ops.cast(logits, "float32"))
    if feed == "argmax":
        return ops.cast(ops.argmax(logits, axis=-1), "int32")
    scores = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = ops.top_k(scores, top_k)[0][..., -1:]  # (..., 1)
        scores = ops.where(scores < kth, ops.full_like(scores, -1e30), scores)
    return ops.cast(ops.argmax(scores + ops.cast(gumbel, "float32"), axis=-1), "int32")


def shift_right(tokens: Any) -> Any:
    """``[<bos>, tokens[:, :-1]]``: a pass's predictions as the next pass's inputs.  # (B, T)"""
    bos = ops.full_like(tokens[:, :1], BOS_ID)
    return ops.concatenate([bos, tokens[:, :-1]], axis=1)


def mix_inputs(gold: Any, target_in: Any, predictions: Any) -> Any:
    """Parallel scheduled sampling: gold tokens where ``gold``, else the previous position's prediction."""
    return ops.where(gold, target_in, shift_right(ops.cast(predictions, target_in.dtype)))


__all__ = ["draw_coins", "fed_from_model", "gumbel_noise", "mix_inputs", "model_tokens", "shift_right"]
