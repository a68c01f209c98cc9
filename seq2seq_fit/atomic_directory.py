"""All-or-nothing writes of a directory of files: a model directory or an ONNX export (framework-free).

:func:`write_directory` writes a set of files so that, whatever stops it (a kill, a full disk, a power
cut), the directory then holds exactly the previous files, exactly the new ones, or is refused by
:func:`check_not_interrupted` as incomplete; never a silent mix of two models:

1. every file is written to a hidden temporary name beside its target and flushed to disk (a kill or an
   error here leaves the previous files untouched; the next write removes the temporary files);
2. the marker :data:`MARKER` is created and flushed: from now on the directory reads as incomplete;
3. the temporary files are renamed over their targets, the index file (``config.json``) last: it
   lists each file's size and sha256 (:data:`FILES_KEY`);
4. the marker is removed.

Loaders call :func:`check_not_interrupted` first (the marker means a write was cut short) and
:func:`check_listed_files` after reading, which refuses files that are not the ones the index lists
(another program's write or a copy cut short, or a file changed by hand). A directory written before
the index held the list still loads. Files in the directory that the writer does not write are left alone.

Example:
    >>> import tempfile, pathlib
    >>> directory = pathlib.Path(tempfile.mkdtemp())
    >>> _ = write_directory(directory, {"a.txt": b"A"}, index="index.json",
    ...                     index_content=lambda files: json.dumps({FILES_KEY: files}).encode())
    >>> sorted(p.name for p in directory.iterdir()), check_listed_files(directory, "index.json", writer="w")
    (['a.txt', 'index.json'], ['a.txt'])
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from seq2seq_fit.atomic_file import _create_exclusive, fsync_directory, temp_prefix
from seq2seq_fit.errors import ModelFormatError, shown

#: Present while a write is replacing files: a directory holding it is refused as incomplete.
MARKER = ".write-in-progress"
#: The index file's key listing each written file: ``{name: {"bytes": size, "sha256": hex digest}}``.
FILES_KEY = "files"
#: Most files an index may list (a model directory has four to six).
MAX_LISTED_FILES = 64
#: Read size when hashing a file: verifying a model never holds more than this of it in memory.
HASH_CHUNK = 1 << 20
#: Every file name the model writers write (besides those being written now): their temporary files
#: left by killed writes are removed by the next write of the directory.
KNOWN_FILES = (
    "config.json",
    "vocab.json",
    "model.safetensors",
    "tokenizer_config.json",
    "source_tokenizer.json",
    "target_tokenizer.json",
    "source.model",
    "target.model",
    "encoder.onnx",
    "decoder.onnx",
    "export.json",
)
#: What a file's content is: its bytes (or text, written as UTF-8), or a function writing it to the path given.
Content = bytes | str | Callable[[Path], None]
_TEMP = re.compile(r"\.(?P<name>.+)\.tmp-[0-9a-f]{12}")

#: Tests set this to a function called with a description after each step of :func:`write_directory`
#: (to kill the process there); ``None`` otherwise.
step_hook: Callable[[str], None] | None = None


def _step(what: str) -> None:
    if step_hook is not None:
        step_hook(what)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The sha256 hex digest of the file ``path``, read in chunks of :data:`HASH_CHUNK` bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def remove_leftovers(directory: Path, names: set[str]) -> None:
    """Remove the temporary files that killed writes of ``names`` (or of :data:`KNOWN_FILES`) left in ``directory``."""
    names = names | set(KNOWN_FILES)
    for entry in os.scandir(directory):
        match = _TEMP.fullmatch(entry.name)
        if match and match["name"] in names and entry.is_file(follow_symlinks=False):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)


def _stage(directory: Path, name: str, content: Content) -> Path:
    """Write ``content`` to a new temporary file beside ``directory / name``, flushed to disk; its path."""
    fd, temp = _create_exclusive(directory, temp_prefix(name), "")
    mode = os.fstat(fd).st_mode & 0o777  # 0o666 less the umask
    try:
        if callable(content):
            os.close(fd)
            fd = -1
            _step(f"created {name}")
            content(temp)
            os.chmod(temp, mode)  # writers that replace the prepared file leave their own mode
            fd = os.open(temp, os.O_RDONLY)
        else:
            data = content.encode("utf-8") if isinstance(content, str) else content
            view = memoryview(data)
            half = len(view) // 2
            for part in (view[:half], view[half:]):
                while part:
                    part = part[os.write(fd, part) :]
                _step(f"wrote part of {name}")
        os.fsync(fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    finally:
        if fd >= 0:
            os.close(fd)
    _step(f"staged {name}")
    return temp


def _create_marker(directory: Path, writer: str) -> None:
    fd = os.open(directory / MARKER, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        os.write(fd, f"{writer} is writing this directory; if it was stopped, write the model again\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_directory(directory)
    _step("created the marker")


def write_directory(
    directory: str | os.PathLike[str],
    files: Mapping[str, Content],
    *,
    index: str,
    index_content: Callable[[dict[str, dict[str, Any]]], Content],
    writer: str = "write_directory",
) -> Path:
    """Write ``files`` and then ``index`` into ``directory`` (created if needed) all or nothing.

    Args:
        directory: the directory.
        files: file name -> content (bytes, text, or a function that writes the path it is given), in order.
        index: the file written last, which lists the others (``config.json``).
        index_content: its content, given ``{name: {"bytes": size, "sha256": digest}}`` of ``files``
            (:func:`add_file_list` adds it to a JSON object).
        writer: the public function writing (``"save_pretrained"``), for the messages.

    Returns:
        The directory.

    Raises:
        OSError: a file cannot be written (a full disk...): one line naming the file and saying whether
            the previous files are intact or the directory is left incomplete (refused by its loaders
            until a write completes). Temporary files are removed.
    """
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    remove_leftovers(root, {*files, index})
    staged: dict[str, Path] = {}
    replacing = False
    name = index
    try:
        listed: dict[str, dict[str, Any]] = {}
        for name, content in files.items():
            staged[name] = _stage(root, name, content)
            listed[name] = {"bytes": staged[name].stat().st_size, "sha256": sha256_file(staged[name])}
        name = index
        staged[index] = _stage(root, index, index_content(listed))
        _create_marker(root, writer)
        replacing = True
        for name, temp in staged.items():  # the index last
            os.replace(temp, root / name)
            _step(f"replaced {name}")
        fsync_directory(root)
        os.unlink(root / MARKER)
        _step("removed the marker")
        fsync_directory(root)
    except BaseException as err:
        for temp in staged.values():
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        if not replacing:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(root / MARKER)
        if isinstance(err, OSError):
            state = (
                f"{root} is left incomplete (its loaders refuse it until a write completes)"
                if replacing
                else f"the files in {root} are unchanged"
            )
            reason = err.strerror or str(err).splitlines()[0][:200]
            message = f"{root / name}: cannot write it ({reason}); {state}"
            raise (OSError(message) if err.errno is None else OSError(err.errno, message)) from err
        raise
    return root


def _exchange(a: Path, b: Path) -> bool:
    """Swap the directories ``a`` and ``b`` in one step (Linux ``renameat2(RENAME_EXCHANGE)``); ``False`` where
    the platform or file system cannot."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def replace_directory(directory: str | os.PathLike[str], build: Callable[[Path], None]) -> Path:
    """Build a whole directory (a TensorFlow SavedModel) beside ``directory`` and swap it in, so that its
    readers, which know nothing of :data:`MARKER`, find the previous directory or the new one.

    ``build`` writes into a new hidden sibling directory; entries of the previous ``directory`` that it did not
    write (the user's own files) are linked or copied into it; then the two are exchanged in one step (Linux
    ``renameat2``; elsewhere the previous one is moved aside first, so a kill at that moment leaves no
    ``directory``, never a mix, and the next write puts it back) and the previous one is removed. Siblings left by
    killed writes are removed first.

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "saved"
        >>> _ = replace_directory(target, lambda path: (path / "a.pb").write_bytes(b"A"))
        >>> _ = (target / "notes.txt").write_text("mine")
        >>> _ = replace_directory(target, lambda path: (path / "a.pb").write_bytes(b"B"))
        >>> sorted(p.name for p in target.parent.iterdir()), sorted(p.name for p in target.iterdir())
        (['saved'], ['a.pb', 'notes.txt'])
        >>> (target / "a.pb").read_bytes()
        b'B'
    """
    import secrets
    import shutil

    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    pattern = re.compile(re.escape(f".{target.name}.") + r"(tmp|old)-[0-9a-f]{12}")
    left = [e for e in os.scandir(target.parent) if pattern.fullmatch(e.name) and e.is_dir(follow_symlinks=False)]
    moved = [e for e in left if ".old-" in e.name]
    if moved and not os.path.lexists(target):  # killed between the two renames: the previous directory comes back
        os.rename(moved[0].path, target)
        left.remove(moved[0])
    for entry in left:
        shutil.rmtree(entry.path, ignore_errors=True)
    temp = target.parent / f".{target.name}.tmp-{secrets.token_hex(6)}"
    try:
        temp.mkdir()
        build(temp)
        _step("built the new directory")
        if target.is_dir():
            for entry in os.scandir(target):
                new = temp / entry.name
                if os.path.lexists(new):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.copytree(entry.path, new, symlinks=True)
                else:
                    try:
                        os.link(entry.path, new, follow_symlinks=False)
                    except OSError:
                        shutil.copy2(entry.path, new, follow_symlinks=False)
        fsync_directory(temp)
        if not target.exists():
            os.rename(temp, target)
        elif not _exchange(temp, target):
            aside = target.parent / f".{target.name}.old-{secrets.token_hex(6)}"
            os.rename(target, aside)
            _step("moved the previous directory aside")
            os.rename(temp, target)
            temp = aside
        _step("swapped the directories")
        fsync_directory(target.parent)
    finally:
        shutil.rmtree(temp, ignore_errors=True)  # the failed build, or the previous directory
    return target


def add_file_list(text: str | bytes, files: Mapping[str, Any]) -> str:
    """The JSON object ``text`` with ``files`` under :data:`FILES_KEY`: an ``index_content`` of :func:`write_directory`.

    Example:
        >>> add_file_list('{"a": 1}', {})
        '{\\n  "a": 1,\\n  "files": {}\\n}\\n'
    """
    data = json.loads(text)
    data[FILES_KEY] = dict(files)
    return json.dumps(data, indent=2) + "\n"


def check_not_interrupted(directory: str | os.PathLike[str], *, writer: str) -> None:
    """Raise ``ModelFormatError`` if a write into ``directory`` was cut short (the :data:`MARKER` is there).

    Example:
        >>> import tempfile, pathlib
        >>> directory = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (directory / MARKER).write_text("")
        >>> check_not_interrupted(directory, writer="save_pretrained")
        Traceback (most recent call last):
        ...
        seq2seq_fit.errors.ModelFormatError: /...: incomplete: a write into it was interrupted ...
    """
    marker = Path(directory) / MARKER
    if os.path.lexists(marker):
        raise ModelFormatError(
            f"{directory}: incomplete: a write into it was interrupted ({MARKER} is there), so its files may be of "
            f"two models; write the model there again with {writer} (that also removes {MARKER})"
        )


def _file_list(index: Path) -> dict[str, Any] | None:
    """The :data:`FILES_KEY` entry of the JSON object in ``index``; ``None`` when it has none or is not
    readable JSON (the loader reports that itself)."""
    try:
        with open(index, "rb") as f:
            data = json.loads(f.read())
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or FILES_KEY not in data:
        return None
    files = data[FILES_KEY]
    if not isinstance(files, dict) or len(files) > MAX_LISTED_FILES:
        raise ModelFormatError(
            f"{index}: {FILES_KEY!r} is {shown(files)}, expected an object of at most {MAX_LISTED_FILES} files"
        )
    return files


def check_listed_files(
    directory: str | os.PathLike[str], index: str, *, writer: str, required: Sequence[str] = ()
) -> list[str]:
    """Check that each file the ``index`` file of ``directory`` lists has the size and sha256 it records.

    Each file is read in chunks (at most :data:`HASH_CHUNK` bytes in memory), after checking all the sizes.
    An index without the list (a directory written by an older version) checks nothing.

    Args:
        directory: the directory.
        index: the index file's name (``config.json``).
        writer: what writes the directory, for the message (``"save_pretrained"``).
        required: the files the loader reads besides ``index``: each must be listed.

    Returns:
        The names checked.

    Raises:
        ModelFormatError: naming the first file that differs (or is missing, or is not a regular file): the
            directory mixes files of two writes, or a file was changed since.
    """
    root = Path(directory)
    files = _file_list(root / index)
    if files is None:
        return []
    fix = (
        f"the directory is incomplete or mixes files of two models (a write or copy into it was cut short, or "
        f"a file was changed since); write the model there again with {writer}"
    )
    expected: dict[str, tuple[int, str]] = {}
    for name, record in files.items():
        size = record.get("bytes") if isinstance(record, dict) else None
        digest = record.get("sha256") if isinstance(record, dict) else None
        plain = name not in ("", ".", "..") and os.path.basename(name) == name and "\\" not in name
        if not (plain and isinstance(size, int) and isinstance(digest, str) and re.fullmatch("[0-9a-f]{64}", digest)):
            raise ModelFormatError(
                f"{root / index}: {FILES_KEY!r} entry {shown(name)}: {shown(record)} is not a file name with "
                '{"bytes": size, "sha256": hex digest}'
            )
        expected[name] = (size, digest)
    for name in required:
        if name != index and name not in expected:
            raise ModelFormatError(f"{root / name}: not one of the files {index} lists, so not of its model; {fix}")
    for name, (size, _) in expected.items():
        try:
            info = os.stat(root / name)
        except OSError:
            raise ModelFormatError(f"{root / name}: missing, but {index} lists it; {fix}") from None
        if not stat.S_ISREG(info.st_mode):
            raise ModelFormatError(f"{root / name}: not a regular file, but {index} lists it; {fix}")
        if info.st_size != size:
            raise ModelFormatError(f"{root / name}: {info.st_size} bytes, but {index} lists {size}; {fix}")
    for name, (_, digest) in expected.items():
        if sha256_file(root / name) != digest:
            raise ModelFormatError(f"{root / name}: its sha256 is not the one {index} lists; {fix}")
    return list(expected)


__all__ = [
    "FILES_KEY",
    "HASH_CHUNK",
    "KNOWN_FILES",
    "MARKER",
    "MAX_LISTED_FILES",
    "add_file_list",
    "check_listed_files",
    "check_not_interrupted",
    "remove_leftovers",
    "replace_directory",
    "sha256_file",
    "write_directory",
]
