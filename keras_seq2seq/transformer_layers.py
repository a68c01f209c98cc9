"""The layers of the pre-layer-norm Transformer encoder-decoder (docs/architecture.md), as registered Keras layers.

Every layer owns its weights in the sub-layers the PyTorch side names the same way
(``self_attn.q``, ``ffn.w1``, ``self_attn_norm``...), so the canonical weights map onto them by
attribute path (:mod:`seq2seq_fit.transformer_layout`). Dropout draws from each layer's own
``SeedGenerator``; the decoder's cached :meth:`TransformerDecoder.step` also takes masks drawn
before a compiled loop starts (``noise``), as the recurrent decoder's step does.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

import keras
from keras import ops
from seq2seq_fit.vocab import PAD_ID

#: Score of a masked attention position: the float32 minimum, finite in every compute dtype because
#: the scores and the softmax are float32.
MASK_SCORE = float(np.finfo(np.float32).min)
#: LayerNorm epsilon of both frameworks (PyTorch's default).
NORM_EPSILON = 1e-5


def sinusoidal_positions(positions: Any, width: int) -> Any:
    """Sinusoidal position vectors of any ``positions`` (..., float or int): ``(..., width)`` float32.

    ``P[t, 2j] = sin(t / 10000^(2j / width))`` and ``P[t, 2j + 1] = cos(t / 10000^(2j / width))``,
    computed for the positions given, so there is no table and no longest length.

    Example:
        >>> p = ops.convert_to_numpy(sinusoidal_positions(np.arange(3), 4))
        >>> p.shape, p[0].tolist(), round(float(p[2, 2]), 6) == round(float(np.sin(2 / 100)), 6)
        ((3, 4), [0.0, 1.0, 0.0, 1.0], True)
    """
    column = np.arange(width)
    inverse = ops.convert_to_tensor((1.0 / 10000.0 ** (2 * (column // 2) / width)).astype("float32"))  # (W,)
    angles = ops.expand_dims(ops.cast(positions, "float32"), -1) * inverse  # (..., W)
    return ops.where(ops.convert_to_tensor(column % 2 == 0), ops.sin(angles), ops.cos(angles))


def linear(units: int, *, name: str, dtype: Any, use_bias: bool = True) -> keras.layers.Dense:
    """A ``Dense`` layer initialised as the Transformer's linears on both sides: Xavier-uniform, zero bias."""
    return keras.layers.Dense(
        units, use_bias=use_bias, kernel_initializer="glorot_uniform", bias_initializer="zeros", dtype=dtype, name=name
    )


def layer_norm(name: str, dtype: Any) -> keras.layers.LayerNormalization:
    """A ``LayerNormalization`` over the last axis with PyTorch's epsilon (ones and zeros at the start)."""
    return keras.layers.LayerNormalization(epsilon=NORM_EPSILON, dtype=dtype, name=name)


def build_once(layer: keras.layers.Layer, input_shape: Any = None) -> None:
    """Build ``layer`` unless it is built (a layer used before its parent, e.g. by ``project``, is)."""
    if not layer.built:
        layer.build(input_shape)


def sub_seed(seed: int | None, offset: int) -> int | None:
    """The seed of a sub-layer's ``SeedGenerator`` (``None`` stays ``None``: a random seed)."""
    return None if seed is None else seed + offset


class DecoderCache(NamedTuple):
    """The decoder's incremental state: every layer's self-attention keys and values so far, and the position.

    The keys and values have room for ``C`` positions (the capacity); a step writes row ``b``'s new
    key and value at ``position[b]`` and attends over the positions ``<= position[b]``, so the
    arrays keep one shape while a compiled loop runs. :func:`grow_cache` makes room for more.

    Attributes:
        keys: per layer ``(B, NH, C, D)``.
        values: per layer ``(B, NH, C, D)``.
        position: ``(B,)`` int32, the position of the next token (``<bos>`` is 0).
    """

    keys: list[Any]
    values: list[Any]
    position: Any


def empty_cache(batch: Any, capacity: Any, num_layers: int, num_heads: int, head_size: int, dtype: Any) -> DecoderCache:
    """A cache of zeros with room for ``capacity`` positions, at position 0."""
    zeros = [ops.zeros((batch, num_heads, capacity, head_size), dtype) for _ in range(2 * num_layers)]
    return DecoderCache(zeros[:num_layers], zeros[num_layers:], ops.zeros((batch,), "int32"))


def grow_cache(cache: DecoderCache, capacity: int) -> DecoderCache:
    """``cache`` with room for ``capacity`` positions (zeros appended; never shrinks)."""
    extra = capacity - int(cache.keys[0].shape[2])
    if extra <= 0:
        return cache

    def grow(x: Any) -> Any:
        pad = ops.zeros((ops.shape(x)[0], ops.shape(x)[1], extra, ops.shape(x)[3]), x.dtype)
        return ops.concatenate([x, pad], axis=2)  # (B, NH, C + extra, D)

    return DecoderCache([grow(k) for k in cache.keys], [grow(v) for v in cache.values], cache.position)


def dropout_mask(shape: Any, rate: float, seed: Any, dtype: Any) -> Any:
    """A dropout mask of ``shape`` (zeros and ``1 / (1 - rate)``), for a step loop that cannot draw inside."""
    return keras.random.dropout(ops.ones(shape, dtype), rate, seed=seed)


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class MultiHeadAttention(keras.layers.Layer):
    """Scaled dot-product attention over ``num_heads`` heads of width ``D = hidden_size // num_heads``.

    ``q, k, v, o`` are ``Dense(hidden_size)`` with bias. Scores ``q k^T / sqrt(D)`` and the softmax
    run in float32, masked positions get the float32 minimum, the weights (after dropout) come back
    in the compute dtype. Keys and values come from :meth:`keys` (once per source for
    cross-attention, or written into a :class:`DecoderCache` one step at a time).

    Args:
        hidden_size: ``H``, model width.
        num_heads: ``NH`` (must divide ``H``).
        dropout: dropout on the attention weights.
        seed: seed of the dropout ``SeedGenerator``.
        **kwargs: passed to ``keras.layers.Layer``.

    Example:
        >>> att = MultiHeadAttention(8, 2)
        >>> x = np.ones((2, 3, 8), "float32")
        >>> k, v = att.project(x)
        >>> out, weights = att(x, k, v, np.ones((2, 1, 1, 3), bool))
        >>> tuple(out.shape), tuple(weights.shape), tuple(k.shape)
        ((2, 3, 8), (2, 2, 3, 3), (2, 2, 3, 4))
    """

    def __init__(
        self, hidden_size: int, num_heads: int, dropout: float = 0.0, *, seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if hidden_size % num_heads:
            raise ValueError(
                f"MultiHeadAttention.num_heads: got {num_heads} with hidden_size={hidden_size}; "
                "hidden_size must be a multiple of num_heads"
            )
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.head_size = hidden_size // num_heads
        self.dropout = dropout
        self.seed = seed
        policy = self.dtype_policy
        self.q, self.k, self.v, self.o = (linear(hidden_size, name=n, dtype=policy) for n in "qkvo")
        self.seed_generator = keras.random.SeedGenerator(seed, name="dropout_seed")

    def build(self, input_shape: Any = None) -> None:
        for layer in (self.q, self.k, self.v, self.o):
            build_once(layer, (None, self.hidden_size))
        self.built = True

    def split_heads(self, x: Any) -> Any:
        """``(B, T, H)`` -> ``(B, NH, T, D)``."""
        batch, time = ops.shape(x)[0], ops.shape(x)[1]
        return ops.transpose(ops.reshape(x, (batch, time, self.num_heads, self.head_size)), (0, 2, 1, 3))

    def project(self, x: Any) -> tuple[Any, Any]:
        """The keys and values of ``x`` (B, S, H), split into heads: ``(k, v)``, each ``(B, NH, S, D)``."""
        if not self.built:  # called before the layer itself: build once, here
            self.build()
        return self.split_heads(self.k(x)), self.split_heads(self.v(x))

    def call(
        self, x: Any, keys: Any, values: Any, mask: Any, training: bool = False, *, noise: Any = None
    ) -> tuple[Any, Any]:
        """Attend from queries ``x`` (B, T, H) to ``keys``/``values`` (B, NH, S, D) where ``mask`` (broadcastable to
        (B, NH, T, S), bool) is true; returns ``(output (B, T, H), weights (B, NH, T, S))`` (the weights before
        dropout). ``noise``: a dropout mask of the weights' shape, used instead of drawing one."""
        q = self.split_heads(self.q(x))  # (B, NH, T, D)
        scores = ops.matmul(ops.cast(q, "float32"), ops.transpose(ops.cast(keys, "float32"), (0, 1, 3, 2)))
        scores = scores / math.sqrt(self.head_size)  # (B, NH, T, S)
        scores = ops.where(mask, scores, ops.full_like(scores, MASK_SCORE))
        weights = ops.cast(ops.softmax(scores, axis=-1), self.compute_dtype)  # (B, NH, T, S)
        dropped = weights
        if noise is not None:
            dropped = weights * ops.cast(noise, weights.dtype)
        elif training and self.dropout > 0.0:
            dropped = keras.random.dropout(weights, self.dropout, seed=self.seed_generator)
        out = ops.matmul(dropped, values)  # (B, NH, T, D)
        batch, time = ops.shape(out)[0], ops.shape(out)[2]
        out = ops.reshape(ops.transpose(out, (0, 2, 1, 3)), (batch, time, self.hidden_size))  # (B, T, H)
        return self.o(out), weights

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {"hidden_size": self.hidden_size, "num_heads": self.num_heads, "dropout": self.dropout, "seed": self.seed}
        )
        return config


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class FeedForward(keras.layers.Layer):
    """The position-wise feed-forward net ``w2(dropout(gelu(w1 x)))`` with the exact (erf) GELU.

    Args:
        hidden_size: ``H``, input and output width.
        ffn_size: ``F``, inner width.
        dropout: dropout on the inner activations.
        seed: seed of the dropout ``SeedGenerator``.
        **kwargs: passed to ``keras.layers.Layer``.

    Example:
        >>> tuple(FeedForward(4, 16)(np.ones((2, 3, 4), "float32")).shape)
        (2, 3, 4)
    """

    def __init__(
        self, hidden_size: int, ffn_size: int, dropout: float = 0.0, *, seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.hidden_size = hidden_size
        self.ffn_size = ffn_size
        self.dropout = dropout
        self.seed = seed
        policy = self.dtype_policy
        self.w1 = linear(ffn_size, name="w1", dtype=policy)
        self.w2 = linear(hidden_size, name="w2", dtype=policy)
        self.seed_generator = keras.random.SeedGenerator(seed, name="dropout_seed")

    def build(self, input_shape: Any = None) -> None:
        build_once(self.w1, (None, self.hidden_size))
        build_once(self.w2, (None, self.ffn_size))
        self.built = True

    def call(self, x: Any, training: bool = False, *, noise: Any = None) -> Any:
        """``x`` (..., H) -> (..., H); ``noise``: a dropout mask of the inner activations' shape."""
        inner = ops.gelu(self.w1(x), approximate=False)  # (..., F)
        if noise is not None:
            inner = inner * ops.cast(noise, inner.dtype)
        elif training and self.dropout > 0.0:
            inner = keras.random.dropout(inner, self.dropout, seed=self.seed_generator)
        return self.w2(inner)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {"hidden_size": self.hidden_size, "ffn_size": self.ffn_size, "dropout": self.dropout, "seed": self.seed}
        )
        return config


class Residual:
    """Dropout on a residual branch: a given mask, else a fresh draw while training, else nothing."""

    def __init__(self, rate: float, seed: keras.random.SeedGenerator) -> None:
        self.rate = rate
        self.seed = seed

    def __call__(self, x: Any, training: bool, noise: Any = None) -> Any:
        if noise is not None:
            return x * ops.cast(noise, x.dtype)
        if training and self.rate > 0.0:
            return keras.random.dropout(x, self.rate, seed=self.seed)
        return x


class Block(keras.layers.Layer):
    """What :class:`EncoderBlock` and :class:`DecoderBlock` keep the same way: their sizes and config (no weights).

    Args:
        hidden_size: ``H``.
        num_heads: attention heads.
        ffn_size: feed-forward width.
        dropout: on the residual branches, the attention weights and the feed-forward activations.
        seed: seed of its ``SeedGenerator`` s (the sub-layers take the next ones).
        **kwargs: passed to ``keras.layers.Layer``.
    """

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        ffn_size: int,
        dropout: float = 0.0,
        *,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.ffn_size = ffn_size
        self.dropout = dropout
        self.seed = seed

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "hidden_size": self.hidden_size,
                "num_heads": self.num_heads,
                "ffn_size": self.ffn_size,
                "dropout": self.dropout,
                "seed": self.seed,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class EncoderBlock(Block):
    """One pre-layer-norm encoder block: ``x + drop(self_attn(LN(x)))``, then ``x + drop(ffn(LN(x)))``.

    Args:
        hidden_size: ``H``.
        num_heads: attention heads.
        ffn_size: feed-forward width.
        dropout: on the residual branches, the attention weights and the feed-forward activations.
        seed: seed of its ``SeedGenerator`` s (the sub-layers take the next ones).
        **kwargs: passed to ``keras.layers.Layer``.

    Example:
        >>> block = EncoderBlock(8, 2, 16)
        >>> tuple(block(np.ones((2, 3, 8), "float32"), np.ones((2, 3), bool)).shape)
        (2, 3, 8)
    """

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        ffn_size: int,
        dropout: float = 0.0,
        *,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(hidden_size, num_heads, ffn_size, dropout, seed=seed, **kwargs)
        policy = self.dtype_policy
        self.self_attn_norm = layer_norm("self_attn_norm", policy)
        self.self_attn = MultiHeadAttention(
            hidden_size, num_heads, dropout, seed=sub_seed(seed, 1), dtype=policy, name="self_attn"
        )
        self.ffn_norm = layer_norm("ffn_norm", policy)
        self.ffn = FeedForward(hidden_size, ffn_size, dropout, seed=sub_seed(seed, 2), dtype=policy, name="ffn")
        self.seed_generator = keras.random.SeedGenerator(seed, name="dropout_seed")
        self.residual = Residual(dropout, self.seed_generator)

    def build(self, input_shape: Any = None) -> None:
        for norm in (self.self_attn_norm, self.ffn_norm):
            build_once(norm, (None, self.hidden_size))
        build_once(self.self_attn)
        build_once(self.ffn)
        self.built = True

    def call(self, x: Any, mask: Any, training: bool = False) -> Any:
        """``x`` (B, S, H) with the source ``mask`` (B, S) (true at real tokens) -> (B, S, H)."""
        h = self.self_attn_norm(x)
        k, v = self.self_attn.project(h)  # (B, NH, S, D)
        attended, _ = self.self_attn(h, k, v, ops.expand_dims(ops.expand_dims(mask, 1), 1), training=training)
        x = x + self.residual(attended, training)
        return x + self.residual(self.ffn(self.ffn_norm(x), training=training), training)


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class DecoderBlock(Block):
    """One pre-layer-norm decoder block: causal self-attention, cross-attention to the encoder, feed-forward,
    each as ``x + drop(sublayer(LN(x)))``.

    :meth:`call` runs a whole target (causal mask); :meth:`step` runs one position against a
    :class:`DecoderCache` layer's keys and values, with the same numbers.

    Args:
        hidden_size: ``H``.
        num_heads: attention heads.
        ffn_size: feed-forward width.
        dropout: on the residual branches, the attention weights and the feed-forward activations.
        seed: seed of its ``SeedGenerator`` s (the sub-layers take the next ones).
        **kwargs: passed to ``keras.layers.Layer``.

    Example:
        >>> block = DecoderBlock(8, 2, 16)
        >>> enc = np.ones((2, 4, 8), "float32")
        >>> x, weights = block(np.ones((2, 3, 8), "float32"), block.cross_attn.project(enc), np.ones((2, 4), bool))
        >>> tuple(x.shape), tuple(weights.shape)
        ((2, 3, 8), (2, 2, 3, 4))
    """

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        ffn_size: int,
        dropout: float = 0.0,
        *,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(hidden_size, num_heads, ffn_size, dropout, seed=seed, **kwargs)
        policy = self.dtype_policy
        self.self_attn_norm = layer_norm("self_attn_norm", policy)
        self.self_attn = MultiHeadAttention(
            hidden_size, num_heads, dropout, seed=sub_seed(seed, 1), dtype=policy, name="self_attn"
        )
        self.cross_attn_norm = layer_norm("cross_attn_norm", policy)
        self.cross_attn = MultiHeadAttention(
            hidden_size, num_heads, dropout, seed=sub_seed(seed, 2), dtype=policy, name="cross_attn"
        )
        self.ffn_norm = layer_norm("ffn_norm", policy)
        self.ffn = FeedForward(hidden_size, ffn_size, dropout, seed=sub_seed(seed, 3), dtype=policy, name="ffn")
        self.seed_generator = keras.random.SeedGenerator(seed, name="dropout_seed")
        self.residual = Residual(dropout, self.seed_generator)

    def build(self, input_shape: Any = None) -> None:
        for norm in (self.self_attn_norm, self.cross_attn_norm, self.ffn_norm):
            build_once(norm, (None, self.hidden_size))
        for layer in (self.self_attn, self.cross_attn, self.ffn):
            build_once(layer)
        self.built = True

    def call(self, x: Any, cross: tuple[Any, Any], mask: Any, training: bool = False) -> tuple[Any, Any]:
        """``x`` (B, T, H), the cross-attention keys and values ``cross`` (each (B, NH, S, D)) and the source
        ``mask`` (B, S) -> ``(x (B, T, H), cross-attention weights (B, NH, T, S))``."""
        time = ops.shape(x)[1]
        steps = ops.arange(time, dtype="int32")
        causal = ops.expand_dims(steps, 1) >= ops.expand_dims(steps, 0)  # (T, T): query t sees keys <= t
        h = self.self_attn_norm(x)
        k, v = self.self_attn.project(h)  # (B, NH, T, D)
        attended, _ = self.self_attn(h, k, v, causal, training=training)
        x = x + self.residual(attended, training)
        source_mask = ops.expand_dims(ops.expand_dims(mask, 1), 1)  # (B, 1, 1, S)
        attended, weights = self.cross_attn(self.cross_attn_norm(x), cross[0], cross[1], source_mask, training=training)
        x = x + self.residual(attended, training)
        return x + self.residual(self.ffn(self.ffn_norm(x), training=training), training), weights

    def step(
        self,
        x: Any,
        keys: Any,
        values: Any,
        position: Any,
        cross: tuple[Any, Any],
        mask: Any,
        noise: dict[str, Any] | None = None,
        training: bool = False,
    ) -> tuple[Any, Any, Any, Any]:
        """One position: ``x`` (B, H) at ``position`` (B,), this layer's cached ``keys``/``values``
        (B, NH, C, D), the cross-attention keys and values and the source ``mask`` (B, S).

        Returns:
            ``(x (B, H), keys, values, cross-attention weights (B, NH, S))``, the new key and value
            written at ``position``.
        """
        h = ops.expand_dims(self.self_attn_norm(x), 1)  # (B, 1, H)
        k_new, v_new = self.self_attn.project(h)  # (B, NH, 1, D)
        capacity = ops.shape(keys)[2]
        slots = ops.expand_dims(ops.arange(capacity, dtype="int32"), 0)  # (1, C)
        position = ops.expand_dims(ops.cast(position, "int32"), 1)  # (B, 1)
        here = ops.expand_dims(ops.expand_dims(ops.equal(slots, position), 1), -1)  # (B, 1, C, 1)
        keys = ops.where(here, ops.cast(k_new, keys.dtype), keys)  # (B, NH, C, D)
        values = ops.where(here, ops.cast(v_new, values.dtype), values)
        seen = ops.expand_dims(ops.expand_dims(slots <= position, 1), 1)  # (B, 1, 1, C)
        n = noise or {}
        attended, _ = self.self_attn(h, keys, values, seen, training=training, noise=n.get("self_attn"))  # (B, 1, H)
        x = x + self.residual(ops.squeeze(attended, 1), training, n.get("self_residual"))
        source_mask = ops.expand_dims(ops.expand_dims(mask, 1), 1)  # (B, 1, 1, S)
        h = ops.expand_dims(self.cross_attn_norm(x), 1)  # (B, 1, H)
        attended, weights = self.cross_attn(
            h, cross[0], cross[1], source_mask, training=training, noise=n.get("cross_attn")
        )
        x = x + self.residual(ops.squeeze(attended, 1), training, n.get("cross_residual"))
        ffn = self.ffn(self.ffn_norm(x), training=training, noise=n.get("ffn"))  # (B, H)
        x = x + self.residual(ffn, training, n.get("ffn_residual"))
        return x, keys, values, ops.squeeze(weights, 2)

    def step_noise(self, batch: Any, time: Any, capacity: Any, source: Any) -> dict[str, Any]:
        """Dropout masks for ``time`` steps of :meth:`step` (time-major, leading axis ``T``), drawn before a
        compiled loop: the sites of :meth:`step` by name."""
        h, nh, dtype = self.hidden_size, self.num_heads, self.compute_dtype
        return {
            "self_attn": dropout_mask(
                (time, batch, nh, 1, capacity), self.dropout, self.self_attn.seed_generator, dtype
            ),
            "self_residual": dropout_mask((time, batch, h), self.dropout, self.seed_generator, dtype),
            "cross_attn": dropout_mask(
                (time, batch, nh, 1, source), self.dropout, self.cross_attn.seed_generator, dtype
            ),
            "cross_residual": dropout_mask((time, batch, h), self.dropout, self.seed_generator, dtype),
            "ffn": dropout_mask((time, batch, self.ffn_size), self.dropout, self.ffn.seed_generator, dtype),
            "ffn_residual": dropout_mask((time, batch, h), self.dropout, self.seed_generator, dtype),
        }


class TokenEmbedding:
    """Shared by both stacks: ``embed(tokens)``, ``in_proj`` when ``E != H``, ``* sqrt(H)``, plus positions."""

    hidden_size: int
    embedding: keras.layers.Embedding
    in_proj: keras.layers.Dense | None

    def embed(self, tokens: Any, positions: Any) -> Any:
        """Token ids (...) at ``positions`` (broadcastable to them) -> (..., H) before dropout."""
        x = self.embedding(tokens)  # (..., E)
        if self.in_proj is not None:
            x = self.in_proj(x)  # (..., H)
        scale = ops.cast(math.sqrt(self.hidden_size), x.dtype)
        return x * scale + ops.cast(sinusoidal_positions(positions, self.hidden_size), x.dtype)

    def add_token_input(self, vocab_size: int, embedding_dim: int, hidden_size: int, policy: Any) -> None:
        """Create ``embedding`` and, when ``E != H``, ``in_proj`` (without bias)."""
        self.embedding = token_embedding(vocab_size, embedding_dim, hidden_size, policy)
        self.in_proj = (
            None if embedding_dim == hidden_size else linear(hidden_size, name="in_proj", dtype=policy, use_bias=False)
        )

    def build_token_input(self, embedding_dim: int) -> None:
        """Build ``embedding`` and ``in_proj``."""
        self.embedding.build((None, None))
        if self.in_proj is not None:
            self.in_proj.build((None, embedding_dim))

    def embed_sequence(self, tokens: Any, rate: float, seed: Any, training: bool) -> Any:
        """Token ids (B, T) from position 0 -> (B, T, H), with dropout at ``rate`` from ``seed`` when training."""
        x = self.embed(tokens, ops.arange(ops.shape(tokens)[1], dtype="int32"))  # (B, T, H)
        if training and rate > 0.0:
            x = keras.random.dropout(x, rate, seed=seed)
        return x


def token_embedding(vocab_size: int, embedding_dim: int, hidden_size: int, dtype: Any) -> keras.layers.Embedding:
    """An ``Embedding`` drawn from ``N(0, H^-0.5)`` (both frameworks' Transformer initialisation)."""
    init = keras.initializers.RandomNormal(0.0, hidden_size**-0.5)
    return keras.layers.Embedding(vocab_size, embedding_dim, embeddings_initializer=init, dtype=dtype, name="embedding")


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class TransformerEncoder(TokenEmbedding, keras.layers.Layer):
    """Source embedding with sinusoidal positions, ``num_layers`` :class:`EncoderBlock` s and a final LayerNorm.

    Args:
        vocab_size: source vocabulary size.
        embedding_dim: ``E`` (projected to ``H`` by ``in_proj``, without bias, when they differ).
        hidden_size: ``H``, model width.
        num_layers: blocks.
        num_heads: attention heads.
        ffn_size: feed-forward width.
        dropout: on the embeddings and inside every block.
        seed: seed of its ``SeedGenerator`` s (the blocks take the next ones).
        **kwargs: passed to ``keras.layers.Layer``.

    Returns (from ``call(source)``): the encoder outputs ``(B, S, H)``.

    Example:
        >>> enc = TransformerEncoder(10, 4, 8, num_layers=1, num_heads=2, ffn_size=16)
        >>> tuple(enc(np.array([[4, 5, 0]])).shape)
        (1, 3, 8)
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
        *,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.ffn_size = ffn_size
        self.dropout = dropout
        self.seed = seed
        policy = self.dtype_policy
        self.add_token_input(vocab_size, embedding_dim, hidden_size, policy)
        self.blocks = [
            EncoderBlock(
                hidden_size,
                num_heads,
                ffn_size,
                dropout,
                seed=sub_seed(seed, 1 + 3 * i),
                dtype=policy,
                name=f"blocks_{i}",
            )
            for i in range(num_layers)
        ]
        self.norm = layer_norm("norm", policy)
        self.seed_generator = keras.random.SeedGenerator(seed, name="dropout_seed")

    def build(self, input_shape: Any = None) -> None:
        self.build_token_input(self.embedding_dim)
        for block in self.blocks:
            build_once(block)
        self.norm.build((None, self.hidden_size))
        self.built = True

    def call(self, source: Any, training: bool = False) -> Any:
        """Source ids (B, S), ``<pad>`` = 0 masked -> encoder outputs (B, S, H)."""
        source = ops.cast(source, "int32")
        mask = ops.not_equal(source, PAD_ID)  # (B, S)
        x = self.embed_sequence(source, self.dropout, self.seed_generator, training)  # (B, S, H)
        for block in self.blocks:
            x = block(x, mask, training=training)
        return self.norm(x)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "vocab_size": self.vocab_size,
                "embedding_dim": self.embedding_dim,
                "hidden_size": self.hidden_size,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "ffn_size": self.ffn_size,
                "dropout": self.dropout,
                "seed": self.seed,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class TransformerDecoder(TokenEmbedding, keras.layers.Layer):
    """Target embedding with sinusoidal positions, ``num_layers`` :class:`DecoderBlock` s, a final LayerNorm and
    the output layer; whole targets (:meth:`call`) or one cached step at a time (:meth:`step`).

    Args:
        vocab_size: target vocabulary size ``V``.
        embedding_dim: ``E`` (projected to ``H`` by ``in_proj``, without bias, when they differ).
        hidden_size: ``H``, model width.
        num_layers: blocks.
        num_heads: attention heads.
        ffn_size: feed-forward width.
        dropout: on the embeddings and inside every block.
        tie_embeddings: the output weight is the embedding matrix (needs ``E == H``); only the bias,
            ``output_bias``, is a weight of its own.
        seed: seed of its ``SeedGenerator`` s (the blocks take the next ones).
        **kwargs: passed to ``keras.layers.Layer``.

    Example:
        >>> dec = TransformerDecoder(7, 8, 8, num_layers=1, num_heads=2, ffn_size=16)
        >>> enc = np.zeros((2, 3, 8), "float32")
        >>> memory = (enc, np.ones((2, 3), bool), dec.keys(enc))
        >>> tuple(dec(np.ones((2, 5), "int32"), None, memory).shape)
        (2, 5, 7)
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
        *,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if tie_embeddings and embedding_dim != hidden_size:
            raise ValueError(
                f"TransformerDecoder.tie_embeddings: needs embedding_dim == hidden_size, got {embedding_dim} and "
                f"{hidden_size}"
            )
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.ffn_size = ffn_size
        self.dropout = dropout
        self.tie_embeddings = tie_embeddings
        self.seed = seed
        policy = self.dtype_policy
        self.add_token_input(vocab_size, embedding_dim, hidden_size, policy)
        self.blocks = [
            DecoderBlock(
                hidden_size,
                num_heads,
                ffn_size,
                dropout,
                seed=sub_seed(seed, 1 + 4 * i),
                dtype=policy,
                name=f"blocks_{i}",
            )
            for i in range(num_layers)
        ]
        self.norm = layer_norm("norm", policy)
        # tied: the output weight is the embedding matrix and only the bias is a weight of its own
        self.out = None if tie_embeddings else linear(vocab_size, name="out", dtype=policy)
        self.seed_generator = keras.random.SeedGenerator(seed, name="dropout_seed")

    def build(self, input_shape: Any = None) -> None:
        self.build_token_input(self.embedding_dim)
        for block in self.blocks:
            build_once(block)
        self.norm.build((None, self.hidden_size))
        if self.out is not None:
            self.out.build((None, self.hidden_size))
        else:
            self.output_bias = self.add_weight(shape=(self.vocab_size,), initializer="zeros", name="output_bias")
        self.built = True

    @property
    def steps_one_at_a_time(self) -> bool:
        """False: a whole teacher-forced input is one call (as ``Decoder.steps_one_at_a_time`` for ``luong``)."""
        return False

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_heads

    def keys(self, enc: Any) -> list[tuple[Any, Any]]:
        """Every layer's cross-attention keys and values of the encoder outputs ``enc`` (B, S, H), computed once
        per source: per layer ``(k, v)``, each ``(B, NH, S, D)``."""
        if not self.built:  # called before the layer itself: build once, here
            self.build()
        return [block.cross_attn.project(enc) for block in self.blocks]

    def logits(self, x: Any) -> Any:
        """Final LayerNorm and output layer on ``x`` (..., H).  # (..., V)"""
        x = self.norm(x)
        if self.out is not None:
            return self.out(x)
        matrix = ops.cast(self.embedding.embeddings, self.compute_dtype)  # (V, E == H)
        return ops.matmul(x, ops.transpose(matrix)) + ops.cast(self.output_bias, self.compute_dtype)

    def call(self, tokens: Any, state: DecoderCache | None, memory: Any, training: bool = False) -> Any:
        """Logits (B, T, V) of decoder inputs ``tokens`` (B, T) (``<bos>`` at position 0) given as a whole
        (teacher forcing or a parallel scheduled-sampling pass). ``state``: the empty cache of ``encode`` (a
        whole target starts at position 0; not read); ``memory``: ``(enc, mask, keys)`` with the source mask
        (B, S) and the cross-attention keys and values of :meth:`keys`."""
        _, mask, cross = memory
        tokens = ops.cast(tokens, "int32")
        x = self.embed_sequence(tokens, self.dropout, self.seed_generator, training)  # (B, T, H)
        for block, kv in zip(self.blocks, cross, strict=True):
            x, _ = block(x, kv, mask, training=training)
        return self.logits(x)

    def initial_state(self, batch: Any, capacity: Any = 0) -> DecoderCache:
        """An empty :class:`DecoderCache` for ``batch`` rows with room for ``capacity`` positions."""
        return empty_cache(batch, capacity, self.num_layers, self.num_heads, self.head_size, self.compute_dtype)

    def step(
        self,
        token: Any,
        state: DecoderCache,
        memory: Any,
        noise: dict[str, Any] | None = None,
        training: bool = False,
    ) -> tuple[Any, DecoderCache, Any]:
        """One decoding step from ``token`` (B,) at ``state.position``.

        Args:
            token: ``(B,)`` the previous tokens (``<bos>`` first).
            state: the :class:`DecoderCache` (room for at least ``position + 1`` positions).
            memory: ``(enc, mask, keys)``: the encoder outputs, source mask (B, S) and :meth:`keys`.
            noise: dropout masks of one step (:meth:`step_noise` at one time index), or ``None``.
            training: dropout on (drawn here when ``noise`` is ``None``).

        Returns:
            ``(logits (B, V), new state, weights (B, S))``: the weights are the mean over heads of the
            last layer's cross-attention.
        """
        _, mask, cross = memory
        position = ops.cast(state.position, "int32")  # (B,)
        x = self.embed(ops.cast(token, "int32"), position)  # (B, H)
        n = noise or {}
        if "embedding" in n:
            x = x * ops.cast(n["embedding"], x.dtype)
        elif training and self.dropout > 0.0:
            x = keras.random.dropout(x, self.dropout, seed=self.seed_generator)
        keys, values, weights = [], [], None
        for i, block in enumerate(self.blocks):
            x, k, v, weights = block.step(
                x, state.keys[i], state.values[i], position, cross[i], mask, n.get(f"blocks_{i}"), training
            )
            keys.append(k)
            values.append(v)
        logits = self.logits(x)  # (B, V)
        return logits, DecoderCache(keys, values, position + 1), ops.mean(weights, axis=1)

    def step_noise(self, batch: Any, time: Any, source: Any, training: bool) -> dict[str, Any] | None:
        """Dropout masks for ``time`` steps (time-major), one entry per site of :meth:`step`, or ``None`` when off."""
        if not training or self.dropout <= 0.0:
            return None
        noise: dict[str, Any] = {
            "embedding": dropout_mask(
                (time, batch, self.hidden_size), self.dropout, self.seed_generator, self.compute_dtype
            )
        }
        for i, block in enumerate(self.blocks):
            noise[f"blocks_{i}"] = block.step_noise(batch, time, time, source)
        return noise

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "vocab_size": self.vocab_size,
                "embedding_dim": self.embedding_dim,
                "hidden_size": self.hidden_size,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "ffn_size": self.ffn_size,
                "dropout": self.dropout,
                "tie_embeddings": self.tie_embeddings,
                "seed": self.seed,
            }
        )
        return config


__all__ = [
    "DecoderBlock",
    "DecoderCache",
    "EncoderBlock",
    "FeedForward",
    "MultiHeadAttention",
    "TransformerDecoder",
    "TransformerEncoder",
    "empty_cache",
    "grow_cache",
    "sinusoidal_positions",
]
