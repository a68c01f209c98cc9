"""The commands the three command lines share: ``translate`` and ``export`` around each one's model loader.

Each command line parses its options, then calls :func:`run_translate` or :func:`export_command`
with a function that starts its framework and loads ``--model``; everything else (the checks that
need no framework, the decoding options, the heat map, the export of a model directory by the
core alone, the output) is here once.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from seq2seq_fit.cli.environment import require_package
from seq2seq_fit.cli.errors import CLIError, cli_warnings
from seq2seq_fit.cli.options import TRANSLATE_OPTIONS


def require_model_path(path: str, what: str) -> None:
    """Refuse a ``--model`` path that does not exist, before any framework starts.

    Args:
        path: the ``--model`` value.
        what: what the command line takes there, for the message (``"export directory"``).

    Raises:
        CLIError: ``--model PATH: no such WHAT``.
    """
    if not os.path.exists(path):
        raise CLIError(f"--model {path}: no such {what}")


def check_export_args(args: argparse.Namespace) -> None:
    """The checks of ``export`` that need no framework: ``--model`` exists, ``--out`` is not a file, onnx is installed.

    Raises:
        CLIError: naming the option, the path and the fix.
    """
    require_model_path(args.model, "file or directory")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise CLIError(f"--out {args.out}: a file, expected a directory to write the export into")
    require_package("onnx", "export")


def run_export(args: argparse.Namespace, export: Callable[[str], Any]) -> Path:
    """``export`` of the three command lines: write the export of ``--model`` to ``--out``; print its path.

    Args:
        args: the parsed options (``--model``, ``--out``), already checked by :func:`check_export_args`.
        export: this command line's exporter: the ``--out`` directory -> the export directory written.

    Raises:
        CLIError: ``--out`` cannot be written.
    """
    try:
        path = Path(export(args.out))
    except OSError as err:
        where = err.filename if err.filename is not None else args.out
        raise CLIError(f"--out {args.out}: cannot write {where}: {err.strerror or err}") from err
    print(path)
    return path


def export_model_directory(args: argparse.Namespace) -> Path:
    """``export`` of a ``save_pretrained`` directory ``--model``, by the core alone (no framework starts).

    The three command lines export a model directory so, with
    :func:`seq2seq_fit.onnx_export.export_pretrained`: the graphs hold the saved arrays as they are.

    Raises:
        CLIError: ``--model`` is not a model directory (a file missing or malformed), or ``--out``
            cannot be written.
    """
    from seq2seq_fit.errors import ModelFormatError
    from seq2seq_fit.onnx_export import export_pretrained

    try:
        return run_export(args, lambda out: export_pretrained(args.model, out))
    except ModelFormatError as err:
        raise CLIError(f"--model {err}") from err


def export_command(args: argparse.Namespace, load_exporter: Callable[[], Callable[[str], Any]] | None) -> Path:
    """``export`` of the three command lines: check ``--model`` and ``--out``, then export a ``save_pretrained``
    directory with the core alone (:func:`export_model_directory`), or a model file with the framework.

    Args:
        args: the parsed options (``--model``, ``--out``).
        load_exporter: starts the framework and loads the model file ``--model``, returning its ``export_onnx``;
            ``None`` for a command line that takes model directories only (``seq2seq-fit``).

    Raises:
        CLIError: a bad path (naming the option), or a model file given to a command line without a framework.
    """
    check_export_args(args)  # a bad --model or --out fails before a framework starts
    if os.path.isdir(args.model):
        return export_model_directory(args)
    if load_exporter is None:
        raise CLIError(
            f"--model {args.model}: a file, expected a save_pretrained directory (for a .ckpt use lit-seq2seq "
            "export, for a .keras file keras-seq2seq export)"
        )
    return run_export(args, load_exporter())


def write_attention(path: str, source: str, tokenizer: Any, output: Sequence[str], weights: Any) -> None:
    """Draw the attention of one source (``weights`` (len(output), S), any array) to a PNG file; ``tokenizer``
    splits ``source`` as the model did (anything :func:`seq2seq_fit.tokenizer.as_tokenizer` takes)."""
    import numpy as np

    from seq2seq_fit.plots import plot_attention
    from seq2seq_fit.tokenizer import split_tokens

    try:
        plot_attention(
            np.asarray(weights, dtype="float32"), split_tokens(source, tokenizer), list(output), path=path,
            title=f"{source!r} -> {' '.join(output)}",
        )  # fmt: skip
    except OSError as err:
        raise CLIError(f"--show-attention {path}: {err.strerror or err}") from err
    print(f"wrote {path}", file=sys.stderr)


def run_translate(prog: str, args: argparse.Namespace, sources: list[str], load: Callable[[str], Any]) -> list[str]:
    """``translate`` of the three command lines: load the model, decode, draw the heat map; the output lines.

    Sources are split by the model's own source tokenizer unless ``--tokenizer`` is given, and each
    output line is the text of the model's target tokenizer (``translate(detokenize=True)``): tokens
    joined by spaces for a whitespace model, characters joined for a chars model, a subword
    tokenizer's decoded text.

    Args:
        prog: the command, for warnings (``lit-seq2seq translate``).
        args: the parsed :data:`~seq2seq_fit.cli.options.TRANSLATE_OPTIONS` (and ``--model``).
        sources: what to translate.
        load: this command line's loader: ``--model``'s path -> a model with ``config`` and ``translate``.
    """
    if args.show_attention:  # before the model loads: a missing extra is one line, not a traceback at the end
        require_package("matplotlib", "--show-attention", extra="plot")
    model = load(args.model)
    if args.show_attention and model.config.attention == "none":
        raise CLIError(f"--show-attention: {args.model} has attention='none', so there are no weights to draw")
    options = {option.name: getattr(args, option.name) for option in TRANSLATE_OPTIONS}
    for name in ("file", "show_attention"):
        options.pop(name)
    with cli_warnings(prog):
        # One call for the lines and the heat map, so the picture shows the first printed line.
        result = model.translate(sources, return_attention=args.show_attention is not None, **options)
    outputs, attention = result if isinstance(result, tuple) else (result, [])
    tgt_tokenizer = model.tgt_tokenizer
    if args.show_attention:
        tokenizer = model.src_tokenizer if args.tokenizer is None else args.tokenizer
        write_attention(args.show_attention, sources[0], tokenizer, outputs[0], attention[0])
    return [tgt_tokenizer.detokenize(tokens) for tokens in outputs]
