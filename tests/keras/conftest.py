"""Fixtures of the Keras tests; the backend is whatever ``KERAS_BACKEND`` says (TensorFlow by default)."""

from __future__ import annotations

import pytest

import keras
from tests.helpers.keras import fresh_keras_state, limit_torch_threads

__all__ = ["fresh_keras_state"]

if keras.backend.backend() == "torch":
    limit_torch_threads()


def pytest_configure(config: pytest.Config) -> None:
    # keras.ops.convert_to_numpy on TF/torch tensors under NumPy 2 (upstream, harmless).
    config.addinivalue_line(
        "filterwarnings", "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    )
