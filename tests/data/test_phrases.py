"""The ``cmudict-phrases`` corpus: long G2P outputs built from CMUdict words, split by word."""

from __future__ import annotations

from typing import Any

import pytest

from datamodules import PreparedData, load_corpus
from datamodules.cmudict_phrases import SEPARATOR, cmudict_phrases_corpus, words_by_split
from datamodules.corpus import Corpus
from datamodules.splits import split_of

SIZES: dict[str, Any] = {"n_train": 300, "n_val": 40, "n_test": 60}


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return load_corpus("cmudict-phrases", **SIZES)


def phrase_words(source: list[str]) -> list[str]:
    return "".join(source).split(" ")


def test_sizes_tokenizers_and_name(corpus: Corpus) -> None:
    assert (len(corpus.train), len(corpus.val), len(corpus.test)) == (300, 40, 60)
    assert corpus.name == "cmudict-phrases"
    assert corpus.src_tokenizer.kind == "chars" and corpus.tgt_tokenizer.kind == "whitespace"


def test_each_split_draws_only_its_own_words(corpus: Corpus) -> None:
    seen = {split: {w for s, _ in corpus.split(split) for w in phrase_words(s)} for split in ("train", "val", "test")}
    assert all(split_of(w) == "train" for w in seen["train"])
    assert all(split_of(w) == "val" for w in seen["val"])
    assert all(split_of(w) == "test" for w in seen["test"])
    assert not seen["test"] & seen["train"] and not seen["val"] & seen["train"]


def test_targets_are_the_words_phones_joined_by_the_separator(corpus: Corpus) -> None:
    phones, _ = words_by_split()  # the words of the cmudict corpus with a single pronunciation
    for source, target in corpus.train + corpus.test:
        words = phrase_words(source)
        assert len(set(words)) == len(words), "a phrase repeats a word"
        pieces = " ".join(target).split(f" {SEPARATOR} ")
        assert [phones[w] for w in words] == [piece.split() for piece in pieces]


def test_lengths_within_the_asked_ranges(corpus: Corpus) -> None:
    for source, target in corpus.train + corpus.val + corpus.test:
        assert 30 <= len(target) <= 80
        assert 3 <= len(phrase_words(source)) <= 8
    narrow = cmudict_phrases_corpus(n_train=50, n_val=5, n_test=5, min_words=2, max_words=3, min_target_length=10,
                                    max_target_length=20, separator="<sep>")  # fmt: skip
    for source, target in narrow.train:
        assert 10 <= len(target) <= 20 and 2 <= len(phrase_words(source)) <= 3
        assert target.count("<sep>") == len(phrase_words(source)) - 1 and "|" not in target


def test_deterministic_from_the_seed_and_each_split_on_its_own(corpus: Corpus) -> None:
    again = load_corpus("cmudict-phrases", **SIZES)
    assert (again.train, again.val, again.test) == (corpus.train, corpus.val, corpus.test)
    other_seed = load_corpus("cmudict-phrases", **SIZES, seed=1)
    assert other_seed.test != corpus.test and other_seed.train != corpus.train
    more_train = load_corpus("cmudict-phrases", n_train=500, n_val=40, n_test=60)
    assert more_train.test == corpus.test and more_train.train[:300] == corpus.train


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"n_train": -1}, "n_train=-1"),
        ({"min_words": 5, "max_words": 4}, "min_words=5"),
        ({"min_target_length": 90, "max_target_length": 80}, "min_target_length=90"),
        ({"separator": "a b"}, "separator='a b'"),
        ({"separator": "AH"}, "separator='AH' is a phone"),
        ({"n_test": 3, "min_target_length": 500, "max_target_length": 600}, "widen min/max_target_length"),
    ],
)
def test_refuses_options_that_cannot_make_phrases(options: dict[str, object], named: str) -> None:
    with pytest.raises(ValueError, match=named.replace("(", r"\(").replace("[", r"\[")):
        cmudict_phrases_corpus(**{"n_train": 5, "n_val": 1, "n_test": 1, **options})  # type: ignore[arg-type]


def test_the_data_layer_reads_it_by_name() -> None:
    data = PreparedData("cmudict-phrases", batch_size=8, corpus_options={"n_train": 40, "n_val": 8, "n_test": 8})
    data.setup()
    assert data.tgt_vocab is not None and data.src_vocab is not None
    assert SEPARATOR in data.tgt_vocab and " " in data.src_vocab
    assert len(data.encoded["test"].targets) == 8
