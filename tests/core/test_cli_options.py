"""The framework-free pieces both command lines are built from: errors, warnings, option checks, environment."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import warnings

import pytest

from datamodules.errors import DataError
from seq2seq_fit.cli.environment import restored_environment
from seq2seq_fit.cli.errors import CLIError, checked_input, cli_errors, cli_warnings
from seq2seq_fit.cli.options import TRANSLATE_OPTIONS
from seq2seq_fit.errors import InputError, ModelFormatError, UnsafeFileError
from seq2seq_fit.generation_config import GenerationConfig
from seq2seq_fit.translate import UnknownTokensWarning


def exit_line(block, capsys: pytest.CaptureFixture[str], **kwargs) -> str:
    """The one stderr line ``cli_errors`` prints for what ``block`` raises (after checking exit status 2)."""
    with pytest.raises(SystemExit) as exit_info, cli_errors("prog", debug=False, **kwargs):
        block()
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    return line


def raise_(error: BaseException):
    def block() -> None:
        raise error

    return block


@pytest.mark.parametrize(
    "error",
    [
        CLIError("--model x: no such file"),
        ModelFormatError("m/config.json: unknown format_version 9"),
        DataError("bad.tsv", 2, "expected 2 tab-separated fields, found 1"),
        UnsafeFileError("a.ckpt: refused"),
    ],
)
def test_the_projects_input_errors_are_one_line(error: InputError, capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_line(raise_(error), capsys) == f"prog: error: {error}"


@pytest.mark.parametrize("error", [ValueError("shapes (3,) and (4,) differ"), RuntimeError("CUDA"), KeyError("k")])
def test_any_other_error_keeps_its_traceback(error: BaseException) -> None:
    with pytest.raises(type(error)), cli_errors("prog", debug=False):
        raise error


def test_debug_re_raises_input_errors_too() -> None:
    with pytest.raises(CLIError), cli_errors("prog", debug=True):
        raise CLIError("x")


def test_checked_input_marks_the_argument_checks_as_input_errors(capsys: pytest.CaptureFixture[str]) -> None:
    def build() -> None:
        with checked_input():
            raise ValueError("Seq2SeqConfig.hidden_size: got 0, expected an integer >= 1")

    owners = {"Seq2SeqConfig": "--model.config."}
    line = exit_line(build, capsys, owners=owners)
    assert line == "prog: error: --model.config.hidden_size: got 0, expected an integer >= 1"
    data_error = DataError("a.tsv", 1, "empty", option="on_error", value="skip", purpose="to drop such lines")
    with pytest.raises(DataError), checked_input():  # an input error passes unchanged (its hint is kept)
        raise data_error


def test_hints_use_the_command_lines_flag_spelling(capsys: pytest.CaptureFixture[str]) -> None:
    unsafe = UnsafeFileError("a.ckpt: refused", option="weights_only", value=False, purpose="if you trust it")
    assert str(unsafe) == "a.ckpt: refused; pass weights_only=False if you trust it"
    line = exit_line(raise_(unsafe), capsys, flags={"weights_only": "--weights_only"})
    assert line == "prog: error: a.ckpt: refused; pass --weights_only false if you trust it"


def test_warnings_are_printed_even_when_the_block_raises(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(RuntimeError), cli_warnings("prog translate"):
        warnings.warn("translate: 1 of 1 sources have tokens ...: 'z'", UnknownTokensWarning, stacklevel=1)
        raise RuntimeError("later")
    assert capsys.readouterr().err == "prog translate: warning: 1 of 1 sources have tokens ...: 'z'\n", (
        "printed, and 'translate:' said once"
    )


def translate_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(exit_on_error=False)
    for option in TRANSLATE_OPTIONS:
        option.add_to(parser)
    return parser


@pytest.mark.parametrize(
    ("name", "bad"),
    [("beam_width", "0"), ("length_penalty", "11"), ("temperature", "0"), ("top_k", "0"), ("max_length", "0"),
     ("batch_size", "-3"), ("seed", "-1"), ("beam_width", "two"), ("temperature", "nan")],
)  # fmt: skip
def test_translate_flags_are_checked_by_the_core_check(name: str, bad: str) -> None:
    with pytest.raises(argparse.ArgumentError) as flag_error:
        translate_parser().parse_args([f"--{name}", bad])
    kind = float if name in ("length_penalty", "temperature") else int
    try:
        value = kind(bad)
    except ValueError:
        value = bad
    with pytest.raises(ValueError) as core_error:
        GenerationConfig(**{name: value})
    assert str(flag_error.value).endswith(str(core_error.value).removeprefix(f"translate.{name}: "))


def test_main_leaves_the_environment_as_it_found_it() -> None:
    os.environ.pop("KERAS_BACKEND", None)
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "1"
    try:
        with restored_environment():
            os.environ["KERAS_BACKEND"] = "jax"
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        assert "KERAS_BACKEND" not in os.environ and os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"
    finally:
        os.environ.pop("TF_CPP_MIN_LOG_LEVEL")


def test_the_cli_layer_imports_no_heavy_library() -> None:
    """``--help`` imports the option table; it needs neither a framework nor the scoring and file libraries."""
    heavy = ("torch", "tensorflow", "keras", "jax", "lightning", "rapidfuzz", "safetensors", "sacrebleu")
    code = (
        "import sys, seq2seq_fit, seq2seq_fit.cli.options, keras_seq2seq.cli, lit_seq2seq.cli\n"
        f"print(' '.join(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""
