"""Reading ``source<TAB>target`` files (the Tatoeba/Anki layout) into a :class:`Corpus`."""

from __future__ import annotations

import logging
import os
from typing import Any

from datamodules.corpus import Corpus, Pair
from datamodules.errors import DataError
from datamodules.splits import split_of
from seq2seq_fit.line_reader import iter_lines, open_regular
from seq2seq_fit.tokenizer import TRAINABLE, Tokenizer, TokenizerLike, as_tokenizer, train_tokenizer

logger = logging.getLogger("datamodules")

ON_ERROR = ("error", "skip")
#: Pieces of a tokenizer trained by ``read_tsv_corpus(tokenizer="bpe" | "unigram")`` without ``vocab_size``.
DEFAULT_VOCAB_SIZE = 1000

#: One line of a TSV file: ``(line number, source text, target text)``.
Row = tuple[int, str, str]


def read_tsv_rows(path: str | os.PathLike[str], on_error: str = "error") -> tuple[list[Row], int]:
    """The ``(line, source, target)`` texts of a UTF-8 TSV file; columns after the second are ignored.

    A UTF-8 byte-order mark is accepted; LF, CRLF and a lone CR each end a line; blank lines are
    ignored. Lines with no tab or invalid UTF-8 raise :class:`DataError` (``path:line: ...``) with
    ``on_error="error"``, or are dropped and counted with ``on_error="skip"``. The file is read a line at
    a time; what is not a regular file (a FIFO, ``/dev/zero``), and a line longer than
    ``seq2seq_fit.limits.MAX_LINE_BYTES``, raise :class:`DataError` before it is read.

    Returns:
        The rows and the number of skipped lines.
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error: got {on_error!r}, expected one of {', '.join(ON_ERROR)}")
    name = os.fspath(path)
    if os.path.isdir(name):
        raise DataError(name, None, "is a directory, expected a UTF-8 file of source<TAB>target lines")
    if not os.path.exists(name):
        raise DataError(name, None, "no such file")
    rows: list[Row] = []
    skipped = 0
    blank = True

    def error(line: int | None, problem: str) -> DataError:
        return DataError(name, line, problem)

    with open_regular(name, error) as f:
        for lineno, line in iter_lines(f.read, error):
            if lineno == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            if not line.strip():
                continue
            blank = False
            problem: str | None = None
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as e:
                problem = f"invalid UTF-8 at byte {e.start} ({line[e.start : e.start + 1]!r})"
            else:
                fields = text.split("\t")
                if len(fields) < 2:
                    problem = f"expected 2 tab-separated fields, found 1: {text[:60]!r}"
            if problem is not None:
                if on_error == "error":
                    raise DataError(
                        name, lineno, problem, option="on_error", value="skip", purpose="to drop such lines"
                    )
                skipped += 1
                continue
            rows.append((lineno, fields[0], fields[1]))
    if blank:
        raise DataError(name, None, "file is empty, expected source<TAB>target lines")
    return rows, skipped


def tokenize_rows(
    name: str, rows: list[Row], src: Tokenizer, tgt: Tokenizer, on_error: str
) -> tuple[list[tuple[Row, Pair]], int]:
    """Each row with its token pair; a row with an empty side raises :class:`DataError` or is skipped."""
    out: list[tuple[Row, Pair]] = []
    skipped = 0
    for row in rows:
        lineno, source, target = row
        pair = (src.tokenize(source), tgt.tokenize(target))
        if not pair[0] or not pair[1]:
            side = "source" if not pair[0] else "target"
            problem = f"empty {side} side: {(source + chr(9) + target)[:60]!r}"
            if on_error == "error":
                raise DataError(name, lineno, problem, option="on_error", value="skip", purpose="to drop such lines")
            skipped += 1
            continue
        out.append((row, pair))
    return out, skipped


def read_tsv(
    path: str | os.PathLike[str], tokenizer: TokenizerLike = "whitespace", on_error: str = "error"
) -> tuple[list[Pair], int]:
    """Pairs from a UTF-8 TSV file (:func:`read_tsv_rows`), both sides split by ``tokenizer``.

    Lines with no tab, an empty side or invalid UTF-8 raise :class:`DataError` (``path:line: ...``)
    with ``on_error="error"``, or are dropped and counted with ``on_error="skip"``.

    Returns:
        The pairs and the number of skipped lines.
    """
    split = as_tokenizer(tokenizer, owner="read_tsv")
    rows, skipped = read_tsv_rows(path, on_error)
    pairs, empty = tokenize_rows(os.fspath(path), rows, split, split, on_error)
    finish(os.fspath(path), len(pairs), skipped + empty)
    return [pair for _, pair in pairs], skipped + empty


def finish(name: str, kept: int, skipped: int) -> None:
    """Log the skipped lines; refuse a file with no usable line."""
    if skipped:
        logger.warning("%s: skipped %d malformed line(s)", name, skipped)
    if not kept:
        raise DataError(name, None, "no usable source<TAB>target lines")


def side_tokenizer(spec: Any, texts: list[str], vocab_size: int | None, side: str, name: str) -> Tokenizer:
    """A side's tokenizer: ``bpe`` / ``unigram`` trained on ``texts`` (that side's train split), or
    what :func:`seq2seq_fit.tokenizer.as_tokenizer` makes of ``spec``."""
    if isinstance(spec, str) and spec in TRAINABLE:
        size = DEFAULT_VOCAB_SIZE if vocab_size is None else vocab_size
        tokenizer = train_tokenizer(texts, spec, size)
        logger.info("%s: trained a %s %s tokenizer of %d pieces", name, side, spec, len(tokenizer.vocab_tokens() or []))
        return tokenizer
    return as_tokenizer(spec, owner="read_tsv_corpus")


def read_tsv_corpus(
    path: str | os.PathLike[str],
    tokenizer: TokenizerLike = "whitespace",
    on_error: str = "error",
    val_percent: int = 5,
    test_percent: int = 10,
    salt: str = "seq2seq-fit-tsv-v1",
    vocab_size: int | None = None,
    src_tokenizer: TokenizerLike = None,
    tgt_tokenizer: TokenizerLike = None,
) -> Corpus:
    """A TSV file split deterministically by a hash of the source text, with each side's tokenizer.

    Pairs sharing a source always land in the same split, so multi-reference sources stay whole.
    The corpus's ``src_tokenizer`` and ``tgt_tokenizer`` are what a model trained on it keeps.

    Args:
        path: the file.
        tokenizer: both sides' tokenizer: ``whitespace`` (words), ``chars`` (characters, spaces kept
            as tokens; also ``char``), ``bpe`` or ``unigram`` (trained on that side's train split,
            see :func:`seq2seq_fit.tokenizer.train_tokenizer`), the path of a ``tokenizer.json`` or
            sentencepiece ``.model``, or a callable from a string to its tokens.
        on_error: ``error`` (default) or ``skip`` malformed lines.
        val_percent, test_percent: share of sources in the validation and test splits.
        salt: changes the split without changing the file.
        vocab_size: pieces of a ``bpe`` / ``unigram`` tokenizer trained here (default 1000).
        src_tokenizer, tgt_tokenizer: one side's tokenizer, instead of ``tokenizer`` (the same values).
    """
    for label, value in (("val_percent", val_percent), ("test_percent", test_percent)):
        if not isinstance(value, int) or not 0 <= value <= 100:
            raise ValueError(f"{label}: got {value!r}, expected an integer in [0, 100]")
    if val_percent + test_percent > 100:
        raise ValueError(f"val_percent + test_percent: got {val_percent + test_percent}, expected <= 100")
    if vocab_size is not None and (isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 8):
        raise ValueError(f"vocab_size: got {vocab_size!r}, expected an integer >= 8")
    specs = [tokenizer if side is None else side for side in (src_tokenizer, tgt_tokenizer)]
    trained = [isinstance(spec, str) and spec in TRAINABLE for spec in specs]
    made = [
        None if train else as_tokenizer(spec, owner="read_tsv_corpus")
        for spec, train in zip(specs, trained, strict=True)
    ]
    if vocab_size is not None and not any(trained):
        raise ValueError(
            f"vocab_size: got {vocab_size!r}, but no tokenizer is trained here (tokenizer='bpe' or 'unigram')"
        )
    name = os.fspath(path)
    rows, skipped = read_tsv_rows(path, on_error)

    def key(row: Row) -> str:  # the text whose hash picks the split: as before subword tokenizers existed
        src = made[0]
        if src is not None and src.kind == "chars":
            return row[1]
        if src is not None and src.vocab_tokens() is None:
            return " ".join(src.tokenize(row[1]))
        return " ".join(row[1].split())

    if any(trained):
        train_rows = [row for row in rows if split_of(key(row), salt, test_percent, val_percent) == "train"]
        for i, side in enumerate(("source", "target")):
            if made[i] is None:
                texts = [row[2] if i else row[1] for row in train_rows]
                made[i] = side_tokenizer(specs[i], texts, vocab_size, side, name)
    src_split, tgt_split = made
    assert src_split is not None and tgt_split is not None
    pairs, empty = tokenize_rows(name, rows, src_split, tgt_split, on_error)
    finish(name, len(pairs), skipped + empty)
    splits: dict[str, list[Pair]] = {"train": [], "val": [], "test": []}
    for row, pair in pairs:
        splits[split_of(key(row), salt, test_percent, val_percent)].append(pair)
    corpus = Corpus(
        name, splits["train"], splits["val"], splits["test"], src_tokenizer=src_split, tgt_tokenizer=tgt_split
    )
    if skipped + empty:
        corpus.stats["skipped_lines"] = skipped + empty
    return corpus
