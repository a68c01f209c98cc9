"""Masked, dtype-safe attention: Luong (after the RNN) and Bahdanau (fed into the RNN)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

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


class LuongAttention(nn.Module):
    """Multiplicative attention applied after the decoder RNN (no input feeding).

    ``score[t, j] = h_t . enc_j`` (``dot``) or ``h_t . (W_a enc_j)`` (``general``); the attentional
    state ``tanh(W_c [context_t; h_t])`` feeds the output layer.

    Args:
        hidden_size: size ``H`` of decoder states and encoder features.
        score: ``"dot"`` or ``"general"``.

    Example:
        >>> att = LuongAttention(4)
        >>> enc, mask = torch.randn(2, 5, 4), torch.ones(2, 5, dtype=torch.bool)
        >>> pre, weights = att(torch.randn(2, 3, 4), enc, att.keys(enc), mask)
        >>> pre.shape, weights.shape
        (torch.Size([2, 3, 4]), torch.Size([2, 3, 5]))
    """

    def __init__(self, hidden_size: int, score: str = "general") -> None:
        super().__init__()
        if score not in ("dot", "general"):
            raise ValueError(f"LuongAttention.score: got {score!r}, expected 'dot' or 'general'")
        self.score = score
        self.w_a = nn.Linear(hidden_size, hidden_size, bias=False) if score == "general" else None
        self.w_c = nn.Linear(2 * hidden_size, hidden_size, bias=False)

    def keys(self, enc: torch.Tensor) -> torch.Tensor:
        """What the queries are dotted with, computed once per source: ``W_a enc`` or ``enc`` (B, S, H)."""
        return self.w_a(enc) if self.w_a is not None else enc

    def forward(
        self, h: torch.Tensor, enc: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Attend from decoder outputs ``h`` (B, T, H); returns ``(pre (B, T, H), weights (B, T, S))``."""
        scores = torch.bmm(h, keys.transpose(1, 2))  # (B, T, S)
        weights = masked_softmax(scores, mask)  # (B, T, S)
        context = torch.bmm(weights.to(enc.dtype), enc)  # (B, T, H)
        pre = torch.tanh(self.w_c(torch.cat([context, h.to(context.dtype)], dim=-1)))  # (B, T, H)
        return pre, weights


class BahdanauAttention(nn.Module):
    """Additive attention queried with the previous decoder state, as in the seed code.

    ``score_j = v . tanh(W1 enc_j + W2 q)``; the context is concatenated to the embedded input of
    the next RNN step, so decoding runs one token at a time.

    Args:
        hidden_size: size ``H`` of decoder states and encoder features.

    Example:
        >>> att = BahdanauAttention(4)
        >>> enc, mask = torch.randn(2, 5, 4), torch.ones(2, 5, dtype=torch.bool)
        >>> context, weights = att(torch.randn(2, 4), enc, att.keys(enc), mask)
        >>> context.shape, weights.shape
        (torch.Size([2, 4]), torch.Size([2, 5]))
    """

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(hidden_size, hidden_size, bias=False)
        self.w2 = nn.Linear(hidden_size, hidden_size, bias=True)
        self.v = nn.Linear(hidden_size, 1, bias=False)

    def keys(self, enc: torch.Tensor) -> torch.Tensor:
        """``W1 enc`` (B, S, H), computed once per source."""
        return self.w1(enc)  # type: ignore[no-any-return]

    def forward(
        self, query: torch.Tensor, enc: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Attend from ``query`` (B, H); returns ``(context (B, H), weights (B, S))``."""
        scores = self.v(torch.tanh(keys + self.w2(query).unsqueeze(1))).squeeze(-1)  # (B, S)
        weights = masked_softmax(scores, mask)  # (B, S)
        context = torch.bmm(weights.to(enc.dtype).unsqueeze(1), enc).squeeze(1)  # (B, H)
        return context, weights
