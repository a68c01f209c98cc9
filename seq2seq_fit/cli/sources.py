"""The sources of ``translate``: the sentences of the command line, then the lines of ``--file``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence

from seq2seq_fit.cli.errors import CLIError


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
