"""``lit-seq2seq``: the command line, built on ``LightningCLI``, plus ``translate``.

Example:
    lit-seq2seq fit --data.corpus cmudict --model.config.attention luong --trainer.max_epochs 3
    lit-seq2seq fit --config run.yaml
    lit-seq2seq fit --print_config > run.yaml
    lit-seq2seq fit --data.corpus pairs.tsv --data.corpus_options.tokenizer bpe --data.corpus_options.vocab_size 8000
    lit-seq2seq fit --config benchmarks/configs/g2p-smoke.yaml
    lit-seq2seq fit --preset cpu --trainer.max_time 00:02:00:00 --early_stopping.monitor val/wer \
        --early_stopping.patience 4 --restore_best_weights true --save_pretrained g2p-model --ckpt_path last
    lit-seq2seq fit --data.corpus cmudict --init_from g2p-model --model.teacher_forcing.mode parallel \
        --model.teacher_forcing.start 0.75 --save_pretrained g2p-model-ss --ckpt_path last
    lit-seq2seq translate --model runs/demo/checkpoints/last.ckpt python keras
    lit-seq2seq export --ckpt_path runs/demo/checkpoints/last.ckpt --out g2p-onnx

The vocabularies and tokenizers are built by the data module and linked into the model when both
are instantiated, so they are never given on the command line; ``translate`` uses the model's own
tokenizers (``--tokenizer`` overrides the source one). ``fit``, ``validate``, ``test`` and
``predict`` are LightningCLI's (:class:`lit_seq2seq.lightning_cli.Seq2SeqCLI`), with the training
defaults of ``keras-seq2seq fit`` (``seq2seq_fit.cli.options.TRAINING_OPTIONS``); ``translate``
(decode sentences with a checkpoint) and ``export`` (write the ONNX export that ``seq2seq-fit
translate`` runs) are dispatched before LightningCLI is built and take the options of
``keras-seq2seq translate`` and ``keras-seq2seq export``. ``fit`` also takes the training recipes of
``keras-seq2seq fit`` (``seq2seq_fit.cli.options.RECIPE_OPTIONS``): a wall-clock budget
(``--trainer.max_time``), early stopping (``--early_stopping.*``, Lightning's ``EarlyStopping``),
``--restore_best_weights`` (the best epoch by the early-stopping metric), ``--preset``,
``--init_from DIR`` (fine-tune a ``save_pretrained`` directory: its config, vocabularies and weights,
fresh training state) and ``--save_pretrained DIR``. It checkpoints to ``<default_root_dir>/checkpoints``
(``last.ckpt`` every epoch, ``best.ckpt`` with ``--restore_best_weights``), so the same command with
``--ckpt_path last`` run again after an interruption resumes there, its budget, early-stopping count and
best score included. Errors are one line on stderr with exit status 2; ``--debug`` (anywhere on the
line) shows the traceback. ``--help`` of ``translate`` and ``export`` and their argument errors import
no torch.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from seq2seq_fit.cli.commands import export_command, require_model_path, run_translate
from seq2seq_fit.cli.environment import quiet_framework_logs, restored_environment
from seq2seq_fit.cli.errors import CLIError, OneLineParser, cli_errors
from seq2seq_fit.cli.options import add_export_options, add_translate_options
from seq2seq_fit.cli.sources import read_sources
from seq2seq_fit.config import parse_bool
from seq2seq_fit.data_layer import require_data_layer
from seq2seq_fit.precision import PRECISIONS

if TYPE_CHECKING:
    from lit_seq2seq.lightning_cli import Seq2SeqCLI
    from lit_seq2seq.system import LitSeq2Seq

PROG = "lit-seq2seq"
#: This command line's spelling of the keyword arguments that errors name in their hints.
FLAGS = {"on_error": "--data.corpus_options.on_error", "weights_only": "--weights_only"}
#: The LightningCLI keys of the argument checks' owners (``Seq2SeqConfig.x`` is ``--model.config.x``).
OWNERS = {
    "Seq2SeqConfig": "--model.config.",
    "TeacherForcing": "--model.teacher_forcing.",
    "LitSeq2Seq": "--model.",
    "Seq2SeqDataModule": "--data.",
}
DESCRIPTION = (
    "Train, evaluate and use LitSeq2Seq models: fit, validate, test and predict (LightningCLI), translate "
    "(decode sentences with a checkpoint, below) and export (the ONNX export seq2seq-fit translate runs). "
    "--debug: show the traceback of an error."
)
TRANSLATE_USAGE = (
    "lit-seq2seq translate --model CKPT [options] SENTENCE ...: decode sentences (or a --file of them) with a "
    "trained checkpoint; see lit-seq2seq translate --help"
)
#: The subcommands and what they do (LightningCLI's four, then translate).
SUBCOMMANDS = {
    "fit": "train a model (LightningCLI: lit-seq2seq fit --help lists the options)",
    "validate": "evaluate a model on the validation split (LightningCLI)",
    "test": "evaluate a model on the test split (LightningCLI)",
    "predict": "run a model over the predict split (LightningCLI)",
    "translate": "decode sentences (or a --file of them) with a checkpoint or model directory",
    "export": "write a checkpoint or model directory as an ONNX export for seq2seq-fit translate",
}


def build_parser() -> argparse.ArgumentParser:
    """The top level of ``lit-seq2seq``: its ``--help`` and the subcommand choice, without importing torch."""
    parser = OneLineParser(prog=PROG, description=DESCRIPTION, epilog=f"The translate subcommand: {TRANSLATE_USAGE}.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(SUBCOMMANDS) + "}")
    for name, text in SUBCOMMANDS.items():
        sub.add_parser(name, help=text, add_help=False)
    return parser


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """``--model`` (also ``--ckpt_path``) and ``--weights_only`` of ``translate`` and ``export``."""
    parser.add_argument(
        "--model", "--ckpt_path", "--ckpt-path", dest="model", required=True, metavar="PATH",
        help="a .ckpt file written by Trainer.fit / ModelCheckpoint (loaded with weights_only=True), or a "
        "save_pretrained directory",
    )  # fmt: skip
    parser.add_argument(
        "--weights_only", "--weights-only", type=parse_bool, default=True, metavar="BOOL",
        help="false unpickles Python objects in the checkpoint: only for a file you trust (default true)",
    )  # fmt: skip


def build_translate_parser() -> argparse.ArgumentParser:
    """Options of ``lit-seq2seq translate`` (those of ``keras-seq2seq translate``; ``-`` or ``_`` alike)."""
    parser = OneLineParser(
        prog=f"{PROG} translate",
        description="Decode sentences with a LitSeq2Seq checkpoint; prints one line of text per sentence.",
    )
    add_model_options(parser)
    parser.add_argument("--device", default="cpu", help="where to decode: cpu, cuda, cuda:1, mps (default cpu)")
    add_translate_options(parser)
    return parser


def build_export_parser() -> argparse.ArgumentParser:
    """Options of ``lit-seq2seq export`` (those of ``keras-seq2seq export``)."""
    parser = OneLineParser(
        prog=f"{PROG} export",
        description="Write a LitSeq2Seq checkpoint or model directory as an ONNX export (encoder and one-step "
        "decoder graphs, config, vocabularies) that seq2seq-fit translate runs with numpy and onnxruntime only; "
        "prints the export directory.",
    )  # fmt: skip
    add_model_options(parser)
    add_export_options(parser)
    return parser


#: How a file written by ``torch.save`` starts: a zip archive, or (the legacy format) a pickle.
TORCH_FILE_MAGIC = (b"PK\x03\x04", b"\x80")


def load_model(args: argparse.Namespace, device: str | None = None) -> LitSeq2Seq:
    """The model of ``--model``: a ``.ckpt`` file or a ``save_pretrained`` directory, in eval mode, on ``device``
    (``None``: ``--device``).

    Raises:
        CLIError: the file is not a LitSeq2Seq checkpoint (a TSV, an empty file, random bytes).
        UnsafeFileError: the checkpoint holds pickled objects (and ``--weights_only`` is true).
    """
    import torch

    from lit_seq2seq.system import LitSeq2Seq
    from seq2seq_fit.errors import ModelFormatError
    from seq2seq_fit.untrusted import check_regular_file

    name = args.device if device is None else device
    try:
        kind = torch.device(name).type
    except RuntimeError as err:
        raise CLIError(f"--device {name}: {err}") from err
    if kind == "cuda" and not torch.cuda.is_available():
        raise CLIError(f"--device {name}: torch finds no CUDA device here; use --device cpu")
    if os.path.isdir(args.model):
        return LitSeq2Seq.from_pretrained(args.model).to(name).eval()
    try:
        check_regular_file(args.model)  # a FIFO would block the open forever
        with open(args.model, "rb") as f:
            head = f.read(4)
    except OSError as err:
        raise CLIError(f"--model {args.model}: {err.strerror or err}") from err
    except ModelFormatError as err:
        raise CLIError(f"--model {err}") from err
    if not head.startswith(TORCH_FILE_MAGIC):
        kind = "an empty file" if not head else "not a file written by torch.save"
        raise CLIError(f"--model {args.model}: not a LitSeq2Seq checkpoint ({kind})")
    try:
        model = LitSeq2Seq.load_from_checkpoint(args.model, map_location=name, weights_only=args.weights_only)
    except (EOFError, KeyError, IndexError, AttributeError, RuntimeError, TypeError, pickle.UnpicklingError) as err:
        # torch.load of a file that is not a checkpoint, or a torch file without LitSeq2Seq's hyper-parameters
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CLIError(f"--model {args.model}: not a LitSeq2Seq checkpoint ({reason})") from err
    except ModelFormatError as err:  # unpickling failed without naming an object: not a checkpoint
        raise CLIError(f"--model {err}") from err
    except zipfile.BadZipFile as err:
        raise CLIError(f"--model {args.model}: not a LitSeq2Seq checkpoint ({err})") from err
    return model.eval()


def translate_main(argv: list[str]) -> list[str]:
    """``lit-seq2seq translate``: parse, check the files, decode; errors are one line and exit status 2."""
    args = build_translate_parser().parse_args(argv)
    with cli_errors(f"{PROG} translate", debug=args.debug, flags=FLAGS):
        sources = read_sources(args.sentences, args.file)  # a bad --file or --model fails before torch starts
        require_model_path(args.model, "checkpoint file or model directory")
        quiet_framework_logs(args.debug)
        lines = run_translate(f"{PROG} translate", args, sources, lambda path: load_model(args))
    print("\n".join(lines))
    return lines


def export_main(argv: list[str]) -> Path:
    """``lit-seq2seq export``: check the paths, load the checkpoint, write the export; errors as ``translate``'s.

    A ``save_pretrained`` directory is exported by the core alone
    (:func:`seq2seq_fit.cli.commands.export_model_directory`): no torch starts.
    """
    args = build_export_parser().parse_args(argv)

    def load_exporter() -> Any:
        quiet_framework_logs(args.debug)
        return load_model(args, device="cpu").export_onnx  # the graphs are built from the weights on the host

    with cli_errors(f"{PROG} export", debug=args.debug, flags=FLAGS):
        return export_command(args, load_exporter)


def lightning_argv(argv: list[str]) -> list[str]:
    """``argv`` with ``--trainer.precision``'s name in Lightning's spelling (``fp16`` -> ``16-mixed``).

    Both command lines take the names of :data:`seq2seq_fit.precision.PRECISIONS`, and only those.

    Raises:
        CLIError: a precision name that is not one of them.
    """
    out = list(argv)
    for i, arg in enumerate(out):
        flag, equals, value = arg.partition("=")
        if flag != "--trainer.precision":
            continue
        if not equals:
            if i + 1 >= len(out):
                break
            value = out[i + 1]
        if value not in PRECISIONS:
            raise CLIError(f"--trainer.precision: got {value!r}, expected one of {', '.join(PRECISIONS)}")
        if equals:
            out[i] = f"{flag}={PRECISIONS[value].lightning}"
        else:
            out[i + 1] = PRECISIONS[value].lightning
    return out


def lightning_main(argv: list[str]) -> Seq2SeqCLI:
    """``fit``, ``validate``, ``test``, ``predict``: LightningCLI, with one-line errors unless ``--debug``."""
    debug = "--debug" in argv
    argv = [arg for arg in argv if arg != "--debug"]
    command = f"{PROG} {argv[0]}" if argv and not argv[0].startswith("-") else PROG
    with cli_errors(command, debug=debug, flags=FLAGS, owners=OWNERS):
        argv = lightning_argv(argv)
        quiet_framework_logs(debug)
        require_data_layer()  # a project's own ``datamodules`` package first on sys.path: one line, not a traceback
        from lit_seq2seq.lightning_cli import Seq2SeqCLI

        return Seq2SeqCLI(
            argv,
            debug=debug,
            command=command,
            parser_kwargs={
                "prog": PROG,
                "description": DESCRIPTION,
                "epilog": f"The translate subcommand: {TRANSLATE_USAGE}.",
            },
        )


@overload
def main(args: None = None) -> None: ...
@overload
def main(args: list[str]) -> Any: ...
def main(args: list[str] | None = None) -> Any:
    """Entry point of the ``lit-seq2seq`` console script.

    Args:
        args: parse these instead of ``sys.argv``. Called so (from Python) it returns the
            ``Seq2SeqCLI`` of ``fit``/``validate``/``test``/``predict``, the output lines of
            ``translate``, or the export directory of ``export``; as the console script
            (``args=None``) it returns ``None``, which ``sys.exit`` reads as success.
    """
    argv = sys.argv[1:] if args is None else list(args)
    if argv[:1] == ["--debug"]:  # lit-seq2seq --debug fit ...: the subcommand's --debug
        argv = [*argv[1:], "--debug"]
    if not argv or argv[0] not in SUBCOMMANDS:  # --help, or no or an unknown subcommand: answered without torch
        build_parser().parse_args(argv[:1])
    with restored_environment():  # quiet_framework_logs' variables, for a main([...]) call from Python
        if argv[:1] == ["translate"]:
            result: Any = translate_main(argv[1:])
        elif argv[:1] == ["export"]:
            result = export_main(argv[1:])
        else:
            result = lightning_main(argv)
    return result if args is not None else None


if __name__ == "__main__":
    main()
