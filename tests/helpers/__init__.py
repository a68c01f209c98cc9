"""Helpers shared by the test suites, framework-free (the framework ones are in ``tests.helpers.lightning``,
``tests.helpers.keras`` and ``tests.helpers.parity``, so a test imports only the framework it needs)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

#: The repository root: the working directory of every subprocess the tests start.
REPO = Path(__file__).resolve().parents[2]
#: The Keras backends the suites run on, each in its own process (a backend is fixed per process).
BACKENDS = ("tensorflow", "jax", "torch")
#: Set in per-backend child processes so they do not start children themselves.
CHILD_FLAG = "KERAS_SEQ2SEQ_CHILD"


def child_env(backend: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of a child process: this one's, quiet TensorFlow logs, one OpenMP thread, and
    ``KERAS_BACKEND=backend`` with :data:`CHILD_FLAG` set when ``backend`` is given."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "OMP_NUM_THREADS": "1"}
    if backend is not None:
        env.update({"KERAS_BACKEND": backend, CHILD_FLAG: "1"})
    env.update(extra)
    return env


def error_line(main: Callable[[list[str]], Any], args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one stderr line of a command line's error (``main(args)``), after checking exit status 2."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    return line


@pytest.fixture(params=[0o022, 0o002], ids=["umask022", "umask002"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Run the test under a known umask (restored after); the value is the umask."""
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def file_modes(root: Path) -> dict[str, int]:
    """``relative path -> permission bits`` of every file under ``root``."""
    return {p.relative_to(root).as_posix(): p.stat().st_mode & 0o777 for p in sorted(root.rglob("*")) if p.is_file()}
