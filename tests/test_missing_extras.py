"""A missing optional extra is one line naming the extra to install, exit status 2, not a traceback.

Each case runs the command line's ``main`` in a fresh interpreter where a meta-path finder makes the
package unimportable, as if it were not installed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import REPO, child_env

BLOCKER = """
    import importlib, importlib.abc, sys

    class NotInstalled(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NotInstalled())
    main = importlib.import_module(MODULE).main
    main(sys.argv[1:])
"""
MAINS = {"lit-seq2seq": "lit_seq2seq.cli", "keras-seq2seq": "keras_seq2seq.cli", "seq2seq-fit": "seq2seq_fit.cli"}


def run_without(package: str, cli: str, args: list[str]) -> tuple[int, list[str]]:
    code = f"BLOCKED = {package!r}\nMODULE = {MAINS[cli]!r}\n" + textwrap.dedent(BLOCKER)
    result = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=300
    )
    return result.returncode, result.stderr.splitlines()


@pytest.mark.parametrize("cli", list(MAINS))
def test_show_attention_without_matplotlib_names_the_plot_extra(tmp_path: Path, cli: str) -> None:
    status, stderr = run_without(
        "matplotlib", cli, ["translate", "--model", str(tmp_path), "--show-attention", str(tmp_path / "x.png"), "a b"]
    )
    assert status == 2, stderr
    assert stderr == [
        f"{cli} translate: error: --show-attention needs the matplotlib package, which is not installed: "
        "pip install 'seq2seq-fit[plot]'"
    ]


@pytest.mark.parametrize("cli", list(MAINS))
def test_export_without_onnx_names_the_serve_extra(tmp_path: Path, cli: str) -> None:
    status, stderr = run_without("onnx", cli, ["export", "--model", str(tmp_path), "--out", str(tmp_path / "out")])
    assert status == 2, stderr
    assert stderr == [
        f"{cli} export: error: export needs the onnx package, which is not installed: pip install 'seq2seq-fit[serve]'"
    ]


def test_serving_without_onnxruntime_names_the_serve_extra(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    import numpy as np

    from seq2seq_fit import Seq2SeqConfig, TeacherForcing
    from seq2seq_fit.onnx_export import export_onnx
    from seq2seq_fit.weight_layout import canonical_shapes

    tokens = ["<pad>", "<bos>", "<eos>", "<unk>", "a"]
    config = Seq2SeqConfig(embedding_dim=4, hidden_size=4)
    weights = {k: np.zeros(s, np.float32) for k, s in canonical_shapes(config, 5, 5).items()}
    export_onnx(tmp_path, config=config, teacher_forcing=TeacherForcing(), src_vocab=tokens, tgt_vocab=tokens,
                weights=weights)  # fmt: skip
    status, stderr = run_without("onnxruntime", "seq2seq-fit", ["translate", "--model", str(tmp_path), "a"])
    assert status == 2, stderr
    assert stderr == [
        "seq2seq-fit translate: error: translate needs the onnxruntime package, which is not installed: "
        "pip install 'seq2seq-fit[serve]'"
    ]
    code = f"""
        import importlib.abc, sys
        class NotInstalled(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "onnxruntime":
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        sys.meta_path.insert(0, NotInstalled())
        from seq2seq_fit.serving import OnnxTranslator
        try:
            OnnxTranslator({str(tmp_path)!r})
        except ImportError as err:
            print(err)
    """
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, env=child_env(),
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.stdout.strip() == (
        "OnnxTranslator needs the onnxruntime package: pip install 'seq2seq-fit[serve]' (or onnxruntime alone)"
    ), result.stderr[-2000:]
