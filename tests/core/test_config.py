"""Seq2SeqConfig: validation names the field, the value and what is allowed; dict round trips."""

from types import MappingProxyType

import pytest

from seq2seq_fit import Seq2SeqConfig, TeacherForcing, as_config, as_teacher_forcing


def test_defaults_are_valid_and_round_trip():
    cfg = Seq2SeqConfig()
    assert Seq2SeqConfig.from_dict(cfg.to_dict()) == cfg
    assert all(isinstance(v, (str, int, float, bool)) for v in cfg.to_dict().values())


def test_round_trip_of_non_default_config():
    cfg = Seq2SeqConfig(cell="lstm", num_layers=2, bidirectional=True, hidden_size=64, attention="bahdanau")
    assert Seq2SeqConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.encoder_units == 32


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("cell", "rnn", "'gru', 'lstm'"),
        ("attention", "dot", "'bahdanau', 'luong', 'none'"),
        ("luong_score", "concat", "'dot', 'general'"),
        ("embedding_dim", 0, ">= 1"),
        ("hidden_size", -3, ">= 1"),
        ("num_layers", 1.5, ">= 1"),
        ("dropout", 1.0, "[0.0, 1.0)"),
        ("dropout", -0.1, "[0.0, 1.0)"),
        ("label_smoothing", float("nan"), "[0.0, 1.0)"),
        ("bidirectional", "yes", "True or False"),
        ("tie_embeddings", 1, "True or False"),
    ],
)
def test_invalid_values_name_field_value_and_allowed(field, value, allowed):
    with pytest.raises(ValueError) as err:
        Seq2SeqConfig(**{field: value})
    message = str(err.value)
    assert f"Seq2SeqConfig.{field}" in message
    assert repr(value) in message
    assert allowed in message


def test_bidirectional_needs_even_hidden_size():
    with pytest.raises(ValueError, match="hidden_size must be even"):
        Seq2SeqConfig(bidirectional=True, hidden_size=33)


def test_tied_embeddings_need_matching_sizes():
    with pytest.raises(ValueError, match="embedding_dim=32 and hidden_size=64"):
        Seq2SeqConfig(tie_embeddings=True, embedding_dim=32, hidden_size=64)
    assert Seq2SeqConfig(tie_embeddings=True, embedding_dim=64, hidden_size=64).tie_embeddings


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match=r"unknown key.*'hiden_size'"):
        Seq2SeqConfig.from_dict({"hiden_size": 10})
    with pytest.raises(TypeError):
        Seq2SeqConfig.from_dict(["cell"])  # type: ignore[arg-type]


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        Seq2SeqConfig().cell = "lstm"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("coerce", "cls"), [(as_config, Seq2SeqConfig), (as_teacher_forcing, TeacherForcing)], ids=["config", "tf"]
)
def test_as_config_and_as_teacher_forcing_take_objects_dicts_and_read_only_mappings(coerce, cls):
    """The core's coercion; both systems building from it: tests/parity/test_parity_arguments.py."""
    assert coerce(None) == cls()
    value = cls()
    assert coerce(value) is value
    assert coerce(value.to_dict()) == value
    assert coerce(MappingProxyType(value.to_dict())) == value, "any mapping, such as a read-only hparams view"
    with pytest.raises(ValueError, match=rf"^Model\.x: got 'big', expected a {cls.__name__}, a dict of its fields"):
        coerce("big", name="Model.x")
    with pytest.raises(ValueError, match=r"unknown key\(s\) 'bogus'"):
        coerce({"bogus": 1})
