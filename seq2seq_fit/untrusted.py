"""Reading handed-over model files within bounds (framework-free).

A model directory, a checkpoint or a ``.keras`` file may come from someone else. What is read from one
is checked before it costs anything: a JSON file's size before reading it and its nesting depth without
recursing; a ``model.safetensors`` header (names, dtypes, shapes, data offsets against the file size)
before any tensor data; the parameter count a config implies against :data:`seq2seq_fit.limits.MAX_PARAMETERS`
and against the weights in the file before a model is built. Weights must be finite. A file reached
through a link that leads out of its directory is refused, and nothing of it is read.

Every refusal is a :class:`~seq2seq_fit.errors.ModelFormatError` (or an
:class:`~seq2seq_fit.errors.UnsafeFileError` for a link) naming the file, on one short line.
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Mapping
from typing import Any

import numpy as np

from seq2seq_fit import limits
from seq2seq_fit.config import Seq2SeqConfig, as_config
from seq2seq_fit.errors import ModelFormatError, UnsafeFileError, shown
from seq2seq_fit.line_reader import KINDS
from seq2seq_fit.vocab import as_vocab
from seq2seq_fit.weight_layout import canonical_shapes

#: Bytes per element of every safetensors dtype (``F32`` is the one the model format stores).
SAFETENSORS_DTYPES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E5M2": 1,
    "F8_E4M3": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "F64": 8,
    "I64": 8,
    "U64": 8,
}
#: The numpy name of each safetensors dtype, for messages.
NUMPY_NAMES = {
    "BOOL": "bool",
    "U8": "uint8",
    "I8": "int8",
    "I16": "int16",
    "U16": "uint16",
    "F16": "float16",
    "BF16": "bfloat16",
    "I32": "int32",
    "U32": "uint32",
    "F32": "float32",
    "F64": "float64",
    "I64": "int64",
    "U64": "uint64",
}
#: Most problems one error lists (the rest are counted).
MAX_LISTED = 5


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line, cut to about ``limit`` characters (for an error that quotes another error).

    Example:
        >>> one_line("a\\nb" + "c" * 50, limit=10)
        'a b... (53 characters)'
    """
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else f"{flat[: limit - 7]}... ({len(flat)} characters)"


def listed(problems: list[str]) -> str:
    """The first :data:`MAX_LISTED` of ``problems`` joined with ``; `` and the count of the others."""
    more = f"; and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    return "; ".join(problems[:MAX_LISTED]) + more


def check_inside(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> None:
    """Refuse ``path`` when it (or a link on its way) leads out of the directory ``root``.

    Raises:
        UnsafeFileError: naming ``path``; nothing of the file it leads to is read or shown.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> root = Path(tempfile.mkdtemp())
        >>> os.symlink("/etc/hostname", root / "vocab.json")
        >>> check_inside(root, root / "vocab.json")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        seq2seq_fit.errors.UnsafeFileError: .../vocab.json: a link that leads out of the model directory ...
    """
    base = os.path.realpath(root)
    real = os.path.realpath(path)
    if os.path.commonpath([base, real]) != base:
        raise UnsafeFileError(
            f"{os.fspath(path)}: a link that leads out of the model directory {os.fspath(root)}; refused, nothing "
            "was read from it (copy the file into the directory if you trust it)"
        )


def check_regular_file(path: str | os.PathLike[str] | Any) -> None:
    """Refuse ``path`` before anything opens it unless it is a regular file (a link to one is fine): opening
    a FIFO to read waits forever for a writer, and a device such as ``/dev/zero`` never ends.

    A path that does not exist (or a file object) passes: the caller's own open reports that.

    Raises:
        ModelFormatError: ``path: is a FIFO (named pipe), expected a regular file`` (or a directory, a
            device, a socket).

    Example:
        >>> check_regular_file("/dev/zero")
        Traceback (most recent call last):
        ...
        seq2seq_fit.errors.ModelFormatError: /dev/zero: is a character device, expected a regular file
    """
    if not isinstance(path, (str, bytes, os.PathLike)):
        return
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in KINDS if test(mode)), "not a regular file")
        raise ModelFormatError(f"{os.fsdecode(path)}: is {kind}, expected a regular file")


def parse_json(data: bytes | str, where: str) -> Any:
    """The JSON value of ``data``, its nesting depth at most :data:`seq2seq_fit.limits.MAX_JSON_DEPTH`.

    Args:
        data: the JSON text (UTF-8 bytes or a string).
        where: the file (or zip member) named in errors.

    Raises:
        ModelFormatError: not UTF-8 JSON, nested too deep, or an integer longer than the interpreter
            converts; one line naming ``where``.

    Example:
        >>> parse_json('{"a": [1, 2]}', "x.json")
        {'a': [1, 2]}
        >>> parse_json("[" * 100 + "]" * 100, "x.json")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        seq2seq_fit.errors.ModelFormatError: x.json: JSON nested deeper than 64 levels (...
    """
    too_deep = (
        f"{where}: JSON nested deeper than {limits.MAX_JSON_DEPTH} levels (seq2seq_fit.limits.MAX_JSON_DEPTH; "
        "raise it if you trust this file)"
    )
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = json.loads(text)
    except RecursionError:
        raise ModelFormatError(too_deep) from None
    except (UnicodeDecodeError, ValueError) as err:  # JSONDecodeError; an integer past the interpreter's digit limit
        raise ModelFormatError(f"{where}: not valid JSON ({one_line(str(err), 200)})") from None
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:  # depth first, without recursing
        item, depth = stack.pop()
        if depth > limits.MAX_JSON_DEPTH:
            raise ModelFormatError(too_deep)
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return value


def read_json_file(path: str | os.PathLike[str], *, limit: int | None = None) -> Any:
    """The JSON value of the regular file ``path``, at most ``limit`` bytes (default
    :data:`seq2seq_fit.limits.MAX_JSON_BYTES`), checked by :func:`parse_json`.

    Raises:
        ModelFormatError: not a regular file, too large, unreadable or not valid JSON; naming ``path``.
    """
    limit = limits.MAX_JSON_BYTES if limit is None else limit
    check_regular_file(path)
    try:
        with open(path, "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ModelFormatError(f"{os.fspath(path)}: not a regular file")
            if info.st_size > limit:
                raise ModelFormatError(
                    f"{os.fspath(path)}: {info.st_size} bytes, more than seq2seq_fit.limits.MAX_JSON_BYTES = {limit}; "
                    "raise it if you trust this file"
                )
            data = f.read(limit + 1)
    except OSError as err:
        raise ModelFormatError(f"{os.fspath(path)}: cannot be read ({err.strerror or err})") from None
    if len(data) > limit:
        raise ModelFormatError(f"{os.fspath(path)}: more than seq2seq_fit.limits.MAX_JSON_BYTES = {limit} bytes")
    return parse_json(data, os.fspath(path))


def parameter_count(config: Seq2SeqConfig, src_vocab_size: int, tgt_vocab_size: int) -> int:
    """How many parameters the canonical tensors of a model with ``config`` hold.

    Example:
        >>> parameter_count(Seq2SeqConfig(hidden_size=4, embedding_dim=2, attention="none"), 5, 5)
        257
    """
    return sum(math.prod(shape) for shape in canonical_shapes(config, src_vocab_size, tgt_vocab_size).values())


def check_model_size(config: Seq2SeqConfig, src_vocab_size: int, tgt_vocab_size: int, where: str) -> int:
    """The parameter count of the model, after checking it against :data:`seq2seq_fit.limits.MAX_PARAMETERS`.

    Raises:
        ModelFormatError: naming ``where``, the count and the limit.

    Example:
        >>> check_model_size(Seq2SeqConfig(hidden_size=20000), 100, 100, "m.ckpt")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        seq2seq_fit.errors.ModelFormatError: m.ckpt: the config asks for a model of 4009952900 parameters, more than ...
    """
    count = parameter_count(config, src_vocab_size, tgt_vocab_size)
    if count > limits.MAX_PARAMETERS:
        raise ModelFormatError(
            f"{where}: the config asks for a model of {count} parameters, more than "
            f"seq2seq_fit.limits.MAX_PARAMETERS = {limits.MAX_PARAMETERS}; raise it if you trust this file"
        )
    return count


def check_stored_model(arguments: Mapping[str, Any], prefix: str) -> tuple[Seq2SeqConfig, int, int]:
    """The config and vocabulary sizes that a file's stored constructor arguments ask for, before a model is
    built from them: a checkpoint's hyper-parameters or a ``.keras`` file's ``Seq2SeqModel`` config.

    Every vocabulary token must be a string, the config valid and the model within
    :data:`seq2seq_fit.limits.MAX_PARAMETERS`.

    Args:
        arguments: the stored arguments (``config``, ``src_vocab``, ``tgt_vocab``, others ignored).
        prefix: what starts every message: the file and where the arguments are in it
            (``"m.ckpt: hyper_parameters"``, ``"m.keras: config.json"``).

    Returns:
        ``(config, src_vocab_size, tgt_vocab_size)``.

    Raises:
        ModelFormatError: ``"<prefix>.<key>: ..."`` or ``"<prefix>: ..."``, one line.

    Example:
        >>> check_stored_model({"config": {"hidden_size": 0}, "src_vocab": ["<pad>"]}, "m.ckpt: hparams")
        Traceback (most recent call last):
        ...
        seq2seq_fit.errors.ModelFormatError: m.ckpt: hparams: Seq2SeqConfig.hidden_size: got 0, expected an integer >= 1
    """
    for side in ("src_vocab", "tgt_vocab"):
        tokens = arguments.get(side)
        if isinstance(tokens, (list, tuple)):
            bad = next((i for i, token in enumerate(tokens) if not isinstance(token, str)), None)
            if bad is not None:
                raise ModelFormatError(f"{prefix}.{side}[{bad}]: got {shown(tokens[bad])}, expected a token string")
    try:
        config = as_config(arguments.get("config"), name="config")
        sizes = len(as_vocab(arguments["src_vocab"])), len(as_vocab(arguments["tgt_vocab"]))
    except (KeyError, TypeError, ValueError) as err:
        missing = f"{err.args[0]!r} is missing" if isinstance(err, KeyError) else one_line(str(err), 200)
        raise ModelFormatError(f"{prefix}: {missing}") from None
    check_model_size(config, *sizes, prefix)
    return config, *sizes


def shape_problems(
    found: Mapping[str, tuple[str, tuple[int, ...]]], expected: Mapping[str, tuple[int, ...]]
) -> list[str]:
    """What is missing, unexpected, mis-shaped or not float32 in ``found`` (name -> (dtype, shape)),
    one short line each; names from the file are quoted with :func:`~seq2seq_fit.errors.shown`."""
    problems = [
        f"{key} has shape {found[key][1]}, expected {shape}"
        for key, shape in expected.items()
        if key in found and tuple(found[key][1]) != shape
    ]
    problems += [
        f"{key} has dtype {NUMPY_NAMES.get(found[key][0], found[key][0])}, expected float32"
        for key in expected
        if key in found and found[key][0] not in ("F32", "float32")
    ]
    problems += [f"{key} is missing (expected shape {shape})" for key, shape in expected.items() if key not in found]
    problems += [
        f"unexpected tensor {one_line(key, 60)} {one_line(str(found[key][1]), 60)}"
        for key in found
        if key not in expected
    ]
    return problems


def check_finite(name: str, array: np.ndarray, where: str) -> None:
    """Refuse a tensor holding NaN or infinite values.

    Example:
        >>> check_finite("decoder.out.bias", np.array([0.0, np.nan], np.float32), "model.safetensors")
        Traceback (most recent call last):
        ...
        seq2seq_fit.errors.ModelFormatError: model.safetensors: tensor 'decoder.out.bias' holds 1 NaN or infinite ...
    """
    if array.dtype.kind in "fc":
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        if bad:
            raise ModelFormatError(
                f"{where}: tensor {shown(name, 80)} holds {bad} NaN or infinite value(s) of {array.size}; "
                "a model with them translates to nothing"
            )


def safetensors_header(path: str | os.PathLike[str]) -> tuple[dict[str, tuple[str, tuple[int, ...], int, int]], int]:
    """The tensors a ``.safetensors`` file declares, read from its header alone, each checked to lie in the file.

    Returns:
        ``({name: (dtype, shape, begin, end)}, data_start)``: ``begin`` and ``end`` are byte offsets
        from ``data_start``, the file offset where the tensor data begins.

    Raises:
        ModelFormatError: the file is not a regular file, too short, its header over
            :data:`seq2seq_fit.limits.MAX_SAFETENSORS_HEADER_BYTES`, not a JSON object of tensor entries, a
            dtype unknown, or a tensor's bytes disagree with its shape or lie past the end of the file.
    """
    name = os.fspath(path)
    bad = "not a readable safetensors file"
    check_regular_file(path)
    try:
        with open(path, "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ModelFormatError(f"{name}: {bad} (not a regular file)")
            head = f.read(8)
            if len(head) < 8:
                raise ModelFormatError(f"{name}: {bad} ({info.st_size} bytes, shorter than its header)")
            size = int.from_bytes(head, "little")
            if size > limits.MAX_SAFETENSORS_HEADER_BYTES:
                raise ModelFormatError(
                    f"{name}: {bad} (a header of {size} bytes, more than "
                    f"seq2seq_fit.limits.MAX_SAFETENSORS_HEADER_BYTES = {limits.MAX_SAFETENSORS_HEADER_BYTES})"
                )
            if 8 + size > info.st_size:
                raise ModelFormatError(
                    f"{name}: {bad}, or truncated (its header claims {size} bytes; the file has {info.st_size})"
                )
            text = f.read(size)
    except OSError as err:
        raise ModelFormatError(f"{name}: cannot be read ({err.strerror or err})") from None
    header = parse_json(text, f"{name} (safetensors header)")
    if not isinstance(header, dict):
        raise ModelFormatError(f"{name}: {bad} (its header is not a JSON object)")
    metadata = header.pop("__metadata__", None)
    if metadata is not None and not isinstance(metadata, dict):
        raise ModelFormatError(f"{name}: safetensors __metadata__ is {shown(metadata, 60)}, expected an object")
    data_size = info.st_size - 8 - size
    tensors: dict[str, tuple[str, tuple[int, ...], int, int]] = {}
    for key, entry in header.items():
        where = f"{name}: tensor {shown(key, 60)}"
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise ModelFormatError(f"{where}: header entry {shown(entry, 80)}, expected dtype, shape and data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(dtype, str) or dtype not in SAFETENSORS_DTYPES:
            raise ModelFormatError(f"{where}: unknown dtype {shown(dtype, 40)}")
        if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
            raise ModelFormatError(f"{where}: shape {shown(shape, 60)}, expected a list of sizes")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(type(n) is int for n in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= data_size
        ):
            raise ModelFormatError(
                f"{where}: data_offsets {shown(offsets, 60)} lie outside the file's {data_size} data bytes "
                "(truncated or malformed)"
            )
        if offsets[1] - offsets[0] != math.prod(shape) * SAFETENSORS_DTYPES[dtype]:
            raise ModelFormatError(
                f"{where}: {offsets[1] - offsets[0]} bytes for shape {tuple(shape)} of {dtype}; the header is malformed"
            )
        tensors[key] = (dtype, tuple(shape), offsets[0], offsets[1])
    return tensors, 8 + size


def read_safetensors(path: str | os.PathLike[str], expected: Mapping[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """The float32 tensors ``expected`` (name -> shape) of a ``.safetensors`` file, its header checked
    first (:func:`safetensors_header`) and only those tensors' bytes read, each checked to be finite.

    Raises:
        ModelFormatError: naming the file and the tensors that are missing, unexpected, mis-shaped or
            not float32 (before any tensor data is read), or one holding NaN or infinite values.
    """
    name = os.fspath(path)
    tensors, start = safetensors_header(path)
    problems = shape_problems({key: (t[0], t[1]) for key, t in tensors.items()}, expected)
    if problems:
        held = sum(math.prod(t[1]) for t in tensors.values())
        implied = sum(math.prod(shape) for shape in expected.values())
        cut = held != implied and len(problems) > MAX_LISTED
        sizes = f" (its tensors hold {held} parameters, the config implies {implied})" if cut else ""
        raise ModelFormatError(f"{name}: {listed(problems)}{sizes} for the config and vocab.json")
    arrays: dict[str, np.ndarray] = {}
    try:
        with open(path, "rb") as f:
            for key, shape in expected.items():
                _, _, begin, end = tensors[key]
                f.seek(start + begin)
                count = (end - begin) // 4
                array = np.fromfile(f, dtype="<f4", count=count)
                if array.size != count:
                    raise ModelFormatError(f"{name}: truncated inside tensor {key}")
                array = array.reshape(shape).astype(np.float32, copy=False)
                check_finite(key, array, name)
                arrays[key] = array
    except OSError as err:
        raise ModelFormatError(f"{name}: cannot be read ({err.strerror or err})") from None
    return arrays


__all__ = [
    "check_finite",
    "check_inside",
    "check_model_size",
    "check_stored_model",
    "one_line",
    "parameter_count",
    "parse_json",
    "read_json_file",
    "read_safetensors",
    "safetensors_header",
    "shape_problems",
]
