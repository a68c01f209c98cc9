"""The parity suite on the Keras backends this process is not running, each in a fresh interpreter
(a Keras backend is chosen once per process). conftest.py starts them at collection time."""

from __future__ import annotations

import os

import pytest

from tests.helpers import BACKENDS, CHILD_FLAG
from tests.helpers.keras import BACKEND

OTHERS = [b for b in BACKENDS if b != BACKEND]


@pytest.mark.skipif(os.environ.get(CHILD_FLAG) == "1", reason="already a child run on one backend")
@pytest.mark.parametrize("backend", OTHERS)
def test_parity_suite_on_backend(backend, backend_runs):
    if backend not in backend_runs:
        pytest.skip(f"{backend} is not installed")
    output = backend_runs[backend].output()
    print(output)  # the child's table of logit differences, with -s
    assert " passed" in output and " failed" not in output
