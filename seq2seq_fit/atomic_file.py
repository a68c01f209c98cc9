"""Atomic file replacement shared by both checkpoint writers (framework-free).

Write to a temporary file in the target's directory, flush it to disk, then ``os.replace`` it over
the target: a reader (or a resumed run) sees the previous file or the new one, never a partial one.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def temp_prefix(path: str | os.PathLike[str]) -> str:
    """Name prefix of the temporary files written for ``path`` (hidden, next to it)."""
    return f".{Path(path).name}.tmp-"


@functools.cache
def default_mode() -> int:
    """The permissions ``open()`` gives a new file: ``0o666`` less the process umask (``mkstemp``'s
    own ``0o600`` would hide saved models and checkpoints from the other users of a server). Read
    once: reading the umask sets it for an instant."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """Make a rename in ``directory`` durable (best effort: not every platform opens directories)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write_path(path: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` atomically.

    Temporary files left by earlier writers of ``path`` that were killed (``SIGKILL`` leaves no
    chance to clean up) are removed first. On any error the temporary file is removed, ``path`` is
    untouched and the error propagates.

    Args:
        path: the file to (re)write.
        suffix: suffix of the temporary file, for writers that insist on an extension
            (``".keras"``, ``".weights.h5"``).

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "state.json"
        >>> with atomic_write_path(target) as tmp:
        ...     _ = tmp.write_text("{}")
        >>> target.read_text(), oct(target.stat().st_mode & 0o777) == oct(default_mode())
        ('{}', True)
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = temp_prefix(target)
    for stale in target.parent.glob(f"{prefix}*"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=target.parent)
    os.close(fd)
    temp = Path(name)
    try:
        os.chmod(temp, default_mode())
        yield temp
        with open(temp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    fsync_directory(target.parent)
