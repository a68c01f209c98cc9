"""What importing (and using) each layer starts: the core and the data layer no framework, each side
no framework of the other side. One interpreter runs every probe (``tests.helpers.imports``, a fork per
probe from a clean state); each probe is one test here. Which modules a package's source may import at
all (any function's imports included): ``tests/test_contract.py``'s ``FORBIDDEN_IMPORTS``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.helpers import REPO, child_env

FRAMEWORKS = ("torch", "lightning", "tensorflow", "keras", "jax")
#: name -> (code run in a clean interpreter, environment it adds, modules it must not have imported).
PROBES: dict[str, tuple[str, dict[str, str], tuple[str, ...]]] = {
    "the core and the data layer load a corpus": (
        "import seq2seq_fit, datamodules\ndatamodules.load_corpus('toy')",
        {},
        FRAMEWORKS,
    ),
    "seq2seq_fit.model_format": ("import seq2seq_fit.model_format", {}, FRAMEWORKS),
    "the Lightning data module": ("from datamodules import Seq2SeqDataModule", {}, ("tensorflow", "keras", "jax")),
    "the Keras data pipeline on JAX serves a batch": (
        "from datamodules import KerasData\nKerasData('toy', batch_size=2).train()[0]",
        {"KERAS_BACKEND": "jax"},
        ("torch", "tensorflow", "lightning"),
    ),
    "keras_seq2seq.system on TensorFlow": (
        "import keras_seq2seq.system",
        {"KERAS_BACKEND": "tensorflow"},
        ("torch", "lightning", "lit_seq2seq"),
    ),
    "lit_seq2seq.system": ("import lit_seq2seq.system", {}, ("keras", "keras_seq2seq", "tensorflow", "jax")),
}


@pytest.fixture(scope="module")
def report() -> dict[str, dict[str, Any]]:
    probes = [{"name": n, "code": c, "env": e, "frameworks": list(f)} for n, (c, e, f) in PROBES.items()]
    result = subprocess.run(
        [sys.executable, "-m", "tests.helpers.imports"],
        input=json.dumps(probes),
        capture_output=True,
        text=True,
        cwd=REPO,
        env=child_env(),
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.mark.backend_independent
@pytest.mark.parametrize("name", list(PROBES))
def test_starts_no_framework_it_does_not_need(name: str, report: dict[str, dict[str, Any]]) -> None:
    assert report[name]["error"] is None, report[name]["error"]
    assert report[name]["imported"] == [], f"{name} imported {report[name]['imported']}"
