"""The Transformer's layers: sinusoidal positions, multi-head attention, feed-forward, pre-LN blocks, encoder, decoder.

Plain ``nn.Module``s whose attribute paths are the canonical tensor names of a Transformer model
(``decoder.blocks.0.cross_attn.k.weight``...; :func:`seq2seq_fit.transformer_layout.transformer_canonical_shapes`
lists them). ``keras_seq2seq.transformer_layers`` holds the same layers at the same paths.

The decoder's incremental state is the self-attention cache ``(keys, values)``, each
``(L, B, NH, T, D)`` for the ``T`` positions decoded so far: the batch on axis 1, as an RNN state's,
so ``lit_seq2seq.decoder.select_state`` reorders it for the search.
"""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from lit_seq2seq.decoder import Memory, State

#: The self-attention cache of every decoder layer: ``(keys, values)``, each ``(L, B, NH, T, D)``.
Cache = tuple[torch.Tensor, torch.Tensor]


def sinusoidal_positions(
    length: int, width: int, offset: int = 0, device: torch.device | str | None = None
) -> torch.Tensor:
    """Positions ``offset .. offset + length - 1`` as float32 rows ``(length, width)``, for any length.

    ``P[t, 2j] = sin(t / 10000^(2j / width))`` and ``P[t, 2j + 1] = cos(t / 10000^(2j / width))``
    (Vaswani et al. 2017), computed on the fly: there is no table, so a model decodes past its
    longest training target.

    Example:
        >>> sinusoidal_positions(2, 4)
        tensor([[0.0000, 1.0000, 0.0000, 1.0000],
                [0.8415, 0.5403, 0.0100, 0.9999]])
    """
    t = torch.arange(offset, offset + length, dtype=torch.float32, device=device).unsqueeze(1)  # (T, 1)
    i = torch.arange(width, device=device)  # (W,)
    exponent = (2 * torch.div(i, 2, rounding_mode="floor")).to(torch.float32) / width  # (W,) 2j / W
    angle = t / torch.pow(10000.0, exponent)  # (T, W)
    return torch.where(i % 2 == 0, torch.sin(angle), torch.cos(angle))  # (T, W)


def causal_mask(queries: int, keys: int, device: torch.device) -> torch.Tensor:
    """True where query ``i`` (at position ``keys - queries + i``) may see key ``j``: ``(queries, keys)`` bool."""
    offset = keys - queries
    q = torch.arange(queries, device=device).unsqueeze(1)  # (Tq, 1)
    k = torch.arange(keys, device=device).unsqueeze(0)  # (1, Tk)
    return k <= q + offset  # (Tq, Tk)


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention over ``num_heads`` heads of width ``D = hidden_size // num_heads``.

    Scores ``q k^T / sqrt(D)`` and their softmax are computed in float32 and masked positions get
    float32's minimum, so the masks are safe under fp16 and bf16 autocast.

    Args:
        hidden_size: model width ``H`` (a multiple of ``num_heads``).
        num_heads: attention heads ``NH``.
        dropout: on the attention weights.

    Example:
        >>> attn = MultiHeadAttention(8, 2)
        >>> x = torch.zeros(1, 3, 8)
        >>> k, v = attn.project(x)
        >>> out, weights = attn(x, k, v, torch.ones(1, 1, 1, 3, dtype=torch.bool))
        >>> out.shape, weights.shape
        (torch.Size([1, 3, 8]), torch.Size([1, 2, 3, 3]))
    """

    def __init__(self, hidden_size: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(
                f"MultiHeadAttention.num_heads: got {num_heads} with hidden_size={hidden_size}; hidden_size must "
                "be a multiple of num_heads"
            )
        self.num_heads = num_heads
        self.head_size = hidden_size // num_heads
        self.q = nn.Linear(hidden_size, hidden_size)
        self.k = nn.Linear(hidden_size, hidden_size)
        self.v = nn.Linear(hidden_size, hidden_size)
        self.o = nn.Linear(hidden_size, hidden_size)
        self.dropout = nn.Dropout(dropout)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, H)`` -> ``(B, NH, T, D)``."""
        b, t, _ = x.shape
        return x.view(b, t, self.num_heads, self.head_size).transpose(1, 2)

    def project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values ``(B, NH, S, D)`` of ``x`` (B, S, H)."""
        return self.split_heads(self.k(x)), self.split_heads(self.v(x))

    def forward(
        self, x: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Attend from queries ``x`` (B, T, H) to ``keys``/``values`` (B, NH, S, D) where ``mask`` (broadcast to
        (B, NH, T, S)) is True; returns ``(output (B, T, H), float32 weights (B, NH, T, S))``."""
        q = self.split_heads(self.q(x))  # (B, NH, T, D)
        with torch.autocast(x.device.type, enabled=False):  # autocast would run the product in half precision
            scores = q.float() @ keys.float().transpose(-1, -2) / math.sqrt(self.head_size)  # (B, NH, T, S) float32
            scores = scores.masked_fill(~mask, torch.finfo(torch.float32).min)
            weights = F.softmax(scores, dim=-1)  # (B, NH, T, S) float32
        context = self.dropout(weights).to(values.dtype) @ values  # (B, NH, T, D)
        b, _, t, _ = context.shape
        out = self.o(context.transpose(1, 2).reshape(b, t, self.num_heads * self.head_size))  # (B, T, H)
        return out, weights


class FeedForward(nn.Module):
    """``w2(dropout(gelu(w1(x))))`` with the exact (erf) GELU.

    Example:
        >>> FeedForward(8, 32)(torch.zeros(2, 3, 8)).shape
        torch.Size([2, 3, 8])
    """

    def __init__(self, hidden_size: int, ffn_size: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.w1 = nn.Linear(hidden_size, ffn_size)
        self.w2 = nn.Linear(ffn_size, hidden_size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(self.dropout(F.gelu(self.w1(x))))  # type: ignore[no-any-return]  # (B, T, H)


class EncoderBlock(nn.Module):
    """Pre-LN encoder block: ``x + drop(self_attn(LN(x)))``, then ``x + drop(ffn(LN(x)))``.

    Example:
        >>> block = EncoderBlock(8, 2, 16)
        >>> block(torch.zeros(1, 3, 8), torch.ones(1, 1, 1, 3, dtype=torch.bool)).shape
        torch.Size([1, 3, 8])
    """

    def __init__(self, hidden_size: int, num_heads: int, ffn_size: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.self_attn_norm = nn.LayerNorm(hidden_size, eps=1e-5)
        self.self_attn = MultiHeadAttention(hidden_size, num_heads, dropout)
        self.ffn_norm = nn.LayerNorm(hidden_size, eps=1e-5)
        self.ffn = FeedForward(hidden_size, ffn_size, dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``x`` (B, S, H) attending where ``mask`` (B, 1, 1, S) is True."""
        h = self.self_attn_norm(x)
        k, v = self.self_attn.project(h)  # (B, NH, S, D)
        attended, _ = self.self_attn(h, k, v, mask)
        x = x + self.dropout(attended)
        return x + self.dropout(self.ffn(self.ffn_norm(x)))  # type: ignore[no-any-return]  # (B, S, H)


class DecoderBlock(nn.Module):
    """Pre-LN decoder block: causal self-attention (with a cache), cross-attention to the source, feed-forward.

    Example:
        >>> block = DecoderBlock(8, 2, 16)
        >>> empty = torch.zeros(1, 2, 0, 4)
        >>> memory_kv = torch.zeros(1, 2, 5, 4)
        >>> x, k, v, w = block(torch.zeros(1, 3, 8), empty, empty, memory_kv, memory_kv,
        ...                    torch.ones(1, 1, 1, 5, dtype=torch.bool))
        >>> x.shape, k.shape, w.shape
        (torch.Size([1, 3, 8]), torch.Size([1, 2, 3, 4]), torch.Size([1, 2, 3, 5]))
    """

    def __init__(self, hidden_size: int, num_heads: int, ffn_size: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.self_attn_norm = nn.LayerNorm(hidden_size, eps=1e-5)
        self.self_attn = MultiHeadAttention(hidden_size, num_heads, dropout)
        self.cross_attn_norm = nn.LayerNorm(hidden_size, eps=1e-5)
        self.cross_attn = MultiHeadAttention(hidden_size, num_heads, dropout)
        self.ffn_norm = nn.LayerNorm(hidden_size, eps=1e-5)
        self.ffn = FeedForward(hidden_size, ffn_size, dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        past_keys: torch.Tensor,
        past_values: torch.Tensor,
        cross_keys: torch.Tensor,
        cross_values: torch.Tensor,
        source_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """New positions ``x`` (B, T, H) after the ``P`` cached ones ``past_keys``/``past_values`` (B, NH, P, D).

        Returns:
            ``(x (B, T, H), keys (B, NH, P + T, D), values (B, NH, P + T, D), cross-attention weights
            (B, NH, T, S))``: the self-attention cache grows by the ``T`` new positions.
        """
        h = self.self_attn_norm(x)
        k, v = self.self_attn.project(h)  # (B, NH, T, D)
        keys = torch.cat([past_keys, k.to(past_keys.dtype)], dim=2)  # (B, NH, P + T, D)
        values = torch.cat([past_values, v.to(past_values.dtype)], dim=2)
        mask = causal_mask(x.size(1), keys.size(2), x.device)  # (T, P + T)
        attended, _ = self.self_attn(h, keys, values, mask)
        x = x + self.dropout(attended)
        crossed, weights = self.cross_attn(self.cross_attn_norm(x), cross_keys, cross_values, source_mask)
        x = x + self.dropout(crossed)
        x = x + self.dropout(self.ffn(self.ffn_norm(x)))  # (B, T, H)
        return x, keys, values, weights


class TokenInput(nn.Module):
    """``embed(tokens)``, projected to ``H`` when ``E != H``, times ``sqrt(H)``, plus positions, then dropout."""

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_size: int, dropout: float) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.in_proj = nn.Linear(embedding_dim, hidden_size, bias=False) if embedding_dim != hidden_size else None
        self.dropout = nn.Dropout(dropout)

    def embed(self, tokens: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """``tokens`` (B, T) at positions ``offset ..`` -> (B, T, H)."""
        x = self.embedding(tokens)  # (B, T, E)
        if self.in_proj is not None:
            x = self.in_proj(x)  # (B, T, H)
        positions = sinusoidal_positions(tokens.size(1), self.hidden_size, offset, tokens.device)  # (T, H)
        return self.dropout(x * math.sqrt(self.hidden_size) + positions.to(x.dtype))  # type: ignore[no-any-return]


class TransformerEncoder(TokenInput):
    """Source ids ``(B, S)`` -> features ``(B, S, H)``: embedding, pre-LN blocks, a final LayerNorm.

    Args:
        vocab_size: source vocabulary size.
        embedding_dim: token embedding size ``E`` (projected to ``hidden_size`` when different).
        hidden_size: model width ``H``.
        num_layers: encoder blocks.
        num_heads: attention heads.
        ffn_size: feed-forward width.
        dropout: on the embedded input, attention weights, the feed-forward's hidden layer and each residual branch.

    Example:
        >>> enc = TransformerEncoder(10, 8, 8, num_layers=1, num_heads=2, ffn_size=16)
        >>> enc(torch.tensor([[4, 5, 0]]), torch.tensor([[True, True, False]])).shape
        torch.Size([1, 3, 8])
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        hidden_size: int,
        num_layers: int,
        num_heads: int,
        ffn_size: int,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(vocab_size, embedding_dim, hidden_size, dropout)
        self.blocks = nn.ModuleList(EncoderBlock(hidden_size, num_heads, ffn_size, dropout) for _ in range(num_layers))
        self.norm = nn.LayerNorm(hidden_size, eps=1e-5)

    def forward(self, source: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Features (B, S, H) of ``source`` (B, S); positions where ``mask`` (B, S) is False are not attended to."""
        x = self.embed(source)  # (B, S, H)
        attend = mask[:, None, None, :]  # (B, 1, 1, S)
        for block in self.blocks:
            x = block(x, attend)
        return self.norm(x)  # type: ignore[no-any-return]  # (B, S, H)


class TransformerDecoder(TokenInput):
    """Next-token logits from the previous target tokens and the encoded source, whole or one step at a time.

    :meth:`forward` runs a whole teacher-forced (or parallel scheduled-sampling) input; :meth:`step`
    decodes one token with the self-attention cache and gives the same logits at that position.

    Args:
        vocab_size: target vocabulary size.
        embedding_dim, hidden_size, num_layers, num_heads, ffn_size, dropout: as :class:`TransformerEncoder`.
        tie_embeddings: the output weight is the embedding matrix (needs ``E == H``); the bias stays separate.

    Example:
        >>> dec = TransformerDecoder(12, 8, 8, num_layers=1, num_heads=2, ffn_size=16)
        >>> enc = torch.zeros(2, 3, 8)
        >>> memory = Memory(enc, torch.ones(2, 3, dtype=torch.bool), dec.keys(enc))
        >>> dec(torch.ones(2, 4, dtype=torch.long), dec.initial_state(memory), memory).shape
        torch.Size([2, 4, 12])
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        hidden_size: int,
        num_layers: int,
        num_heads: int,
        ffn_size: int,
        dropout: float = 0.0,
        tie_embeddings: bool = False,
    ) -> None:
        super().__init__(vocab_size, embedding_dim, hidden_size, dropout)
        if tie_embeddings and embedding_dim != hidden_size:
            raise ValueError(
                f"TransformerDecoder.tie_embeddings: needs embedding_dim == hidden_size, got {embedding_dim} and "
                f"{hidden_size}"
            )
        self.num_heads = num_heads
        self.blocks = nn.ModuleList(DecoderBlock(hidden_size, num_heads, ffn_size, dropout) for _ in range(num_layers))
        self.norm = nn.LayerNorm(hidden_size, eps=1e-5)
        self.out = nn.Linear(hidden_size, vocab_size)
        if tie_embeddings:
            self.out.weight = self.embedding.weight

    @property
    def steps_one_at_a_time(self) -> bool:
        """False: a whole teacher-forced input is one call (as ``Decoder.steps_one_at_a_time`` for ``luong``)."""
        return False

    def keys(self, enc: torch.Tensor) -> torch.Tensor:
        """Every layer's cross-attention keys and values of ``enc`` (B, S, H), computed once per source:
        ``(B, L, 2, NH, S, D)`` (:attr:`Memory.keys`; the batch first, so ``Memory.index_select`` reorders it)."""
        blocks = cast(list[DecoderBlock], list(self.blocks))
        pairs = [torch.stack(block.cross_attn.project(enc), 1) for block in blocks]  # L x (B, 2, NH, S, D)
        return torch.stack(pairs, 1)  # (B, L, 2, NH, S, D)

    def initial_state(self, memory: Memory) -> Cache:
        """The empty self-attention cache ``(L, B, NH, 0, D)`` twice, in the dtype of ``memory.keys``."""
        assert memory.keys is not None
        b, layers, _, heads, _, d = memory.keys.shape
        empty = memory.keys.new_zeros(layers, b, heads, 0, d)
        return empty, empty

    def forward(self, tokens: torch.Tensor, state: State, memory: Memory) -> torch.Tensor:
        """Logits (B, T, V) for decoder inputs ``tokens`` (B, T) given as a whole, after the cached ``state``
        (:meth:`initial_state` for a whole sequence)."""
        logits, _, _ = self.run(tokens, state, memory)
        return logits

    def step(self, token: torch.Tensor, state: State, memory: Memory) -> tuple[torch.Tensor, Cache, torch.Tensor]:
        """One decoding step from ``token`` (B,) after the cached ``state``.

        Returns:
            ``(logits (B, V), state grown by one position, cross-attention weights (B, S))``: the
            weights are the last layer's, averaged over heads.
        """
        logits, state, weights = self.run(token.unsqueeze(1), state, memory)
        return logits[:, 0], state, weights[:, 0]

    def run(self, tokens: torch.Tensor, state: State, memory: Memory) -> tuple[torch.Tensor, Cache, torch.Tensor]:
        """``tokens`` (B, T) at positions ``P .. P + T - 1`` after the ``P`` cached ones; returns ``(logits
        (B, T, V), the cache of all ``P + T`` positions, the last layer's head-mean cross-attention (B, T, S))``."""
        if memory.keys is None or not isinstance(state, tuple):
            raise TypeError("TransformerDecoder: expected the memory and cache of Transformer.encode")
        past_keys, past_values = state  # (L, B, NH, P, D)
        x = self.embed(tokens, offset=past_keys.size(3))  # (B, T, H)
        source_mask = memory.mask[:, None, None, :]  # (B, 1, 1, S)
        new_keys, new_values = [], []
        weights = x.new_zeros(0)
        for i, block in enumerate(self.blocks):
            cross = memory.keys[:, i]  # (B, 2, NH, S, D)
            x, k, v, weights = block(x, past_keys[i], past_values[i], cross[:, 0], cross[:, 1], source_mask)
            new_keys.append(k)
            new_values.append(v)
        logits = self.out(self.norm(x))  # (B, T, V)
        return logits, (torch.stack(new_keys), torch.stack(new_values)), weights.mean(1)  # (B, T, S)


__all__ = [
    "Cache",
    "DecoderBlock",
    "EncoderBlock",
    "FeedForward",
    "MultiHeadAttention",
    "TransformerDecoder",
    "TransformerEncoder",
    "sinusoidal_positions",
]
