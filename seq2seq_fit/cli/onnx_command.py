"""``seq2seq-fit``: run an ONNX export with numpy and onnxruntime only, and export a model directory.

Example:
    seq2seq-fit export --model g2p-model --out g2p-onnx
    seq2seq-fit translate --model g2p-onnx --strategy beam --beam_width 5 python keras
    seq2seq-fit translate --model g2p-onnx --file words.txt

``translate`` takes the options of ``lit-seq2seq translate`` and ``keras-seq2seq translate``
(:data:`seq2seq_fit.cli.options.TRANSLATE_OPTIONS`) and decodes with
:class:`seq2seq_fit.serving.OnnxTranslator`, so it prints what the framework the model came from
prints. ``export`` writes a ``save_pretrained`` directory (from either framework) as an export, as
``lit-seq2seq export`` and ``keras-seq2seq export`` do from a checkpoint. Neither imports torch,
TensorFlow, Keras or JAX: ``translate`` needs numpy and onnxruntime (and ``tokenizers`` or
``sentencepiece`` for a model with a subword tokenizer), ``export`` numpy and onnx
(``pip install 'seq2seq-fit[serve]'``). ``translate`` splits and joins text with the model's own
tokenizers. Errors are one line on stderr with exit status 2
(``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from seq2seq_fit.cli.commands import export_command, require_model_path, run_translate
from seq2seq_fit.cli.environment import require_package
from seq2seq_fit.cli.errors import CLIError, OneLineParser, cli_errors
from seq2seq_fit.cli.options import add_export_options, add_translate_options
from seq2seq_fit.cli.sources import read_sources
from seq2seq_fit.cli.value_types import bounded_int

if TYPE_CHECKING:
    from seq2seq_fit.serving import OnnxTranslator

PROG = "seq2seq-fit"


def build_parser() -> argparse.ArgumentParser:
    """The ``seq2seq-fit`` parser; building and using it imports neither onnx nor onnxruntime."""
    parser = OneLineParser(prog=PROG, description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    tr = sub.add_parser(
        "translate", help="decode sentences with an ONNX export (numpy and onnxruntime only); one line per sentence"
    )
    tr.add_argument(
        "--model", required=True, metavar="DIR",
        help="an export directory (lit-seq2seq export, keras-seq2seq export, seq2seq-fit export)",
    )  # fmt: skip
    tr.add_argument(
        "--threads", type=bounded_int(1), default=None, metavar="N",
        help="onnxruntime's intra-op threads (default: onnxruntime's choice)",
    )  # fmt: skip
    add_translate_options(tr)

    ex = sub.add_parser("export", help="write a save_pretrained directory as an ONNX export; prints the directory")
    ex.add_argument(
        "--model", required=True, metavar="DIR",
        help="a save_pretrained directory (LitSeq2Seq.save_pretrained or Seq2SeqModel.save_pretrained)",
    )  # fmt: skip
    add_export_options(ex)
    return parser


def load_export(path: str, threads: int | None) -> OnnxTranslator:
    """The :class:`~seq2seq_fit.serving.OnnxTranslator` of ``--model``.

    Raises:
        CLIError: ``path`` is missing, a file, a ``save_pretrained`` directory that was never exported
            (the message gives the ``export`` line), misses a file, or holds graphs that do not match
            its config and vocabularies; the message names the path.
    """
    from seq2seq_fit.errors import ModelFormatError
    from seq2seq_fit.serving import OnnxTranslator, check_export_directory

    require_model_path(path, "export directory")
    try:
        check_export_directory(path)  # before onnxruntime is needed
        require_package("onnxruntime", "translate")
        return OnnxTranslator(path, threads=threads)
    except ModelFormatError as err:
        raise CLIError(f"--model {err}") from err


def translate_main(args: argparse.Namespace) -> list[str]:
    """``seq2seq-fit translate``: check the input, load the export, decode; the output lines."""
    prog = f"{PROG} translate"
    sources = read_sources(args.sentences, args.file)
    lines = run_translate(prog, args, sources, lambda path: load_export(path, args.threads))
    print("\n".join(lines))
    return lines


def export_main(args: argparse.Namespace) -> Path:
    """``seq2seq-fit export``: a ``save_pretrained`` directory -> an export directory."""
    return export_command(args, None)


@overload
def main(args: None = None) -> None: ...
@overload
def main(args: list[str]) -> Any: ...
def main(args: list[str] | None = None) -> Any:
    """Entry point of the ``seq2seq-fit`` console script.

    Args:
        args: parse these instead of ``sys.argv``. Called so (from Python) it returns the output
            lines of ``translate`` or the export directory of ``export``; as the console script
            (``args=None``) it returns ``None``, which ``sys.exit`` reads as success.
    """
    argv = sys.argv[1:] if args is None else list(args)
    if argv[:1] == ["--debug"]:  # seq2seq-fit --debug translate ...: the subcommand's --debug
        argv = [*argv[1:], "--debug"]
    parsed = build_parser().parse_args(argv)
    with cli_errors(f"{PROG} {parsed.command}", debug=parsed.debug):
        result = translate_main(parsed) if parsed.command == "translate" else export_main(parsed)
    return result if args is not None else None


if __name__ == "__main__":
    main()
