"""Vocab: specials first, frequency order, unknowns, decoding and JSON round trip."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datamodules import BOS_ID, EOS_ID, PAD_ID, SPECIALS, UNK_ID, Vocab


def test_specials_have_fixed_ids():
    v = Vocab.build([["x"]])
    assert v.tokens[:4] == list(SPECIALS)
    assert (PAD_ID, BOS_ID, EOS_ID, UNK_ID) == (0, 1, 2, 3)
    assert v.id("x") == 4 and v.id("never") == UNK_ID


def test_build_orders_by_frequency_then_token_and_filters():
    seqs = [["b", "a", "c"], ["a", "c"], ["a"]]
    assert Vocab.build(seqs).tokens[4:] == ["a", "c", "b"]
    assert Vocab.build(seqs, min_freq=2).tokens[4:] == ["a", "c"]
    assert Vocab.build(seqs, max_size=5).tokens[4:] == ["a"]
    with pytest.raises(ValueError, match="min_freq"):
        Vocab.build(seqs, min_freq=0)


def test_specials_in_data_are_not_duplicated():
    assert Vocab.build([["<pad>", "a", "<eos>"]]).tokens == [*SPECIALS, "a"]


def test_encode_and_decode():
    v = Vocab.build([["a", "b"]])
    ids = v.encode(["a", "zzz", "b"], add_bos=True, add_eos=True)
    assert ids == [BOS_ID, v.id("a"), UNK_ID, v.id("b"), EOS_ID]
    assert v.decode([*ids, v.id("a"), PAD_ID]) == ["a", "<unk>", "b"]  # stops at <eos>
    assert v.decode([PAD_ID, BOS_ID, v.id("b")]) == ["b"]


def test_json_round_trip_and_bad_input():
    v = Vocab.build([["나는", "배가"]])
    assert Vocab.from_json(v.to_json()) == v
    with pytest.raises(ValueError, match="first tokens"):
        Vocab(["a", "b"])
    with pytest.raises(ValueError, match="duplicate"):
        Vocab([*SPECIALS, "a", "a"])
    with pytest.raises(ValueError, match="list of strings"):
        Vocab.from_json('{"a": 1}')


@given(st.lists(st.lists(st.text(min_size=1, max_size=3), max_size=6), max_size=6))
def test_encode_decode_round_trip(seqs):
    v = Vocab.build(seqs)
    for seq in seqs:
        # Tokens that are specials (other than <unk>) cannot survive decoding by design.
        if any(t in SPECIALS for t in seq):
            continue
        assert v.decode(v.encode(seq, add_bos=True, add_eos=True)) == seq
