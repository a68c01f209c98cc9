"""The parity suite on the Keras backends this process is not running (each in a fresh interpreter,
since a Keras backend is chosen once per process)."""

from __future__ import annotations

import importlib.util
import os

import pytest
from parity_helpers import BACKEND, BACKENDS, CHILD_FLAG, run_on_backend

OTHERS = [b for b in BACKENDS if b != BACKEND]


@pytest.mark.skipif(os.environ.get(CHILD_FLAG) == "1", reason="already a child run on one backend")
@pytest.mark.parametrize("backend", OTHERS)
def test_parity_suite_on_backend(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    output = run_on_backend(backend, "-m", "not slow", "-W", "ignore::DeprecationWarning")
    print(output)  # shows the child's table of logit differences with -s
    assert " passed" in output and " failed" not in output
