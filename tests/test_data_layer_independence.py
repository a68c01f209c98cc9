"""The model packages depend only on the core: a project with its own ``datamodules`` package uses
``LitSeq2Seq`` and ``Seq2SeqModel`` untouched, the commands that need our data layer say in one line
that another package hides it, and loading a corpus starts no framework.

Each case runs in a fresh interpreter whose working directory holds the project's own
``datamodules`` package, so it comes first on ``sys.path`` as it does for ``python my_script.py``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import REPO, child_env

BIN = Path(sys.executable).parent
FRAMEWORKS = ("keras", "tensorflow", "jax", "torch", "lightning")

#: Trains a few steps on the user's own batches beside the project's ``datamodules``, then checks that
#: nothing of ours named ``datamodules`` was imported.
USER_SCRIPT = {
    "lightning": """
        from torch.utils.data import DataLoader
        import lightning.pytorch as pl
        import lit_seq2seq, lit_seq2seq.system
        from lit_seq2seq import LitSeq2Seq
        model = LitSeq2Seq(VOCAB, VOCAB, {"hidden_size": 8, "embedding_dim": 8})
        trainer = pl.Trainer(max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False, accelerator="cpu")
        trainer.fit(model, DataLoader(PAIRS, batch_size=2, collate_fn=collate_pairs))
        assert trainer.global_step == 2
        print(model.translate(["a b"]))
    """,
    "keras": """
        import keras_seq2seq
        from keras_seq2seq import Seq2SeqModel
        model = Seq2SeqModel(VOCAB, VOCAB, {"hidden_size": 8, "embedding_dim": 8})
        model.compile(optimizer="adam")
        batch = collate_pairs(PAIRS)
        inputs = {"source": batch["source"], "target_in": batch["target_in"]}
        history = model.fit(inputs, batch["target_out"], batch_size=2, epochs=1, verbose=0)
        assert len(history.history["loss"]) == 1
        print(model.translate(["a b"]))
    """,
}
PRELUDE = """
    import sys
    import datamodules  # the project's own package
    assert datamodules.OWNER == "the user's project", datamodules.__file__
    from seq2seq_fit import Vocab, collate_pairs
    VOCAB = Vocab(["<pad>", "<bos>", "<eos>", "<unk>", "a", "b", "c"])
    PAIRS = [([4, 5, 6], [6, 5, 4]), ([5, 4], [4, 5])] * 2
"""
EPILOGUE = """
    assert sys.modules["datamodules"] is datamodules
    ours = sorted(name for name in sys.modules if name.startswith("datamodules."))
    assert not ours, ours
    print("ok")
"""


def project(tmp_path: Path, init: str = 'OWNER = "the user\'s project"\n') -> Path:
    """A project directory with its own ``datamodules`` package (``init`` is its ``__init__.py``)."""
    package = tmp_path / "datamodules"
    package.mkdir()
    (package / "__init__.py").write_text(init)
    return tmp_path


def run_in(cwd: Path, args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=child_env(**env), capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["lightning", "keras"])
def test_the_models_train_beside_a_projects_own_datamodules_package(tmp_path: Path, framework: str) -> None:
    script = textwrap.dedent(PRELUDE) + textwrap.dedent(USER_SCRIPT[framework]) + textwrap.dedent(EPILOGUE)
    result = run_in(project(tmp_path), [sys.executable, "-c", script], KERAS_BACKEND="torch")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-1] == "ok"


def test_no_module_of_the_model_packages_imports_datamodules_when_imported() -> None:
    offenders = []
    for path in sorted([*(REPO / "lit_seq2seq").rglob("*.py"), *(REPO / "keras_seq2seq").rglob("*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module level only: the commands import the data layer inside their functions
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [
                f"{path.relative_to(REPO)}:{node.lineno}" for name in names if name.split(".")[0] == "datamodules"
            ]
    assert not offenders


@pytest.mark.slow
def test_importing_the_model_packages_imports_no_datamodules(tmp_path: Path) -> None:
    script = """
        import sys
        import lit_seq2seq, lit_seq2seq.system, lit_seq2seq.cli, keras_seq2seq, keras_seq2seq.cli
        from keras_seq2seq import Seq2SeqModel
        from lit_seq2seq import LitSeq2Seq
        print(sorted(name for name in sys.modules if name.split(".")[0] == "datamodules"))
    """
    # The project's package raises when imported: any import of a ``datamodules`` fails the script.
    cwd = project(tmp_path, 'raise ImportError("the project\'s datamodules was imported")\n')
    result = run_in(cwd, [sys.executable, "-c", textwrap.dedent(script)], KERAS_BACKEND="torch")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-1] == "[]"


@pytest.mark.parametrize(
    "command",
    [
        ["lit-seq2seq", "fit", "--data.corpus", "toy", "--trainer.max_steps", "1"],
        ["keras-seq2seq", "fit", "--corpus", "toy", "--epochs", "1"],
    ],
    ids=["lit-seq2seq", "keras-seq2seq"],
)
@pytest.mark.parametrize("init", ["OWNER = 1\n", "raise ImportError('broken')\n"], ids=["defined", "raising"])
def test_fit_commands_name_a_shadowing_datamodules_in_one_line(tmp_path: Path, command: list[str], init: str) -> None:
    cwd = project(tmp_path, init)
    # A console script's sys.path starts at its own folder: the project comes first through PYTHONPATH.
    result = run_in(cwd, [sys.executable, "-X", "importtime", str(BIN / command[0]), *command[1:]], PYTHONPATH=str(cwd))
    lines = result.stderr.splitlines()
    imported = {line.split("|")[-1].strip().split(".")[0] for line in lines if line.startswith("import time:")}
    errors = [line for line in lines if not line.startswith("import time:")]
    assert result.returncode == 2, result.stderr[-3000:]
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{command[0]} fit: error: {cwd / 'datamodules'} is another package named ")
    assert "rename that package" in errors[0] and f"does not put {cwd} first on sys.path" in errors[0]
    assert not imported & set(FRAMEWORKS), "refused before any framework starts"


@pytest.mark.slow
def test_the_demo_names_a_shadowing_datamodules_in_one_line(tmp_path: Path) -> None:
    cwd = project(tmp_path)
    result = run_in(cwd, [sys.executable, "-m", "lit_seq2seq.demo", "--minutes", "0.1", "--out", str(tmp_path / "o")])
    assert result.returncode == 2, result.stderr[-3000:]
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"python -m lit_seq2seq.demo: error: {cwd / 'datamodules'} is another package named ")
    assert not (tmp_path / "o").exists()
