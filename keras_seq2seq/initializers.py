"""PyTorch's default initialisation for the Keras layers, so one config starts from the same
distributions in both frameworks (and trains alike from the first step).

PyTorch draws ``nn.Linear`` weights and biases and every ``nn.GRU``/``nn.LSTM`` weight and bias
from ``U(-1/sqrt(n), 1/sqrt(n))`` (``n``: the input width of a linear layer, the hidden width of a
recurrent one) and ``nn.Embedding`` from ``N(0, 1)``. Keras' defaults differ (Glorot-uniform
kernels, orthogonal recurrent kernels, zero biases and a forget-gate bias of one, embeddings from
``U(-0.05, 0.05)``); the first epochs of the CMUdict benchmark were slower with them.
"""

from __future__ import annotations

import math
from typing import Any

import keras


def torch_uniform(fan_in: int) -> keras.initializers.Initializer:
    """``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``: PyTorch's default for linear and recurrent layers."""
    bound = 1.0 / math.sqrt(fan_in)
    return keras.initializers.RandomUniform(-bound, bound)


def embedding(vocab_size: int, dim: int, *, name: str, dtype: Any) -> keras.layers.Embedding:
    """``keras.layers.Embedding`` initialised as ``nn.Embedding``: ``N(0, 1)``."""
    init = keras.initializers.RandomNormal(0.0, 1.0)
    return keras.layers.Embedding(vocab_size, dim, embeddings_initializer=init, dtype=dtype, name=name)


def dense(
    units: int, fan_in: int, *, name: str, dtype: Any, use_bias: bool = True, activation: str | None = None
) -> keras.layers.Dense:
    """``keras.layers.Dense`` over ``fan_in`` inputs, initialised as ``nn.Linear(fan_in, units)``."""
    return keras.layers.Dense(
        units, activation=activation, use_bias=use_bias, kernel_initializer=torch_uniform(fan_in),
        bias_initializer=torch_uniform(fan_in), dtype=dtype, name=name,
    )  # fmt: skip


def rnn_initializers(units: int, cell: str) -> dict[str, Any]:
    """Keyword arguments of ``keras.layers.GRU``/``LSTM`` that initialise them as ``nn.GRU``/``nn.LSTM``."""
    kwargs: dict[str, Any] = {
        name: torch_uniform(units) for name in ("kernel_initializer", "recurrent_initializer", "bias_initializer")
    }
    if cell == "lstm":
        kwargs["unit_forget_bias"] = False  # PyTorch draws the forget-gate bias like the others
    return kwargs
