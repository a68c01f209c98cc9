"""Errors at the edges of the command lines: one line on stderr, exit status 2, no traceback unless ``--debug``.

Runs the installed console scripts (``lit-seq2seq``, ``keras-seq2seq``, ``seq2seq-fit``) the way a
user does, under ``python -X importtime`` where it matters, to see that ``--help`` and argument
errors start no framework.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
FRAMEWORKS = ("keras", "tensorflow", "jax", "torch", "lightning")
CLIS = ("lit-seq2seq", "keras-seq2seq", "seq2seq-fit")


def run(cli: str, *args: str, stdin: str = "") -> tuple[int, list[str], set[str]]:
    """Exit status, stderr lines and the top-level packages imported, of ``cli args`` (``python -X importtime``)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(BIN / cli), *args], input=stdin, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    lines = result.stderr.splitlines()
    imported = {line.split("|")[-1].strip().split(".")[0] for line in lines if line.startswith("import time:")}
    return result.returncode, [line for line in lines if not line.startswith("import time:")], imported


@pytest.mark.parametrize("cli", CLIS)
def test_help_imports_no_framework(cli: str) -> None:
    commands = [["--help"], ["translate", "--help"], ["export", "--help"]]
    commands += [["fit", "--help"]] if cli == "keras-seq2seq" else []
    for command in commands:
        status, _, imported = run(cli, *command)
        assert status == 0 and not imported & {*FRAMEWORKS, "onnx", "onnxruntime"}, (command, imported)


@pytest.mark.parametrize("cli", CLIS)
def test_translate_errors_are_one_line_naming_the_option(cli: str, tmp_path: Path) -> None:
    model = str(tmp_path / "absent.ckpt")
    long_line = tmp_path / "long.txt"
    long_line.write_bytes(b"fine\n" + b"x" * (1024 * 1024 + 1) + b"\n")
    cases = {
        ("--beam-width", "-1", "x"): "argument --beam_width/--beam-width: got -1, expected an integer >= 1",
        ("--tokenizer", "klingon", "x"): "argument --tokenizer: got 'klingon', expected whitespace, chars, char, or a",
        ("--file", str(tmp_path / "nowhere.txt")): f"--file {tmp_path / 'nowhere.txt'}: No such file or directory",
        ("--file", str(tmp_path)): f"--file {tmp_path}: is a directory, expected a regular file",
        ("--file", "/dev/zero"): "--file /dev/zero: is a character device, expected a regular file",
        ("--file", str(long_line)): f"--file {long_line}:2: line longer than 1048576 bytes (seq2seq_fit.limits",
        ("--max_length", "1000000000", "x"): "argument --max_length/--max-length: got 1000000000, expected an integer "
        "in [1, 16384] (seq2seq_fit.limits.MAX_LENGTH; raise it for a call you trust)",
        ("--beam-width", "1000000", "x"): "got 1000000, expected an integer in [1, 128] (seq2seq_fit.limits.MAX_BEAM_W",
        ("--batch_size", "100000", "x"): "got 100000, expected an integer in [1, 4096] (seq2seq_fit.limits.MAX_BATCH",
        ("x",): f"--model {model}: no such",
        (): "nothing to translate",
    }
    for args, message in cases.items():
        status, stderr, imported = run(cli, "translate", "--model", model, *args)
        assert status == 2, (args, stderr)
        assert len(stderr) == 1 and stderr[0].startswith(f"{cli} translate: error: "), (args, stderr)
        assert message in stderr[0], (args, stderr)
        assert not imported & set(FRAMEWORKS), (args, imported & set(FRAMEWORKS))


@pytest.mark.parametrize("cli", CLIS)
def test_export_errors_are_one_line_naming_the_option(cli: str, tmp_path: Path) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("x", encoding="utf-8")
    absent, out = str(tmp_path / "absent"), str(tmp_path / "out")
    cases = {
        ("--model", absent, "--out", out): f"--model {absent}: no such file or directory",
        ("--model", str(tmp_path), "--out", str(a_file)): f"--out {a_file}: a file, expected a directory",
        ("--model", str(tmp_path)): "the following arguments are required: --out",
        ("--out", out): "the following arguments are required: --model",
    }
    for args, message in cases.items():
        status, stderr, imported = run(cli, "export", *args)
        assert status == 2, (args, stderr)
        assert len(stderr) == 1 and stderr[0].startswith(f"{cli} export: error: {message}"), (args, stderr)
        assert not imported & set(FRAMEWORKS), (args, imported & set(FRAMEWORKS))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("cli", CLIS)
def test_debug_shows_the_traceback(cli: str, tmp_path: Path) -> None:
    status, stderr, _ = run(cli, "translate", "--debug", "--model", str(tmp_path / "absent.ckpt"), "x")
    assert status != 0 and stderr[0] == "Traceback (most recent call last):"
    assert "no such" in stderr[-1]


@pytest.fixture
def bad_tsv(tmp_path: Path) -> Path:
    path = tmp_path / "bad.tsv"
    path.write_text("a b\tx y\nno tab here\nc d\tz w\n", encoding="utf-8")
    return path


LIT_QUIET = ["--trainer.accelerator=cpu", "--trainer.logger=false", "--trainer.enable_progress_bar=false"]


@pytest.mark.parametrize(
    ("cli", "args", "flag"),
    [
        ("lit-seq2seq", LIT_QUIET, "--data.corpus_options.on_error"),
        ("keras-seq2seq", ["--epochs", "1", "--verbose", "0"], "--on_error"),
    ],
)
def test_a_bad_corpus_line_is_one_line_with_the_fix_in_the_cli_spelling(
    cli: str, args: list[str], flag: str, bad_tsv: Path, tmp_path: Path
) -> None:
    corpus_flag = "--data.corpus" if cli == "lit-seq2seq" else "--corpus"
    status, stderr, _ = run(cli, "fit", corpus_flag, str(bad_tsv), *args)
    expected = (
        f"{cli} fit: error: {bad_tsv}:2: expected 2 tab-separated fields, found 1: 'no tab here'; "
        f"pass {flag} skip to drop such lines"
    )
    assert status == 2 and stderr == [expected], "one line, no traceback, no framework start-up logs"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hidden_size", "0"], "--hidden_size: got 0, expected an integer >= 1"),
        (["--model.config.hidden_size", "0"], "--hidden_size: got 0, expected an integer >= 1"),
        (["--schedule", "bogus"], "--schedule: got 'bogus', expected one of 'constant', 'linear'"),
        (["--architecture", "transformer", "--cell", "lstm"], "--cell: got 'lstm' with architecture='transformer'"),
        (["--batch_size", "0"], "--batch_size/--batch-size/--data.batch_size: got 0, expected an integer >= 1"),
        (["--max_length", "-1"], "got -1, expected an integer >= 1"),
        (["--steps_per_epoch", "0"], "--trainer.limit_train_batches: got 0, expected an integer >= 1"),
        (["--tokenizer", "space"], "--tokenizer/--data.corpus_options.tokenizer: got 'space', expected whitespace,"),
    ],
)
def test_keras_fit_refuses_a_bad_model_option_before_any_framework_starts(args: list[str], message: str) -> None:
    status, stderr, imported = run("keras-seq2seq", "fit", *args)
    assert status == 2 and len(stderr) == 1, stderr
    assert stderr[0].startswith("keras-seq2seq fit: error: ") and message in stderr[0], stderr
    assert not imported & set(FRAMEWORKS), imported & set(FRAMEWORKS)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model.config.hidden_size", "0"], "--model.config.hidden_size: got 0, expected an integer >= 1"),
        # Each case starts lit-seq2seq fit (about 15 s): three of them run with -m slow.
        pytest.param(
            ["--model.config.hidden_size", "abc"],
            "--model.config.hidden_size: got 'abc', expected an integer",
            marks=pytest.mark.slow,
        ),
        pytest.param(
            ["--model.teacher_forcing.schedule", "bogus"],
            "--model.teacher_forcing.schedule: got 'bogus', expected",
            marks=pytest.mark.slow,
        ),
        pytest.param(
            ["--trainer.max_epochs", "ten"],
            "--trainer.max_epochs: got 'ten', expected an integer",
            marks=pytest.mark.slow,
        ),
        (["--trainer.precision", "64-true"], "--trainer.precision: got '64-true', expected one of 32, 32-true"),
    ],
)
def test_lit_fit_config_errors_are_one_line_in_the_lightning_spelling(args: list[str], message: str) -> None:
    status, stderr, _ = run("lit-seq2seq", "fit", *args, *LIT_QUIET)
    assert status == 2 and len(stderr) == 1, stderr
    assert stderr[0].startswith(f"lit-seq2seq fit: error: {message}"), stderr
