"""Fixtures of the Keras tests; the backend is whatever ``KERAS_BACKEND`` says (TensorFlow by default)."""

from __future__ import annotations

import os

import pytest

import keras

if keras.backend.backend() == "torch":
    import torch

    # Two torch threads on a busy 2-core machine spin against each other (tens of times slower).
    torch.set_num_threads(int(os.environ.get("KERAS_SEQ2SEQ_TORCH_THREADS", "1")))


@pytest.fixture(autouse=True)
def _fresh_keras_state() -> None:
    """Float32 policy and a fixed seed for every test."""
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(0)
    yield
    keras.config.set_dtype_policy("float32")


def pytest_configure(config: pytest.Config) -> None:
    # keras.ops.convert_to_numpy on TF/torch tensors under NumPy 2 (upstream, harmless).
    config.addinivalue_line(
        "filterwarnings", "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    )
