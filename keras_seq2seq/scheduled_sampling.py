"""Scheduled teacher forcing in ``keras.ops``: coins, the model's tokens, parallel-pass inputs.

Backend-agnostic functions of tensors (TensorFlow, JAX and torch), used by the network
:class:`~keras_seq2seq.Seq2Seq` inside the compiled train steps; the names and meanings are those
of ``lit_seq2seq.scheduled_sampling``. The maths is the one of
``docs/architecture.md`` ("Scheduled teacher forcing").
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops
from seq2seq_fit.config import check_choice
from seq2seq_fit.teacher_forcing import GRANULARITIES, TeacherForcing
from seq2seq_fit.vocab import BOS_ID, PAD_ID


def gold_probability(teacher_forcing: TeacherForcing, ratio: Any, target_in: Any) -> Any:
    """The probability of feeding the gold token at each position of ``target_in`` (B, T) given the
    step schedule's ``ratio``: ``ratio`` itself without a ``position_schedule``, else the (T,)
    float32 tensor ``teacher_forcing.at_position(ratio, t)`` (in the graph, so the ratio may be a tensor).

    Example:
        >>> import numpy as np
        >>> tf = TeacherForcing(start=0.0, position_schedule="linear", position_k=4)
        >>> ops.convert_to_numpy(gold_probability(tf, 0.0, np.ones((2, 3), "int32"))).tolist()
        [1.0, 0.75, 0.5]
    """
    if teacher_forcing.position_schedule == "none":
        return ratio
    positions = ops.arange(ops.shape(target_in)[1], dtype="float32")  # (T,)
    p = teacher_forcing.at_position(ops.cast(ratio, "float32"), positions, exp=ops.exp, maximum=ops.maximum)
    return ops.cast(p, "float32")  # (T,)


def draw_coins(target_in: Any, ratio: Any, granularity: str, seed: Any = None) -> Any:
    """The teacher-forcing coins of one batch: True where the decoder is fed the gold token.

    One uniform draw per coin, shaped by ``granularity`` (``token`` (B, T), ``sequence`` (B, 1),
    ``batch`` (1, T)) and broadcast to (B, T); ``gold = u < ratio``. Position 0 is always gold
    (``<bos>``). All coins of a batch come from one call, before decoding.

    Args:
        target_in: ``(B, T)`` decoder inputs (only the shape is read).
        ratio: probability of feeding the ground truth: a scalar, or (T,) per position
            (:func:`gold_probability`).
        granularity: ``token``, ``sequence`` or ``batch``.
        seed: a ``keras.random.SeedGenerator`` (or seed).

    Returns:
        ``(B, T)`` bool tensor.

    Example:
        >>> import numpy as np
        >>> bool(ops.all(draw_coins(np.ones((2, 3), "int32"), 1.0, "token", seed=0)))
        True
    """
    check_choice("draw_coins", "granularity", granularity, GRANULARITIES)
    batch, time = ops.shape(target_in)[0], ops.shape(target_in)[1]
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


def applied_ratio(probability: Any, target_in: Any) -> Any:
    """Mean gold probability over the real decoder inputs (not padding, not ``<bos>``) of
    ``target_in`` (B, T), for a scalar or (T,) ``probability`` (``fed_from_model``'s expectation is
    one minus it)."""
    time = ops.shape(target_in)[1]
    valid = ops.logical_and(
        ops.not_equal(target_in, PAD_ID), ops.expand_dims(ops.arange(time, dtype="int32") >= 1, 0)
    )  # (B, T)
    valid = ops.cast(valid, "float32")
    p = ops.broadcast_to(ops.cast(probability, "float32"), ops.shape(valid))  # (B, T)
    return ops.sum(p * valid) / ops.maximum(ops.sum(valid), 1.0)


def gumbel_noise(seed: Any, shape: Any) -> Any:
    """Gumbel(0, 1) noise: ``argmax(logits / temperature + g)`` samples ``softmax(logits / temperature)``."""
    u = keras.random.uniform(shape, minval=1e-7, maxval=1.0 - 1e-7, seed=seed)
    return -ops.log(-ops.log(u))


def model_tokens(logits: Any, feed: str, temperature: float = 1.0, gumbel: Any = None) -> Any:
    """Tokens the model feeds itself from ``logits`` (..., V): argmax, or a temperature sample
    (``argmax(logits / temperature + gumbel)``, needs ``gumbel``); int32 (...), no gradient.

    Example:
        >>> import numpy as np
        >>> int(model_tokens(np.array([[0.0, 2.0, 1.0]]), "argmax")[0])
        1
    """
    logits = ops.stop_gradient(ops.cast(logits, "float32"))
    if feed == "argmax":
        return ops.cast(ops.argmax(logits, axis=-1), "int32")
    if feed != "sample":
        raise ValueError(f"feed: got {feed!r}, expected 'argmax' or 'sample'")
    return ops.cast(ops.argmax(logits / temperature + ops.cast(gumbel, "float32"), axis=-1), "int32")


def mix_inputs(gold: Any, target_in: Any, predictions: Any) -> Any:
    """Next parallel pass's inputs: gold where ``gold``, else the prediction of the previous position.

    ``predictions`` (B, T) are the tokens predicted at every position; position ``t`` is fed
    ``predictions[:, t - 1]`` and position 0 gets ``<bos>``.
    """
    predictions = ops.cast(predictions, target_in.dtype)
    shifted = ops.concatenate([ops.full_like(predictions[:, :1], BOS_ID), predictions[:, :-1]], axis=1)  # (B, T)
    return ops.where(gold, target_in, shifted)


__all__ = [
    "applied_ratio",
    "draw_coins",
    "fed_from_model",
    "gold_probability",
    "gumbel_noise",
    "mix_inputs",
    "model_tokens",
]
