"""Every script in examples/ runs as a user would run it, so the examples never rot."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.py"))
EXPECTED = {
    "lightning_quickstart.py": "[['f', 'e', 'd', 'c', 'b', 'a']]",
    "lightning_tsv.py": "[['7', '3'], ['2', '9']]",  # number words to digits, learned from the generated file
    "lightning_own_module.py": "trained 96 steps: ",  # 3 epochs of 32 batches through the custom system
    "keras_quickstart.py": "[['f', 'e', 'd', 'c', 'b', 'a']]",
    "keras_own_model.py": "test exact match (greedy): ",  # the script asserts the score itself
    # the script asserts that both frameworks give the same outputs at each hand-over
    # BPE tokenizers, the user's own DataLoader / tf.data, text out; the script asserts the ONNX server agrees
    "lightning_own_data.py": "['73', '29']",
    "keras_own_data.py": "['73', '29']",
    "lightning_keras_round_trip.py": "lightning loads the keras model: same greedy outputs, max |logit difference| ",
}
#: Scripts that train for 20-30 s each on 2 cores (until their outputs are right): ``slow``. The others run
#: in the default suite.
SLOW = {
    "lightning_quickstart.py",
    "keras_quickstart.py",
    "keras_own_model.py",
    "keras_own_data.py",
    "lightning_keras_round_trip.py",
}
#: Scripts written for one Keras backend (a custom ``train_step`` is backend-specific).
NEEDS = {"keras_own_model.py": "tensorflow"}


@pytest.mark.parametrize(
    "script", [pytest.param(p, id=p.name, marks=[pytest.mark.slow] if p.name in SLOW else []) for p in EXAMPLES]
)
def test_example_runs(script, tmp_path):
    if script.name.startswith("keras"):
        pytest.importorskip("keras")
    if script.name.startswith("lightning"):
        pytest.importorskip("lightning")
    if script.name in NEEDS and importlib.util.find_spec(NEEDS[script.name]) is None:
        pytest.skip(f"{script.name} needs {NEEDS[script.name]}")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "tensorflow")}
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert EXPECTED[script.name] in result.stdout, result.stdout[-4000:]


def test_every_example_has_an_expected_line():
    assert sorted(EXPECTED) == sorted(script.name for script in EXAMPLES)
    assert all(line.strip() for line in EXPECTED.values())
    assert EXPECTED.keys() >= SLOW
