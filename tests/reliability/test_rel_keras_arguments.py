"""Every invalid argument of ``Seq2SeqModel``, ``translate`` and ``KerasData`` is refused up front
with a ``ValueError`` naming the argument, the value and what is allowed."""

from __future__ import annotations

import re
from typing import Any

import pytest

from datamodules.keras import KerasData
from keras_seq2seq import Seq2SeqModel
from seq2seq_fit import Seq2SeqConfig

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


@pytest.fixture(scope="module")
def data() -> KerasData:
    return KerasData("toy", batch_size=4)


@pytest.fixture(scope="module")
def model(data: KerasData) -> Seq2SeqModel:
    return Seq2SeqModel(data.src_vocab, data.tgt_vocab, Seq2SeqConfig(hidden_size=16, embedding_dim=8), seed=0)


MODEL_CASES = [
    ({"config": {"hidden_size": 0}}, "hidden_size", "0", "integer >= 1"),
    ({"config": {"cell": "rnn"}}, "cell", "'rnn'", "'gru', 'lstm'"),
    ({"config": {"dropout": 1.0}}, "dropout", "1.0", "["),
    ({"config": {"attention": "dot"}}, "attention", "'dot'", "'bahdanau'"),
    ({"config": {"bogus": 1}}, "bogus", "bogus", "allowed keys"),
    ({"config": 5}, "config", "5", "Seq2SeqConfig"),
    ({"teacher_forcing": {"schedule": "cosine"}}, "schedule", "'cosine'", "'linear'"),
    ({"teacher_forcing": {"start": 1.5}}, "start", "1.5", "[0.0, 1.0]"),
    ({"teacher_forcing": {"decay_steps": 0}}, "decay_steps", "0", ">= 1"),
    ({"teacher_forcing": 3}, "teacher_forcing", "3", "TeacherForcing"),
    ({"seed": -1}, "seed", "-1", ">= 0"),
    ({"seed": "a"}, "seed", "'a'", "integer"),
    ({"src_vocab": None}, "src_vocab", "None", "Vocab"),
    ({"tgt_vocab": 5}, "tgt_vocab", "5", "Vocab"),
    ({"src_vocab": ["a"]}, "Vocab", "['a']", "<pad>"),
]


@pytest.mark.parametrize(("kwargs", "name", "value", "allowed"), MODEL_CASES, ids=[str(c[0]) for c in MODEL_CASES])
def test_seq2seq_model_refuses(data: KerasData, kwargs: dict[str, Any], name: str, value: str, allowed: str) -> None:
    arguments: dict[str, Any] = {"src_vocab": data.src_vocab, "tgt_vocab": data.tgt_vocab, **kwargs}
    with pytest.raises(ValueError) as error:
        Seq2SeqModel(**arguments)
    for part in (name, value, allowed):
        assert part in str(error.value), f"{part!r} not in {error.value}"


TRANSLATE_CASES = [
    ({"strategy": "nucleus"}, "strategy", "'nucleus'", "'greedy'"),
    ({"beam_width": 0}, "beam_width", "0", ">= 1"),
    ({"length_penalty": -1.0}, "length_penalty", "-1.0", "10.0"),
    ({"temperature": 0.0}, "temperature", "0.0", "inf"),
    ({"top_k": 0}, "top_k", "0", ">= 1"),
    ({"max_length": 0}, "max_length", "0", ">= 1"),
    ({"batch_size": 0}, "batch_size", "0", ">= 1"),
    ({"tokenizer": "bpe"}, "tokenizer", "'bpe'", "'whitespace'"),
    ({"return_attention": "yes"}, "return_attention", "'yes'", "True or False"),
    ({"seed": 1.5}, "seed", "1.5", "integer"),
    ({"sources": "one sentence"}, "sources", "'one sentence'", "list"),
]


@pytest.mark.parametrize(
    ("kwargs", "name", "value", "allowed"), TRANSLATE_CASES, ids=[str(c[0]) for c in TRANSLATE_CASES]
)
def test_translate_refuses_before_decoding(
    model: Seq2SeqModel, monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, Any], name: str, value: str, allowed: str
) -> None:
    def no_work(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("translate encoded or decoded before checking its arguments")

    monkeypatch.setattr(model.model, "encode", no_work)
    monkeypatch.setattr(model.src_vocab, "encode", no_work)
    arguments: dict[str, Any] = {"sources": [], **kwargs}
    with pytest.raises(ValueError, match=re.escape(name)) as error:
        model.translate(**arguments)
    for part in (value, allowed):
        assert part in str(error.value), f"{part!r} not in {error.value}"


DATA_CASES = [
    ({"batch_size": 0}, "batch_size", "0", ">= 1"),
    ({"batch_size": 2.5}, "batch_size", "2.5", "integer"),
    ({"pad_to_multiple": 0}, "pad_to_multiple", "0", ">= 1"),
    ({"corpus": 5}, "corpus", "5", "built-in name"),
    ({"corpus": "nosuchcorpus"}, "corpus", "'nosuchcorpus'", "built-in corpus"),
    ({"seed": -1}, "seed", "-1", ">= 0"),
]


@pytest.mark.parametrize(("kwargs", "name", "value", "allowed"), DATA_CASES, ids=[str(c[0]) for c in DATA_CASES])
def test_keras_data_refuses(kwargs: dict[str, Any], name: str, value: str, allowed: str) -> None:
    with pytest.raises(ValueError) as error:
        KerasData(**kwargs)
    for part in (name, value, allowed):
        assert part in str(error.value), f"{part!r} not in {error.value}"


def test_batch_sequence_seek_refuses_a_negative_step(data: KerasData) -> None:
    with pytest.raises(ValueError, match=r"seek: step: got -1, expected an integer >= 0"):
        data.train().seek(-1)
