"""Luong (multiplicative) attention, applied after the decoder RNN."""

from __future__ import annotations

import torch
from torch import nn

from lit_seq2seq.masked_softmax import masked_softmax
from seq2seq_fit.config import LUONG_SCORES, check_choice


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
        check_choice("LuongAttention", "score", score, LUONG_SCORES)
        self.score = score
        self.w_a = nn.Linear(hidden_size, hidden_size, bias=False) if score == "general" else None
        self.w_c = nn.Linear(2 * hidden_size, hidden_size, bias=False)

    def keys(self, enc: torch.Tensor) -> torch.Tensor:
        """What the queries are dotted with, computed once per source: ``W_a enc`` or ``enc`` (B, S, H)."""
        return self.w_a(enc) if self.w_a is not None else enc

    def forward(
        self, query: torch.Tensor, enc: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Attend from decoder outputs ``query`` (B, T, H); returns ``(pre (B, T, H), weights (B, T, S))``."""
        scores = torch.bmm(query, keys.transpose(1, 2))  # (B, T, S)
        weights = masked_softmax(scores, mask)  # (B, T, S)
        context = torch.bmm(weights.to(enc.dtype), enc)  # (B, T, H)
        pre = torch.tanh(self.w_c(torch.cat([context, query.to(context.dtype)], dim=-1)))  # (B, T, H)
        return pre, weights
