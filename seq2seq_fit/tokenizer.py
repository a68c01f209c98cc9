"""Tokenizers: how text becomes a model's tokens and its output tokens become text again (framework-free).

A :class:`Tokenizer` is part of a model: ``LitSeq2Seq`` and ``Seq2SeqModel`` hold one per side
(``src_tokenizer``, ``tgt_tokenizer``), save it with the model as plain data (:meth:`Tokenizer.to_dict`,
or the files of :func:`tokenizer_files` in a model directory), and ``translate`` uses it by default.

- ``whitespace`` (words) and ``chars`` (characters) are built in; their ids come from a
  :class:`~seq2seq_fit.vocab.Vocab` built on the training data.
- :class:`HuggingFaceTokenizer` (a ``tokenizer.json`` of Hugging Face ``tokenizers``, the
  ``[tokenizers]`` extra) and :class:`SentencePieceTokenizer` (a sentencepiece ``.model``, the
  ``[sentencepiece]`` extra) fix the model's ids themselves: their pieces in id order are the
  model's vocabulary (:meth:`Tokenizer.vocab_tokens`), so their ids 0-3 must be the pad, bos,
  eos and unk tokens, which the model knows as ``<pad>``, ``<bos>``, ``<eos>`` and ``<unk>``.
- :func:`train_tokenizer` trains such a tokenizer on texts (BPE or unigram), the four specials at ids 0-3.

Example:
    >>> tokenizer = as_tokenizer("chars")
    >>> tokenizer.tokenize("abc"), tokenizer.detokenize(["a", "b"]), tokenizer.to_dict()
    (['a', 'b', 'c'], 'ab', {'kind': 'chars'})
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from seq2seq_fit.errors import InputError, ModelFormatError, shown
from seq2seq_fit.untrusted import check_inside, check_regular_file, read_json_file
from seq2seq_fit.vocab import SPECIALS

#: The built-in tokenizers' names.
TOKENIZERS = ("whitespace", "chars")
#: Other accepted spellings of the names in ``TOKENIZERS``.
ALIASES = {"char": "chars"}
#: What :func:`train_tokenizer` trains: ``bpe`` (Hugging Face ``tokenizers``) or ``unigram`` (sentencepiece).
TRAINABLE = ("bpe", "unigram")
#: Recognised spellings of the specials at ids 0-3 of a Hugging Face tokenizer, in the model's order.
SPECIAL_SPELLINGS: tuple[tuple[str, ...], ...] = (
    ("<pad>", "[PAD]", "<PAD>"),
    ("<s>", "<bos>", "[BOS]", "[CLS]", "<BOS>"),
    ("</s>", "<eos>", "[EOS]", "[SEP]", "<EOS>"),
    ("<unk>", "[UNK]", "<UNK>"),
)
ROLES = ("pad", "bos", "eos", "unk")
#: The file in a model directory (and an ONNX export) naming each side's tokenizer.
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
SIDES = ("source", "target")


@runtime_checkable
class Tokenizer(Protocol):
    """What a model needs of a tokenizer.

    Attributes:
        kind: ``whitespace``, ``chars``, ``huggingface``, ``sentencepiece`` (``callable`` for a wrapped function).
    """

    kind: str

    def tokenize(self, text: str) -> list[str]:
        """The tokens of ``text``, spelled as the model's vocabulary spells them."""

    def detokenize(self, tokens: Sequence[str]) -> str:
        """Text from tokens (what ``translate(detokenize=True)`` returns); specials other than ``<unk>`` dropped."""

    def vocab_tokens(self) -> list[str] | None:
        """The model's vocabulary this tokenizer fixes (its pieces in id order, ``<pad>``, ``<bos>``, ``<eos>``,
        ``<unk>`` first), or ``None`` when the vocabulary is built on the data (the built-ins)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data that :func:`as_tokenizer` turns back into this tokenizer."""


#: What :func:`as_tokenizer` accepts.
TokenizerLike = Tokenizer | str | os.PathLike[str] | Callable[[str], list[str]] | Mapping[str, Any] | None


class WhitespaceTokenizer:
    """Words: split on runs of whitespace, joined by one space.

    Example:
        >>> WhitespaceTokenizer().tokenize(" I  feel\\thungry "), WhitespaceTokenizer().detokenize(["a", "b"])
        (['I', 'feel', 'hungry'], 'a b')
    """

    kind = "whitespace"

    def tokenize(self, text: str) -> list[str]:
        return text.split()

    def detokenize(self, tokens: Sequence[str]) -> str:
        return " ".join(tokens)

    def vocab_tokens(self) -> list[str] | None:
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(self.kind)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class CharsTokenizer(WhitespaceTokenizer):
    """Characters (spaces kept as tokens), joined with nothing between them.

    Example:
        >>> CharsTokenizer().tokenize("a b"), CharsTokenizer().detokenize(["a", " ", "b"])
        (['a', ' ', 'b'], 'a b')
    """

    kind = "chars"

    def tokenize(self, text: str) -> list[str]:
        return list(text)

    def detokenize(self, tokens: Sequence[str]) -> str:
        return "".join(tokens)


class CallableTokenizer(WhitespaceTokenizer):
    """A function from a string to its tokens, for ``translate(tokenizer=...)``; detokenized with spaces.

    It cannot be saved with a model (:meth:`to_dict` refuses): give a model a built-in or a subword tokenizer.
    """

    kind = "callable"

    def __init__(self, function: Callable[[str], Sequence[str]]) -> None:
        self.function = function

    def tokenize(self, text: str) -> list[str]:
        return list(self.function(text))

    def to_dict(self) -> dict[str, Any]:
        raise InputError(
            f"tokenizer: {self.function!r} is a function, which cannot be saved with a model; give the model "
            "'whitespace', 'chars', a tokenizer.json or a sentencepiece .model instead"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CallableTokenizer) and other.function == self.function

    def __hash__(self) -> int:
        return hash(self.function)

    def __repr__(self) -> str:
        return f"CallableTokenizer({self.function!r})"


WHITESPACE = WhitespaceTokenizer()
CHARS = CharsTokenizer()


def import_extra(module: str, extra: str, purpose: str) -> Any:
    """``module``, imported; a one-line :class:`InputError` naming the extra that installs it when it is missing."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise InputError(
            f"{purpose} needs the {module} package, which is not installed: pip install 'seq2seq-fit[{extra}]'"
        ) from err


def check_specials(pieces: Sequence[str], found: Sequence[str], where: str, fix: str) -> None:
    """Raise :class:`InputError` unless ``found`` (the roles the tokenizer gives ids 0-3) is pad, bos, eos, unk."""
    if list(found) == list(ROLES):
        return
    held = ", ".join(
        f"id {i} is {piece!r} ({role})" for i, (piece, role) in enumerate(zip(pieces, found, strict=False))
    )
    raise InputError(
        f"{where}: the model needs pad, bos, eos and unk at ids 0-3, but {held or 'it has fewer than 4 tokens'}; {fix}"
    )


def model_pieces(pieces: Sequence[str], where: str) -> list[str]:
    """``pieces`` with ids 0-3 spelled ``<pad>``, ``<bos>``, ``<eos>``, ``<unk>``; refused if another piece
    is spelled like one of them."""
    tokens = [*SPECIALS, *pieces[len(SPECIALS) :]]
    clashes = sorted({t for t in tokens[len(SPECIALS) :] if t in SPECIALS})
    if clashes:
        raise InputError(f"{where}: the pieces {clashes} above id 3 are spelled like the model's specials")
    return tokens


class HuggingFaceTokenizer:
    """A Hugging Face ``tokenizers.Tokenizer`` (a ``tokenizer.json``) as the model's tokenizer.

    Its ids are the model's ids: ids 0-3 must hold its pad, bos, eos and unk tokens (spelled as in
    :data:`SPECIAL_SPELLINGS`, e.g. ``<pad>``/``[PAD]``, ``<s>``/``[CLS]``, ``</s>``/``[SEP]``,
    ``<unk>``/``[UNK]``); :func:`train_tokenizer` trains one that fits. Sources are encoded without
    the tokenizer's own special tokens (the model adds ``<bos>`` and ``<eos>``); text comes back
    through the tokenizer's decoder.

    Args:
        tokenizer: a ``tokenizers.Tokenizer``, or the path of its ``tokenizer.json``.

    Raises:
        InputError: ids 0-3 are not pad, bos, eos and unk (naming what each holds), or ``tokenizers``
            is not installed.
    """

    kind = "huggingface"

    def __init__(self, tokenizer: Any) -> None:
        if isinstance(tokenizer, (str, os.PathLike)):
            tokenizers = import_extra("tokenizers", "tokenizers", f"tokenizer {os.fspath(tokenizer)}")
            try:
                tokenizer = tokenizers.Tokenizer.from_file(os.fspath(tokenizer))
            except Exception as err:  # tokenizers raises its own Exception type for a bad file
                raise InputError(f"{os.fspath(tokenizer)}: not a Hugging Face tokenizer.json ({err})") from err
        self.tokenizer = tokenizer
        size = tokenizer.get_vocab_size(with_added_tokens=True)
        pieces = [tokenizer.id_to_token(i) for i in range(size)]
        if any(piece is None for piece in pieces):
            raise InputError(f"Hugging Face tokenizer: ids 0-{size - 1} are not all used; the model needs dense ids")
        roles = [
            next((role for role, spellings in zip(ROLES, SPECIAL_SPELLINGS, strict=True) if p in spellings), "other")
            for p in pieces[: len(ROLES)]
        ]
        check_specials(
            pieces,
            roles,
            "Hugging Face tokenizer",
            'train it with special_tokens=["<pad>", "<bos>", "<eos>", "<unk>"] first in its trainer '
            "(seq2seq_fit.tokenizer.train_tokenizer does)",
        )
        self._tokens = model_pieces(pieces, "Hugging Face tokenizer")
        self._index = {t: i for i, t in enumerate(self._tokens)}

    def tokenize(self, text: str) -> list[str]:
        return [self._tokens[i] for i in self.tokenizer.encode(text, add_special_tokens=False).ids]

    def detokenize(self, tokens: Sequence[str]) -> str:
        ids = [self._index.get(t, 3) for t in tokens]
        return str(self.tokenizer.decode([i for i in ids if i > 2], skip_special_tokens=False))

    def vocab_tokens(self) -> list[str] | None:
        return list(self._tokens)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "json": self.tokenizer.to_str()}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HuggingFaceTokenizer) and other.to_dict() == self.to_dict()

    def __hash__(self) -> int:
        return hash(tuple(self._tokens))

    def __repr__(self) -> str:
        return f"HuggingFaceTokenizer(size={len(self._tokens)})"


class SentencePieceTokenizer:
    """A sentencepiece model (a ``.model`` file) as the model's tokenizer.

    Its ids are the model's ids: it must have been trained with ``pad_id=0, bos_id=1, eos_id=2,
    unk_id=3`` (:func:`train_tokenizer` does this).

    Args:
        model: a ``sentencepiece.SentencePieceProcessor``, the path of a ``.model`` file, or its bytes.

    Raises:
        InputError: the pad, bos, eos and unk ids are not 0-3 (naming them), or ``sentencepiece`` is
            not installed.
    """

    kind = "sentencepiece"

    def __init__(self, model: Any) -> None:
        if isinstance(model, (str, os.PathLike, bytes)):
            spm = import_extra("sentencepiece", "sentencepiece", "a sentencepiece tokenizer")
            where = "sentencepiece model" if isinstance(model, bytes) else os.fspath(model)
            try:
                proto = model if isinstance(model, bytes) else Path(model).read_bytes()
                processor = spm.SentencePieceProcessor(model_proto=proto)
            except (OSError, RuntimeError) as err:
                raise InputError(f"{where}: not a sentencepiece .model ({err})") from err
            model = processor
        self.processor = model
        size = model.get_piece_size()
        pieces = [model.id_to_piece(i) for i in range(size)]
        ids = {"pad": model.pad_id(), "bos": model.bos_id(), "eos": model.eos_id(), "unk": model.unk_id()}
        if [ids[role] for role in ROLES] != [0, 1, 2, 3]:
            held = ", ".join(f"{role}_id={ids[role]}" for role in ROLES)
            raise InputError(
                f"sentencepiece model: the model needs pad, bos, eos and unk at ids 0-3, but it has {held}; train it "
                "with --pad_id=0 --bos_id=1 --eos_id=2 --unk_id=3 (seq2seq_fit.tokenizer.train_tokenizer does)"
            )
        self._tokens = model_pieces(pieces, "sentencepiece model")
        self._index = {t: i for i, t in enumerate(self._tokens)}

    def tokenize(self, text: str) -> list[str]:
        return [self._tokens[i] for i in self.processor.encode(text, out_type=int)]

    def detokenize(self, tokens: Sequence[str]) -> str:
        ids = [self._index.get(t, 3) for t in tokens]
        return str(self.processor.decode([i for i in ids if i > 2]))

    def vocab_tokens(self) -> list[str] | None:
        return list(self._tokens)

    def model_bytes(self) -> bytes:
        """The ``.model`` file's bytes."""
        return bytes(self.processor.serialized_model_proto())

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": base64.b64encode(self.model_bytes()).decode("ascii")}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SentencePieceTokenizer) and other.model_bytes() == self.model_bytes()

    def __hash__(self) -> int:
        return hash(tuple(self._tokens))

    def __repr__(self) -> str:
        return f"SentencePieceTokenizer(size={len(self._tokens)})"


def expected_values() -> str:
    """The accepted values, for error messages."""
    names = ", ".join(map(repr, TOKENIZERS))
    return f"{names} (or {', '.join(map(repr, ALIASES))}), a tokenizer.json or sentencepiece .model path, or a callable"


def from_dict(data: Mapping[str, Any], where: str = "tokenizer") -> Tokenizer:
    """The tokenizer of :meth:`Tokenizer.to_dict`'s data.

    Example:
        >>> from_dict({"kind": "whitespace"})
        WhitespaceTokenizer()
    """
    kind = data.get("kind")
    if kind == "whitespace":
        return WHITESPACE
    if kind in ("chars", "char"):
        return CHARS
    if kind == "huggingface" and isinstance(data.get("json"), (str, dict)):
        tokenizers = import_extra("tokenizers", "tokenizers", "this model's Hugging Face tokenizer")
        text = data["json"] if isinstance(data["json"], str) else json.dumps(data["json"])  # a YAML reader's dict
        return HuggingFaceTokenizer(tokenizers.Tokenizer.from_str(text))
    if kind == "sentencepiece" and isinstance(data.get("model"), str):
        return SentencePieceTokenizer(base64.b64decode(data["model"]))
    raise InputError(
        f"{where}: got {shown(dict(data))}, expected {{'kind': 'whitespace'}}, {{'kind': 'chars'}}, "
        "{'kind': 'huggingface', 'json': ...} or {'kind': 'sentencepiece', 'model': <base64>}"
    )


def as_tokenizer(value: TokenizerLike, owner: str = "translate") -> Tokenizer:
    """A :class:`Tokenizer` from what a user or a saved model gives.

    Args:
        value: ``None`` (whitespace), ``"whitespace"``, ``"chars"`` (or ``"char"``), a
            :class:`Tokenizer`, its :meth:`~Tokenizer.to_dict` data, the path of a ``tokenizer.json``
            (Hugging Face) or a sentencepiece ``.model``, a ``tokenizers.Tokenizer``, a
            ``sentencepiece.SentencePieceProcessor``, or a function from a string to its tokens.
        owner: who is asking, named in the error.

    Raises:
        InputError: (a ``ValueError``) anything else, naming the value and what is accepted.

    Example:
        >>> as_tokenizer(None), as_tokenizer("char")
        (WhitespaceTokenizer(), CharsTokenizer())
        >>> as_tokenizer("bpe")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        seq2seq_fit.errors.InputError: translate.tokenizer: got 'bpe', expected 'whitespace', 'chars' (or 'char'), ...
    """
    if value is None:
        return WHITESPACE
    if isinstance(value, (WhitespaceTokenizer, HuggingFaceTokenizer, SentencePieceTokenizer)):
        return value
    if isinstance(value, Mapping):
        return from_dict(value, f"{owner}.tokenizer")
    if isinstance(value, (str, os.PathLike)):
        name = os.fspath(value)
        name = ALIASES.get(name, name)
        if name == "whitespace":
            return WHITESPACE
        if name == "chars":
            return CHARS
        if os.path.isfile(name) and name.endswith(".json"):
            return HuggingFaceTokenizer(name)
        if os.path.isfile(name) and name.endswith(".model"):
            return SentencePieceTokenizer(name)
        if name.endswith((".json", ".model")):
            raise InputError(f"{owner}.tokenizer: {name:.200}: no such file")
        raise InputError(f"{owner}.tokenizer: got {shown(name)}, expected {expected_values()}")
    module = type(value).__module__.split(".")[0]
    if module == "tokenizers":
        return HuggingFaceTokenizer(value)
    if module == "sentencepiece":
        return SentencePieceTokenizer(value)
    if isinstance(value, Tokenizer):
        return value
    if callable(value):
        return CallableTokenizer(value)
    raise InputError(f"{owner}.tokenizer: got {shown(value)}, expected {expected_values()}")


def check_tokenizer(tokenizer: TokenizerLike, owner: str = "translate") -> None:
    """Raise ``ValueError`` (an :class:`InputError`) unless :func:`as_tokenizer` accepts ``tokenizer``.

    Example:
        >>> check_tokenizer("bpe")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        seq2seq_fit.errors.InputError: translate.tokenizer: got 'bpe', expected 'whitespace', 'chars' (or 'char'), ...
    """
    as_tokenizer(tokenizer, owner)


def split_tokens(
    source: str | Sequence[str], tokenizer: TokenizerLike = "whitespace", owner: str = "translate"
) -> list[str]:
    """Tokens of one source: a token list as is, a string split by ``tokenizer`` (see :func:`as_tokenizer`).

    Example:
        >>> split_tokens("abc", "chars"), split_tokens("a  b"), split_tokens(["x", "y"])
        (['a', 'b', 'c'], ['a', 'b'], ['x', 'y'])
    """
    if not isinstance(source, str):
        return list(source)
    return as_tokenizer(tokenizer, owner).tokenize(source)


def check_tokenizer_vocab(owner: str, side: str, tokenizer: Tokenizer, tokens: Sequence[str]) -> None:
    """Refuse a subword tokenizer whose pieces are not the model's vocabulary ``tokens``.

    Raises:
        InputError: naming the first id where they differ.
    """
    pieces = tokenizer.vocab_tokens()
    if pieces is None or list(pieces) == list(tokens):
        return
    first = next(
        (i for i, (a, b) in enumerate(zip(pieces, tokens, strict=False)) if a != b), min(len(pieces), len(tokens))
    )
    detail = (
        f"sizes {len(pieces)} vs {len(tokens)}"
        if first == min(len(pieces), len(tokens))
        else f"id {first} is {pieces[first]!r} vs {tokens[first]!r}"
    )
    side_short = "src" if side == "source" else "tgt"
    raise InputError(
        f"{owner}.{side_short}_tokenizer: its pieces are not the {side} vocabulary ({detail}); a subword tokenizer's "
        f"ids are the model's: pass {side_short}_vocab=tokenizer.vocab_tokens()"
    )


# -- files of a model directory -------------------------------------------------------------------


def tokenizer_files(src: Tokenizer, tgt: Tokenizer) -> dict[str, bytes]:
    """The files that carry both tokenizers in a model directory: :data:`TOKENIZER_CONFIG_FILE` (each side's
    kind, and the file of a subword tokenizer) and ``source_tokenizer.json`` / ``source.model`` (and the target's).

    Example:
        >>> files = tokenizer_files(CHARS, WHITESPACE)
        >>> sorted(files), json.loads(files[TOKENIZER_CONFIG_FILE])
        (['tokenizer_config.json'], {'source': {'kind': 'chars'}, 'target': {'kind': 'whitespace'}})
    """
    config: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    for side, tokenizer in zip(SIDES, (src, tgt), strict=True):
        if isinstance(tokenizer, HuggingFaceTokenizer):
            name = f"{side}_tokenizer.json"
            files[name] = tokenizer.tokenizer.to_str().encode("utf-8")
            config[side] = {"kind": tokenizer.kind, "file": name}
        elif isinstance(tokenizer, SentencePieceTokenizer):
            name = f"{side}.model"
            files[name] = tokenizer.model_bytes()
            config[side] = {"kind": tokenizer.kind, "file": name}
        else:
            config[side] = tokenizer.to_dict()
    files[TOKENIZER_CONFIG_FILE] = (json.dumps(config, indent=2) + "\n").encode("utf-8")
    return files


def read_tokenizer_files(directory: str | os.PathLike[str]) -> tuple[Tokenizer, Tokenizer]:
    """The source and target tokenizers of a model directory; whitespace for a directory without
    :data:`TOKENIZER_CONFIG_FILE` (written before tokenizers were saved).

    Raises:
        ModelFormatError: a file is malformed or missing, naming it.
    """
    path = os.path.join(os.fspath(directory), TOKENIZER_CONFIG_FILE)
    if not os.path.lexists(path):
        return WHITESPACE, WHITESPACE
    check_inside(directory, path)  # a link out of the model directory is refused, nothing read from it
    config = read_json_file(path)
    out: list[Tokenizer] = []
    for side in SIDES:
        entry = config.get(side) if isinstance(config, dict) else None
        if not isinstance(entry, dict):
            raise ModelFormatError(f"{path}: no {side!r} entry, expected {{'kind': ...}}")
        try:
            if "file" in entry:
                file = os.path.join(os.fspath(directory), os.path.basename(str(entry["file"])))
                if os.path.lexists(file):  # a link out of the directory, a FIFO: refused before it is opened
                    check_inside(directory, file)
                    check_regular_file(file)
                if not os.path.isfile(file):
                    raise ModelFormatError(f"{file}: missing; {path} names it as the {side} tokenizer")
                check_inside(directory, file)
                if entry.get("kind") == "huggingface":
                    out.append(HuggingFaceTokenizer(file))
                elif entry.get("kind") == "sentencepiece":
                    out.append(SentencePieceTokenizer(file))
                else:
                    raise ModelFormatError(f"{path}: {side}: unknown kind {entry.get('kind')!r} for a file")
            else:
                out.append(from_dict(entry, f"{path}: {side}"))
        except ModelFormatError:
            raise
        except InputError as err:
            raise ModelFormatError(str(err)) from err
    return out[0], out[1]


# -- training -------------------------------------------------------------------------------------


def train_tokenizer(texts: Iterable[str], kind: str = "bpe", vocab_size: int = 1000) -> Tokenizer:
    """Train a subword tokenizer on ``texts`` whose ids 0-3 are ``<pad>``, ``<bos>``, ``<eos>``, ``<unk>``.

    Deterministic: the same texts give the same tokenizer. Nothing is written to disk.

    Args:
        texts: the training texts (one sentence each), e.g. one side of the train split.
        kind: ``bpe`` (Hugging Face ``tokenizers``, the ``[tokenizers]`` extra; spaces kept as ``▁`` so
            :meth:`~Tokenizer.detokenize` gives the text back) or ``unigram`` (sentencepiece, the
            ``[sentencepiece]`` extra).
        vocab_size: pieces, the four specials included (at most: small corpora may give fewer).

    Raises:
        InputError: an unknown ``kind``, ``vocab_size`` below 8, no texts, or the extra not installed.
    """
    if kind not in TRAINABLE:
        raise InputError(f"train_tokenizer.kind: got {kind!r}, expected one of {', '.join(map(repr, TRAINABLE))}")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 8:
        raise InputError(f"train_tokenizer.vocab_size: got {vocab_size!r}, expected an integer >= 8")
    texts = [text for text in texts if text.strip()]
    if not texts:
        raise InputError("train_tokenizer.texts: got no non-empty text to train on")
    if kind == "bpe":
        tokenizers = import_extra("tokenizers", "tokenizers", "train_tokenizer(kind='bpe')")
        from tokenizers import decoders, models, pre_tokenizers, trainers

        tokenizer = tokenizers.Tokenizer(models.BPE(unk_token="<unk>"))
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        tokenizer.decoder = decoders.Metaspace()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIALS), show_progress=False)
        tokenizer.train_from_iterator(texts, trainer)
        return HuggingFaceTokenizer(tokenizer)
    spm = import_extra("sentencepiece", "sentencepiece", "train_tokenizer(kind='unigram')")
    import io

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=model, model_type="unigram", vocab_size=vocab_size,
        pad_id=0, bos_id=1, eos_id=2, unk_id=3, pad_piece="<pad>", bos_piece="<bos>", eos_piece="<eos>",
        unk_piece="<unk>", hard_vocab_limit=False, character_coverage=1.0, num_threads=1, minloglevel=2,
    )  # fmt: skip
    return SentencePieceTokenizer(model.getvalue())


__all__ = [
    "ALIASES",
    "CHARS",
    "TOKENIZERS",
    "TOKENIZER_CONFIG_FILE",
    "TRAINABLE",
    "WHITESPACE",
    "CallableTokenizer",
    "CharsTokenizer",
    "HuggingFaceTokenizer",
    "SentencePieceTokenizer",
    "Tokenizer",
    "TokenizerLike",
    "WhitespaceTokenizer",
    "as_tokenizer",
    "check_tokenizer",
    "check_tokenizer_vocab",
    "read_tokenizer_files",
    "split_tokens",
    "tokenizer_files",
    "train_tokenizer",
]
