"""The one-line error machinery of the command lines.

:func:`cli_errors` turns the errors a user can cause (:class:`~seq2seq_fit.errors.InputError`) into
one line on stderr, ``<prog>: error: <message>``, and exit status 2, and lets any other exception
show its traceback (``--debug`` shows it for input errors too). :func:`checked_input` marks the
argument checks that run before any work starts as the user's errors.
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import NoReturn

from seq2seq_fit.errors import InputError

#: Exit status of every command-line error (argparse's).
USAGE_EXIT = 2


class CLIError(InputError):
    """A user error found by a command line; printed as ``<prog>: error: <message>``, exit status 2."""


def fail(prog: str, message: str) -> NoReturn:
    """Print ``<prog>: error: <message>`` on stderr and exit with status 2."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(USAGE_EXIT)


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line: ``<prog>: error: <message> (see <prog> --help)``."""

    def error(self, message: str) -> NoReturn:
        fail(self.prog, f"{message} (see {self.prog} --help)")


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
