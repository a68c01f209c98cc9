"""Errors that point at the offending file and line."""

from __future__ import annotations


class DataError(ValueError):
    """Bad input data; the message starts with ``path:line:`` where a line is known.

    Attributes:
        path: the file.
        line: 1-based line number, or ``None`` for whole-file problems.
    """

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = path
        self.line = line
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")
