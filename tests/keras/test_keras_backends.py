"""The backend-dependent Keras test files on the other backends, each in a fresh interpreter.

The main test process runs on one backend (TensorFlow unless ``KERAS_BACKEND`` says otherwise); a
backend is fixed when Keras is first imported, so JAX and torch get a child run each
(``tests.helpers.backends``: which files, started by ``tests/conftest.py``). A failure names the test
and shows its report. On JAX the default run keeps a subset (``tests/keras/conftest.py``); the whole
set runs under the ``slow`` marker.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import BACKENDS, CHILD_FLAG, REPO, child_env
from tests.helpers.backends import INDEPENDENT, SUITES, check_backend_run
from tests.helpers.keras import BACKEND

SUITE = "keras"
OTHER_BACKENDS = [b for b in BACKENDS if b != BACKEND]


@pytest.mark.backend_independent
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_core_tests_pass_under_backend(backend: str, backend_runs) -> None:
    check_backend_run(backend_runs, backend, SUITE)


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get(CHILD_FLAG) == "1", reason="already inside a per-backend run")
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_all_core_tests_pass_under_backend(backend: str) -> None:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUITES[SUITE]]
    command += ["-m", f"not gpu and not {INDEPENDENT}"]
    result = subprocess.run(command, cwd=REPO, env=child_env(backend), capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, f"tests failed under KERAS_BACKEND={backend}:\n{result.stdout[-8000:]}"
    assert " passed" in result.stdout and " failed" not in result.stdout
