"""Reading a text file or stdin line by line in bounded memory (framework-free).

The corpus reader (``datamodules.tsv``) and the command lines' ``--file`` read through here:
:func:`open_regular` refuses what is not a regular file before reading a byte (a FIFO would block
forever, ``/dev/zero`` never ends), and :func:`iter_lines` reads a chunk at a time, ends a line at
``\\n``, ``\\r\\n`` or a lone ``\\r``, and refuses a line longer than
:data:`seq2seq_fit.limits.MAX_LINE_BYTES`. Errors come from the caller's ``error(line, problem)``,
so each reader keeps its own message form (``path:line: problem``).

Example:
    >>> import io
    >>> stream = io.BytesIO(b"a\\tA\\r\\nb\\tB\\rc\\tC\\n")
    >>> list(iter_lines(stream.read, lambda line, problem: ValueError(f"{line}: {problem}")))
    [(1, b'a\\tA'), (2, b'b\\tB'), (3, b'c\\tC')]
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterator
from typing import BinaryIO

from seq2seq_fit import limits

#: What ends a line: CRLF, LF or a lone CR (old Mac files).
LINE_END = re.compile(rb"\r\n|\r|\n")
#: Bytes read at a time.
CHUNK_BYTES = 64 * 1024
#: ``error(line or None, problem) -> the exception to raise``; the reader's own message form.
ErrorFactory = Callable[[int | None, str], Exception]

#: What a non-regular file is, by its ``stat`` mode test.
KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def open_regular(path: str | os.PathLike[str], error: ErrorFactory) -> BinaryIO:
    """``path`` opened for reading bytes, refused unless it is a regular file (a link to one is fine).

    The file is opened without blocking and checked on the open descriptor, so a FIFO is refused
    at once (not waited on) and nothing can swap the file between the check and the read.

    Raises:
        Exception: ``error(None, problem)``: the file cannot be opened, or it is a directory, a FIFO,
            a device or a socket.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        raise error(None, err.strerror or str(err)) from err
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in KINDS if test(mode)), "not a regular file")
            raise error(None, f"is {kind}, expected a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def iter_lines(read: Callable[[int], bytes], error: ErrorFactory) -> Iterator[tuple[int, bytes]]:
    """``(line number, line)`` of the bytes that ``read(n)`` returns, line endings removed.

    ``\\n``, ``\\r\\n`` and a lone ``\\r`` each end a line; a last line without an ending counts too.
    Memory stays within about :data:`seq2seq_fit.limits.MAX_LINE_BYTES` plus one chunk.

    Args:
        read: ``read(n)`` returns up to ``n`` more bytes, ``b""`` at the end (a binary file's ``read``).
        error: makes the exception for a line that is too long.

    Raises:
        Exception: ``error(line, "line longer than ... bytes (...)")`` for a line longer than
            ``seq2seq_fit.limits.MAX_LINE_BYTES``, before it is read whole.
    """
    most = limits.MAX_LINE_BYTES

    def too_long(lineno: int) -> Exception:
        return error(
            lineno,
            f"line longer than {most} bytes (seq2seq_fit.limits.MAX_LINE_BYTES; raise it for a file you trust)",
        )

    pending = b""
    lineno = 0
    while True:
        chunk = read(CHUNK_BYTES)
        if not chunk:
            break
        pending += chunk
        end = len(pending) - 1 if pending.endswith(b"\r") else len(pending)  # a CR may be the start of a CRLF
        start = 0
        for match in LINE_END.finditer(pending, 0, end):
            lineno += 1
            if match.start() - start > most:
                raise too_long(lineno)
            yield lineno, pending[start : match.start()]
            start = match.end()
        pending = pending[start:]
        if len(pending) > most + 1:  # (+ 1: a held-back CR)
            raise too_long(lineno + 1)
    if pending:
        lineno += 1
        line = pending[:-1] if pending.endswith(b"\r") else pending
        if len(line) > most:
            raise too_long(lineno)
        yield lineno, line


__all__ = ["LINE_END", "ErrorFactory", "iter_lines", "open_regular"]
