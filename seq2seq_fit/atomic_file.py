"""Atomic file replacement shared by both checkpoint writers (framework-free).

Write to a temporary file in the target's directory, flush it to disk, then ``os.replace`` it over
the target: a reader (or a resumed run) sees the previous file or the new one, never a partial one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path


def temp_prefix(path: str | os.PathLike[str]) -> str:
    """Name prefix of the temporary files written for ``path`` (hidden, next to it)."""
    return f".{Path(path).name}.tmp-"


def _create_exclusive(directory: Path, prefix: str, suffix: str) -> tuple[int, Path]:
    """Create a new, uniquely named empty file in ``directory`` with the mode ``open()`` gives
    (``tempfile.mkstemp`` makes ``0o600``, which would hide saved models from the server's other users)."""
    for _ in range(100):
        path = directory / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), path
        except FileExistsError:
            continue
    raise FileExistsError(f"{directory}: no free temporary name {prefix}*{suffix} after 100 tries")


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

    The written file gets the mode ``open()`` gives a new file (``0o666`` less the umask), whatever
    the writer did to the temporary file.

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
        >>> target.read_text()
        '{}'
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = temp_prefix(target)
    for stale in target.parent.glob(f"{prefix}*"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    fd, temp = _create_exclusive(target.parent, prefix, suffix)
    mode = os.fstat(fd).st_mode & 0o777  # 0o666 less the umask
    os.close(fd)
    try:
        yield temp
        # Writers that replace the prepared file (safetensors' ``save_file`` does) leave their own mode:
        # every written file gets what ``open()`` would give it.
        os.chmod(temp, mode)
        with open(temp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    fsync_directory(target.parent)
