"""The attention softmax both attention modules share (float32, padding-safe)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: Score given to padded source positions: representable in float16, unlike -1e9 or -inf.
MASK_VALUE = -30000.0


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis of ``scores`` (..., S), ignoring positions where ``mask`` (B, S) is False.

    Computed in float32 and cast back to the scores' dtype; a fully padded row gives all-zero
    weights instead of NaN.

    Example:
        >>> masked_softmax(torch.zeros(1, 1, 3), torch.tensor([[True, True, False]]))
        tensor([[[0.5000, 0.5000, 0.0000]]])
    """
    while mask.dim() < scores.dim():
        mask = mask.unsqueeze(-2)  # (B, 1, S) for (B, T, S) scores
    s = scores.float().masked_fill(~mask, MASK_VALUE)
    weights = F.softmax(s, dim=-1) * mask.float()
    return weights.to(scores.dtype)


__all__ = ["MASK_VALUE", "masked_softmax"]
