"""Bahdanau (additive) attention, queried with the previous decoder state."""

from __future__ import annotations

import torch
from torch import nn

from lit_seq2seq.masked_softmax import masked_softmax


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
