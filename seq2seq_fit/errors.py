"""Errors of bad input that the packages raise and both command lines report as one line (framework-free)."""

from __future__ import annotations

from typing import Any


class InputError(ValueError):
    """Bad input from the user (a file, an argument), not a bug: a command line reports it as one line.

    ``datamodules.DataError``, :class:`ModelFormatError`, :class:`UnsafeFileError` and the command
    lines' ``CLIError`` are input errors; any other exception raised by a command line shows its
    traceback.
    """


def spell_value(value: Any) -> str:
    """``value`` as typed on a command line: ``false`` for ``False``, ``skip`` for ``"skip"``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class UnsafeFileError(InputError):
    """A file that could run code when loaded, refused before anything from it was loaded.

    Raised for a Lightning checkpoint that holds pickled Python objects and for a ``.keras``
    archive that names classes from outside Keras and ``keras_seq2seq``. The message names the
    file; like ``datamodules.DataError``, the way to opt in for a file you trust is carried as
    data (``option``, ``value``, ``purpose``), so Python shows ``pass weights_only=False ...`` and
    a command line the same hint in its own flag spelling (:meth:`describe`).

    Args:
        problem: what was refused and why, the file first.
        option: the keyword argument that opts in (``weights_only``), or ``None``.
        value: the value to give ``option`` (``False``).
        purpose: when to give it (``"if you trust this file"``).

    Example:
        >>> err = UnsafeFileError("a.ckpt: refused", option="weights_only", value=False,
        ...                       purpose="if you trust this file")
        >>> str(err)
        'a.ckpt: refused; pass weights_only=False if you trust this file'
        >>> err.describe("--weights_only")
        'a.ckpt: refused; pass --weights_only false if you trust this file'
    """

    def __init__(self, problem: str, *, option: str | None = None, value: Any = None, purpose: str = "") -> None:
        self.problem = problem
        self.option = option
        self.value = value
        self.purpose = purpose
        super().__init__(self.describe())

    def describe(self, flag: str | None = None) -> str:
        """The message, with the hint spelled ``flag value`` (a command line) or ``option=value`` (Python)."""
        if self.option is None:
            return self.problem
        fix = f"{self.option}={self.value!r}" if flag is None else f"{flag} {spell_value(self.value)}"
        return f"{self.problem}; pass {fix}" + (f" {self.purpose}" if self.purpose else "")


class ModelFormatError(InputError):
    """A model file or directory that cannot be read: a missing or malformed file, an unknown
    ``format_version``, a tensor that does not fit the config and vocabularies, or a file that is
    not a checkpoint at all.

    The message names the file (and the tensor, for weights).
    """


def shown(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to about ``limit`` characters, for quoting a value from an untrusted file in one
    short error line.

    Example:
        >>> shown("x" * 200, limit=12)
        "'xxxxxxxxx... (202 characters)"
    """
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 2]}... ({len(text)} characters)"


__all__ = ["InputError", "ModelFormatError", "UnsafeFileError", "shown", "spell_value"]
