"""Fixtures of the parity tests (Keras backend from ``KERAS_BACKEND``, TensorFlow by default)."""

from __future__ import annotations

import os

import pytest
import torch

import keras

# One thread: two spinning against each other on a busy 2-core machine are far slower.
torch.set_num_threads(int(os.environ.get("KERAS_SEQ2SEQ_TORCH_THREADS", "1")))

#: Largest |logit difference| per configuration, filled by the logit tests, printed at the end.
LOGIT_DIFFERENCES: dict[str, float] = {}


@pytest.fixture(autouse=True)
def _fresh_keras_state() -> None:
    """Float32 policy and a fixed seed for every test."""
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(0)
    yield
    keras.config.set_dtype_policy("float32")


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
