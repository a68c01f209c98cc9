"""Errors that point at the offending file and line, with a fix each caller can spell its own way."""

from __future__ import annotations

from typing import Any

from seq2seq_fit.errors import InputError


class DataError(InputError):
    """Bad input data; the message starts with ``path:line:`` where a line is known.

    When an option would get past the problem, the error carries it as data (``option``,
    ``value``, ``purpose``), so Python shows ``pass on_error='skip' to drop such lines`` and a
    command line shows the same hint in its own flag spelling (:meth:`describe`).

    Attributes:
        path: the file.
        line: 1-based line number, or ``None`` for whole-file problems.
        problem: what is wrong, without the location and the hint.
        option: the keyword argument that would get past the problem (``on_error``), or ``None``.
        value: the value to give ``option`` (``"skip"``).
        purpose: what giving it does (``"to drop such lines"``).

    Example:
        >>> err = DataError("bad.tsv", 2, "expected 2 tab-separated fields, found 1",
        ...                 option="on_error", value="skip", purpose="to drop such lines")
        >>> str(err)
        "bad.tsv:2: expected 2 tab-separated fields, found 1; pass on_error='skip' to drop such lines"
        >>> err.describe("--on_error")
        'bad.tsv:2: expected 2 tab-separated fields, found 1; pass --on_error skip to drop such lines'
    """

    def __init__(
        self,
        path: str,
        line: int | None,
        problem: str,
        *,
        option: str | None = None,
        value: Any = None,
        purpose: str = "",
    ) -> None:
        self.path = path
        self.line = line
        self.problem = problem
        self.option = option
        self.value = value
        self.purpose = purpose
        super().__init__(self.describe())

    @property
    def where(self) -> str:
        """``path:line``, or ``path`` for a whole-file problem."""
        return f"{self.path}:{self.line}" if self.line is not None else self.path

    def describe(self, flag: str | None = None) -> str:
        """The message, with the hint spelled ``flag value`` (a command line) or ``option=value`` (Python).

        Args:
            flag: the command-line spelling of :attr:`option` (``--data.corpus_options.on_error``);
                ``None`` spells it as the Python keyword argument.
        """
        message = f"{self.where}: {self.problem}"
        if self.option is None:
            return message
        setting = f"{self.option}={self.value!r}" if flag is None else f"{flag} {self.value}"
        return f"{message}; pass {setting}" + (f" {self.purpose}" if self.purpose else "")
