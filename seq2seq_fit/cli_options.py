"""The options both command lines are built from, and how they report errors.

``lit-seq2seq translate`` and ``keras-seq2seq translate`` add :data:`TRANSLATE_OPTIONS` to their
parsers, so the two take the same options with the same spellings (``--beam_width`` and
``--beam-width`` alike), defaults and choices. :data:`TRAINING_OPTIONS` are the training options
that mean the same thing in both ``fit``s: ``keras-seq2seq fit`` adds them as flags (also accepted
in the Lightning spelling, ``--trainer.max_epochs``), ``lit-seq2seq fit`` takes them as its
LightningCLI keys with these defaults. Errors: :func:`cli_errors` turns the errors a user can cause
into one line on stderr and exit status 2 (``--debug`` shows the traceback).

Framework-free: argparse and the standard library only, so ``--help`` and argument errors start
no framework.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

from seq2seq_fit.decoding import STRATEGIES
from seq2seq_fit.precision import PRECISIONS
from seq2seq_fit.tokenizer import ALIASES, TOKENIZERS

#: Exit status of every command-line error (argparse's).
USAGE_EXIT = 2


class CLIError(Exception):
    """A user error found by a command line; printed as ``<prog>: error: <message>``, exit status 2."""


def bounded_int(low: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer ``>= low``, with an error that shows the value."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"got {text!r}, expected an integer >= {low}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"got {value}, expected an integer >= {low}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def bounded_float(low: float, *, low_open: bool = False) -> Callable[[str], float]:
    """An argparse ``type``: a finite number ``>= low`` (``> low`` with ``low_open``)."""
    expected = f"a number {'>' if low_open else '>='} {low:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"got {text!r}, expected {expected}") from None
        if value != value or value in (float("inf"), float("-inf")) or value < low or (low_open and value == low):
            raise argparse.ArgumentTypeError(f"got {text}, expected {expected}")
        return value

    parse.__name__ = expected
    return parse


@dataclass(frozen=True)
class Option:
    """One command-line option: ``--name`` (also ``--name-with-dashes``) and its aliases.

    Attributes:
        name: the Python name (``beam_width``); also the ``argparse`` ``dest``.
        default: the value when the option is not given.
        type: converts the text (an argparse ``type``); ``None`` keeps the string.
        help: one line for ``--help``.
        choices: the accepted values, or ``None``.
        aliases: more spellings, without the ``--`` (``lr`` for ``learning_rate``).
        metavar: the placeholder in ``--help``.
        lightning: the LightningCLI key of the same setting (``trainer.max_epochs``), training options only.
    """

    name: str
    default: Any
    type: Callable[[str], Any] | None = None
    help: str = ""
    choices: tuple[str, ...] | None = None
    aliases: tuple[str, ...] = ()
    metavar: str | None = None
    lightning: str | None = None

    @property
    def flags(self) -> list[str]:
        """``--name``, ``--name-with-dashes`` and the aliases in both spellings, each once."""
        flags: list[str] = []
        for name in (self.name, *self.aliases):
            for flag in (f"--{name}", f"--{name.replace('_', '-')}"):
                if flag not in flags:
                    flags.append(flag)
        return flags

    def add_to(self, parser: Any, *more_flags: str) -> None:
        """Add this option to an ``argparse`` parser or argument group."""
        default = "" if self.default is None else f" (default {self.default})"
        parser.add_argument(
            *self.flags, *more_flags, dest=self.name, default=self.default, type=self.type, choices=self.choices,
            metavar=self.metavar, help=self.help + default,
        )  # fmt: skip


#: ``translate`` in both command lines (the keyword arguments of ``seq2seq_fit.translate.translate``).
TRANSLATE_OPTIONS: tuple[Option, ...] = (
    Option(
        "file",
        None,
        metavar="PATH",
        help="also translate the lines of this UTF-8 file, one source a line (- for stdin)",
    ),
    Option("strategy", "greedy", choices=STRATEGIES, help="greedy, sample or beam"),
    Option("beam_width", 5, bounded_int(1), "hypotheses kept by --strategy beam"),
    Option("length_penalty", 0.0, bounded_float(0.0), "GNMT alpha ranking finished beams"),
    Option("temperature", 1.0, bounded_float(0.0, low_open=True), "softmax temperature of --strategy sample"),
    Option("top_k", None, bounded_int(1), "sample only from the k most likely tokens"),
    Option("max_length", None, bounded_int(1), "most output tokens, <eos> included (default: 2 * source length + 10)"),
    Option(
        "tokenizer",
        "whitespace",
        choices=(*TOKENIZERS, *ALIASES),
        help="how sources are split: words (whitespace) or characters (chars, char)",
    ),
    Option("batch_size", 64, bounded_int(1), "sources decoded together"),
    Option("seed", None, bounded_int(0), "seed of --strategy sample"),
    Option(
        "show_attention",
        None,
        metavar="PNG",
        help="write an attention heat map of the first source to this PNG file (needs matplotlib)",
    ),
)

#: Shows the traceback of an error instead of one line, and the framework's start-up logging.
DEBUG_OPTION = Option("debug", False, help="on an error, show the traceback; show the framework's start-up logs")

#: Training options that mean the same thing in both ``fit``s; ``lightning`` is the LightningCLI key.
TRAINING_OPTIONS: tuple[Option, ...] = (
    Option("epochs", 10, bounded_int(1), "training epochs", aliases=("max_epochs",), lightning="trainer.max_epochs"),
    Option(
        "learning_rate",
        1e-3,
        bounded_float(0.0, low_open=True),
        "peak learning rate of AdamW",
        aliases=("lr",),
        lightning="model.lr",
    ),
    Option("warmup_steps", 0, bounded_int(0), "linear learning-rate warm-up steps", lightning="model.warmup_steps"),
    Option(
        "lr_decay_steps",
        0,
        bounded_int(0),
        "cosine learning-rate decay over this many steps after the warm-up (0: constant)",
        lightning="model.lr_decay_steps",
    ),
    Option(
        "min_lr_ratio",
        0.0,
        bounded_float(0.0),
        "learning rate at the end of the decay, as a fraction of the peak",
        lightning="model.min_lr_ratio",
    ),
    Option(
        "gradient_clip_val",
        1.0,
        bounded_float(0.0),
        "clip the global gradient norm to this (0: no clipping)",
        aliases=("global_clipnorm",),
        lightning="trainer.gradient_clip_val",
    ),
    Option(
        "precision",
        "32",
        choices=tuple(PRECISIONS),
        help="32 (fp32), 16-mixed (fp16, loss-scaled) or bf16-mixed (bf16)",
        aliases=("mixed_precision",),
        lightning="trainer.precision",
    ),
)


def lightning_trainer_defaults() -> dict[str, Any]:
    """The ``Trainer`` defaults of :data:`TRAINING_OPTIONS` for ``LightningCLI(trainer_defaults=...)``."""
    keys = {o.lightning: o.default for o in TRAINING_OPTIONS if o.lightning is not None}
    return {key.removeprefix("trainer."): value for key, value in keys.items() if key.startswith("trainer.")}


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line: ``<prog>: error: <message> (see <prog> --help)``."""

    def error(self, message: str) -> NoReturn:
        fail(self.prog, f"{message} (see {self.prog} --help)")


def add_translate_options(parser: argparse.ArgumentParser) -> None:
    """Add :data:`TRANSLATE_OPTIONS`, ``--debug`` and the positional sources to ``parser``."""
    for option in TRANSLATE_OPTIONS:
        option.add_to(parser)
    parser.add_argument(*DEBUG_OPTION.flags, action="store_true", help=DEBUG_OPTION.help)
    parser.add_argument("sentences", nargs="*", metavar="SENTENCE", help="sources to translate")


def read_sources(sentences: Sequence[str], file: str | None) -> list[str]:
    """The sentences of the command line, then the lines of ``file`` (``-``: stdin), one source a line.

    Raises:
        CLIError: ``file`` cannot be read, or there is nothing to translate.
    """
    sources = list(sentences)
    if file is not None:
        if file == "-":
            text = sys.stdin.read()
        else:
            try:
                with open(file, encoding="utf-8") as f:
                    text = f.read()
            except (OSError, UnicodeDecodeError) as err:
                reason = err.strerror if isinstance(err, OSError) and err.strerror else err
                raise CLIError(f"--file {file}: {reason}") from err
        sources.extend(text.splitlines())
    if not sources:
        raise CLIError("nothing to translate: give sentences or --file PATH")
    return sources


def write_attention(path: str, source: str, tokenizer: str, output: Sequence[str], weights: Any) -> None:
    """Draw the attention of one source (``weights`` (len(output), S), any array) to a PNG file."""
    import numpy as np

    from seq2seq_fit.plots import plot_attention
    from seq2seq_fit.tokenizer import split_tokens

    plot_attention(
        np.asarray(weights, dtype="float32"), split_tokens(source, tokenizer), list(output), path=path,
        title=f"{source!r} -> {' '.join(output)}",
    )  # fmt: skip
    print(f"wrote {path}", file=sys.stderr)


def fail(prog: str, message: str) -> NoReturn:
    """Print ``<prog>: error: <message>`` on stderr and exit with status 2."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(USAGE_EXIT)


def describe(error: BaseException, flags: Mapping[str, str]) -> str:
    """The message of ``error``; a hint it carries (a ``datamodules.DataError``) in the flag spelling of ``flags``."""
    option = getattr(error, "option", None)
    if option is not None and callable(getattr(error, "describe", None)):
        return str(error.describe(flags.get(option)))  # type: ignore[attr-defined]
    return str(error)


@contextmanager
def cli_errors(
    prog: str,
    *,
    debug: bool,
    flags: Mapping[str, str] | None = None,
    errors: tuple[type[BaseException], ...] = (ValueError, OSError),
) -> Iterator[None]:
    """Report ``CLIError`` and ``errors`` raised in the block as one line and exit status 2.

    Args:
        prog: the command, first on the line (``keras-seq2seq fit``).
        debug: re-raise instead, so the traceback shows.
        flags: the command-line spelling of the keyword arguments that errors name in their
            hints (``{"on_error": "--on_error"}``).
        errors: the exception types a user's input can cause (argument checks, data and files).
    """
    caught: tuple[type[BaseException], ...] = (CLIError, *errors)
    try:
        yield
    except caught as err:
        if debug:
            raise
        fail(prog, describe(err, flags or {}))


@contextmanager
def cli_warnings(prog: str) -> Iterator[None]:
    """Print each ``UnknownTokensWarning`` raised in the block as ``<prog>: warning: <message>``.

    Other warnings are passed on unchanged.
    """
    from seq2seq_fit.translate import UnknownTokensWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnknownTokensWarning)
        yield
    for w in caught:
        if issubclass(w.category, UnknownTokensWarning):
            print(f"{prog}: warning: {w.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)


def quiet_framework_logs(debug: bool) -> None:
    """Silence the frameworks' start-up logging (TensorFlow's C++ and absl lines, oneDNN notices).

    Call before the framework is imported; variables the user set are kept, and ``debug`` keeps all.
    """
    if debug:
        return
    for name, value in {"TF_CPP_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR", "GLOG_minloglevel": "3"}.items():
        os.environ.setdefault(name, value)
