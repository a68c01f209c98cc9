"""Bad arguments (Lightning side): ``ValueError`` at construction or call time,
naming the argument, the value and what is allowed. ``Seq2SeqConfig`` and ``TeacherForcing``
fields are covered field by field in tests/core; here the arguments of ``LitSeq2Seq`` and
``translate``, checked before any work is done."""

from __future__ import annotations

import math
from typing import Any

import pytest

from datamodules import Vocab
from lit_seq2seq import LitSeq2Seq

VOCAB = Vocab.build([["a", "b", "c"]])
TINY = {"embedding_dim": 8, "hidden_size": 8}


def assert_names(err: pytest.ExceptionInfo[ValueError], owner_and_name: str, value: Any, allowed: str) -> None:
    message = str(err.value)
    assert f"{owner_and_name}: got {value!r}" in message, message
    assert allowed in message, message


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("lr", 0, "a number in (0.0, inf)"),
        ("lr", -1e-3, "a number in (0.0, inf)"),
        ("lr", math.nan, "a number in (0.0, inf)"),
        ("lr", math.inf, "a number in (0.0, inf)"),
        ("lr", "1e-3", "a number in (0.0, inf)"),
        ("weight_decay", -0.1, "a number in [0.0, inf)"),
        ("weight_decay", math.nan, "a number in [0.0, inf)"),
        ("warmup_steps", -1, "an integer >= 0"),
        ("warmup_steps", 2.5, "an integer >= 0"),
        ("warmup_steps", True, "an integer >= 0"),
        ("seed", -1, "an integer >= 0"),
        ("seed", 1.0, "an integer >= 0"),
        ("compile", "yes", "True or False"),
    ],
)
def test_lit_seq2seq_arguments(name: str, value: Any, allowed: str) -> None:
    with pytest.raises(ValueError) as err:
        LitSeq2Seq(VOCAB, VOCAB, TINY, **{name: value})
    assert_names(err, f"LitSeq2Seq.{name}", value, allowed)


@pytest.mark.parametrize(
    ("argument", "value", "qualified", "allowed"),
    [
        ("config", {**TINY, "cell": "rnn"}, "Seq2SeqConfig.cell", "'gru', 'lstm'"),
        ("config", {**TINY, "dropout": 1.0}, "Seq2SeqConfig.dropout", "[0.0, 1.0)"),
        ("teacher_forcing", {"start": 1.5}, "TeacherForcing.start", "[0.0, 1.0]"),
        ("teacher_forcing", {"schedule": "exponential", "k": 2.0}, "TeacherForcing.k", "(0.0, 1.0)"),
        ("teacher_forcing", {"passes": 0}, "TeacherForcing.passes", "an integer >= 1"),
    ],
)
def test_config_and_schedule_given_as_dicts(argument: str, value: dict, qualified: str, allowed: str) -> None:
    field = qualified.split(".")[1]
    with pytest.raises(ValueError) as err:
        LitSeq2Seq(VOCAB, VOCAB, **{"config": TINY, argument: value})
    assert_names(err, qualified, value[field], allowed)


def test_unknown_dict_keys_are_named() -> None:
    with pytest.raises(ValueError, match=r"unknown key\(s\) 'ratio'; allowed keys are .*start"):
        LitSeq2Seq(VOCAB, VOCAB, TINY, {"ratio": 0.5})


def test_bad_vocabularies_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match=r"the first tokens must be \['<pad>', '<bos>', '<eos>', '<unk>'\]"):
        LitSeq2Seq(["a", "b"], VOCAB, TINY)
    with pytest.raises(ValueError, match=r"duplicate tokens \['a'\]"):
        LitSeq2Seq(VOCAB, [*VOCAB.tokens, "a"], TINY)


@pytest.fixture(scope="module")
def model() -> LitSeq2Seq:
    return LitSeq2Seq(VOCAB, VOCAB, TINY)


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("strategy", "topk", "'greedy', 'sample', 'beam'"),
        ("beam_width", 0, "an integer >= 1"),
        ("length_penalty", -0.5, "a number in [0.0, 10.0]"),
        ("temperature", 0.0, "a number in (0.0, inf)"),
        ("top_k", 0, "an integer >= 1"),
        ("max_length", 0, "an integer >= 1"),
        ("return_attention", "yes", "True or False"),
        ("tokenizer", "bpe", "'whitespace', 'chars'"),
        ("batch_size", 0, "an integer >= 1"),
        ("seed", -3, "an integer >= 0"),
    ],
)
def test_translate_arguments_are_checked_before_any_decoding(
    model: LitSeq2Seq, name: str, value: Any, allowed: str
) -> None:
    with pytest.raises(ValueError) as err:
        model.translate([], **{name: value})  # nothing to decode: the check must not depend on the input
    assert_names(err, f"translate.{name}", value, allowed)


def test_translate_refuses_a_string_where_a_list_of_sources_belongs(model: LitSeq2Seq) -> None:
    with pytest.raises(ValueError) as err:
        model.translate("a b")  # would otherwise decode each character as a source
    assert_names(err, "translate.sources", "a b", "a list of sources")


def test_valid_translate_arguments_pass(model: LitSeq2Seq) -> None:
    out = model.translate(["a b"], strategy="beam", beam_width=2, length_penalty=0.6, max_length=3, batch_size=1)
    assert len(out) == 1 and len(out[0]) <= 3 and all(token in model.tgt_vocab.tokens for token in out[0])
    assert model.translate([], strategy="sample", temperature=0.5, top_k=2, seed=0) == []
