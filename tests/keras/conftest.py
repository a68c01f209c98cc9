"""Fixtures of the Keras tests; the backend is whatever ``KERAS_BACKEND`` says (TensorFlow by default)."""

from __future__ import annotations

import os

import pytest

import keras
from tests.helpers.backends import SUBSET_FLAG
from tests.helpers.keras import BACKEND, fresh_keras_state, limit_torch_threads

__all__ = ["fresh_keras_state"]

if keras.backend.backend() == "torch":
    limit_torch_threads()

#: On JAX every new graph costs an XLA compile (10-20 s here), so a default child run on JAX keeps the
#: tests that exercise the JAX-specific code (stateless train/test/predict steps, seed state, saving,
#: export): a test stays when its name holds every word of one entry. ``-m slow`` runs them all. The
#: Transformer and the parallel passes on JAX are checked by the parity suite, which runs there in full.
JAX_SUBSET = (
    ("memorises",),
    ("beam_width_one",),
    ("fresh_process",),
    ("tracks_one_minus_ratio_in_fit", "token"),
    ("backup_and_restore",),
    ("user_data",),
    ("format_onnx",),
    ("position_schedule_in_fit", "parallel"),
)


def pytest_configure(config: pytest.Config) -> None:
    # keras.ops.convert_to_numpy on TF/torch tensors under NumPy 2 (upstream, harmless).
    config.addinivalue_line(
        "filterwarnings", "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if BACKEND != "jax" or os.environ.get(SUBSET_FLAG) != "1":
        return
    keep, drop = [], []
    for item in items:
        subset = item.path.parent.name != "keras" or item.path.name == "test_fast_rnn.py"  # the JAX-only path
        subset = subset or any(all(word in item.name for word in entry) for entry in JAX_SUBSET)
        (keep if subset else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
