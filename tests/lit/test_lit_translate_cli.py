"""``lit-seq2seq translate``: decode with a checkpoint from the command line, like ``keras-seq2seq translate``."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
import torch

from datamodules.toy import TOY_PAIRS
from lit_seq2seq import LitSeq2Seq
from lit_seq2seq.cli import main
from tests.helpers import error_line
from tests.helpers.lightning import toy_checkpoint

SMALL = {"embedding_dim": 16, "hidden_size": 32}


def train_and_save(path: Path, attention: str, steps: int) -> Path:
    """A small model with ``attention`` trained ``steps`` steps on the toy pairs (30 steps memorise them)."""
    return toy_checkpoint(path, {**SMALL, "attention": attention}, steps)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_and_save(tmp_path_factory.mktemp("luong") / "toy.ckpt", "luong", steps=40)


def test_translates_sentences_and_a_file(checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sentences = tmp_path / "sentences.txt"
    sentences.write_text(f"{TOY_PAIRS[1][0]}\n{TOY_PAIRS[2][0]}\n", encoding="utf-8")
    lines = main(["translate", "--ckpt_path", str(checkpoint), TOY_PAIRS[0][0], "--file", str(sentences)])
    assert lines == [target for _, target in TOY_PAIRS[:3]], "the memorised pairs, in input order"
    assert capsys.readouterr().out.splitlines() == lines


def test_decoding_options_reach_translate(checkpoint: Path) -> None:
    sources = [source for source, _ in TOY_PAIRS]
    model = LitSeq2Seq.load_from_checkpoint(checkpoint, map_location="cpu")
    expected = model.translate(sources, strategy="beam", beam_width=3, length_penalty=0.6, max_length=3)
    args = ["translate", "--model", str(checkpoint), "--strategy", "beam", "--beam-width", "3"]
    lines = main([*args, "--length-penalty", "0.6", "--max_length", "3", *sources])
    assert lines == [" ".join(tokens) for tokens in expected]
    assert all(len(line.split()) <= 3 for line in lines), "--max_length cut the outputs"
    sampled = main(["translate", "--ckpt-path", str(checkpoint), "--strategy", "sample", "--temperature", "5",
                    "--seed", "3", *sources * 3])  # fmt: skip
    assert sampled == main(["translate", "--ckpt-path", str(checkpoint), "--strategy", "sample", "--temperature", "5",
                            "--seed", "3", *sources * 3]), "seeded sampling repeats"  # fmt: skip
    chars = main(["translate", "--ckpt_path", str(checkpoint), "--tokenizer", "char", "I feel"])
    expected_chars = model.translate([list("I feel")])
    assert chars == [" ".join(expected_chars[0])]


@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")  # Hangul labels in the default font
def test_show_attention_writes_a_png_of_the_first_sentence(checkpoint: Path, tmp_path: Path) -> None:
    png = tmp_path / "attention.png"
    lines = main(["translate", "--ckpt_path", str(checkpoint), "--show-attention", str(png), *TOY_PAIRS[0][:1]])
    assert lines == [TOY_PAIRS[0][1]]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plt = pytest.importorskip("matplotlib.pyplot")
    height, width, _ = plt.imread(png).shape
    assert height > 100 and width > 100


def test_show_attention_is_refused_without_attention(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = train_and_save(tmp_path / "none.ckpt", "none", steps=1)
    png = tmp_path / "attention.png"
    line = error_line(
        main, ["translate", "--ckpt_path", str(checkpoint), "--show-attention", str(png), "I feel hungry"], capsys
    )
    assert (
        line.startswith("lit-seq2seq translate: error: --show-attention: ") and "none.ckpt has attention='none'" in line
    )
    assert not png.exists()
    assert len(main(["translate", "--ckpt_path", str(checkpoint), "I feel hungry"])) == 1, "fine without the map"


def test_errors_are_one_line_naming_the_file_and_the_fix(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere" / "model.ckpt"
    assert error_line(main, ["translate", "--ckpt_path", str(missing), "hello"], capsys) == (
        f"lit-seq2seq translate: error: --model {missing}: no such checkpoint file or model directory"
    )
    pickled = tmp_path / "pickled.ckpt"
    torch.save({**torch.load(checkpoint, weights_only=True), "extra": Path("x")}, pickled)
    line = error_line(main, ["translate", "--ckpt_path", str(pickled), "hello"], capsys)
    assert re.search(r"pickled\.ckpt: refused to load.*GLOBAL.*; pass --weights_only false .*if you trust", line)
    assert len(main(["translate", "--ckpt_path", str(pickled), "--weights_only", "false", "hello"])) == 1
    capsys.readouterr()  # the unseen-token warning of "hello"
    line = error_line(
        main, ["translate", "--ckpt_path", str(checkpoint), "--strategy", "beam", "--beam-width", "0", "x"], capsys
    )
    assert "--beam_width/--beam-width: got 0, expected an integer >= 1" in line
    assert "nothing to translate" in error_line(main, ["translate", "--ckpt_path", str(checkpoint)], capsys)
    absent = str(tmp_path / "absent.txt")
    line = error_line(main, ["translate", "--ckpt_path", str(checkpoint), "--file", absent], capsys)
    assert line.endswith("absent.txt: No such file or directory")


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("corpus.tsv", b"hello\tworld\n", "not a file written by torch.save"),
        ("empty.ckpt", b"", "an empty file"),
        ("notes.txt", b"hi", "not a file written by torch.save"),
        ("random.ckpt", bytes(range(200, 256)) * 4, "not a file written by torch.save"),
        ("pickle.ckpt", b"\x80\x02" + bytes(range(190, 256)), "Unsupported operand"),
        ("zip.ckpt", b"PK\x03\x04 truncated", ""),
    ],
)
def test_a_file_that_is_not_a_checkpoint_is_one_line_without_the_weights_only_advice(
    name: str, content: bytes, reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    line = error_line(main, ["translate", "--model", str(path), "hello"], capsys)
    assert line.startswith(f"lit-seq2seq translate: error: --model {path}: not a LitSeq2Seq checkpoint ({reason}")
    assert "weights_only" not in line


def test_a_torch_file_without_a_model_is_not_a_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tensors.pt"
    torch.save({"x": torch.zeros(2)}, path)
    line = error_line(main, ["translate", "--model", str(path), "hello"], capsys)
    assert line.startswith(f"lit-seq2seq translate: error: --model {path}: not a LitSeq2Seq checkpoint (")


def test_an_empty_source_prints_an_empty_line(checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["translate", "--ckpt_path", str(checkpoint), "--tokenizer", "char", ""]) == [""]
    assert capsys.readouterr().out == "\n"


def test_unseen_tokens_decode_with_one_warning_line(checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = main(["translate", "--ckpt_path", str(checkpoint), "12345 hungry", "I feel hungry", "12345"])
    assert len(lines) == 3
    (warning,) = capsys.readouterr().err.splitlines()
    assert warning.startswith("lit-seq2seq translate: warning: ") and "2 of 3 sources" in warning
    assert "12345" in warning


def test_help_mentions_translate(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "{fit,validate,test,predict,translate,export}" in out and "lit-seq2seq translate --model" in out
    with pytest.raises(SystemExit) as exit_info:
        main(["translate", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--ckpt_path", "--file", "--strategy", "--beam-width", "--length-penalty", "--tokenizer"):
        assert option in out


def test_the_console_script_exits_with_status_zero(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The ``lit-seq2seq`` script runs ``sys.exit(main())``: anything but ``None``/0 would be a failure."""
    monkeypatch.setattr(sys, "argv", ["lit-seq2seq", "translate", "--ckpt_path", str(checkpoint), TOY_PAIRS[0][0]])
    assert main() is None
    assert capsys.readouterr().out == TOY_PAIRS[0][1] + "\n"
    fit = ["fit", "--trainer.max_steps=1", "--trainer.limit_val_batches=0", "--trainer.logger=false",
           "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
           "--trainer.accelerator=cpu", f"--trainer.default_root_dir={tmp_path}"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["lit-seq2seq", *fit])
    assert main() is None


def test_main_called_from_python_leaves_the_environment_as_it_found_it(
    checkpoint: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.setenv("GRPC_VERBOSITY", "DEBUG")
    assert len(main(["translate", "--model", str(checkpoint), "I feel hungry"])) == 1
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ and os.environ["GRPC_VERBOSITY"] == "DEBUG"
