"""Phrase-level grapheme-to-phoneme from CMUdict: long outputs built from real words (``cmudict-phrases``).

A phrase is 3-8 dictionary words joined by spaces; its target is their phones with a separator token
between words, 30-80 tokens. Phrases are drawn from the words of one split of the fixed CMUdict word
split (:func:`datamodules.splits.split_of`): train phrases from train words, dev phrases from dev words,
test phrases from test words, so no test word is seen in training.

Example:
    >>> from datamodules import load_corpus
    >>> corpus = load_corpus("cmudict-phrases", n_train=2, n_val=1, n_test=1)
    >>> source, target = corpus.test[0]
    >>> 30 <= len(target) <= 80, target.count("|") == "".join(source).count(" ")
    (True, True)
"""

from __future__ import annotations

import functools
import random

from datamodules.cmudict_g2p import g2p_entries
from datamodules.corpus import Corpus, Pair
from datamodules.splits import split_of
from seq2seq_fit.tokenizer import CHARS

#: The token between two words' phones on the target side (no ARPAbet phone is spelled so).
SEPARATOR = "|"


@functools.lru_cache(maxsize=2)
def words_by_split(stress: bool = False) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """The CMUdict G2P words with one pronunciation: word -> phones, and split -> its words in sorted order
    (read once per process)."""
    single = {word: prons[0] for word, prons in g2p_entries(stress).items() if len(prons) == 1}
    words: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for word in sorted(single):
        words[split_of(word)].append(word)
    return single, words


def check_options(n: dict[str, int], min_words: int, max_words: int, lengths: tuple[int, int], separator: str) -> None:
    """Refuse option values that cannot make phrases, in one line naming the option."""
    for name, value in n.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"cmudict-phrases: {name}={value!r}, expected an integer >= 0")
    if not (isinstance(min_words, int) and isinstance(max_words, int) and 1 <= min_words <= max_words):
        raise ValueError(
            f"cmudict-phrases: min_words={min_words!r}, max_words={max_words!r}, expected integers 1 <= min <= max"
        )
    low, high = lengths
    if not (isinstance(low, int) and isinstance(high, int) and 1 <= low <= high):
        raise ValueError(
            f"cmudict-phrases: min_target_length={low!r}, max_target_length={high!r}, expected integers 1 <= min <= max"
        )
    if not isinstance(separator, str) or not separator or any(c.isspace() for c in separator):
        raise ValueError(f"cmudict-phrases: separator={separator!r}, expected a non-empty token without whitespace")


def draw_phrases(
    words: list[str],
    phones: dict[str, list[str]],
    count: int,
    rng: random.Random,
    min_words: int,
    max_words: int,
    lengths: tuple[int, int],
    separator: str,
) -> list[Pair]:
    """``count`` phrases of distinct ``words`` (characters in, phones and separators out) whose target
    length is within ``lengths``; a phrase outside it is drawn again.

    Example:
        >>> phones = {"ab": ["A", "B"], "c": ["C"], "d": ["D"]}
        >>> draw_phrases(["ab", "c", "d"], phones, 1, random.Random(0), 2, 2, (4, 4), "|")
        [(['c', ' ', 'a', 'b'], ['C', '|', 'A', 'B'])]
    """
    pairs: list[Pair] = []
    tries = 0
    while len(pairs) < count:
        tries += 1
        if tries > 1000 * (count + 10):
            raise ValueError(
                f"cmudict-phrases: found only {len(pairs)} of {count} phrases of {min_words}-{max_words} words with "
                f"{lengths[0]}-{lengths[1]} target tokens from {len(words)} words; widen min/max_target_length"
            )
        chosen = rng.sample(words, min(rng.randint(min_words, max_words), len(words)))
        target: list[str] = []
        for i, word in enumerate(chosen):
            target += ([separator] if i else []) + phones[word]
        if lengths[0] <= len(target) <= lengths[1]:
            pairs.append((list(" ".join(chosen)), target))
    return pairs


def cmudict_phrases_corpus(
    n_train: int = 40_000,
    n_val: int = 1_000,
    n_test: int = 2_000,
    seed: int = 0,
    min_words: int = 3,
    max_words: int = 8,
    min_target_length: int = 30,
    max_target_length: int = 80,
    separator: str = SEPARATOR,
    stress: bool = False,
) -> Corpus:
    """Phrase-level CMUdict G2P, deterministic from ``seed``, split by word.

    Words are those of the ``cmudict`` corpus (``^[a-z][a-z']*$``, stress stripped unless ``stress``)
    with a single pronunciation, so each phrase has exactly one reference and a phrase is right only
    when every phone and separator is. Each phrase takes ``min_words``-``max_words`` distinct words
    of its split (uniform count, uniform words), drawn again until its target has
    ``min_target_length``-``max_target_length`` tokens. Source: characters, one space between
    words (the ``chars`` tokenizer); target: phones, ``separator`` between words (``whitespace``).

    Args:
        n_train, n_val, n_test: phrases per split.
        seed: what is drawn; each split has its own stream, so ``n_train`` does not change the test phrases.
        min_words, max_words: words per phrase.
        min_target_length, max_target_length: target tokens per phrase (phones and separators).
        separator: the target token between two words.
        stress: keep the stress digits on vowels.
    """
    sizes = {"n_train": n_train, "n_val": n_val, "n_test": n_test, "seed": seed}
    lengths = (min_target_length, max_target_length)
    check_options(sizes, min_words, max_words, lengths, separator)
    single, words = words_by_split(stress)
    if any(separator in phones for phones in single.values()):
        raise ValueError(f"cmudict-phrases: separator={separator!r} is a phone; pick another token")
    splits = {
        split: draw_phrases(words[split], single, count, random.Random(f"cmudict-phrases-{seed}-{split}"),
                            min_words, max_words, lengths, separator)
        for split, count in (("train", n_train), ("val", n_val), ("test", n_test))
    }  # fmt: skip
    stats = {f"{split}_words": len(w) for split, w in words.items()}
    name = "cmudict-phrases" + ("-stress" if stress else "")
    return Corpus(name, splits["train"], splits["val"], splits["test"], stats=stats, src_tokenizer=CHARS)
