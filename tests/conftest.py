"""Starts the per-backend child runs (``tests.helpers.backends``) as soon as the tests are collected."""

from __future__ import annotations

import os
from collections import defaultdict

import pytest

from tests.helpers import CHILD_FLAG
from tests.helpers.backends import BackendRun, installed_backends

#: The child runs of this session, by backend.
BACKEND_RUNS: dict[str, BackendRun] = {}


@pytest.hookimpl(trylast=True)  # after -m / -k deselection
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """One child per other backend for the suites whose checker tests (those using ``backend_runs``) were
    collected; the checkers go last, so the children work while this process runs everything else."""
    checkers = [item for item in items if "backend_runs" in getattr(item, "fixturenames", ())]
    if not checkers or os.environ.get(CHILD_FLAG) == "1" or config.option.collectonly:
        return
    suites: dict[str, set[str]] = defaultdict(set)
    for item in checkers:
        suites[item.callspec.params["backend"]].add(item.module.SUITE)  # type: ignore[attr-defined]
    markers = config.getoption("markexpr") or "not slow and not gpu"
    current = os.environ.get("KERAS_BACKEND", "tensorflow")
    for backend in installed_backends(current):
        if backend in suites:
            BACKEND_RUNS[backend] = BackendRun(backend, sorted(suites[backend]), markers)
    items[:] = [item for item in items if item not in checkers] + checkers


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop the child runs this process started when the session was interrupted; otherwise let them finish
    (under pytest-xdist a worker that ran out of tests may have started the run another worker reads)."""
    for run in BACKEND_RUNS.values():
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            run.stop()
        else:
            run.finish()


@pytest.fixture
def backend_runs() -> dict[str, BackendRun]:
    return BACKEND_RUNS
