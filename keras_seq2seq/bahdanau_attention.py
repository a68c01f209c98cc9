"""Bahdanau (additive) attention, queried with the previous decoder state."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops
from keras_seq2seq.initializers import dense
from keras_seq2seq.masked_softmax import masked_softmax


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class BahdanauAttention(keras.layers.Layer):
    """Additive attention queried with the previous decoder state: ``score_j = v . tanh(W1 enc_j + W2 q)``.

    ``W1`` (``H -> H``, no bias) is applied once per source batch by :meth:`keys`; ``W2``
    (``H -> H``, with bias) and ``v`` (``H -> 1``, no bias) at every decoder step. The context is
    concatenated to the embedded input of the next RNN step, so decoding runs one token at a time.

    Args:
        hidden_size: ``H``, size of the query and of encoder outputs.
        **kwargs: passed to ``keras.layers.Layer``.

    Example:
        >>> import numpy as np
        >>> att = BahdanauAttention(4)
        >>> enc = np.ones((2, 3, 4), "float32")
        >>> ctx, w = att(np.ones((2, 4), "float32"), enc, att.keys(enc), np.ones((2, 3)))
        >>> tuple(ctx.shape), tuple(w.shape)
        ((2, 4), (2, 3))
    """

    def __init__(self, hidden_size: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hidden_size = hidden_size
        policy = self.dtype_policy
        self.w1 = dense(hidden_size, hidden_size, use_bias=False, dtype=policy, name="w1")
        self.w2 = dense(hidden_size, hidden_size, dtype=policy, name="w2")
        self.v = dense(1, hidden_size, use_bias=False, dtype=policy, name="v")

    def build(self, input_shape: Any = None) -> None:
        self.w1.build((None, None, self.hidden_size))
        self.w2.build((None, self.hidden_size))
        self.v.build((None, None, self.hidden_size))
        self.built = True

    def keys(self, enc: Any) -> Any:
        """``W1 enc`` (B, S, H), computed once per source."""
        if not self.built:  # called before the layer itself: build once, here
            self.build()
        return self.w1(enc)

    def call(self, query: Any, enc: Any, keys: Any, mask: Any) -> tuple[Any, Any]:
        """Attend from ``query`` (B, H); returns ``(context (B, H), weights (B, S))``."""
        q = ops.expand_dims(self.w2(query), 1)  # (B, 1, H)
        scores = ops.squeeze(self.v(ops.tanh(keys + q)), -1)  # (B, S)
        weights = masked_softmax(scores, mask, self.compute_dtype)  # (B, S)
        context = ops.squeeze(ops.matmul(ops.expand_dims(weights, 1), enc), 1)  # (B, H)
        return context, weights

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"hidden_size": self.hidden_size})
        return config
