"""Recurrent encoder: embedding, stacked (bi)directional GRU/LSTM, summary vector."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops
from keras_seq2seq.fast_rnn import FastGRU, FastLSTM
from keras_seq2seq.initializers import embedding, rnn_initializers
from seq2seq_fit.config import CELLS, check_choice


def rnn_layer(cell: str, units: int, name: str, dtype: Any) -> keras.layers.Layer:
    """A whole-sequence GRU (``reset_after=True``, the PyTorch formula) or LSTM layer, initialised as
    PyTorch initialises its own (:class:`~keras_seq2seq.fast_rnn.FastGRU`/``FastLSTM``: the Keras
    layers with a faster path on JAX)."""
    check_choice("rnn_layer", "cell", cell, CELLS)
    layer_cls = FastGRU if cell == "gru" else FastLSTM
    kwargs = {"reset_after": True} if cell == "gru" else {}
    kwargs.update(rnn_initializers(units, cell))
    return layer_cls(units, return_sequences=True, return_state=True, name=name, dtype=dtype, **kwargs)


def source_lengths(source: Any) -> Any:
    """Non-pad lengths, clamped to at least 1 so a fully padded row still runs.  # (B,)"""
    lengths = ops.sum(ops.cast(ops.not_equal(source, 0), "int32"), axis=1)
    return ops.maximum(lengths, 1)


def reverse_within_length(x: Any, lengths: Any) -> Any:
    """Reverse each row's first ``len`` steps, leave the padding where it is.

    Position ``t`` takes position ``len - 1 - t`` for ``t < len`` and stays put otherwise; the
    operation is its own inverse.
    """
    t = ops.expand_dims(ops.arange(ops.shape(x)[1], dtype="int32"), 0)  # (1, S)
    lengths = ops.expand_dims(ops.cast(lengths, "int32"), 1)  # (B, 1)
    index = ops.where(t < lengths, lengths - 1 - t, t)  # (B, S)
    return ops.take_along_axis(x, ops.expand_dims(index, -1), axis=1)  # (B, S, F)


def gather_time(x: Any, index: Any) -> Any:
    """``x[b, index[b]]`` for a (B, S, F) tensor.  # (B, F)"""
    index = ops.reshape(ops.cast(index, "int32"), (-1, 1, 1))
    return ops.squeeze(ops.take_along_axis(x, index, axis=1), 1)


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class Encoder(keras.layers.Layer):
    """Embeds the source and runs stacked recurrent layers over the valid part of each row.

    A bidirectional layer runs a forward and a backward RNN of ``hidden_size // 2`` units; the
    backward one reads each row reversed *within its length*, so it starts at the last real token,
    never at padding. No Keras mask reaches the RNN layers (masks disable the fused kernels).

    Args:
        vocab_size: source vocabulary size.
        embedding_dim: ``E``.
        hidden_size: ``H``, size of the encoder outputs.
        num_layers: stacked layers ``L``.
        cell: ``"gru"`` or ``"lstm"``.
        bidirectional: read the source in both directions.
        dropout: on the embeddings and between layers.
        **kwargs: passed to ``keras.layers.Layer``.

    Returns (from ``call(source)``): ``(outputs, summary)``: outputs ``(B, S, H)`` exactly zero at
    padding, summary ``(B, H)`` (each direction's final state).

    Example:
        >>> import numpy as np
        >>> enc = Encoder(vocab_size=10, embedding_dim=8, hidden_size=6, bidirectional=True)
        >>> out, summary = enc(np.array([[4, 5, 0], [6, 0, 0]]))
        >>> tuple(out.shape), tuple(summary.shape)
        ((2, 3, 6), (2, 6))
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int = 64,
        hidden_size: int = 128,
        num_layers: int = 1,
        cell: str = "gru",
        bidirectional: bool = False,
        dropout: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_choice("Encoder", "cell", cell, CELLS)
        if bidirectional and hidden_size % 2:
            raise ValueError(f"Encoder.hidden_size: got {hidden_size} with bidirectional=True; it must be even")
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.cell = cell
        self.bidirectional = bidirectional
        self.dropout = dropout
        policy = self.dtype_policy
        units = hidden_size // 2 if bidirectional else hidden_size
        self.units = units
        self.embedding = embedding(vocab_size, embedding_dim, dtype=policy, name="embedding")
        self.embedding_dropout = keras.layers.Dropout(dropout, dtype=policy, name="embedding_dropout")
        # one layer per stacked layer and direction (torch's one nn.GRU/LSTM holds them all: l{i}, l{i}_reverse)
        self.rnn = [rnn_layer(cell, units, f"rnn_{i}", policy) for i in range(num_layers)]
        self.rnn_reverse = (
            [rnn_layer(cell, units, f"rnn_reverse_{i}", policy) for i in range(num_layers)] if bidirectional else []
        )
        self.between_dropout = keras.layers.Dropout(dropout, dtype=policy, name="between_dropout")

    def build(self, input_shape: Any = None) -> None:
        self.embedding.build((None, None))
        for i in range(self.num_layers):
            width = self.embedding_dim if i == 0 else self.hidden_size
            self.rnn[i].build((None, None, width))
            if self.bidirectional:
                self.rnn_reverse[i].build((None, None, width))
        self.built = True

    def call(self, source: Any, training: bool = False) -> tuple[Any, Any]:
        source = ops.cast(source, "int32")
        mask = ops.not_equal(source, 0)  # (B, S)
        lengths = source_lengths(source)  # (B,)
        x = self.embedding_dropout(self.embedding(source), training=training)  # (B, S, E)
        for i in range(self.num_layers):
            if i > 0:
                x = self.between_dropout(x, training=training)
            forward = self.rnn[i](x, training=training)[0]  # (B, S, H')
            if not self.bidirectional:
                x = forward
                continue
            backward = self.rnn_reverse[i](reverse_within_length(x, lengths), training=training)[0]
            backward = reverse_within_length(backward, lengths)  # (B, S, H')
            x = ops.concatenate([forward, backward], axis=-1)  # (B, S, H)
        if self.bidirectional:
            summary = ops.concatenate(
                [gather_time(x[..., : self.units], lengths - 1), x[:, 0, self.units :]], axis=-1
            )  # (B, H)
        else:
            summary = gather_time(x, lengths - 1)  # (B, H)
        outputs = x * ops.expand_dims(ops.cast(mask, x.dtype), -1)  # (B, S, H)
        return outputs, summary

    def compute_output_spec(self, source: Any, training: bool = False) -> Any:
        b, s = source.shape
        dtype = self.compute_dtype
        return (
            keras.KerasTensor((b, s, self.hidden_size), dtype),
            keras.KerasTensor((b, self.hidden_size), dtype),
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "vocab_size": self.vocab_size,
                "embedding_dim": self.embedding_dim,
                "hidden_size": self.hidden_size,
                "num_layers": self.num_layers,
                "cell": self.cell,
                "bidirectional": self.bidirectional,
                "dropout": self.dropout,
            }
        )
        return config
