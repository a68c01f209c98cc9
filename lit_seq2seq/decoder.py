"""The decoder: embedding, stacked GRU/LSTM, optional attention, output projection."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from lit_seq2seq.bahdanau_attention import BahdanauAttention
from lit_seq2seq.encoder import make_rnn
from lit_seq2seq.luong_attention import LuongAttention
from seq2seq_fit.config import ATTENTIONS, CELLS, LUONG_SCORES, check_choice

#: Recurrent state: ``h`` (L, B, H) for a GRU, ``(h, c)`` for an LSTM.
State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


class Memory(NamedTuple):
    """What the decoder attends to, computed once per source batch (the same fields, in the same order, as
    ``keras_seq2seq.Memory``).

    Attributes:
        enc: encoder outputs (B, S, H), zero at padding.
        mask: True at real source positions (B, S).
        keys: attention keys (B, S, H) (``W_a enc``, ``enc`` or ``W1 enc``); ``None`` without attention. A
            Transformer's are every decoder layer's cross-attention keys and values (B, L, 2, NH, S, D).
    """

    enc: torch.Tensor
    mask: torch.Tensor
    keys: torch.Tensor | None

    def index_select(self, index: torch.Tensor) -> Memory:
        """The rows ``index`` of every field (beam search expands and reorders batches with it)."""
        keys = None if self.keys is None else self.keys.index_select(0, index)
        return Memory(self.enc.index_select(0, index), self.mask.index_select(0, index), keys)


def select_state(state: State, index: torch.Tensor) -> State:
    """Rows ``index`` of the batch axis (axis 1) of a GRU or LSTM state."""
    if isinstance(state, tuple):
        return (state[0].index_select(1, index), state[1].index_select(1, index))
    return state.index_select(1, index)


def run_rnn(rnn: nn.RNNBase, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
    """``rnn(x, state)`` with input and state in the autocast dtype when autocast is on.

    Under CPU bf16 autocast, PyTorch's oneDNN LSTM fails on float32 inputs (the embedding's
    output), so they are cast first; on CUDA this is the cast autocast would do anyway.
    """
    device = x.device.type
    if torch.is_autocast_enabled(device):
        dtype = torch.get_autocast_dtype(device)
        x = x.to(dtype)
        state = (state[0].to(dtype), state[1].to(dtype)) if isinstance(state, tuple) else state.to(dtype)
    return rnn(x, state)  # type: ignore[no-any-return]


def top_hidden(state: State) -> torch.Tensor:
    """The top layer's hidden state (B, H)."""
    h = state[0] if isinstance(state, tuple) else state
    return h[-1]


class Decoder(nn.Module):
    """Predicts the next target token from the previous one, the recurrent state and the source.

    ``luong`` and ``none`` decode a whole teacher-forced sequence with one RNN call; ``bahdanau``
    feeds the attention context into the recurrence and so steps one token at a time.

    Args:
        vocab_size: target vocabulary size.
        embedding_dim: target embedding size ``E``.
        hidden_size: RNN units ``H`` (equal to the encoder's output size).
        num_layers: stacked recurrent layers.
        cell: ``"gru"`` or ``"lstm"``.
        dropout: on embeddings, between layers and before the output layer.
        attention: ``"bahdanau"``, ``"luong"`` or ``"none"``.
        luong_score: ``"dot"`` or ``"general"``.
        tie_embeddings: output weight = embedding matrix (needs ``E == H``); the bias stays separate.

    Example:
        >>> dec = Decoder(12, embedding_dim=8, hidden_size=16, attention="none")
        >>> memory = Memory(torch.zeros(2, 3, 16), torch.ones(2, 3, dtype=torch.bool), None)
        >>> dec(torch.ones(2, 4, dtype=torch.long), torch.zeros(1, 2, 16), memory).shape
        torch.Size([2, 4, 12])
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int = 64,
        hidden_size: int = 128,
        num_layers: int = 1,
        cell: str = "gru",
        dropout: float = 0.0,
        attention: str = "luong",
        luong_score: str = "general",
        tie_embeddings: bool = False,
    ) -> None:
        super().__init__()
        check_choice("Decoder", "cell", cell, CELLS)
        check_choice("Decoder", "attention", attention, ATTENTIONS)
        check_choice("Decoder", "luong_score", luong_score, LUONG_SCORES)
        if tie_embeddings and embedding_dim != hidden_size:
            raise ValueError(
                f"Decoder.tie_embeddings: needs embedding_dim == hidden_size, got {embedding_dim} and {hidden_size}"
            )
        self.attention_kind = attention
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.dropout = nn.Dropout(dropout)
        rnn_input = embedding_dim + (hidden_size if attention == "bahdanau" else 0)
        self.rnn = make_rnn(cell, rnn_input, hidden_size, num_layers, dropout)
        self.attention: LuongAttention | BahdanauAttention | None
        if attention == "luong":
            self.attention = LuongAttention(hidden_size, luong_score)
        elif attention == "bahdanau":
            self.attention = BahdanauAttention(hidden_size)
        else:
            self.attention = None
        self.out = nn.Linear(hidden_size, vocab_size)
        if tie_embeddings:
            self.out.weight = self.embedding.weight

    @property
    def steps_one_at_a_time(self) -> bool:
        """True when the recurrence consumes the attention context (``bahdanau``)."""
        return self.attention_kind == "bahdanau"

    def keys(self, enc: torch.Tensor) -> torch.Tensor | None:
        """Attention keys for :class:`Memory` (``None`` without attention)."""
        return None if self.attention is None else self.attention.keys(enc)

    def forward(self, tokens: torch.Tensor, state: State, memory: Memory) -> torch.Tensor:
        """Logits (B, T, V) for decoder inputs ``tokens`` (B, T) given as a whole (teacher forcing or a
        parallel scheduled-sampling pass), from ``state``."""
        if self.steps_one_at_a_time:
            logits_steps = []
            for t in range(tokens.size(1)):
                logits_t, state, _ = self.step(tokens[:, t], state, memory)
                logits_steps.append(logits_t)
            return torch.stack(logits_steps, 1)  # (B, T, V)
        x = self.dropout(self.embedding(tokens))  # (B, T, E)
        h, _ = run_rnn(self.rnn, x, state)  # (B, T, H)
        pre, _ = self._after_rnn(h, memory)
        return self.out(self.dropout(pre))  # type: ignore[no-any-return]  # (B, T, V)

    def step(
        self, token: torch.Tensor, state: State, memory: Memory
    ) -> tuple[torch.Tensor, State, torch.Tensor | None]:
        """One decoding step from ``token`` (B,); returns ``(logits (B, V), state, weights (B, S) or None)``."""
        x = self.dropout(self.embedding(token))  # (B, E)
        weights: torch.Tensor | None = None
        if isinstance(self.attention, BahdanauAttention):
            assert memory.keys is not None
            context, weights = self.attention(top_hidden(state), memory.enc, memory.keys, memory.mask)  # (B, H)
            x = torch.cat([x, context.to(x.dtype)], dim=-1)  # (B, E + H)
            h, state = run_rnn(self.rnn, x.unsqueeze(1), state)  # (B, 1, H)
            pre = h[:, 0]  # (B, H)
        else:
            h, state = run_rnn(self.rnn, x.unsqueeze(1), state)  # (B, 1, H)
            pre_seq, w = self._after_rnn(h, memory)
            pre = pre_seq[:, 0]  # (B, H)
            weights = None if w is None else w[:, 0]
        return self.out(self.dropout(pre)), state, weights  # (B, V)

    def _after_rnn(self, h: torch.Tensor, memory: Memory) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Luong attention on RNN outputs ``h`` (B, T, H), or nothing."""
        if isinstance(self.attention, LuongAttention):
            assert memory.keys is not None
            return self.attention(h, memory.enc, memory.keys, memory.mask)
        return h, None
