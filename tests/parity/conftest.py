"""Fixtures of the parity tests (Keras backend from ``KERAS_BACKEND``, TensorFlow by default)."""

from __future__ import annotations

import importlib.util
import os

import pytest

import keras
from tests.helpers import CHILD_FLAG
from tests.helpers.keras import fresh_keras_state, limit_torch_threads
from tests.helpers.parity import BackendRun

__all__ = ["backend_runs", "fresh_keras_state", "logit_differences"]

limit_torch_threads()

#: Largest |logit difference| per configuration, filled by the logit tests, printed at the end.
LOGIT_DIFFERENCES: dict[str, float] = {}


@pytest.fixture
def logit_differences() -> dict[str, float]:
    return LOGIT_DIFFERENCES


#: Child runs of this suite on the other Keras backends, by backend (see test_parity_backends.py).
BACKEND_RUNS: dict[str, BackendRun] = {}


@pytest.hookimpl(trylast=True)  # after -m / -k deselection
def pytest_collection_modifyitems(config, items) -> None:
    """Start the other backends' runs now (they work while this process runs its own tests) and
    check their results last."""
    mine = [item for item in items if item.path.name == "test_parity_backends.py"]
    if not mine or os.environ.get(CHILD_FLAG) == "1" or config.option.collectonly:
        return
    markers = config.getoption("-m") or "not slow and not gpu"
    for item in mine:
        backend = item.callspec.params["backend"]
        if importlib.util.find_spec(backend) is not None and backend not in BACKEND_RUNS:
            BACKEND_RUNS[backend] = BackendRun(backend, "-m", markers, "-W", "ignore::DeprecationWarning")
    items[:] = [item for item in items if item not in mine] + mine


def pytest_unconfigure(config) -> None:
    """Stop child runs still going (an interrupted session)."""
    for run in BACKEND_RUNS.values():
        if run.process.poll() is None:
            run.process.kill()


@pytest.fixture
def backend_runs() -> dict[str, BackendRun]:
    return BACKEND_RUNS


def pytest_terminal_summary(terminalreporter) -> None:
    if not LOGIT_DIFFERENCES:
        return
    backend = keras.backend.backend()
    terminalreporter.write_sep("-", f"largest |logit difference| Lightning vs Keras ({backend})")
    for case, diff in LOGIT_DIFFERENCES.items():
        terminalreporter.write_line(f"{backend:10s} {case:26s} {diff:.3e}")
