"""Reading ``source<TAB>target`` files (the Tatoeba/Anki layout) into a :class:`Corpus`."""

from __future__ import annotations

import logging
import os

from datamodules.corpus import Corpus, Pair
from datamodules.errors import DataError
from datamodules.splits import split_of
from seq2seq_fit.tokenizer import ALIASES, Tokenizer, check_tokenizer, split_tokens

logger = logging.getLogger("datamodules")

ON_ERROR = ("error", "skip")


def read_tsv(
    path: str | os.PathLike[str], tokenizer: Tokenizer = "whitespace", on_error: str = "error"
) -> tuple[list[Pair], int]:
    """Pairs from a UTF-8 TSV file; columns after the second are ignored.

    A UTF-8 byte-order mark and CRLF line endings are accepted; blank lines are ignored. Lines with
    no tab, an empty side or invalid UTF-8 raise :class:`DataError` (``path:line: ...``) with
    ``on_error="error"``, or are dropped and counted with ``on_error="skip"``.

    Returns:
        The pairs and the number of skipped lines.
    """
    check_tokenizer(tokenizer, owner="read_tsv")
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error: got {on_error!r}, expected one of {', '.join(ON_ERROR)}")
    name = os.fspath(path)
    if os.path.isdir(name):
        raise DataError(name, None, "is a directory, expected a UTF-8 file of source<TAB>target lines")
    if not os.path.exists(name):
        raise DataError(name, None, "no such file")
    with open(name, "rb") as f:
        raw = f.read()
    if not raw.strip():
        raise DataError(name, None, "file is empty, expected source<TAB>target lines")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    pairs: list[Pair] = []
    skipped = 0
    for lineno, line in enumerate(raw.split(b"\n"), start=1):
        line = line.rstrip(b"\r")
        if not line.strip():
            continue
        problem: str | None = None
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            problem = f"invalid UTF-8 at byte {e.start} ({line[e.start : e.start + 1]!r})"
        else:
            fields = text.split("\t")
            if len(fields) < 2:
                problem = f"expected 2 tab-separated fields, found 1: {text[:60]!r}"
            else:
                src, tgt = split_tokens(fields[0], tokenizer), split_tokens(fields[1], tokenizer)
                if not src or not tgt:
                    side = "source" if not src else "target"
                    problem = f"empty {side} side: {text[:60]!r}"
        if problem is not None:
            if on_error == "error":
                raise DataError(name, lineno, problem, option="on_error", value="skip", purpose="to drop such lines")
            skipped += 1
            continue
        pairs.append((src, tgt))
    if skipped:
        logger.warning("%s: skipped %d malformed line(s)", name, skipped)
    if not pairs:
        raise DataError(name, None, "no usable source<TAB>target lines")
    return pairs, skipped


def read_tsv_corpus(
    path: str | os.PathLike[str],
    tokenizer: Tokenizer = "whitespace",
    on_error: str = "error",
    val_percent: int = 5,
    test_percent: int = 10,
    salt: str = "seq2seq-fit-tsv-v1",
) -> Corpus:
    """A TSV file split deterministically by a hash of the source text.

    Pairs sharing a source always land in the same split, so multi-reference sources stay whole.

    Args:
        path: the file.
        tokenizer: ``whitespace`` (words), ``chars`` (characters, spaces kept as tokens; also ``char``)
            or a callable from a string to its tokens, as in :func:`seq2seq_fit.tokenizer.split_tokens`.
        on_error: ``error`` (default) or ``skip`` malformed lines.
        val_percent, test_percent: share of sources in the validation and test splits.
        salt: changes the split without changing the file.
    """
    for label, value in (("val_percent", val_percent), ("test_percent", test_percent)):
        if not isinstance(value, int) or not 0 <= value <= 100:
            raise ValueError(f"{label}: got {value!r}, expected an integer in [0, 100]")
    if val_percent + test_percent > 100:
        raise ValueError(f"val_percent + test_percent: got {val_percent + test_percent}, expected <= 100")
    check_tokenizer(tokenizer, owner="read_tsv_corpus")
    pairs, skipped = read_tsv(path, tokenizer, on_error)
    joiner = "" if isinstance(tokenizer, str) and ALIASES.get(tokenizer, tokenizer) == "chars" else " "
    splits: dict[str, list[Pair]] = {"train": [], "val": [], "test": []}
    for src, tgt in pairs:
        key = joiner.join(src)
        splits[split_of(key, salt, test_percent, val_percent)].append((src, tgt))
    corpus = Corpus(os.fspath(path), splits["train"], splits["val"], splits["test"])
    if skipped:
        corpus.stats["skipped_lines"] = skipped
    return corpus
