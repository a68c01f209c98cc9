"""How ``translate`` splits string sources, the same way for Lightning and Keras."""

import pytest

from seq2seq_fit import check_tokenizer, split_tokens
from seq2seq_fit.tokenizer import ALIASES, TOKENIZERS


def test_whitespace_splits_on_any_run_of_whitespace():
    assert split_tokens("  I feel\thungry \n") == ["I", "feel", "hungry"]
    assert split_tokens("", "whitespace") == []


@pytest.mark.parametrize("name", ["chars", *ALIASES])
def test_every_spelling_of_chars_splits_into_characters(name):
    assert split_tokens("a b", name) == ["a", " ", "b"]


def test_token_lists_pass_through_whatever_the_tokenizer():
    tokens = ("ab", "c")
    assert split_tokens(tokens, "chars") == ["ab", "c"]
    assert split_tokens(["x"], "bpe") == ["x"], "a token list needs no tokenizer"


def test_a_callable_tokenizer_is_used_as_is():
    assert split_tokens("a-b-c", lambda s: s.split("-")) == ["a", "b", "c"]
    check_tokenizer(str.split)


def test_unknown_tokenizer_names_the_value_and_the_choices():
    with pytest.raises(ValueError) as error:
        split_tokens("abc", "bpe")
    message = str(error.value)
    assert message.startswith("translate.tokenizer: got 'bpe'")
    for name in (*TOKENIZERS, *ALIASES):
        assert repr(name) in message
    with pytest.raises(ValueError, match=r"^cli\.tokenizer: got 'space'"):
        check_tokenizer("space", owner="cli")
