"""Luong (multiplicative) attention, applied after the decoder RNN."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops
from keras_seq2seq.initializers import dense
from keras_seq2seq.masked_softmax import masked_softmax
from seq2seq_fit.config import LUONG_SCORES, check_choice


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class LuongAttention(keras.layers.Layer):
    """Luong attention over encoder outputs: ``score[t, j] = h_t . enc_j`` (``dot``) or
    ``h_t . (W_a enc_j)`` (``general``, ``W_a`` an ``H -> H`` projection without bias).

    Keys are computed once per source batch with :meth:`keys`; :meth:`call` then attends with a
    whole sequence of queries ``(B, T, H)`` or a single step ``(B, H)``.

    Args:
        hidden_size: ``H``, size of queries and encoder outputs.
        score: ``"dot"`` or ``"general"``.
        **kwargs: passed to ``keras.layers.Layer``.

    Example:
        >>> import numpy as np
        >>> att = LuongAttention(4, score="general")
        >>> enc = np.ones((2, 3, 4), "float32")
        >>> ctx, w = att(np.ones((2, 5, 4), "float32"), att.keys(enc), enc, np.ones((2, 3)))
        >>> tuple(ctx.shape), tuple(w.shape)
        ((2, 5, 4), (2, 5, 3))
    """

    def __init__(self, hidden_size: int, score: str = "general", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_choice("LuongAttention", "score", score, LUONG_SCORES)
        self.hidden_size = hidden_size
        self.score = score
        self.key_projection = (
            dense(hidden_size, hidden_size, use_bias=False, dtype=self.dtype_policy, name="key_projection")
            if score == "general"
            else None
        )

    def build(self, input_shape: Any = None) -> None:
        if self.key_projection is not None:
            self.key_projection.build((None, None, self.hidden_size))
        self.built = True

    def keys(self, encoder_outputs: Any) -> Any:
        """``W_a enc`` (general) or ``enc`` (dot).  # (B, S, H)"""
        if not self.built:  # called before the layer itself: build once, here
            self.build()
        if self.key_projection is None:
            return encoder_outputs
        return self.key_projection(encoder_outputs)

    def call(self, query: Any, keys: Any, encoder_outputs: Any, source_mask: Any) -> tuple[Any, Any]:
        """Context and weights for ``query`` (B, T, H) or (B, H)."""
        single = len(query.shape) == 2
        if single:
            query = ops.expand_dims(query, 1)  # (B, 1, H)
        scores = ops.matmul(query, ops.transpose(keys, (0, 2, 1)))  # (B, T, S)
        weights = masked_softmax(scores, ops.expand_dims(source_mask, 1), self.compute_dtype)  # (B, T, S)
        context = ops.matmul(weights, encoder_outputs)  # (B, T, H)
        if single:
            return ops.squeeze(context, 1), ops.squeeze(weights, 1)
        return context, weights

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"hidden_size": self.hidden_size, "score": self.score})
        return config
