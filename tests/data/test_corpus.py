"""Built-in corpora: toy, synthetic tasks, CMUdict split, length limits."""

import pytest

from datamodules import load_corpus
from datamodules.corpus import Corpus
from datamodules.synthetic import generate


def test_toy_corpus_is_the_seed_data():
    c = load_corpus("toy")
    assert len(c.train) == 4
    assert c.train[1] == (["tensorflow", "is", "very", "difficult"], ["텐서플로우는", "매우", "어렵다"])


@pytest.mark.parametrize("task", ["reverse", "copy", "sort", "addition"])
def test_synthetic_targets_are_correct_and_seeded(task):
    c = load_corpus(task, seed=3, n_train=200, n_val=10, n_test=10, min_len=2, max_len=6)
    assert len(c.train) == 200
    for src, tgt in c.train:
        if task == "reverse":
            assert tgt == src[::-1]
        elif task == "copy":
            assert tgt == src
        elif task == "sort":
            assert tgt == sorted(src)
        else:
            a, b = "".join(src).split("+")
            assert int("".join(tgt)) == int(a) + int(b)
        if task != "addition":
            assert 2 <= len(src) <= 6
    kw = {"n_train": 200, "n_val": 10, "n_test": 10, "min_len": 2, "max_len": 6}
    assert load_corpus(task, seed=3, **kw).train == c.train
    assert load_corpus(task, seed=4, **kw).train != c.train


def test_unknown_name_is_a_clear_error():
    with pytest.raises(ValueError, match="neither a built-in corpus"):
        load_corpus("reverse_words")


@pytest.mark.parametrize(("policy", "kept"), [("filter", 1), ("truncate", 2)])
def test_length_policies(policy, kept, caplog):
    corpus = Corpus("x", [(["a"] * 3, ["b"]), (["a"] * 9, ["b"] * 2)], [], [])
    from datamodules.corpus import apply_length_limit

    pairs, affected = apply_length_limit(corpus.train, 5, policy, "x (train)")
    assert (len(pairs), affected) == (kept, 1)
    if policy == "truncate":
        assert pairs[1][0] == ["a"] * 5
    assert "1 of 2 pairs longer than max_length=5" in caplog.text


def test_length_policy_error_names_the_pair():
    with pytest.raises(ValueError, match=r"reverse \(train\): pair 1 is longer than max_length=3 \(source 4"):
        load_corpus("reverse", n_train=20, min_len=2, max_len=6, max_length=3, length_policy="error", seed=1)


@pytest.fixture(scope="module")
def cmudict():
    return load_corpus("cmudict")


def test_cmudict_split_sizes(cmudict):
    words = {name: len(cmudict.references(name)[0]) for name in ("train", "val", "test")}
    assert words == {"train": 106_063, "val": 6_315, "test": 12_533}


def test_cmudict_pairs_and_references(cmudict):
    split = next(s for s in ("train", "val", "test") if any(src == list("tomato") for src, _ in cmudict.split(s)))
    sources, refs = cmudict.references(split)
    prons = refs[sources.index(list("tomato"))]
    assert len(prons) >= 2  # two pronunciations: both are references, both are training pairs
    assert all(not any(ch.isdigit() for ph in p for ch in ph) for p in prons)
    n_pairs = sum(len(r) for r in refs)
    assert n_pairs == len(cmudict.split(split))


def test_cmudict_stress_option():
    c = load_corpus("cmudict", stress=True)
    assert any(any(ch.isdigit() for ph in tgt for ch in ph) for _, tgt in c.train[:50])


def test_addition_with_operands_longer_than_int64_holds_true_sums():
    pairs = generate("addition", 200, seed=3, max_digits=30)
    for source, target in pairs:
        a, b = "".join(source).split("+")
        assert int(a) + int(b) == int("".join(target))
    assert max(len("".join(source).split("+")[0]) for source, _ in pairs) > 19, "some operands beyond int64"


def test_long_addition_pairs_are_sums_of_operands_of_the_asked_lengths():
    pairs = generate("addition", 300, seed=3, min_digits=20, max_digits=30)
    lengths = set()
    for src, tgt in pairs:
        a, b = "".join(src).split("+")
        assert 20 <= len(a) <= 30 and 20 <= len(b) <= 30 and a[0] != "0" and b[0] != "0"
        assert int("".join(tgt)) == int(a) + int(b)
        lengths.add(len(tgt))
    assert min(lengths) >= 20 and max(lengths) <= 31 and len(lengths) > 5
    corpus = load_corpus("addition", min_digits=20, max_digits=30, n_train=50, n_val=10, n_test=10)
    assert len(corpus.train) == 50 and corpus.test != corpus.train[:10]  # independent streams
