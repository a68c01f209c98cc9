"""The options the command lines are built from, and how they report errors.

``lit-seq2seq translate``, ``keras-seq2seq translate`` and ``seq2seq-fit translate`` (the ONNX
runtime's) add :data:`TRANSLATE_OPTIONS` to their parsers, so they take the same options with the
same spellings (``--beam_width`` and ``--beam-width`` alike), defaults and choices; their
``export`` commands share :func:`add_export_options`, :func:`check_export_args` and
:func:`run_export`. :data:`TRAINING_OPTIONS` are the training options
that mean the same thing in both ``fit``s: ``keras-seq2seq fit`` adds them as flags (also accepted
in the Lightning spelling, ``--trainer.max_epochs``), ``lit-seq2seq fit`` takes them as its
LightningCLI keys with these defaults. Errors: :func:`cli_errors` turns the errors a user can cause
(:class:`~seq2seq_fit.errors.InputError`) into one line on stderr and exit status 2, and lets any
other exception show its traceback (``--debug`` shows it for input errors too).

Framework-free: argparse and the standard library only, so ``--help`` and argument errors start
no framework.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from seq2seq_fit.decoding import STRATEGIES
from seq2seq_fit.errors import InputError
from seq2seq_fit.precision import PRECISIONS
from seq2seq_fit.tokenizer import ALIASES, TOKENIZERS, TRAINABLE

#: Exit status of every command-line error (argparse's).
USAGE_EXIT = 2


class CLIError(InputError):
    """A user error found by a command line; printed as ``<prog>: error: <message>``, exit status 2."""


#: Environment variables the command lines may set (framework logging, the Keras backend); ``main``
#: restores them when it returns, so a ``main([...])`` call from Python leaves the environment as it was.
CLI_ENVIRONMENT = ("TF_CPP_MIN_LOG_LEVEL", "GRPC_VERBOSITY", "GLOG_minloglevel", "KERAS_BACKEND")


@contextmanager
def restored_environment(names: Sequence[str] = CLI_ENVIRONMENT) -> Iterator[None]:
    """Restore the environment variables ``names`` to their values (or absence) at entry, on exit."""
    saved = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


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


def checked_by_translate(name: str, kind: type) -> Callable[[str], Any]:
    """An argparse ``type`` for ``translate``'s keyword argument ``name``: the text as ``kind``,
    checked by the core's :func:`seq2seq_fit.translate.check_translate_args` (one set of bounds for
    the command lines and the Python API)."""

    def parse(text: str) -> Any:
        try:
            value: Any = kind(text)
        except ValueError:
            value = text  # the check names the expected type
        from seq2seq_fit.translate import check_translate_args  # here: --help needs no numpy

        try:
            check_translate_args([], **{name: value})
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err).removeprefix(f"translate.{name}: ")) from None
        return value

    parse.__name__ = f"{kind.__name__} ({name})"
    return parse


def tokenizer_name(text: str) -> str:
    """The value of ``--tokenizer``: a built-in name, or a path ending in ``.json`` or ``.model`` (read later).

    Raises:
        argparse.ArgumentTypeError: anything else, naming the accepted values.
    """
    if text in TOKENIZERS or text in ALIASES or text.endswith((".json", ".model")):
        return text
    names = ", ".join((*TOKENIZERS, *ALIASES))
    raise argparse.ArgumentTypeError(f"got {text!r}, expected {names}, or a tokenizer.json or .model file")


tokenizer_name.__name__ = "tokenizer"


def corpus_tokenizer_name(text: str) -> str:
    """The value of ``fit``'s ``--tokenizer``: :func:`tokenizer_name`'s, or ``bpe`` / ``unigram`` (trained on the data).

    Raises:
        argparse.ArgumentTypeError: anything else, naming the accepted values.
    """
    if text in TRAINABLE:
        return text
    try:
        return tokenizer_name(text)
    except argparse.ArgumentTypeError:
        names = ", ".join((*TOKENIZERS, *ALIASES, *TRAINABLE))
        message = f"got {text!r}, expected {names}, or a tokenizer.json or .model file"
        raise argparse.ArgumentTypeError(message) from None


corpus_tokenizer_name.__name__ = "tokenizer"


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
    Option("beam_width", 5, checked_by_translate("beam_width", int), "hypotheses kept by --strategy beam"),
    Option("length_penalty", 0.0, checked_by_translate("length_penalty", float), "GNMT alpha ranking finished beams"),
    Option("temperature", 1.0, checked_by_translate("temperature", float), "softmax temperature of --strategy sample"),
    Option("top_k", None, checked_by_translate("top_k", int), "sample only from the k most likely tokens"),
    Option(
        "max_length",
        None,
        checked_by_translate("max_length", int),
        "most output tokens, <eos> included (default: 2 * source length + 10)",
    ),
    Option(
        "tokenizer",
        None,
        tokenizer_name,
        "how sources are split, instead of the model's own tokenizer: words (whitespace), characters "
        "(chars, char), or a tokenizer.json / sentencepiece .model file",
        metavar="TOKENIZER",
    ),
    Option("batch_size", 64, checked_by_translate("batch_size", int), "sources decoded together"),
    Option("seed", None, checked_by_translate("seed", int), "seed of --strategy sample"),
    Option(
        "show_attention",
        None,
        metavar="PNG",
        help="write an attention heat map of the first source to this PNG file (needs matplotlib)",
    ),
)

#: How ``fit`` splits a TSV corpus (``corpus_options`` of the data; ``lightning`` is the LightningCLI key).
CORPUS_TOKENIZER_OPTIONS: tuple[Option, ...] = (
    Option(
        "tokenizer",
        None,
        corpus_tokenizer_name,
        "how the lines of a TSV corpus are split, each side on its own: whitespace (words, the default), chars "
        "(char), bpe or unigram (a subword tokenizer trained on the side's train split, --vocab_size pieces), "
        "or a tokenizer.json / sentencepiece .model file",
        metavar="TOKENIZER",
        lightning="data.corpus_options.tokenizer",
    ),
    Option(
        "vocab_size",
        None,
        bounded_int(8),
        "pieces of a bpe / unigram tokenizer trained on the data (default 1000)",
        metavar="N",
        lightning="data.corpus_options.vocab_size",
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


#: ``export`` in the three command lines: where the ONNX export is written.
OUT_OPTION = Option(
    "out",
    None,
    metavar="DIR",
    help="the export directory (created if needed): config.json, vocab.json, encoder.onnx, decoder.onnx, export.json",
)

#: The pip extra that installs the exporter's and the runtime's packages.
SERVE_EXTRA = "pip install 'seq2seq-fit[serve]'"


def add_export_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--out`` (required) and ``--debug`` to an ``export`` parser."""
    parser.add_argument(*OUT_OPTION.flags, dest=OUT_OPTION.name, required=True, metavar=OUT_OPTION.metavar,
                        help=OUT_OPTION.help)  # fmt: skip
    parser.add_argument(*DEBUG_OPTION.flags, action="store_true", help=DEBUG_OPTION.help)


def require_package(name: str, purpose: str, extra: str = "serve") -> None:
    """Refuse to start ``purpose`` when the package ``name`` is not installed (checked without importing it).

    Args:
        name: the package (``onnx``, ``matplotlib``).
        purpose: what needs it, first in the message (``export``, ``--show-attention``).
        extra: the seq2seq-fit extra that installs it (``serve``, ``plot``).

    Raises:
        CLIError: ``name`` is missing; the message gives the pip line that installs it.
    """
    try:
        found = importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a finder that refuses it, or a broken half-import
        found = False
    if not found:
        raise CLIError(
            f"{purpose} needs the {name} package, which is not installed: pip install 'seq2seq-fit[{extra}]'"
        )


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


def read_sources(sentences: Sequence[str], file: str | None) -> list[str]:
    """The sentences of the command line, then the lines of ``file`` (``-``: stdin), one source a line.

    ``file`` is read a line at a time (LF, CRLF or a lone CR ends one; a UTF-8 byte-order mark is
    dropped); it must be a regular file or ``-``, and no line may be longer than
    ``seq2seq_fit.limits.MAX_LINE_BYTES``.

    Raises:
        CLIError: ``file`` cannot be read (missing, a directory, a FIFO, a device, invalid UTF-8, a line
            too long: ``--file PATH[:LINE]: ...``), or there is nothing to translate.
    """
    from seq2seq_fit.line_reader import iter_lines, open_regular

    def error(line: int | None, problem: str) -> CLIError:
        return CLIError(f"--file {file}{'' if line is None else f':{line}'}: {problem}")

    sources = list(sentences)
    if file is not None:
        if file == "-":
            stdin = sys.stdin
            binary = getattr(stdin, "buffer", None)  # a replaced sys.stdin (a StringIO) has none
            read = binary.read if binary is not None else lambda n: stdin.read(n).encode("utf-8", "surrogatepass")
            sources.extend(decoded_lines(iter_lines(read, error), error))
        else:
            with open_regular(file, error) as f:
                sources.extend(decoded_lines(iter_lines(f.read, error), error))
    if not sources:
        raise CLIError("nothing to translate: give sentences or --file PATH")
    return sources


def decoded_lines(lines: Iterator[tuple[int, bytes]], error: Callable[[int | None, str], Exception]) -> Iterator[str]:
    """The text of each ``(line number, bytes)`` of ``lines``, a UTF-8 byte-order mark dropped from the first;
    ``error(line, problem)`` for invalid UTF-8."""
    for lineno, line in lines:
        if lineno == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError as err:
            raise error(lineno, f"invalid UTF-8 at byte {err.start} ({line[err.start : err.start + 1]!r})") from None


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


def flag_spelling(message: str, owners: Mapping[str, str]) -> str:
    """``message`` with the argument checks' ``Owner.name`` written as this command line's flag.

    Args:
        message: an error message such as ``Seq2SeqConfig.hidden_size: got 0, expected an integer >= 1``.
        owners: the flag prefix of each owner (``{"Seq2SeqConfig": "--model.config."}``).

    Example:
        >>> flag_spelling("Seq2SeqConfig.hidden_size: got 0, expected an integer >= 1", {"Seq2SeqConfig": "--"})
        '--hidden_size: got 0, expected an integer >= 1'
    """
    for owner, prefix in owners.items():
        flag = prefix.replace("\\", "\\\\")  # a literal replacement
        message = re.sub(rf"(?<![\w.-]){re.escape(owner)}\.(\w+)", flag + r"\1", message)
    return message


#: jsonargparse's names of the types it expected, as a person would say them.
_EXPECTED = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}


def one_line_message(message: str, resolve: Callable[[str], str] = lambda key: f"--{key}") -> str:
    r"""A (jsonargparse) parser or instantiation error as one line that names the flag.

    A union error keeps only the reasons that are not "Expected a <class ...>" of the other union
    members; ``Parser key "k": Expected a <class 'int'>. Got value: x`` becomes
    ``<resolve(k)>: got 'x', expected an integer``.

    Example:
        >>> one_line_message('Parser key "max_epochs":\n  Expected a <class \'int\'>. Got value: ten')
        "--max_epochs: got 'ten', expected an integer"
        >>> one_line_message('Parser key "trainer.max_epochs":\n  Does not validate against any of the Union '
        ...                  "subtypes\nErrors:\n  - Expected a <class 'int'>\n  - Expected a <class 'NoneType'>\n"
        ...                  "Given value type: <class 'str'>\nGiven value: ten")
        "--trainer.max_epochs: got 'ten', expected an integer"
        >>> one_line_message("Does not validate against any of the Union subtypes\nErrors:\n"
        ...                  "  - Seq2SeqConfig.hidden_size: got 0, expected an integer >= 1\n"
        ...                  "  - Expected a <class 'dict'>\nGiven value: Namespace(hidden_size=0)")
        'Seq2SeqConfig.hidden_size: got 0, expected an integer >= 1'
    """
    text = str(message).strip()
    key_match = re.match(r'Parser key "([\w.]+)":\s*', text)
    body = text[key_match.end() :] if key_match else text
    reasons = [line.strip()[2:] for line in body.splitlines() if line.strip().startswith("- ")]
    useful = [r for r in reasons if not r.startswith("Expected a ")]
    given = re.search(r"^\s*Given value: (.*)$", body, flags=re.MULTILINE)
    typed = re.match(r"Expected a <class '(\w+)'>\. Got value: (.*)", body, flags=re.DOTALL)
    if useful:
        body = "; ".join(dict.fromkeys(useful))
        if re.match(r"\w+\.\w+: ", body):  # names its argument itself (Seq2SeqConfig.hidden_size: ...)
            key_match = None
    elif reasons and given:
        kinds = [m.group(1) for r in reasons if (m := re.match(r"Expected a <class '(\w+)'>", r))]
        expected = " or ".join(_EXPECTED.get(k, f"a {k}") for k in kinds if k != "NoneType") or "another value"
        body = f"got {given.group(1).strip()!r}, expected {expected}"
    elif typed:
        body = f"got {typed.group(2).strip()!r}, expected {_EXPECTED.get(typed.group(1), f'a {typed.group(1)}')}"
    body = re.sub(r":\s*\n\s*", ": ", body)
    body = "; ".join(line.strip() for line in body.splitlines() if line.strip())
    return f"{resolve(key_match.group(1))}: {body}" if key_match else body


@contextmanager
def checked_input() -> Iterator[None]:
    """Treat a ``ValueError`` or ``TypeError`` of the block as the user's: a :class:`CLIError`.

    For the argument and config checks that run before any work starts (building the config, the
    data, the model); an exception raised later, during training, is a bug and keeps its traceback.
    """
    try:
        yield
    except InputError:
        raise
    except (ValueError, TypeError) as err:
        raise CLIError(str(err)) from err


@contextmanager
def cli_errors(
    prog: str,
    *,
    debug: bool,
    flags: Mapping[str, str] | None = None,
    owners: Mapping[str, str] | None = None,
) -> Iterator[None]:
    """Report the :class:`~seq2seq_fit.errors.InputError` raised in the block as one line and exit status 2.

    Input errors are the project's own: ``CLIError``, ``datamodules.DataError``, ``ModelFormatError``,
    ``UnsafeFileError`` (and the checks that :func:`checked_input` marks); anything else is a bug
    and shows its traceback.

    Args:
        prog: the command, first on the line (``keras-seq2seq fit``).
        debug: re-raise instead, so the traceback shows.
        flags: the command-line spelling of the keyword arguments that errors name in their
            hints (``{"on_error": "--on_error"}``).
        owners: the flag prefix of the argument checks' owners (see :func:`flag_spelling`).
    """
    try:
        yield
    except InputError as err:
        if debug:
            raise
        fail(prog, flag_spelling(describe(err, flags or {}), owners or {}))


@contextmanager
def cli_warnings(prog: str) -> Iterator[None]:
    """Print each ``UnknownTokensWarning`` raised in the block as ``<prog>: warning: <message>``.

    Other warnings are passed on unchanged. The warnings are printed also when the block raises.
    """
    from seq2seq_fit.translate import UnknownTokensWarning

    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:  # type: ignore[assignment]
            warnings.simplefilter("always", UnknownTokensWarning)
            yield
    finally:
        for w in caught:
            if issubclass(w.category, UnknownTokensWarning):
                message = str(w.message).removeprefix("translate: ")  # the prog already says translate
                print(f"{prog}: warning: {message}", file=sys.stderr)
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)


def run_translate(prog: str, args: argparse.Namespace, sources: list[str], load: Callable[[str], Any]) -> list[str]:
    """``translate`` of both command lines: load the model, decode, draw the heat map; the output lines.

    Sources are split by the model's own source tokenizer unless ``--tokenizer`` is given, and each
    output line is the text of the model's target tokenizer (``translate(detokenize=True)``): tokens
    joined by spaces for a whitespace model, characters joined for a chars model, a subword
    tokenizer's decoded text.

    Args:
        prog: the command, for warnings (``lit-seq2seq translate``).
        args: the parsed :data:`TRANSLATE_OPTIONS` (and ``--model``).
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


def quiet_framework_logs(debug: bool) -> None:
    """Silence the frameworks' start-up logging (TensorFlow's C++ and absl lines, oneDNN notices).

    Call before the framework is imported; variables the user set are kept, and ``debug`` keeps all.
    """
    if debug:
        return
    for name, value in {"TF_CPP_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR", "GLOG_minloglevel": "3"}.items():
        os.environ.setdefault(name, value)
