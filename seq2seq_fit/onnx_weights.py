"""Finding non-finite weights in an ONNX graph with numpy alone (no ``onnx`` package, framework-free).

The runtime (:mod:`seq2seq_fit.serving`) imports only numpy and onnxruntime, and onnxruntime cannot
show a graph's initializers; so :func:`non_finite_initializer` reads the few protobuf fields it needs
(``ModelProto.graph`` -> ``GraphProto.initializer`` -> ``TensorProto``) from a memory map of the
file, and checks each float tensor in chunks: the cost is one pass over the weights and a few
megabytes of memory, whatever the graph's size.

Example:
    >>> import tempfile, numpy as np
    >>> from onnx import helper, numpy_helper, TensorProto
    >>> weight = numpy_helper.from_array(np.array([1.0, np.nan], np.float32), "decoder.out.bias")
    >>> graph = helper.make_graph([], "g", [], [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])], [weight])
    >>> path = tempfile.mktemp(suffix=".onnx")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(helper.make_model(graph).SerializeToString())
    >>> non_finite_initializer(path)
    'decoder.out.bias'
"""

from __future__ import annotations

import contextlib
import mmap
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

#: ``TensorProto.DataType`` of the float types checked, and how their raw bytes read in numpy (bfloat16, 16,
#: as its ``uint16`` bits).
FLOAT_DTYPES: dict[int, np.dtype] = {1: np.dtype("<f4"), 10: np.dtype("<f2"), 11: np.dtype("<f8"), 16: np.dtype("<u2")}
#: Elements checked at a time (bounds the temporary boolean array).
CHUNK = 1 << 20
#: ``TensorProto.DataLocation.EXTERNAL``.
EXTERNAL = 1


class ProtobufError(ValueError):
    """The bytes are not the protobuf message they should be."""


def varint(data: memoryview, pos: int) -> tuple[int, int]:
    """The varint at ``pos`` of ``data`` and the position after it."""
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ProtobufError("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def fields(data: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """``(field number, wire type, value)`` of each field of the message ``data``: an int for varints, the
    bytes of length-delimited fields; fixed-width fields are skipped (value ``0``)."""
    pos = 0
    while pos < len(data):
        key, pos = varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = varint(data, pos)
            yield number, wire, value
        elif wire == 2:
            size, pos = varint(data, pos)
            if pos + size > len(data):
                raise ProtobufError("a field runs past the end of its message")
            yield number, wire, data[pos : pos + size]
            pos += size
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
            yield number, wire, 0
        else:
            raise ProtobufError(f"unknown wire type {wire}")
    if pos != len(data):
        raise ProtobufError("a field runs past the end of its message")


def all_finite(values: np.ndarray, data_type: int) -> bool:
    """Whether every element of ``values`` (bfloat16 as its ``uint16`` bits) is finite, in chunks."""
    for start in range(0, len(values), CHUNK):
        chunk = values[start : start + CHUNK]
        if data_type == 16:
            if ((chunk & 0x7F80) == 0x7F80).any():  # exponent all ones: inf or NaN
                return False
        elif not np.isfinite(chunk).all():
            return False
    return True


def external_bytes(entries: list[memoryview], root: Path, keep: list[mmap.mmap]) -> memoryview | None:
    """The bytes of an external tensor (its ``location``, ``offset``, ``length`` entries) inside ``root``;
    ``None`` if it names a file outside ``root`` or missing (onnxruntime refuses those itself)."""
    info: dict[str, str] = {}
    for entry in entries:
        pair = {number: bytes(value).decode("utf-8", "replace") for number, wire, value in fields(entry) if wire == 2}
        info[pair.get(1, "")] = pair.get(2, "")
    target = (root / info.get("location", "")).resolve()
    if not target.is_relative_to(root.resolve()) or not target.is_file() or target.stat().st_size == 0:
        return None
    with open(target, "rb") as f:
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    keep.append(mapped)
    offset = int(info.get("offset") or 0)
    length = int(info.get("length") or len(mapped) - offset)
    return memoryview(mapped)[offset : offset + length]


def non_finite_initializer(path: str | os.PathLike[str]) -> str | None:
    """The name of the first float initializer of the ONNX graph ``path`` that holds NaN or an infinity, or
    ``None`` if all are finite.

    Checks the weights stored as raw bytes (what ``onnx.numpy_helper.from_array`` writes), ``float_data`` and
    ``double_data``, in the file or in external data inside its directory; float16 stored as
    ``int32_data`` is not read.

    Raises:
        ProtobufError: the file is not a well-formed ``ModelProto`` as far as these fields go.
    """
    keep: list[mmap.mmap] = []
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            raise ProtobufError("empty file")
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    model = memoryview(mapped)
    try:
        for number, _, graph in fields(model):
            if number != 7 or not isinstance(graph, memoryview):  # ModelProto.graph
                continue
            for tag, _, tensor in fields(graph):
                if tag != 5 or not isinstance(tensor, memoryview):  # GraphProto.initializer
                    continue
                name = check_tensor(tensor, Path(path).parent, keep)
                if name is not None:
                    return name
        return None
    finally:
        del model
        for opened in [mapped, *keep]:
            with contextlib.suppress(BufferError):  # a view still alive: the map closes when it goes
                opened.close()


def check_tensor(tensor: memoryview, root: Path, keep: list[mmap.mmap]) -> str | None:
    """The tensor's name if it is a float tensor with a non-finite value, else ``None``."""
    data_type, location, name = 0, 0, ""
    stored: list[tuple[int, memoryview]] = []  # (field, bytes) of the data fields
    external: list[memoryview] = []
    for number, wire, value in fields(tensor):
        if number == 2 and wire == 0:
            data_type = int(value)  # type: ignore[arg-type]
        elif number == 14 and wire == 0:
            location = int(value)  # type: ignore[arg-type]
        elif number == 8 and isinstance(value, memoryview):
            name = bytes(value).decode("utf-8", "replace")
        elif number in (4, 9, 10) and isinstance(value, memoryview):  # float_data, raw_data, double_data (packed)
            stored.append((number, value))
        elif number == 13 and isinstance(value, memoryview):
            external.append(value)
    dtype = FLOAT_DTYPES.get(data_type)
    if dtype is None:
        return None
    if location == EXTERNAL:
        raw = external_bytes(external, root, keep)
        stored = [] if raw is None else [(9, raw)]
    for number, raw in stored:
        kind: np.dtype = dtype if number == 9 else np.dtype("<f4" if number == 4 else "<f8")
        usable = len(raw) - len(raw) % kind.itemsize
        values = np.frombuffer(raw[:usable], dtype=kind)
        if not all_finite(values, data_type if number == 9 else 1):
            return name
    return None


__all__ = ["ProtobufError", "non_finite_initializer"]
