"""The framework-neutral model format: a directory that either trainer saves and either loads.

A model directory holds plain files, in the manner of Hugging Face ``save_pretrained``:

- ``config.json``: ``{"format_version": 1, "config": {...}, "teacher_forcing": {...}, "extra": {...}}``
  (the ``Seq2SeqConfig`` and ``TeacherForcing`` dicts; ``extra`` holds what else a trainer needs
  to rebuild the same model, such as the seed; ``"files"``: ``{name: {"bytes": size, "sha256": digest}}``
  of the other files, which loaders check);
- ``vocab.json``: ``{"source": [tokens...], "target": [tokens...]}``, specials first;
- ``model.safetensors``: float32 weights in the canonical layout of docs/architecture.md, named as
  the PyTorch ``Seq2Seq.state_dict()`` keys (:mod:`seq2seq_fit.weight_layout`);
- ``tokenizer_config.json``: each side's tokenizer (``{"source": {"kind": "chars"}, "target": ...}``),
  and for a subword tokenizer its own file (``source_tokenizer.json`` of Hugging Face
  ``tokenizers``, or ``source.model`` of sentencepiece); see :func:`seq2seq_fit.tokenizer.tokenizer_files`.
  A directory without it (written by an older version) reads as whitespace tokenizers.

No file holds pickled objects, and nothing here imports a framework: ``LitSeq2Seq`` and
``Seq2SeqModel`` both call :func:`save_pretrained` and :func:`load_pretrained`, each with its own
adapter to the canonical arrays. A directory is written all or nothing
(:mod:`seq2seq_fit.atomic_directory`): ``config.json``, written last, lists each other file's size and
sha256 under ``"files"``, and a save that was stopped midway (killed, disk full) leaves a directory
that loads as the previous model or is refused as incomplete, never a mix of two models.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from seq2seq_fit.atomic_directory import add_file_list, check_listed_files, check_not_interrupted, write_directory
from seq2seq_fit.atomic_file import atomic_write_path
from seq2seq_fit.config import Seq2SeqConfig
from seq2seq_fit.errors import ModelFormatError, shown
from seq2seq_fit.teacher_forcing import TeacherForcing
from seq2seq_fit.tokenizer import (
    WHITESPACE,
    Tokenizer,
    TokenizerLike,
    as_tokenizer,
    check_tokenizer_vocab,
    read_tokenizer_files,
    tokenizer_files,
)
from seq2seq_fit.untrusted import (
    check_inside,
    check_model_size,
    check_regular_file,
    one_line,
    read_json_file,
    read_safetensors,
)
from seq2seq_fit.vocab import Vocab, as_vocab
from seq2seq_fit.weight_layout import canonical_shapes, weight_problems

#: The ``format_version`` this code writes, and every version it reads.
FORMAT_VERSION = 1
SUPPORTED_VERSIONS = (1,)
CONFIG_FILE = "config.json"
VOCAB_FILE = "vocab.json"
WEIGHTS_FILE = "model.safetensors"
FILES = (CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE)


@dataclass(frozen=True)
class PretrainedModel:
    """Everything a model directory holds, as ``load_pretrained`` returns it.

    Attributes:
        config: the architecture.
        teacher_forcing: the teacher-forcing schedule the model was trained with.
        src_vocab, tgt_vocab: the vocabularies.
        weights: canonical float32 arrays by ``Seq2Seq.state_dict()`` name.
        extra: other plain data the saving trainer stored (e.g. ``{"seed": 0}``).
        src_tokenizer, tgt_tokenizer: each side's tokenizer (whitespace for a directory without
            ``tokenizer_config.json``).
    """

    config: Seq2SeqConfig
    teacher_forcing: TeacherForcing
    src_vocab: Vocab
    tgt_vocab: Vocab
    weights: dict[str, np.ndarray] = field(repr=False)
    extra: dict[str, Any] = field(default_factory=dict)
    src_tokenizer: Tokenizer = WHITESPACE
    tgt_tokenizer: Tokenizer = WHITESPACE


def save_pretrained(
    directory: str | os.PathLike[str],
    *,
    config: Seq2SeqConfig,
    teacher_forcing: TeacherForcing,
    src_vocab: Vocab | Sequence[str],
    tgt_vocab: Vocab | Sequence[str],
    weights: Mapping[str, np.ndarray],
    extra: Mapping[str, Any] | None = None,
    src_tokenizer: TokenizerLike = None,
    tgt_tokenizer: TokenizerLike = None,
) -> None:
    """Write a model directory (created if needed), all or nothing (see :mod:`seq2seq_fit.atomic_directory`).

    Args:
        directory: where to write ``config.json``, ``vocab.json`` and ``model.safetensors``.
        config: the architecture.
        teacher_forcing: the teacher-forcing schedule.
        src_vocab, tgt_vocab: vocabularies (``Vocab`` or token lists).
        weights: canonical arrays by ``Seq2Seq.state_dict()`` name; stored as float32.
        extra: other plain data (JSON types only) to store in ``config.json``, e.g. the seed.
        src_tokenizer, tgt_tokenizer: each side's tokenizer (``None``: whitespace), saved as
            ``tokenizer_config.json`` and, for a subword tokenizer, its own file.

    Raises:
        ValueError: ``weights`` do not fit the config and vocabulary sizes (naming each tensor),
            ``extra`` is not plain JSON data, or a subword tokenizer's pieces are not its vocabulary.

    Example:
        >>> import tempfile
        >>> from seq2seq_fit.weight_layout import canonical_shapes
        >>> config, tokens = Seq2SeqConfig(hidden_size=4, embedding_dim=2), ["<pad>", "<bos>", "<eos>", "<unk>", "a"]
        >>> weights = {k: np.zeros(s, np.float32) for k, s in canonical_shapes(config, 5, 5).items()}
        >>> directory = tempfile.mkdtemp()
        >>> save_pretrained(directory, config=config, teacher_forcing=TeacherForcing(), src_vocab=tokens,
        ...                 tgt_vocab=tokens, weights=weights, extra={"seed": 0})
        >>> sorted(os.listdir(directory))
        ['config.json', 'model.safetensors', 'tokenizer_config.json', 'vocab.json']
        >>> load_pretrained(directory).config == config
        True
    """
    src, tgt = as_vocab(src_vocab), as_vocab(tgt_vocab)
    arrays = {key: np.ascontiguousarray(np.asarray(value, dtype=np.float32)) for key, value in weights.items()}
    problems = weight_problems(arrays, config, len(src), len(tgt))
    if problems:
        raise ValueError(
            f"save_pretrained.weights: {'; '.join(problems)} for the config and vocabulary sizes "
            f"{len(src)} (source) and {len(tgt)} (target)"
        )
    texts = json_files(config, teacher_forcing, src, tgt, extra, src_tokenizer, tgt_tokenizer)
    from safetensors.numpy import save_file  # here, not at the top: a CLI's --help needs none of it

    def write_weights(path: Path) -> None:
        metadata = {"format": "seq2seq-fit", "format_version": str(FORMAT_VERSION)}
        try:
            save_file(arrays, os.fspath(path), metadata=metadata)
        except Exception as err:  # safetensors reports a full disk as its own SafetensorError
            if isinstance(err, OSError):
                raise
            code = re.search(r"os error (\d+)", str(err))
            if code:
                raise OSError(int(code[1]), os.strerror(int(code[1]))) from err
            raise OSError(f"{type(err).__name__}: {err}") from err

    config_text = texts.pop(CONFIG_FILE)
    write_directory(
        directory,
        {WEIGHTS_FILE: write_weights, **texts},
        index=CONFIG_FILE,
        index_content=lambda files: add_file_list(config_text, files),
        writer="save_pretrained",
    )


def json_files(
    config: Seq2SeqConfig,
    teacher_forcing: TeacherForcing,
    src_vocab: Vocab,
    tgt_vocab: Vocab,
    extra: Mapping[str, Any] | None,
    src_tokenizer: TokenizerLike = None,
    tgt_tokenizer: TokenizerLike = None,
) -> dict[str, str | bytes]:
    """The contents of the tokenizer files, ``vocab.json`` and ``config.json`` by file name, ``config.json``
    last (what :func:`save_pretrained` and the ONNX export of :mod:`seq2seq_fit.onnx_export` both write)."""
    tokenizers = []
    for side, tokenizer, vocab in (("source", src_tokenizer, src_vocab), ("target", tgt_tokenizer, tgt_vocab)):
        tokenizers.append(as_tokenizer(tokenizer, owner="save_pretrained"))
        check_tokenizer_vocab("save_pretrained", side, tokenizers[-1], vocab.tokens)
    header = {
        "format_version": FORMAT_VERSION,
        "config": config.to_dict(),
        "teacher_forcing": teacher_forcing.to_dict(),
        "extra": dict(extra or {}),
    }
    try:
        config_text = json.dumps(header, indent=2, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"save_pretrained.extra: got {extra!r}, expected plain JSON data ({err})") from err
    vocab_text = json.dumps({"source": src_vocab.tokens, "target": tgt_vocab.tokens}, ensure_ascii=False)
    return {**tokenizer_files(*tokenizers), VOCAB_FILE: vocab_text + "\n", CONFIG_FILE: config_text + "\n"}


def write_json_files(target: Path, texts: Mapping[str, str | bytes]) -> None:
    """Write each of ``texts`` (file name -> text or bytes) into ``target`` atomically, in their order."""
    for name, text in texts.items():
        with atomic_write_path(target / name) as temp:
            if isinstance(text, bytes):
                temp.write_bytes(text)
            else:
                temp.write_text(text, encoding="utf-8")


def load_pretrained(directory: str | os.PathLike[str]) -> PretrainedModel:
    """Read and check a model directory written by :func:`save_pretrained`.

    Args:
        directory: the model directory.

    Returns:
        The :class:`PretrainedModel`, its weights checked against the config and vocabulary sizes.

    Raises:
        ModelFormatError: ``directory`` is not a directory, a file is missing or malformed, the
            ``format_version`` is unknown, or a tensor is missing, unexpected or mis-shaped; the
            message names the file (and the tensor).
    """
    root = check_directory(directory, FILES, kind="a model directory", writer="save_pretrained")
    config, teacher_forcing, extra = read_config(root / CONFIG_FILE)
    src_vocab, tgt_vocab = read_vocab(root / VOCAB_FILE)
    check_model_size(config, len(src_vocab), len(tgt_vocab), os.fspath(root / CONFIG_FILE))
    weights = read_weights(root / WEIGHTS_FILE, config, len(src_vocab), len(tgt_vocab))
    src_tokenizer, tgt_tokenizer = read_tokenizers(root)
    check_listed_files(root, CONFIG_FILE, writer="save_pretrained", required=FILES)
    return PretrainedModel(config, teacher_forcing, src_vocab, tgt_vocab, weights, extra, src_tokenizer, tgt_tokenizer)


def read_tokenizers(root: Path) -> tuple[Tokenizer, Tokenizer]:
    """The tokenizers of a model directory or export (whitespace without ``tokenizer_config.json``), each
    subword tokenizer checked against ``vocab.json``.

    Raises:
        ModelFormatError: a tokenizer file is malformed or missing, or its pieces are not the vocabulary.
    """
    src_vocab, tgt_vocab = read_vocab(root / VOCAB_FILE)
    tokenizers = read_tokenizer_files(root)
    for side, tokenizer, vocab in zip(("source", "target"), tokenizers, (src_vocab, tgt_vocab), strict=True):
        try:
            check_tokenizer_vocab("load_pretrained", side, tokenizer, vocab.tokens)
        except ValueError as err:
            raise ModelFormatError(f"{root / VOCAB_FILE}: {err}") from err
    return tokenizers


def check_directory(directory: str | os.PathLike[str], files: Sequence[str], *, kind: str, writer: str) -> Path:
    """``directory`` as a path, after checking that it is a directory holding every one of ``files``.

    Args:
        directory: the directory to check.
        files: the file names it must hold.
        kind: what it is called in errors (``"a model directory"``).
        writer: what writes one, for the error's hint (``"save_pretrained"``).

    Raises:
        ModelFormatError: naming the path: not a directory (a file, or nothing there), or the files missing.

    Example:
        >>> check_directory("/nowhere", ["a.json", "b.json"], kind="a model directory", writer="save_pretrained")
        Traceback (most recent call last):
        ...
        seq2seq_fit.errors.ModelFormatError: /nowhere: not a model directory (nothing there); save_pretrained ...
    """
    root = Path(directory)
    listing = ", ".join(files[:-1]) + " and " + files[-1] if len(files) > 1 else files[0]
    if not root.is_dir():
        what = "a file" if root.exists() else "nothing there"
        raise ModelFormatError(f"{root}: not {kind} ({what}); {writer} writes a directory holding {listing}")
    check_not_interrupted(root, writer=writer)
    for name in files:  # a link out of the directory is refused before it is looked at
        if os.path.lexists(root / name):
            check_inside(root, root / name)
            check_regular_file(root / name)
    missing = [os.fspath(root / name) for name in files if not (root / name).is_file()]
    if missing:
        raise ModelFormatError(f"{', '.join(missing)}: missing; {kind} holds {listing}")
    return root


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path`` (its size and depth bounded: :func:`seq2seq_fit.untrusted.read_json_file`);
    ``ModelFormatError`` for anything else."""
    check_inside(path.parent, path)
    data = read_json_file(path)
    if not isinstance(data, dict):
        raise ModelFormatError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def entry(data: dict[str, Any], key: str, kind: type, path: Path) -> Any:
    """``data[key]``, which must exist and be a ``kind``."""
    if key not in data:
        raise ModelFormatError(f"{path}: no {key!r} entry (found {shown(sorted(data)[:10], 120)})")
    if not isinstance(data[key], kind):
        raise ModelFormatError(f"{path}: {key!r} is {shown(data[key])}, expected a JSON {kind.__name__}")
    return data[key]


def read_config(path: Path) -> tuple[Seq2SeqConfig, TeacherForcing, dict[str, Any]]:
    """``(config, teacher_forcing, extra)`` of ``config.json``, its version checked first."""
    data = read_json(path)
    version = data.get("format_version")
    if type(version) is not int or version not in SUPPORTED_VERSIONS:  # not 1.0, True or "1"
        supported = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
        raise ModelFormatError(
            f"{path}: format_version {shown(version, 40)} is not supported; this version of seq2seq-fit reads "
            f"format_version {supported} (a newer seq2seq-fit may read it)"
        )
    try:
        config = Seq2SeqConfig.from_dict(entry(data, "config", dict, path))
        teacher_forcing = TeacherForcing.from_dict(entry(data, "teacher_forcing", dict, path))
    except ModelFormatError:
        raise
    except (TypeError, ValueError) as err:
        raise ModelFormatError(f"{path}: {one_line(str(err))}") from err
    extra = entry(data, "extra", dict, path) if "extra" in data else {}
    seed = extra.get("seed", 0)
    if type(seed) is not int or not 0 <= seed < 2**63:  # what both trainers read back as their seed
        raise ModelFormatError(f"{path}: extra.seed is {shown(seed, 40)}, expected an integer in [0, 2**63)")
    return config, teacher_forcing, dict(extra)


def read_vocab(path: Path) -> tuple[Vocab, Vocab]:
    """The source and target vocabularies of ``vocab.json``."""
    data = read_json(path)
    vocabs = []
    for key in ("source", "target"):
        tokens = entry(data, key, list, path)
        if not all(isinstance(token, str) for token in tokens):
            raise ModelFormatError(f"{path}: {key!r} must be a list of strings")
        try:
            vocabs.append(Vocab(tokens))
        except ValueError as err:
            raise ModelFormatError(f"{path}: {key!r}: {one_line(str(err))}") from err
    return vocabs[0], vocabs[1]


def read_weights(path: Path, config: Seq2SeqConfig, src_vocab_size: int, tgt_vocab_size: int) -> dict[str, np.ndarray]:
    """The tensors of ``model.safetensors``, checked against the config and vocabulary sizes.

    The header is checked first (names, dtypes, shapes, data offsets within the file), then only the
    expected tensors are read, each checked to be finite (:func:`seq2seq_fit.untrusted.read_safetensors`).
    """
    check_inside(path.parent, path)
    return read_safetensors(path, canonical_shapes(config, src_vocab_size, tgt_vocab_size))


__all__ = [
    "FORMAT_VERSION",
    "SUPPORTED_VERSIONS",
    "ModelFormatError",
    "PretrainedModel",
    "check_directory",
    "load_pretrained",
    "read_tokenizers",
    "save_pretrained",
]
