"""The serving command lines: ``lit-seq2seq export``, ``keras-seq2seq export`` and ``seq2seq-fit export``
write an ONNX export, and ``seq2seq-fit translate`` prints from it what the framework it came from prints,
importing neither torch, TensorFlow, Keras nor JAX.

The Lightning commands run in this process (``main([...])``); the Keras export and the
framework-free checks run in fresh processes.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("lightning")


from datamodules.toy import TOY_PAIRS
from keras_seq2seq.cli import main as keras_main
from lit_seq2seq import LitSeq2Seq
from lit_seq2seq.cli import main as lit_main
from seq2seq_fit.cli import main as serve_main
from tests.helpers import REPO, child_env, error_line
from tests.helpers.lightning import one_thread, toy_checkpoint

__all__ = ["one_thread"]  # autouse: one torch thread in this module

FRAMEWORKS = ("torch", "lightning", "tensorflow", "keras", "jax")
#: The toy sources, a shorter and a longer one, and one with words the vocabulary lacks.
SOURCES = [*(source for source, _ in TOY_PAIRS), "I feel", "deep learning is very very difficult", "unseen words"]
#: Greedy, and beam search with a length penalty.
DECODINGS = {"greedy": [], "beam": ["--strategy", "beam", "--beam_width", "3", "--length_penalty", "0.6"]}


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter from the repository root (TensorFlow's logs quiet)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=REPO, env=child_env(),
        timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small LSTM with Bahdanau attention trained on the toy pairs until it has learnt them (20 steps), saved by
    ``Trainer.save_checkpoint``."""
    config = {"embedding_dim": 16, "hidden_size": 32, "cell": "lstm", "attention": "bahdanau"}
    return toy_checkpoint(tmp_path_factory.mktemp("lit") / "toy.ckpt", config, steps=20)


@pytest.fixture(scope="module")
def words(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("words") / "words.txt"
    path.write_text("\n".join(SOURCES) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def lit_export(checkpoint: Path) -> Path:
    out = checkpoint.parent / "export"
    assert lit_main(["export", "--ckpt_path", str(checkpoint), "--out", str(out)]) == out
    return out


@pytest.mark.filterwarnings("ignore::seq2seq_fit.UnknownTokensWarning")
@pytest.mark.parametrize("decoding", list(DECODINGS))
def test_serving_translates_a_lightning_export_as_lit_seq2seq_translate(
    decoding: str, checkpoint: Path, lit_export: Path, words: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = lit_main(["translate", "--ckpt_path", str(checkpoint), "--file", str(words), *DECODINGS[decoding]])
    capsys.readouterr()
    lines = serve_main(["translate", "--model", str(lit_export), "--file", str(words), *DECODINGS[decoding]])
    out, err = capsys.readouterr()
    assert lines == expected and len(lines) == len(SOURCES)
    if decoding == "greedy":
        assert lines[: len(TOY_PAIRS)] == [target for _, target in TOY_PAIRS], "the learnt pairs, in file order"
    assert out.splitlines() == lines
    assert err.splitlines() == [
        f"seq2seq-fit translate: warning: 1 of {len(SOURCES)} sources have tokens not in the source vocabulary, read "
        "as <unk>: 'unseen', 'words'"
    ], "the warning of lit-seq2seq translate, under this command's name"


def test_export_prints_the_directory_and_writes_the_model_files(
    lit_export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``export_onnx`` writes the same config.json and vocab.json as ``save_pretrained`` (they get the same
    arguments); a ``save_pretrained`` directory exports through each command line, no framework started, to the
    same files."""
    lit = LitSeq2Seq.load_from_checkpoint(lit_export.parent / "toy.ckpt", map_location="cpu")
    pretrained = tmp_path / "pretrained"
    lit.save_pretrained(pretrained)
    assert sorted(p.name for p in lit_export.iterdir()) == [
        "config.json",
        "decoder.onnx",
        "encoder.onnx",
        "export.json",
        "tokenizer_config.json",
        "vocab.json",
    ]
    for name in ("vocab.json", "tokenizer_config.json"):
        assert (lit_export / name).read_bytes() == (pretrained / name).read_bytes(), name
    exported, saved = (json.loads((d / "config.json").read_text()) for d in (lit_export, pretrained))
    assert {**exported, "files": None} == {**saved, "files": None}  # "files": each directory's own file list
    capsys.readouterr()
    assert serve_main(["export", "--model", str(pretrained), "--out", str(tmp_path / "a")]) == tmp_path / "a"
    assert lit_main(["export", "--model", str(pretrained), "--out", str(tmp_path / "b")]) == tmp_path / "b"
    assert keras_main(["export", "--model", str(pretrained), "--out", str(tmp_path / "c")]) == 0
    exports = [tmp_path / "a", tmp_path / "b", tmp_path / "c"]
    assert capsys.readouterr().out.splitlines() == [str(directory) for directory in exports]
    for directory in exports:
        for name in (
            "config.json",
            "vocab.json",
            "tokenizer_config.json",
            "encoder.onnx",
            "decoder.onnx",
            "export.json",
        ):
            assert (directory / name).read_bytes() == (lit_export / name).read_bytes(), (directory, name)


@pytest.mark.filterwarnings("ignore::seq2seq_fit.UnknownTokensWarning")
def test_serving_imports_no_framework(lit_export: Path, words: Path, tmp_path: Path) -> None:
    """``seq2seq-fit translate`` and ``export`` in a fresh process: numpy, onnxruntime (onnx for export),
    and no torch, TensorFlow, Keras or JAX."""
    pretrained = tmp_path / "pretrained"
    LitSeq2Seq.load_from_checkpoint(lit_export.parent / "toy.ckpt", map_location="cpu").save_pretrained(pretrained)
    result = run_python(f"""
        import json, sys
        from seq2seq_fit.cli import main
        lines = main(["translate", "--model", {str(lit_export)!r}, "--file", {str(words)!r}, "--strategy", "beam"])
        translate_imports = sorted(m for m in {FRAMEWORKS!r} + ("onnx",) if m in sys.modules)
        main(["export", "--model", {str(pretrained)!r}, "--out", {str(tmp_path / "export")!r}])
        export_imports = sorted(m for m in {FRAMEWORKS!r} if m in sys.modules)
        print(json.dumps([lines, translate_imports, export_imports, "onnxruntime" in sys.modules]))
    """)
    assert result.returncode == 0, result.stderr
    lines, translate_imports, export_imports, ran_onnxruntime = json.loads(result.stdout.splitlines()[-1])
    assert translate_imports == [] and export_imports == [] and ran_onnxruntime
    assert lines == serve_main(["translate", "--model", str(lit_export), "--file", str(words), "--strategy", "beam"])


def test_lightning_export_imports_no_tensorflow(checkpoint: Path, tmp_path: Path) -> None:
    result = run_python(f"""
        import sys
        from lit_seq2seq.cli import main
        main(["export", "--ckpt_path", {str(checkpoint)!r}, "--out", {str(tmp_path / "export")!r}])
        print(sorted(m for m in ("tensorflow", "keras", "jax") if m in sys.modules))
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [str(tmp_path / "export"), "[]"]


@pytest.mark.filterwarnings("ignore::seq2seq_fit.UnknownTokensWarning")
def test_serving_translates_a_keras_export_as_keras_translates(words: Path, tmp_path: Path) -> None:
    """``keras-seq2seq export`` of a ``.keras`` file (TensorFlow backend, no torch imported), then
    ``seq2seq-fit translate`` prints what ``Seq2SeqModel.translate`` decodes, greedy and beam."""
    if importlib.util.find_spec("keras") is None or importlib.util.find_spec("tensorflow") is None:
        pytest.skip("needs keras and tensorflow")
    model_file, out = tmp_path / "model.keras", tmp_path / "export"
    result = run_python(f"""
        import json, os, sys, warnings
        os.environ["KERAS_BACKEND"] = "tensorflow"
        from datamodules.keras import KerasData
        from keras_seq2seq import Seq2SeqModel
        from keras_seq2seq.cli import main
        data = KerasData("toy", batch_size=4)
        config = {{"embedding_dim": 16, "hidden_size": 32, "cell": "gru", "attention": "luong", "bidirectional": True}}
        model = Seq2SeqModel(data.src_vocab, data.tgt_vocab, config, seed=3)
        model.save({str(model_file)!r})
        main(["export", "--model", {str(model_file)!r}, "--out", {str(out)!r}])
        sources = open({str(words)!r}, encoding="utf-8").read().splitlines()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            greedy = model.translate(sources)
            beam = model.translate(sources, strategy="beam", beam_width=3, length_penalty=0.6)
        torch_imported = any(m in sys.modules for m in ("torch", "lightning"))
        print(json.dumps([[" ".join(t) for t in greedy], [" ".join(t) for t in beam], torch_imported]))
    """)
    assert result.returncode == 0, result.stderr[-4000:]
    printed, outputs = result.stdout.splitlines()
    greedy, beam, torch_imported = json.loads(outputs)
    assert printed == str(out) and not torch_imported
    assert serve_main(["translate", "--model", str(out), "--file", str(words)]) == greedy
    assert serve_main(["translate", "--model", str(out), "--file", str(words), *DECODINGS["beam"]]) == beam


def test_translate_refuses_what_is_not_an_export(
    lit_export: Path, checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prog = "seq2seq-fit translate: error: "
    line = error_line(serve_main, ["translate", "--model", str(checkpoint), "x"], capsys)
    assert line.startswith(f"{prog}--model {checkpoint}: not an ONNX export directory (a file)"), line
    pretrained = tmp_path / "pretrained"
    LitSeq2Seq.load_from_checkpoint(checkpoint, map_location="cpu").save_pretrained(pretrained)
    line = error_line(serve_main, ["translate", "--model", str(pretrained), "x"], capsys)
    assert line == (
        f"{prog}--model {pretrained}: a save_pretrained model directory, not an ONNX export; export it first: "
        f"seq2seq-fit export --model {pretrained} --out EXPORT_DIR"
    )
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in lit_export.iterdir():
        if path.name != "decoder.onnx":
            (broken / path.name).write_bytes(path.read_bytes())
    line = error_line(serve_main, ["translate", "--model", str(broken), "x"], capsys)
    assert line.startswith(f"{prog}--model {broken / 'decoder.onnx'}: missing"), line
    line = error_line(serve_main, ["translate", "--model", str(tmp_path / "nowhere"), "x"], capsys)
    assert line == f"{prog}--model {tmp_path / 'nowhere'}: no such export directory"
    line = error_line(serve_main, ["translate", "--model", str(lit_export), "--beam_width", "0", "x"], capsys)
    assert line.startswith(f"{prog}argument --beam_width/--beam-width: got 0, expected an integer >= 1"), line
    line = error_line(serve_main, ["translate", "--model", str(lit_export), "--threads", "0", "x"], capsys)
    assert line.startswith(f"{prog}argument --threads: got 0, expected an integer >= 1"), line


def test_export_refuses_bad_paths_in_each_command_lines_spelling(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("x", encoding="utf-8")
    line = error_line(serve_main, ["export", "--model", str(checkpoint), "--out", str(tmp_path / "e")], capsys)
    assert line == (
        f"seq2seq-fit export: error: --model {checkpoint}: a file, expected a save_pretrained directory (for a "
        ".ckpt use lit-seq2seq export, for a .keras file keras-seq2seq export)"
    )
    line = error_line(serve_main, ["export", "--model", str(tmp_path), "--out", str(tmp_path / "e")], capsys)
    assert line.startswith(f"seq2seq-fit export: error: --model {tmp_path / 'config.json'}"), line
    line = error_line(lit_main, ["export", "--ckpt_path", str(checkpoint), "--out", str(a_file)], capsys)
    assert line == f"lit-seq2seq export: error: --out {a_file}: a file, expected a directory to write the export into"
    line = error_line(lit_main, ["export", "--ckpt_path", str(a_file), "--out", str(tmp_path / "e")], capsys)
    assert (
        line == f"lit-seq2seq export: error: --model {a_file}: not a LitSeq2Seq checkpoint (not a file written by "
        "torch.save)"
    )
    line = error_line(lit_main, ["export", "--ckpt_path", str(checkpoint)], capsys)
    assert line.startswith("lit-seq2seq export: error: the following arguments are required: --out"), line
    assert not (tmp_path / "e").exists(), "nothing written after an error"
