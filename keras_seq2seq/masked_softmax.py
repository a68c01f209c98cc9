"""The attention softmax both attention layers share (float32, padding-safe)."""

from __future__ import annotations

from typing import Any

from keras import ops

#: Score given to padded source positions: finite in float16 too (``-1e9`` would overflow).
MASK_VALUE = -30000.0


def masked_softmax(scores: Any, mask: Any, dtype: str) -> Any:
    """Softmax over the last axis with padded positions excluded.

    Scores are cast to float32, padded positions set to ``-30000``, the softmax runs in float32 and
    is multiplied by the mask, so a fully padded row gives all-zero weights instead of NaN. The
    weights come back in ``dtype`` (the layer's compute dtype).

    Args:
        scores: ``(..., S)`` attention scores.
        mask: ``(..., S)`` (or broadcastable) bool/0-1 mask, true at real source tokens.
        dtype: dtype of the returned weights.

    Example:
        >>> import numpy as np
        >>> w = masked_softmax(np.zeros((1, 3)), np.array([[1, 1, 0]]), "float32")
        >>> ops.convert_to_numpy(w).round(2).tolist()
        [[0.5, 0.5, 0.0]]
    """
    mask = ops.cast(mask, "float32")
    scores = ops.cast(scores, "float32")
    scores = ops.where(mask > 0, scores, ops.full_like(scores, MASK_VALUE))
    weights = ops.softmax(scores, axis=-1) * mask
    return ops.cast(weights, dtype)


__all__ = ["MASK_VALUE", "masked_softmax"]
