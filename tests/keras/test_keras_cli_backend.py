"""``keras-seq2seq translate/export`` run a ``.keras`` model where Keras' default backend (TensorFlow) is not
installed: the file records the backend it was trained on, and the command prefers it when ``KERAS_BACKEND``
is unset.

A missing TensorFlow is simulated in a fresh interpreter by a meta-path finder that refuses to import it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from keras_seq2seq import cli
from tests.helpers import REPO, child_env

#: Makes the packages named in ``BLOCKED`` (a list) unimportable, as if they were not installed.
BLOCKER = """
    import importlib.abc, sys

    class NotInstalled(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NotInstalled())
"""
SAVE = """
    import keras
    from keras_seq2seq import Seq2SeqModel
    model = Seq2SeqModel(["<pad>", "<bos>", "<eos>", "<unk>", "a", "b"], ["<pad>", "<bos>", "<eos>", "<unk>", "a", "b"],
                         {"hidden_size": 8, "embedding_dim": 4})
    model.translate(["a b"])  # builds the weights
    model.save(sys.argv[1])
"""
RUN = """
    from keras_seq2seq.cli import main
    status = main(sys.argv[1:])
    import keras
    print("backend", keras.backend.backend(), status)
"""


def python(code: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


def saved_model(tmp_path: Path, backend: str) -> Path:
    path = tmp_path / f"{backend}.keras"
    result = python("import sys\n" + textwrap.dedent(SAVE), [str(path)], child_env(backend))
    assert result.returncode == 0, result.stderr[-3000:]
    return path


def without_tensorflow(tmp_path: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    """``keras-seq2seq args`` with TensorFlow unimportable, no ``KERAS_BACKEND`` and no ``keras.json``."""
    env = child_env(KERAS_HOME=str(tmp_path / "keras_home"))
    env.pop("KERAS_BACKEND", None)
    code = f"BLOCKED = {['tensorflow', 'tf_keras']!r}\n" + textwrap.dedent(BLOCKER) + textwrap.dedent(RUN)
    return python(code, args, env)


@pytest.mark.slow  # starts Keras in fresh interpreters
def test_the_training_backend_is_recorded_in_the_keras_file(tmp_path: Path) -> None:
    path = saved_model(tmp_path, "jax")
    with zipfile.ZipFile(path) as archive:
        assert json.loads(archive.read("config.json"))["config"]["backend"] == "jax"


@pytest.mark.slow  # starts Keras in fresh interpreters
@pytest.mark.parametrize("command", ["translate", "export"])
def test_a_jax_model_runs_on_jax_when_tensorflow_is_missing(tmp_path: Path, command: str) -> None:
    path = saved_model(tmp_path, "jax")
    args = ["translate", "--model", str(path), "a b"] if command == "translate" else []
    args = args or ["export", "--model", str(path), "--out", str(tmp_path / "onnx")]
    result = without_tensorflow(tmp_path, args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-1] == "backend jax 0"
    if command == "export":
        assert {"encoder.onnx", "decoder.onnx"} <= set(os.listdir(tmp_path / "onnx"))


@pytest.mark.slow  # starts Keras in fresh interpreters
def test_a_model_of_a_missing_backend_runs_on_an_installed_one(tmp_path: Path) -> None:
    path = saved_model(tmp_path, "tensorflow")  # recorded tensorflow, which is then "not installed"
    result = without_tensorflow(tmp_path, ["translate", "--model", str(path), "a b"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-1] == "backend jax 0"  # the first installed of tensorflow, jax, torch


@pytest.mark.parametrize(
    ("recorded", "installed", "chosen"),
    [
        ("jax", {"tensorflow", "jax", "torch"}, "jax"),  # the training backend first
        ("jax", {"torch"}, "torch"),  # neither it nor Keras' default: the first installed
        ("torch", {"tensorflow", "jax"}, None),  # Keras' default (nothing to set)
        (None, {"jax", "torch"}, "jax"),  # a file saved before the backend was recorded
    ],
)
def test_the_backend_choice(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, recorded: str | None, installed: set[str], chosen: str | None
) -> None:
    monkeypatch.setenv("KERAS_BACKEND", "")  # records the variable, so what choose_backend sets is undone too
    monkeypatch.delenv("KERAS_BACKEND")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # no keras.json: Keras' default is tensorflow
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    monkeypatch.setattr(cli, "recorded_backend", lambda path: recorded)
    monkeypatch.setattr(cli, "installed", lambda package: package in installed)
    cli.choose_backend(cli.build_parser().parse_args(["translate", "--model", "m.keras", "x"]))
    assert os.environ.get("KERAS_BACKEND") == chosen


def test_no_backend_installed_is_one_line_naming_the_extras(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KERAS_BACKEND", "")  # records the variable, so what choose_backend sets is undone too
    monkeypatch.delenv("KERAS_BACKEND")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    monkeypatch.setattr(cli, "installed", lambda package: False)
    with pytest.raises(cli.CLIError, match=r"no Keras backend is installed .*pip install 'seq2seq-fit\[tf\]'"):
        cli.choose_backend(cli.build_parser().parse_args(["translate", "--model", "m.keras", "x"]))


def test_keras_json_sets_keras_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "torch"}))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert cli.keras_default_backend() == "torch"
    (tmp_path / "keras.json").write_text("not json")
    assert cli.keras_default_backend() == "tensorflow"
