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
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass

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


class BackendRun:
    """The test files of ``suites`` running in a fresh interpreter on Keras backend ``backend``.

    Started at once and left running, so the other backends' runs and this process's own tests share
    the machine; :meth:`outcomes` waits for it and reads its JUnit XML report.
    """

    def __init__(self, backend: str, suites: list[str], markers: str) -> None:
        self.backend = backend
        self.suites = suites
        self.report = tempfile.NamedTemporaryFile(suffix=".xml", delete=False)  # noqa: SIM115 (read in outcomes)
        self.report.close()
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (read back in output())
        files = [str(REPO / path) for suite in suites for path in SUITES[suite]]
        subset = {SUBSET_FLAG: "1"} if "not slow" in markers else {}
        command = [sys.executable, "-m", "pytest", *files, "-q", "-p", "no:cacheprovider"]
        command += ["--junitxml", self.report.name, "-m", f"({markers}) and not {INDEPENDENT}"]
        command += ["-W", "ignore::DeprecationWarning"]
        self.process = subprocess.Popen(
            command, stdout=self.log, stderr=subprocess.STDOUT, text=True, env=child_env(backend, **subset), cwd=REPO
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()

    def output(self, timeout: float = 900) -> str:
        """The child's pytest output once it has finished."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        self.log.seek(0)
        return self.log.read()

    def outcomes(self, suite: str) -> list[Outcome]:
        """The tests of ``suite`` the child ran (collection errors of its files included). Fails with the
        child's output when it did not finish its run (an internal or usage error, a crash)."""
        output = self.output()
        code = self.process.returncode
        assert code in (0, 1), f"{self.backend}: pytest exited with {code}:\n{output[-10000:]}"
        prefixes = tuple(path.removesuffix(".py").replace("/", ".") for path in SUITES[suite])
        found = []
        for case in ET.parse(self.report.name).getroot().iter("testcase"):
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
