"""``Corpus``: train/val/test token-pair lists, and ``load_corpus`` for built-in and TSV data."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from seq2seq_fit import scores
from seq2seq_fit.tokenizer import WHITESPACE, Tokenizer

Tokens = list[str]
Pair = tuple[Tokens, Tokens]

logger = logging.getLogger("datamodules")

LENGTH_POLICIES = ("filter", "truncate", "error")
SYNTHETIC_TASKS = ("reverse", "copy", "sort", "addition")
BUILTIN = ("toy", "cmudict", "cmudict-phrases", *SYNTHETIC_TASKS)


def group_references(pairs: Sequence[Pair]) -> tuple[list[Tokens], list[list[Tokens]]]:
    """Unique sources of ``pairs`` in order, each with all of its distinct targets.

    Example:
        >>> group_references([(["a"], ["A"]), (["a"], ["E"]), (["b"], ["B"]), (["a"], ["A"])])
        ([['a'], ['b']], [[['A'], ['E']], [['B']]])
    """
    keys, _, refs = scores.group_references((tuple(src), None, list(tgt)) for src, tgt in pairs)
    return [list(k) for k in keys], refs


@dataclass
class Corpus:
    """Token-level parallel data split three ways.

    Attributes:
        name: where it came from (built-in name or file path).
        train, val, test: lists of ``(source_tokens, target_tokens)`` pairs. A source with
            several correct targets (CMUdict words with two pronunciations) appears once per
            target, consecutively.
        stats: counts gathered while loading (skipped lines, filtered pairs, ...).
        src_tokenizer, tgt_tokenizer: how each side's text became its tokens (whitespace by default;
            ``cmudict`` reads characters; a TSV corpus its ``tokenizer`` option): a model trained on
            the corpus keeps them, so that ``translate`` splits and joins text the same way.
    """

    name: str
    train: list[Pair]
    val: list[Pair]
    test: list[Pair]
    stats: dict[str, int] = field(default_factory=dict)
    src_tokenizer: Tokenizer = WHITESPACE
    tgt_tokenizer: Tokenizer = WHITESPACE

    def split(self, name: str) -> list[Pair]:
        """The pairs of split ``name`` (``train``, ``val`` or ``test``)."""
        if name not in ("train", "val", "test"):
            raise ValueError(f"Corpus.split: got {name!r}, expected 'train', 'val' or 'test'")
        return getattr(self, name)  # type: ignore[no-any-return]

    def references(self, split: str = "test") -> tuple[list[Tokens], list[list[Tokens]]]:
        """Unique sources of ``split`` in order, each with all of its reference targets.

        Example:
            >>> c = Corpus("x", [], [], [(["a"], ["A"]), (["a"], ["E"]), (["b"], ["B"])])
            >>> c.references("test")
            ([['a'], ['b']], [[['A'], ['E']], [['B']]])
        """
        return group_references(self.split(split))

    def summary(self) -> str:
        """One line per split: pairs, unique sources and mean lengths."""
        lines = [f"corpus {self.name}"]
        for name in ("train", "val", "test"):
            pairs = self.split(name)
            n_src = len({tuple(s) for s, _ in pairs})
            ms = sum(len(s) for s, _ in pairs) / max(len(pairs), 1)
            mt = sum(len(t) for _, t in pairs) / max(len(pairs), 1)
            lines.append(f"  {name:5s} {len(pairs):7d} pairs {n_src:7d} sources  mean length {ms:.1f} -> {mt:.1f}")
        for key, value in sorted(self.stats.items()):
            lines.append(f"  {key}: {value}")
        return "\n".join(lines)


def apply_length_limit(
    pairs: Sequence[Pair], max_length: int | None, policy: str, where: str
) -> tuple[list[Pair], int]:
    """Enforce ``max_length`` on both sides; returns the kept pairs and how many were affected."""
    if max_length is None:
        return list(pairs), 0
    if policy not in LENGTH_POLICIES:
        raise ValueError(f"length_policy: got {policy!r}, expected one of {', '.join(LENGTH_POLICIES)}")
    if max_length < 1:
        raise ValueError(f"max_length: got {max_length!r}, expected an integer >= 1 or None")
    kept: list[Pair] = []
    affected = 0
    for i, (src, tgt) in enumerate(pairs):
        if len(src) <= max_length and len(tgt) <= max_length:
            kept.append((src, tgt))
            continue
        affected += 1
        if policy == "error":
            raise ValueError(
                f"{where}: pair {i + 1} is longer than max_length={max_length} "
                f"(source {len(src)}, target {len(tgt)} tokens); use length_policy='filter' or "
                "'truncate', or raise max_length"
            )
        if policy == "truncate":
            kept.append((src[:max_length], tgt[:max_length]))
    if affected:
        verb = "dropped" if policy == "filter" else "truncated"
        logger.warning("%s: %s %d of %d pairs longer than max_length=%d", where, verb, affected, len(pairs), max_length)
    return kept, affected


def load_corpus(
    name_or_path: str | os.PathLike[str],
    *,
    max_length: int | None = None,
    length_policy: str = "filter",
    **options: Any,
) -> Corpus:
    """Load a built-in corpus by name or a TSV file by path.

    Built in: ``toy`` (the seed's 4 English -> Korean pairs), ``cmudict`` (grapheme-to-phoneme,
    options ``stress``), ``cmudict-phrases`` (phrases of 3-8 CMUdict words, 30-80 target tokens, split by
    word; options ``n_train``, ``n_val``, ``n_test``, ``seed``... see
    :func:`datamodules.cmudict_phrases.cmudict_phrases_corpus`), and the synthetic tasks ``reverse``,
    ``copy``, ``sort``, ``addition``
    (options ``seed``, ``min_length``, ``max_length``... see :func:`datamodules.synthetic.generate`).
    Anything else is read as a UTF-8 ``source<TAB>target`` file (options of
    :func:`datamodules.tsv.read_tsv_corpus`).

    Args:
        name_or_path: built-in name or path.
        max_length: longest sequence (tokens, either side) kept in every split; ``None`` for no limit.
        length_policy: what to do with longer pairs: ``filter`` (drop, default), ``truncate``
            or ``error``. A summary line says how many were affected.
        **options: passed to the corpus's loader.

    Example:
        >>> c = load_corpus("toy")
        >>> c.train[0]
        (['I', 'feel', 'hungry'], ['나는', '배가', '고프다'])
    """
    name = os.fspath(name_or_path)
    if name == "toy":
        from datamodules.toy import toy_corpus

        corpus = toy_corpus(**options)
    elif name == "cmudict":
        from datamodules.cmudict_g2p import cmudict_corpus

        corpus = cmudict_corpus(**options)
    elif name == "cmudict-phrases":
        from datamodules.cmudict_phrases import cmudict_phrases_corpus

        corpus = cmudict_phrases_corpus(**options)
    elif name in SYNTHETIC_TASKS:
        from datamodules.synthetic import synthetic_corpus

        corpus = synthetic_corpus(name, **options)
    else:
        from datamodules.tsv import read_tsv_corpus

        if not os.path.exists(name) and os.sep not in name and "." not in name:
            raise ValueError(
                f"load_corpus: {name!r} is neither a built-in corpus ({', '.join(BUILTIN)}) nor an existing file"
            )
        corpus = read_tsv_corpus(name, **options)
    if max_length is not None:
        for split in ("train", "val", "test"):
            kept, affected = apply_length_limit(
                corpus.split(split), max_length, length_policy, f"{corpus.name} ({split})"
            )
            setattr(corpus, split, kept)
            if affected:
                corpus.stats[f"{split}_{'filtered' if length_policy == 'filter' else 'truncated'}"] = affected
    return corpus
