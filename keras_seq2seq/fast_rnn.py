"""``keras.layers.LSTM`` and ``GRU`` with a faster whole-sequence path on the JAX backend.

On JAX, Keras runs an LSTM or a GRU as a ``lax.scan`` whose autodiff computes the kernel gradients
as one small matrix product per step inside the reverse loop. :class:`FastLSTM` and
:class:`FastGRU` run :mod:`keras_seq2seq.jax_rnn`'s loops instead, whose backward pass takes each
weight gradient (and the input gradient) as one product over all steps.

The layers are the Keras ones otherwise: same cell (``layer.cell`` for step-by-step loops), same
weights, names and variable paths (saved files and weight transfer are unchanged), same outputs.
Other backends, and anything the fast path does not cover (a mask, dropout, ``go_backwards``,
``unroll``, other activations, no bias, a GRU with ``reset_after=False``, a cuDNN LSTM on a GPU),
take the parent's path.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


def fast_path_applies(layer: keras.layers.LSTM | keras.layers.GRU, mask: Any) -> bool:
    """Whether ``layer`` (with this ``mask``) can run :mod:`keras_seq2seq.jax_rnn`'s recurrence."""
    cell = layer.cell
    return (
        keras.backend.backend() == "jax"
        and mask is None
        and not (layer.go_backwards or layer.unroll or layer.use_cudnn is True)
        and not (cell.dropout or cell.recurrent_dropout)
        and cell.use_bias
        and cell.activation is keras.activations.tanh
        and cell.recurrent_activation is keras.activations.sigmoid
    )


def unnest(x: Any) -> Any:
    """``x[0]`` when Keras hands a one-element list (a mask, a GRU's state), else ``x``."""
    return x[0] if isinstance(x, (list, tuple)) else x


def cell_weights(layer: keras.layers.LSTM | keras.layers.GRU) -> list[Any]:
    """The cell's ``kernel``, ``recurrent_kernel`` and ``bias`` in its compute dtype."""
    cell = layer.cell
    return [ops.cast(w, cell.compute_dtype) for w in (cell.kernel, cell.recurrent_kernel, cell.bias)]


def time_major(x: Any, dtype: str) -> Any:
    return ops.swapaxes(ops.cast(x, dtype), 0, 1)


def fast_inner_loop(layer: keras.layers.LSTM | keras.layers.GRU, sequences: Any, initial_state: Any) -> Any:
    """What Keras' ``inner_loop`` returns, ``(last output, outputs, states)``, from
    :mod:`keras_seq2seq.jax_rnn`'s LSTM or GRU loop."""
    from keras_seq2seq import jax_rnn

    dtype = layer.cell.compute_dtype
    states = [
        ops.cast(s, dtype) for s in (initial_state if isinstance(initial_state, (list, tuple)) else [initial_state])
    ]
    x = time_major(sequences, dtype)  # (T, B, F)
    if isinstance(layer, keras.layers.LSTM):
        outputs, c_last = jax_rnn.lstm_sequence(x, *states, *cell_weights(layer))  # (T, B, H), (B, H)
        last_states = [outputs[-1], c_last]
    else:
        outputs = jax_rnn.gru_sequence(x, *states, *cell_weights(layer))  # (T, B, H)
        last_states = [outputs[-1]]
    return outputs[-1], ops.swapaxes(outputs, 0, 1), last_states


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class FastLSTM(keras.layers.LSTM):  # type: ignore[misc]
    """``keras.layers.LSTM`` whose whole-sequence call on JAX runs
    :func:`keras_seq2seq.jax_rnn.lstm_sequence` (see the module docstring).

    Takes the arguments of ``keras.layers.LSTM``.

    Example:
        >>> import numpy as np
        >>> layer = FastLSTM(3, return_sequences=True, return_state=True)
        >>> outputs, h, c = layer(np.zeros((2, 5, 4), dtype="float32"))
        >>> tuple(outputs.shape), tuple(h.shape), tuple(c.shape)
        ((2, 5, 3), (2, 3), (2, 3))
    """

    def inner_loop(self, sequences: Any, initial_state: Any, mask: Any, training: bool = False) -> Any:
        mask = unnest(mask)
        if not fast_path_applies(self, mask) or self.cudnn_may_apply():
            return super().inner_loop(sequences, initial_state, mask, training=training)
        return fast_inner_loop(self, sequences, initial_state)

    def cudnn_may_apply(self) -> bool:
        """Whether the parent would try cuDNN (JAX on a GPU): then it keeps that path."""
        import jax

        return self.use_cudnn == "auto" and jax.default_backend() == "gpu"


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class FastGRU(keras.layers.GRU):  # type: ignore[misc]
    """``keras.layers.GRU`` whose whole-sequence call on JAX (``reset_after=True``) uses
    :func:`keras_seq2seq.jax_rnn.gru_sequence` (see the module docstring).

    Takes the arguments of ``keras.layers.GRU``.

    Example:
        >>> import numpy as np
        >>> layer = FastGRU(3, return_sequences=True, return_state=True)
        >>> outputs, h = layer(np.zeros((2, 5, 4), dtype="float32"))
        >>> tuple(outputs.shape), tuple(h.shape)
        ((2, 5, 3), (2, 3))
    """

    def inner_loop(self, sequences: Any, initial_state: Any, mask: Any, training: bool = False) -> Any:
        mask = unnest(mask)
        if not (fast_path_applies(self, mask) and self.cell.reset_after):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        return fast_inner_loop(self, sequences, initial_state)
