"""The parity suite on the Keras backends this process is not running, each in a fresh interpreter
(a Keras backend is chosen once per process); ``tests/conftest.py`` starts them at collection time.
Only what depends on the backend runs there (``tests.helpers.backends``), with the covering subset of
configs or the full matrix (``tests.helpers.parity.BACKEND_CASES``)."""

from __future__ import annotations

import pytest

from tests.helpers import BACKENDS
from tests.helpers.backends import check_backend_run
from tests.helpers.keras import BACKEND

SUITE = "parity"


@pytest.mark.backend_independent
@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != BACKEND])
def test_parity_suite_on_backend(backend, backend_runs):
    check_backend_run(backend_runs, backend, SUITE)
