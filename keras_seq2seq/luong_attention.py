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
    """Multiplicative attention applied after the decoder RNN (no input feeding).

    ``score[t, j] = h_t . enc_j`` (``dot``) or ``h_t . (W_a enc_j)`` (``general``); the attentional
    state ``tanh(W_c [context_t; h_t])`` feeds the output layer. Keys are computed once per source
    batch with :meth:`keys`; :meth:`call` then attends with a whole sequence of queries
    ``(B, T, H)`` or a single step ``(B, H)``.

    Args:
        hidden_size: ``H``, size of queries and encoder outputs.
        score: ``"dot"`` or ``"general"``.
        **kwargs: passed to ``keras.layers.Layer``.

    Example:
        >>> import numpy as np
        >>> att = LuongAttention(4, score="general")
        >>> enc = np.ones((2, 3, 4), "float32")
        >>> pre, w = att(np.ones((2, 5, 4), "float32"), enc, att.keys(enc), np.ones((2, 3)))
        >>> tuple(pre.shape), tuple(w.shape)
        ((2, 5, 4), (2, 5, 3))
    """

    def __init__(self, hidden_size: int, score: str = "general", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_choice("LuongAttention", "score", score, LUONG_SCORES)
        self.hidden_size = hidden_size
        self.score = score
        policy = self.dtype_policy
        self.w_a = (
            dense(hidden_size, hidden_size, use_bias=False, dtype=policy, name="w_a") if score == "general" else None
        )
        self.w_c = dense(hidden_size, 2 * hidden_size, use_bias=False, activation="tanh", dtype=policy, name="w_c")

    def build(self, input_shape: Any = None) -> None:
        if self.w_a is not None:
            self.w_a.build((None, None, self.hidden_size))
        self.w_c.build((None, None, 2 * self.hidden_size))
        self.built = True

    def keys(self, enc: Any) -> Any:
        """What the queries are dotted with, computed once per source: ``W_a enc`` or ``enc``.  # (B, S, H)"""
        if not self.built:  # called before the layer itself: build once, here
            self.build()
        return enc if self.w_a is None else self.w_a(enc)

    def call(self, query: Any, enc: Any, keys: Any, mask: Any) -> tuple[Any, Any]:
        """Attend from decoder outputs ``query`` (B, T, H) or (B, H); returns ``(pre, weights)``:
        the attentional state (B, T, H) and the weights (B, T, S) (without ``T`` for a single step)."""
        single = len(query.shape) == 2
        if single:
            query = ops.expand_dims(query, 1)  # (B, 1, H)
        scores = ops.matmul(query, ops.transpose(keys, (0, 2, 1)))  # (B, T, S)
        weights = masked_softmax(scores, ops.expand_dims(mask, 1), self.compute_dtype)  # (B, T, S)
        context = ops.matmul(weights, enc)  # (B, T, H)
        if single:  # w_c on 2-D input: a 3-D Dense inside the step loop's gradient does not compile under XLA
            query, context, weights = ops.squeeze(query, 1), ops.squeeze(context, 1), ops.squeeze(weights, 1)
        pre = self.w_c(ops.concatenate([context, query], axis=-1))  # (B, T, H) or (B, H)
        return pre, weights

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"hidden_size": self.hidden_size, "score": self.score})
        return config
