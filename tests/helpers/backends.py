"""The per-backend child runs, framework-free: the tests whose outcome depends on the Keras backend run
again, in one fresh interpreter per other backend (a Keras backend is fixed once per process).

What a child reruns is :data:`SUITES` and nothing else: the Lightning side, the core, the data layer,
the command lines and every test marked ``backend_independent`` (refusals, import rules) run once, in
the main process. ``tests/conftest.py`` starts the children at collection time, so they work while the
main process runs its own tests; one checker test per suite (``tests/parity/test_parity_backends.py``,
``tests/keras/test_keras_backends.py``) reads its part of each child's results.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import BACKENDS, REPO, child_env

#: Suite name -> the test files a child run reruns on another backend. The parity folder compares the
#: frameworks on the same weights (its config matrix: ``tests.helpers.parity.BACKEND_CASES``); the Keras
#: files are the model, its layers, training steps, saving and export. ``test_fast_rnn.py`` tests a
#: JAX-only path: its tests skip at once on the other backends.
SUITES = {
    "parity": ("tests/parity",),
    "keras": (
        "tests/keras/test_keras_layers.py",
        "tests/keras/test_keras_scheduled_sampling.py",
        "tests/keras/test_keras_model.py",
        "tests/keras/test_keras_saving.py",
        "tests/keras/test_keras_batches.py",
        "tests/keras/test_keras_export.py",
        "tests/keras/test_fast_rnn.py",
        "tests/keras/test_transformer.py",
    ),
}
#: Set in a default child run (not with ``-m slow``): ``tests/keras/conftest.py`` then keeps the JAX
#: subset of the Keras files on JAX (every new graph is an XLA compile there).
SUBSET_FLAG = "KERAS_SEQ2SEQ_SUBSET"
#: The marker of tests that do not depend on the Keras backend: child runs deselect them.
INDEPENDENT = "backend_independent"


def installed_backends(current: str) -> list[str]:
    """The Keras backends other than ``current`` whose framework is installed."""
    return [b for b in BACKENDS if b != current and importlib.util.find_spec(b) is not None]


@dataclass
class Outcome:
    """One test of a child run: its node id and, when it failed or errored, the report's text."""

    nodeid: str
    failure: str | None


def session_folder() -> Path:
    """The folder this test session's child runs write to, the same in every pytest-xdist worker."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"pid{os.getpid()}"
    folder = Path(tempfile.gettempdir()) / f"seq2seq-fit-backends-{run}"
    folder.mkdir(exist_ok=True)
    return folder


class BackendRun:
    """The test files of ``suites`` running in a fresh interpreter on Keras backend ``backend``.

    Started at once and left running, so the other backends' runs and this process's own tests share
    the machine; :meth:`outcomes` waits for it and reads its JUnit XML report. Under pytest-xdist every
    worker makes one, and the first to claim ``<backend>.lock`` in :func:`session_folder` starts the
    process; the others wait for the same files (``<backend>.rc`` appears when it has finished).
    """

    def __init__(self, backend: str, suites: list[str], markers: str) -> None:
        self.backend = backend
        self.suites = suites
        folder = session_folder()
        self.report, self.log, self.rc = (folder / f"{backend}.{ext}" for ext in ("xml", "log", "rc"))
        self.process: subprocess.Popen[bytes] | None = None
        try:
            os.close(os.open(folder / f"{backend}.lock", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return  # another worker of this session started it
        files = [str(REPO / path) for suite in suites for path in SUITES[suite]]
        subset = {SUBSET_FLAG: "1"} if "not slow" in markers else {}
        command = [sys.executable, "-m", "pytest", *files, "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
        command += ["--junitxml", str(self.report), "-m", f"({markers}) and not {INDEPENDENT}"]
        command += ["-W", "ignore::DeprecationWarning", "--durations=30"]
        script = f"{shlex.join(command)} > {shlex.quote(str(self.log))} 2>&1; echo $? > {shlex.quote(str(self.rc))}"
        self.process = subprocess.Popen(
            ["sh", "-c", script], env=child_env(backend, **subset), cwd=REPO, start_new_session=True
        )

    def stop(self) -> None:
        """Kill the child run (and its pytest) if this process started it and it is still going."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)

    def finish(self, timeout: float = 900) -> None:
        """Wait for the child run this process started (another xdist worker may still read its results)."""
        if self.process is not None:
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.stop()

    def output(self, timeout: float = 900) -> str:
        """The child's pytest output once it has finished."""
        deadline = time.monotonic() + timeout
        while not self.rc.exists() or not self.rc.read_text().strip():
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"{self.backend}: the child run did not finish in {timeout:.0f} s")
            time.sleep(0.5)
        return self.log.read_text(errors="replace")

    def outcomes(self, suite: str) -> list[Outcome]:
        """The tests of ``suite`` the child ran (collection errors of its files included). Fails with the
        child's output when it did not finish its run (an internal or usage error, a crash)."""
        output = self.output()
        code = int(self.rc.read_text())
        assert code in (0, 1), f"{self.backend}: pytest exited with {code}:\n{output[-10000:]}"
        prefixes = tuple(path.removesuffix(".py").replace("/", ".") for path in SUITES[suite])
        found = []
        for case in ET.parse(self.report).getroot().iter("testcase"):
            classname, name = case.get("classname", ""), case.get("name", "")
            nodeid = f"{classname}.{name}" if classname else name
            if not nodeid.startswith(prefixes):
                continue
            bad = [f"{b.get('message') or ''}\n{b.text or ''}" for b in case if b.tag in ("failure", "error")]
            found.append(Outcome(nodeid, "\n".join(bad) or None))
        return found


def check_backend_run(runs: dict[str, BackendRun], backend: str, suite: str) -> None:
    """Assert that ``suite``'s tests ran and passed in the child run on ``backend``, naming each failure."""
    import pytest

    if backend not in runs:
        pytest.skip(f"{backend} is not installed")
    run = runs[backend]
    outcomes = run.outcomes(suite)
    print(run.output())  # the child's summary (and the parity suite's table of logit differences), with -s
    assert outcomes, f"{backend}: no {suite} test ran:\n{run.output()[-10000:]}"
    failed = [o for o in outcomes if o.failure]
    assert not failed, "\n\n".join(f"KERAS_BACKEND={backend} {o.nodeid}:\n{(o.failure or '')[-4000:]}" for o in failed)
