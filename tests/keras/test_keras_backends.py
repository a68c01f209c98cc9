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
from keras_helpers import BACKEND, REPO

CORE_FILES = [
    "tests/keras/test_keras_layers.py",
    "tests/keras/test_keras_scheduled_sampling.py",
    "tests/keras/test_keras_model.py",
    "tests/keras/test_keras_saving.py",
]
OTHER_BACKENDS = [b for b in ("tensorflow", "jax", "torch") if b != BACKEND]


@pytest.mark.skipif(os.environ.get("KERAS_SEQ2SEQ_CHILD") == "1", reason="already inside a per-backend run")
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_core_tests_pass_under_backend(backend: str, request: pytest.FixtureRequest) -> None:
    markers = request.config.getoption("-m") or "not slow and not gpu"
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "KERAS_SEQ2SEQ_CHILD": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "OMP_NUM_THREADS": "1",
    }
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", markers, *CORE_FILES]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"tests failed under KERAS_BACKEND={backend}:\n{result.stdout[-8000:]}"
    assert " passed" in result.stdout and " failed" not in result.stdout
