"""Runs the core Keras test files under the other backends, each in a fresh interpreter.

The main test process runs on one backend (TensorFlow unless ``KERAS_BACKEND`` says otherwise); a
backend is fixed when Keras is first imported, so JAX and torch get a subprocess each. A failure
shows the subprocess's pytest output.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import REPO
from tests.helpers.keras import BACKEND

CORE_FILES = [
    "tests/keras/test_keras_layers.py",
    "tests/keras/test_keras_scheduled_sampling.py",
    "tests/keras/test_keras_model.py",
    "tests/keras/test_keras_saving.py",
    "tests/keras/test_keras_batches.py",
    "tests/keras/test_keras_export.py",  # model.export(format="onnx") on every backend
]
OTHER_BACKENDS = [b for b in ("tensorflow", "jax", "torch") if b != BACKEND]
#: On JAX every new graph costs an XLA compile (10-20 s here), so the default run keeps the tests
#: that exercise the JAX-specific code (stateless train/test/predict steps, seed state, saving);
#: the whole core set runs under the ``slow`` marker.
JAX_DEFAULT = (
    "learns_reverse or memorises or beam_width_one or parallel_at_ratio_one or fresh_process "
    "or tracks_one_minus_ratio_in_fit and token or backup_and_restore or user_data or format_onnx "
    "or position_schedule_in_fit and parallel"
)
CHILD = os.environ.get("KERAS_SEQ2SEQ_CHILD") == "1"


def run_core_tests(backend: str, markers: str, select: str | None = None) -> None:
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "KERAS_SEQ2SEQ_CHILD": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "OMP_NUM_THREADS": "1",
    }
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", markers, *CORE_FILES]
    if select:
        command += ["-k", select]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"tests failed under KERAS_BACKEND={backend}:\n{result.stdout[-8000:]}"
    assert " passed" in result.stdout and " failed" not in result.stdout


@pytest.mark.skipif(CHILD, reason="already inside a per-backend run")
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_core_tests_pass_under_backend(backend: str) -> None:
    run_core_tests(backend, "not slow and not gpu", JAX_DEFAULT if backend == "jax" else None)


@pytest.mark.slow
@pytest.mark.skipif(CHILD, reason="already inside a per-backend run")
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_all_core_tests_pass_under_backend(backend: str) -> None:
    run_core_tests(backend, "not gpu")
