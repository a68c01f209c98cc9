"""Fixtures of the parity tests (Keras backend from ``KERAS_BACKEND``, TensorFlow by default); the runs on
the other backends are started by ``tests/conftest.py``."""

from __future__ import annotations

import pytest

import keras
from tests.helpers.keras import fresh_keras_state, limit_torch_threads

__all__ = ["fresh_keras_state", "logit_differences"]

limit_torch_threads()

#: Largest |logit difference| per configuration, filled by the logit tests, printed at the end.
LOGIT_DIFFERENCES: dict[str, float] = {}


@pytest.fixture
def logit_differences() -> dict[str, float]:
    return LOGIT_DIFFERENCES


def pytest_terminal_summary(terminalreporter) -> None:
    if not LOGIT_DIFFERENCES:
        return
    backend = keras.backend.backend()
    terminalreporter.write_sep("-", f"largest |logit difference| Lightning vs Keras ({backend})")
    for case, diff in LOGIT_DIFFERENCES.items():
        terminalreporter.write_line(f"{backend:10s} {case:26s} {diff:.3e}")
