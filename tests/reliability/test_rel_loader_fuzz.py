"""Fuzz of the loaders of handed-over model files: a model directory (``LitSeq2Seq.from_pretrained``), a
Lightning checkpoint (``LitSeq2Seq.load_from_checkpoint``) and an ONNX export (``OnnxTranslator``), each
written once per module for a tiny model and then mutated at random in a copy: bytes flipped, overwritten,
inserted, cut or appended; JSON values given another type, a huge number, NaN or deep nesting, keys
deleted, duplicated or renamed; files deleted, emptied, swapped, replaced by a directory, a FIFO or a
symlink out of the directory; safetensors headers with renamed tensors, other shapes, dtypes and offsets,
or non-finite values; checkpoint hyper-parameters and tensors; ONNX metadata, initializers and shapes.

The property: every mutated model either loads and decodes the same sources to exactly the same tokens,
or is refused with one of the package's errors (``InputError``: ``ModelFormatError``, ``UnsafeFileError``)
in one line of a few hundred characters that quotes nothing of a file outside the directory; no other
exception, no hang (a load runs in a worker process killed after :data:`TIME_BOX` seconds), no more than
:data:`EXTRA_MB` of extra memory, and never a loaded model with non-finite weights. A mutation that a
file format cannot tell from a real model (another finite value in the weights' data, another token
string, a config edit of the same type) may load a different model: only its error class is checked.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import resource
import select
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from tests.helpers import REPO, child_env

pytest.importorskip("onnx")  # the export is built and mutated with it
pytest.importorskip("onnxruntime")
pytest.importorskip("lightning")

#: Seconds a load and decode may take before the worker is killed and the example fails as a hang.
TIME_BOX = 15.0
#: Extra peak memory (MB) a load may cost the worker.
EXTRA_MB = 300
#: The worker's address-space cap, so that a runaway allocation fails instead of taking the machine down.
MEMORY_CAP = 4 << 30
#: Longest error message accepted (it names a temporary path of about 60 characters).
MAX_MESSAGE = 600
#: A marker in a JSON file outside the model directory, which no error may quote.
SECRET = "SECRET-7f3a"
#: Where each loader's base copy lives in the base directory.
BASES = {"directory": "model", "checkpoint": "model.ckpt", "onnx": "export"}
#: Examples per loader in the default suite, and under ``-m slow``.
DEFAULT_EXAMPLES = 40
SLOW_EXAMPLES = 400


class Worker:
    """The fuzz worker process (``tests.reliability.fuzz_worker``), restarted after a hang or a crash."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> subprocess.Popen[str]:
        def cap() -> None:
            resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))

        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.fuzz_worker"],
            cwd=REPO,
            env=child_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            preexec_fn=cap,
        )
        self.proc = proc
        assert self.read(180.0) == {"ready": True}
        return proc

    def read(self, timeout: float) -> dict[str, Any] | None:
        assert self.proc is not None and self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:  # a hang (killed here) or a crash
            self.stop()
            return None
        return json.loads(line)  # type: ignore[no-any-return]

    def ask(self, request: dict[str, Any], timeout: float = TIME_BOX) -> dict[str, Any]:
        proc = self.proc if self.proc is not None and self.proc.poll() is None else self.start()
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(request) + "\n")
        proc.stdin.flush()
        answer = self.read(timeout)
        if answer is None:
            code = proc.returncode
            return {"outcome": "timeout" if code is None or code == -9 else f"died (exit status {code})"}
        return answer

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture(scope="module")
def worker() -> Iterator[Worker]:
    w = Worker()
    yield w
    w.stop()


@pytest.fixture(scope="module")
def base(worker: Worker, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The base files and what each loader decodes from them."""
    root = tmp_path_factory.mktemp("fuzz_base")
    assert worker.ask({"make": os.fspath(root)}, timeout=120.0) == {"made": os.fspath(root)}
    outputs = {}
    for loader, name in BASES.items():
        answer = worker.ask({"loader": loader, "path": os.fspath(root / name)}, timeout=60.0)
        assert answer["outcome"] == "loaded" and answer["finite"], answer
        outputs[loader] = answer["outputs"]
    assert outputs["directory"] == outputs["checkpoint"] == outputs["onnx"]
    assert any(outputs["directory"]), "the base model decodes some tokens, so a changed model shows"
    return {"root": root, "outputs": outputs}


# -- mutations -------------------------------------------------------------------------------------


@dataclass
class Mutation:
    """What was done, and what the property allows: ``may_differ``, a model that loads but decodes otherwise
    (a change no format can tell from a real model); ``must_refuse``, nothing but a refusal."""

    description: str
    may_differ: bool = False
    must_refuse: bool = False


class Raw(str):
    """JSON text written as is (a number of 5,001 digits, ``NaN``, deep nesting)."""


class Pairs(list):  # type: ignore[type-arg]
    """A JSON object as (key, value) pairs, so that a key can appear twice."""


def dumps(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        value = Pairs(value.items())
    if isinstance(value, Pairs):
        return "{" + ", ".join(f"{json.dumps(k)}: {dumps(v)}" for k, v in value) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def kind_of(value: Any) -> str:
    return "bool" if isinstance(value, bool) else type(value).__name__


PLAIN_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 12),
    st.floats(-2, 2, width=32),
    st.text(max_size=4),
    st.lists(st.integers(0, 3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(0, 3), max_size=2),
)
HUGE_JSON = [
    Raw("9" * 5001),
    10**30,
    2**63,
    -(2**63),
    10**9,
    20000,
    6000,
    -1,
    Raw("1e999"),
    Raw("NaN"),
    Raw("Infinity"),
    Raw("-Infinity"),
]


def huge_python(value: Any) -> Any:
    """A :data:`HUGE_JSON` value as the Python object a pickle would hold."""
    if value == Raw("9" * 5001):
        return 10**5001 - 1
    return {"1e999": float("inf"), "NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}.get(
        value, value
    )


def draw_path(data: st.DataObject, tree: Any) -> list[Any]:
    """A random path into a JSON-like tree (possibly the root)."""
    path: list[Any] = []
    node = tree
    while isinstance(node, (dict, list)) and node and data.draw(st.booleans(), label="descend"):
        key = data.draw(st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node))), label="key")
        path.append(key)
        node = node[key]
    return path


def get_at(tree: Any, path: list[Any]) -> Any:
    for key in path:
        tree = tree[key]
    return tree


def set_at(tree: Any, path: list[Any], value: Any) -> Any:
    if not path:
        return value
    tree = copy.copy(tree)
    tree[path[0]] = set_at(tree[path[0]], path[1:], value)
    return tree


def tree_mutation(data: st.DataObject, tree: Any, *, python: bool) -> tuple[Any, Mutation]:
    """``tree`` with one value replaced, deleted, duplicated or renamed (``python``: as Python objects for a
    pickle, where a duplicated key cannot exist)."""
    path = draw_path(data, tree)
    old = get_at(tree, path)
    ops = ["retype", "huge", "nest", "long"] + (["delete", "rename"] if path else [])
    if isinstance(old, dict) and old and not python:
        ops.append("duplicate")
    op = data.draw(st.sampled_from(ops), label="op")
    where = "/".join(str(k) for k in path) or "(root)"
    if op == "retype":
        new = data.draw(PLAIN_VALUES, label="value")
        return set_at(tree, path, new), Mutation(
            f"{where}: {short(old)} -> {short(new)}", may_differ=kind_of(new) == kind_of(old)
        )
    if op == "huge":
        new = data.draw(st.sampled_from(HUGE_JSON), label="value")
        desc = f"{where}: {short(old)} -> {str(new)[:20]}"  # before it is a Python int too long to print
        return set_at(tree, path, huge_python(new) if python else new), Mutation(desc)
    if op == "nest":
        depth = data.draw(st.sampled_from([100, 900] if python else [100, 5000, 200_000]), label="depth")
        new = Raw("[" * depth + "]" * depth) if not python else json.loads("[" * depth + "]" * depth)
        return set_at(tree, path, new), Mutation(f"{where}: {short(old)} -> lists nested {depth} deep")
    if op == "long":
        size = data.draw(st.sampled_from([10_000, 1_000_000]), label="size")
        # another token string is a real vocabulary: it may decode otherwise
        return set_at(tree, path, "x" * size), Mutation(f"{where}: {short(old)} -> 'x' * {size}", may_differ=True)
    if op == "duplicate":  # a key of the object at path twice: the same value (reads the same) or another
        key = data.draw(st.sampled_from(sorted(old)), label="duplicated")
        same = data.draw(st.booleans(), label="same value")
        value = old[key] if same else data.draw(PLAIN_VALUES, label="value")
        pairs = Pairs(old.items())
        pairs.append((key, value))
        return set_at(tree, path, pairs), Mutation(
            f"{where}/{key}: duplicated with {short(value)}", may_differ=not same
        )
    parent, key = get_at(tree, path[:-1]), path[-1]
    if op == "delete":
        parent = copy.copy(parent)
        del parent[key]
        # a key deleted reads as its default, like an older file: it may decode otherwise
        return set_at(tree, path[:-1], parent), Mutation(f"{where}: deleted", may_differ=True)
    if op == "rename":
        name = data.draw(st.sampled_from(["", "x", "__class__", "source", "config", "0"]), label="name")
        if isinstance(parent, list):  # a list has no names: swap in a name where a value was
            return set_at(tree, path, name), Mutation(f"{where}: {short(old)} -> {name!r}", may_differ=True)
        renamed = {(name if k == key else k): v for k, v in parent.items()}
        return set_at(tree, path[:-1], renamed), Mutation(f"{where}: key renamed to {name!r}", may_differ=True)
    raise AssertionError(op)


def json_mutation(data: st.DataObject, path: Path) -> Mutation:
    tree = json.loads(path.read_text(encoding="utf-8"))
    tree, mutation = tree_mutation(data, tree, python=False)
    path.write_text(dumps(tree), encoding="utf-8")
    return mutation


def byte_mutation(data: st.DataObject, path: Path, data_regions: list[tuple[int, int]]) -> Mutation:
    """Bytes flipped, overwritten, inserted, cut or appended; a change inside one of ``data_regions`` (the
    bytes of weights or of a JSON text) may read as another model."""
    blob = bytearray(path.read_bytes())
    op = data.draw(st.sampled_from(["flip", "overwrite", "insert", "truncate", "append"]), label="op")
    at = data.draw(st.integers(0, max(len(blob) - 1, 0)), label="offset")
    inside = any(start <= at < end for start, end in data_regions)
    if op == "flip" and blob:
        bit = data.draw(st.integers(0, 7), label="bit")
        blob[at] ^= 1 << bit
    elif op in ("overwrite", "insert", "append"):
        junk = data.draw(st.binary(min_size=1, max_size=16), label="bytes")
        if op == "overwrite":
            blob[at : at + len(junk)] = junk
            inside = inside and at + len(junk) <= max(end for start, end in data_regions if start <= at < end)
        elif op == "insert":
            blob[at:at] = junk
        else:
            blob += junk
            inside = False
    else:
        del blob[at:]
        inside = False
    path.write_bytes(bytes(blob))
    return Mutation(f"{path.name}: {op} at byte {at}", may_differ=inside)


def file_mutation(data: st.DataObject, path: Path, outside: Path, *, directory: bool) -> Mutation:
    """The file deleted, emptied, replaced by a directory, a FIFO or a symlink (out of the directory, to a
    copy of itself or to a JSON file with a secret), or swapped with another file of the directory."""
    siblings = sorted(p.name for p in path.parent.iterdir() if p != path)
    ops = ["delete", "empty", "directory", "fifo", "secret link"]
    if directory:
        ops += ["outside link", "inside link", "swap"] if siblings else ["outside link"]
    op = data.draw(st.sampled_from(ops), label="op")
    name = path.name
    if op == "swap" or op == "inside link":
        other = path.parent / data.draw(st.sampled_from(siblings), label="other")
        if op == "swap":
            temp = path.with_name(".swap")
            path.rename(temp)
            other.rename(path)
            temp.rename(other)
            return Mutation(f"{name} swapped with {other.name}")
        path.unlink()
        path.symlink_to(other.name)
        return Mutation(f"{name} -> symlink to {other.name}")
    if op == "outside link":
        copied = outside / name
        shutil.copyfile(path, copied)
        path.unlink()
        path.symlink_to(copied)
        return Mutation(f"{name} -> symlink to a copy outside the directory", must_refuse=True)
    path.unlink()
    if op == "delete":
        return Mutation(f"{name} deleted")
    if op == "empty":
        path.write_bytes(b"")
    elif op == "directory":
        path.mkdir()
    elif op == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to(outside / "secret.json")
        return Mutation(f"{name} -> symlink to a JSON file with a secret outside", must_refuse=directory)
    return Mutation(f"{name} -> {op}")


def safetensors_mutation(data: st.DataObject, path: Path) -> Mutation:
    """The header of a safetensors file edited (names, shapes, dtypes, offsets, its length), or a weight
    made NaN or infinite."""
    blob = path.read_bytes()
    n = int.from_bytes(blob[:8], "little")
    header, body = json.loads(blob[8 : 8 + n]), blob[8 + n :]
    names = sorted(k for k in header if k != "__metadata__")
    name = data.draw(st.sampled_from(names), label="tensor")
    entry = header[name]
    op = data.draw(
        st.sampled_from(["rename", "shape", "dtype", "offsets", "extra", "delete", "length", "non-finite", "json"]),
        label="op",
    )
    if op == "non-finite":
        start = entry["data_offsets"][0]
        count = (entry["data_offsets"][1] - start) // 4
        at = data.draw(st.integers(0, max(count - 1, 0)), label="element")
        value = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]), label="value")
        body = body[: start + 4 * at] + np.float32(value).tobytes() + body[start + 4 * at + 4 :]
        path.write_bytes(blob[: 8 + n] + body)
        return Mutation(f"{name}[{at}] = {value}", must_refuse=True)
    if op == "length":
        length = data.draw(st.sampled_from([0, 1, n - 1, n + 1, len(blob), 2**40, 2**64 - 1]), label="length")
        path.write_bytes(length.to_bytes(8, "little") + blob[8:])
        return Mutation(f"header length {n} -> {length}")
    if op == "json":
        mutation = tree_mutation(data, header, python=False)
        text = dumps(mutation[0]).encode()
        mutation[1].description = f"header {mutation[1].description}"
    else:
        header = dict(header)
        if op == "rename":
            new = data.draw(st.sampled_from([*names, name + ".x", "", "../x", "model." + name]), label="name")
            header[new] = header.pop(name)
            desc = f"tensor {name} renamed {new}"
        elif op == "shape":
            shape = data.draw(
                st.one_of(st.lists(st.integers(0, 20), max_size=3), st.sampled_from([[10**6, 10**6], [-1], [2**62]])),
                label="shape",
            )
            header[name] = {**entry, "shape": shape}
            desc = f"{name} shape {entry['shape']} -> {shape}"
        elif op == "dtype":
            dtype = data.draw(st.sampled_from(["F16", "F64", "I64", "BOOL", "BF16", "U8", "XX"]), label="dtype")
            header[name] = {**entry, "dtype": dtype}
            desc = f"{name} dtype -> {dtype}"
        elif op == "offsets":
            top = len(body) + 16
            offsets = data.draw(st.lists(st.integers(0, top) | st.just(2**62), min_size=2, max_size=2), label="offsets")
            header[name] = {**entry, "data_offsets": offsets}
            desc = f"{name} offsets {entry['data_offsets']} -> {offsets}"
        elif op == "extra":
            size = data.draw(st.sampled_from([1, 4, 10**6, 300_000_000]), label="elements")
            header["extra.weight"] = {"dtype": "F32", "shape": [size], "data_offsets": [0, 4 * size]}
            desc = f"an extra tensor of {size} float32"
        else:
            del header[name]
            desc = f"{name} deleted from the header"
        text = json.dumps(header).encode()
        mutation = (header, Mutation(desc))
    text += b" " * (-len(text) % 8)
    path.write_bytes(len(text).to_bytes(8, "little") + text + body)
    return mutation[1]


def checkpoint_mutation(data: st.DataObject, path: Path) -> Mutation:
    """A checkpoint rewritten by ``torch.save`` with one hyper-parameter, tensor or top-level entry changed."""
    import torch

    checkpoint = torch.load(path, weights_only=True)
    part = data.draw(st.sampled_from(["hyper_parameters", "state_dict", "top"]), label="part")
    if part == "hyper_parameters":
        tree, mutation = tree_mutation(data, checkpoint["hyper_parameters"], python=True)
        checkpoint["hyper_parameters"] = tree
        mutation.description = f"hyper_parameters/{mutation.description}"
    elif part == "top":
        key = data.draw(st.sampled_from(sorted(checkpoint)), label="key")
        value = data.draw(st.sampled_from([None, 7, "x", [], {}, "delete"]), label="value")
        if value == "delete":
            del checkpoint[key]
        else:
            checkpoint[key] = value
        mutation = Mutation(f"{key} -> {short(value)}", may_differ=key not in ("state_dict", "hyper_parameters"))
    else:
        state = checkpoint["state_dict"]
        name = data.draw(st.sampled_from(sorted(state)), label="tensor")
        op = data.draw(st.sampled_from(["rename", "shape", "non-finite", "dtype", "delete", "extra", "not a tensor"]))
        if op == "rename":
            state[name + ".x"] = state.pop(name)
        elif op == "shape":
            shape = data.draw(st.lists(st.integers(0, 9), max_size=3), label="shape")
            assume(list(state[name].shape) != shape)
            state[name] = torch.zeros(shape)
        elif op == "non-finite":
            value = data.draw(st.sampled_from([float("nan"), float("inf"), float("-inf")]), label="value")
            flat = state[name].clone().reshape(-1)
            flat[data.draw(st.integers(0, flat.numel() - 1), label="element")] = value
            state[name] = flat.reshape(state[name].shape)
        elif op == "dtype":
            dtype = data.draw(st.sampled_from(["float64", "float16", "bfloat16", "int64", "bool"]), label="dtype")
            state[name] = state[name].to(getattr(torch, dtype))
            # lower precision is still a real model (rounded weights); integers and booleans are not
            mutation = Mutation(f"{name} -> {dtype}", may_differ=dtype in ("float16", "bfloat16"))
        elif op == "delete":
            del state[name]
        elif op == "extra":
            state["model.extra"] = torch.zeros(3)
        else:
            state[name] = 7
        if op != "dtype":
            mutation = Mutation(f"state_dict {name}: {op}", must_refuse=op == "non-finite")
    try:
        torch.save(checkpoint, path)
    except (RecursionError, ValueError, OverflowError):  # cannot be written in the first place
        assume(False)
    return mutation


def onnx_mutation(data: st.DataObject, path: Path) -> Mutation:
    """An ONNX graph rewritten with its metadata, an initializer, an input/output name or shape, or its
    opset changed."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(os.fspath(path))
    op = data.draw(
        st.sampled_from(["metadata", "non-finite", "initializer shape", "io name", "io shape", "opset"]), label="op"
    )
    if op == "metadata":
        props = model.metadata_props
        index = data.draw(st.integers(0, len(props) - 1), label="property")
        prop = props[index]
        if prop.key == "seq2seq_fit.config" and data.draw(st.booleans(), label="json edit"):
            tree, mutation = tree_mutation(data, json.loads(prop.value), python=False)
            prop.value = dumps(tree)
            mutation = Mutation(f"metadata {prop.key}: {mutation.description}")
        elif data.draw(st.booleans(), label="delete"):
            del props[index]
            mutation = Mutation(f"metadata {prop.key} deleted")
        else:
            prop.value = data.draw(st.sampled_from(["", "x", "2", "-1", "{}", "[", "9" * 5001, "1e999"]), label="value")
            mutation = Mutation(f"metadata {prop.key} -> {prop.value[:20]!r}")
    elif op in ("non-finite", "initializer shape"):
        inits = [i for i in model.graph.initializer if i.data_type == onnx.TensorProto.FLOAT]
        init = inits[data.draw(st.integers(0, len(inits) - 1), label="initializer")]
        array = numpy_helper.to_array(init).copy()
        if op == "non-finite":
            value = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]), label="value")
            array.reshape(-1)[data.draw(st.integers(0, array.size - 1), label="element")] = value
            mutation = Mutation(f"initializer {init.name} holds {value}", must_refuse=True)
        else:
            array = array.reshape(-1)[: max(array.size - 1, 0)]
            mutation = Mutation(f"initializer {init.name} shape -> {array.shape}")
        init.CopyFrom(numpy_helper.from_array(array, init.name))
    elif op in ("io name", "io shape"):
        values = [*model.graph.input, *model.graph.output]
        value = values[data.draw(st.integers(0, len(values) - 1), label="value")]
        if op == "io name":
            old, value.name = value.name, data.draw(st.sampled_from(["x", "", "logits", "source"]), label="name")
            mutation = Mutation(f"graph value {old} renamed {value.name}")
        else:
            dims = value.type.tensor_type.shape.dim
            dim = dims[data.draw(st.integers(0, len(dims) - 1), label="dim")] if dims else None
            assume(dim is not None)
            size = data.draw(st.sampled_from([1, 3, 999, 2**40]), label="size")
            dim.dim_value = size  # type: ignore[union-attr]
            mutation = Mutation(f"graph value {value.name} dimension -> {size}")
    else:
        version = data.draw(st.sampled_from([1, 7, 99]), label="opset")
        model.opset_import[0].version = version
        mutation = Mutation(f"opset -> {version}")
    onnx.save_model(model, os.fspath(path))
    return mutation


def zip_regions(path: Path) -> list[tuple[int, int]]:
    """The byte ranges of the members' contents in a zip (a checkpoint), where a change reads as other data."""
    import zipfile

    regions = []
    with zipfile.ZipFile(path) as archive, path.open("rb") as raw:
        for info in archive.infolist():
            raw.seek(info.header_offset + 26)
            name_len, extra_len = int.from_bytes(raw.read(2), "little"), int.from_bytes(raw.read(2), "little")
            start = info.header_offset + 30 + name_len + extra_len
            regions.append((start, start + info.compress_size))
    return regions


def data_regions(path: Path) -> list[tuple[int, int]]:
    """Where a changed byte of ``path`` may still read as a real model: the weights' bytes of a safetensors
    file, the members of a checkpoint, all of a JSON text or an ONNX graph (neither has a checksum)."""
    size = path.stat().st_size
    if path.suffix == ".safetensors":
        n = int.from_bytes(path.read_bytes()[:8], "little")
        return [(8 + n, size)]
    if path.suffix == ".ckpt":
        return zip_regions(path)
    return [(0, size)]


MUTATORS: dict[str, Callable[[st.DataObject, Path], Mutation]] = {
    "json": json_mutation,
    "safetensors": safetensors_mutation,
    "checkpoint": checkpoint_mutation,
    "onnx": onnx_mutation,
}


def mutate(data: st.DataObject, root: Path, loader: str, outside: Path) -> Mutation:
    """One random mutation of a file of the copy of a loader's base files in ``root``."""
    folder = root if loader != "checkpoint" else root.parent
    name = data.draw(st.sampled_from(sorted(p.name for p in folder.iterdir())), label="file")
    path = folder / name
    kinds = ["bytes", "file"]
    kinds += 3 * [{".json": "json", ".safetensors": "safetensors", ".ckpt": "checkpoint", ".onnx": "onnx"}[path.suffix]]
    kind = data.draw(st.sampled_from(kinds), label="kind")
    if kind == "bytes":
        mutation = byte_mutation(data, path, data_regions(path))
    elif kind == "file":
        mutation = file_mutation(data, path, outside, directory=loader != "checkpoint")
    else:
        mutation = MUTATORS[kind](data, path)
    if loader != "checkpoint" and name != "config.json" and data.draw(st.booleans(), label="file list updated"):
        relist(root)  # as whoever crafts a file would: the checks behind the checksums must hold alone
        mutation.description += " (file list updated)"
    return mutation


def relist(root: Path) -> None:
    """Update the size and sha256 that ``config.json`` lists for each regular file now in ``root``."""
    index = root / "config.json"
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
        files = dict(data["files"])
    except (OSError, ValueError, TypeError, KeyError):  # config.json itself swapped away: nothing to update
        return
    for name in files:
        path = root / name
        if path.is_file():
            content = path.read_bytes()
            data["files"][name] = {"bytes": len(content), "sha256": hashlib.sha256(content).hexdigest()}
    index.write_text(json.dumps(data, indent=2), encoding="utf-8")


def loaded_graphs_finite(root: Path) -> bool:
    """Whether every float initializer of an export's graphs is finite (what the ONNX loader loaded)."""
    import onnx
    from onnx import numpy_helper

    for name in ("encoder.onnx", "decoder.onnx"):
        for init in onnx.load(os.fspath(root / name)).graph.initializer:
            array = numpy_helper.to_array(init)
            if array.dtype.kind == "f" and not np.isfinite(array).all():
                return False
    return True


def check_mutation(worker: Worker, base: dict[str, Any], loader: str, data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory(prefix="fuzz_") as temp:
        work, outside = Path(temp) / "work", Path(temp) / "outside"
        work.mkdir()
        outside.mkdir()
        (outside / "secret.json").write_text(json.dumps({"api_key": SECRET, "config": {SECRET: 1}}))
        source = base["root"] / BASES[loader]
        if loader == "checkpoint":
            target = work / "model.ckpt"
            shutil.copyfile(source, target)
        else:
            target = work / "model"
            shutil.copytree(source, target)
        mutation = mutate(data, target, loader, outside)
        note(f"mutation: {mutation}")
        answer = worker.ask({"loader": loader, "path": os.fspath(target)})
        note(f"answer: {json.dumps(answer)[:2000]}")
        outcome = answer["outcome"]
        assert outcome in ("loaded", "refused"), f"{mutation.description}: {outcome} {answer.get('error', '')}"
        assert answer["grew_mb"] <= EXTRA_MB, f"{mutation.description}: cost {answer['grew_mb']} MB"
        if outcome == "refused":
            message = answer["message"]
            assert "\n" not in message and len(message) <= MAX_MESSAGE, f"not one short line: {message[:300]!r}"
            assert SECRET not in message, f"quotes a file outside the directory: {message[:300]!r}"
            return
        assert not mutation.must_refuse, f"{mutation.description}: loaded"
        finite = answer["finite"] and (loader != "onnx" or loaded_graphs_finite(target))
        assert finite, f"{mutation.description}: loaded non-finite weights"
        if not mutation.may_differ:
            assert answer["outputs"] == base["outputs"][loader], f"{mutation.description}: loaded another model"


FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.mark.parametrize("loader", list(BASES))
@settings(FUZZ, max_examples=DEFAULT_EXAMPLES)
@given(data=st.data())
def test_mutated_model_files_load_the_same_or_are_refused(
    worker: Worker, base: dict[str, Any], loader: str, data: st.DataObject
) -> None:
    check_mutation(worker, base, loader, data)


@pytest.mark.slow
@pytest.mark.parametrize("loader", list(BASES))
@settings(FUZZ, max_examples=SLOW_EXAMPLES)
@given(data=st.data())
def test_many_mutated_model_files_load_the_same_or_are_refused(
    worker: Worker, base: dict[str, Any], loader: str, data: st.DataObject
) -> None:
    check_mutation(worker, base, loader, data)
