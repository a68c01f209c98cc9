"""Converters: exact round trips, files in both directions, and clear refusals."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from parity_helpers import CASES, CHILD_FLAG, TOKENS, keras_logits, lit_logits, lit_model, twins

from keras_seq2seq.from_lightning import from_lightning, keras_slots, set_keras_slots
from keras_seq2seq.seq2seq_model import Seq2SeqModel
from lit_seq2seq import LitSeq2Seq
from lit_seq2seq.from_keras import from_keras
from seq2seq_fit.weight_layout import keras_to_torch, torch_to_keras


def assert_same_state(expected: LitSeq2Seq, actual: LitSeq2Seq) -> None:
    want, got = expected.state_dict(), actual.state_dict()
    assert sorted(got) == sorted(want)
    different = [key for key in want if not torch.equal(want[key], got[key])]
    assert not different, f"tensors differ after the round trip: {different}"


@pytest.mark.parametrize("case", list(CASES))
def test_lightning_keras_lightning_reproduces_the_state_dict_exactly(case):
    lit, model = twins(CASES[case])
    assert model.config == lit.config and model.teacher_forcing == lit.teacher_forcing
    assert model.src_vocab.tokens == lit.src_vocab.tokens and model.tgt_vocab.tokens == lit.tgt_vocab.tokens
    assert_same_state(lit, from_keras(model, reference=lit))
    if lit.config.cell == "gru":  # GRU biases survive without a reference, too
        assert_same_state(lit, from_keras(model))


@pytest.mark.parametrize("case", ["lstm-luong-general-uni", "lstm-bahdanau-bi"])
def test_lstm_without_reference_is_the_same_model(case):
    lit, model = twins(CASES[case])
    back = from_keras(model)
    assert all(torch.count_nonzero(v) == 0 for k, v in back.state_dict().items() if "bias_hh" in k)
    np.testing.assert_allclose(lit_logits(back), lit_logits(lit), atol=1e-5)


def test_lstm_bias_trained_in_keras_keeps_the_sum():
    """A bias changed in Keras: ``b_hh`` stays the reference's, ``b_ih`` takes the rest."""
    lit, model = twins(CASES["lstm-none-bi"])
    layer = model.decoder.rnn_layers[0]
    kernel, recurrent, bias = layer.get_weights()
    bias[:5] += 0.25
    layer.set_weights([kernel, recurrent, bias])
    back = from_keras(model, reference=lit)
    state, original = back.state_dict(), lit.state_dict()
    assert torch.equal(state["model.decoder.rnn.bias_hh_l0"], original["model.decoder.rnn.bias_hh_l0"])
    assert torch.equal(state["model.decoder.rnn.bias_ih_l0"][5:], original["model.decoder.rnn.bias_ih_l0"][5:])
    np.testing.assert_allclose(lit_logits(back), keras_logits(model), atol=1e-4)


def test_layout_maps_are_inverse_on_random_arrays():
    config = lit_model(CASES["gru-bahdanau-bi"]).config
    state = {k[len("model.") :]: v.numpy() for k, v in lit_model(CASES["gru-bahdanau-bi"]).state_dict().items()}
    back = keras_to_torch(torch_to_keras(state, config, 20, 20), config)
    assert sorted(back) == sorted(state)
    assert all(np.array_equal(back[k], state[k]) for k in state)


def test_checkpoint_and_keras_files(tmp_path):
    lit = lit_model(CASES["lstm-luong-general-bi"])
    checkpoint = tmp_path / "model.ckpt"  # what Lightning stores: plain hyper-parameters + tensors
    torch.save({"state_dict": lit.state_dict(), "hyper_parameters": dict(lit.hparams)}, checkpoint)
    model = from_lightning(checkpoint)
    np.testing.assert_allclose(keras_logits(model), lit_logits(lit), atol=1e-4)
    model.save(tmp_path / "model.keras")
    back = from_keras(tmp_path / "model.keras", reference=lit, lr=3e-4)
    assert back.hparams["lr"] == 3e-4
    assert_same_state(lit, back)


def test_converting_into_existing_models():
    lit, model = twins(CASES["gru-luong-dot-uni"])
    other = Seq2SeqModel(TOKENS, TOKENS, lit.config)
    assert from_lightning(lit, model=other) is other
    np.testing.assert_array_equal(keras_logits(other), keras_logits(model))
    target = lit_model(CASES["gru-luong-dot-uni"], seed=1)
    assert from_keras(model, module=target) is target
    assert_same_state(lit, target)


def test_mismatched_config_is_refused():
    lit = lit_model(CASES["gru-luong-general-uni"])
    wider = Seq2SeqModel(TOKENS, TOKENS, {**lit.config.to_dict(), "hidden_size": 32})
    with pytest.raises(ValueError, match="hidden_size: 32 in the target model, 16 in the Lightning model"):
        from_lightning(lit, model=wider)
    other_vocab = Seq2SeqModel(TOKENS, TOKENS[:-1], lit.config)
    with pytest.raises(ValueError, match="tgt_vocab: 19 tokens in the target model, 20"):
        from_lightning(lit, model=other_vocab)
    lstm = lit_model(CASES["lstm-luong-general-uni"])
    with pytest.raises(ValueError, match="cell: 'lstm' in the target module, 'gru' in the Keras model"):
        from_keras(from_lightning(lit), module=lstm)


def test_weights_that_do_not_fit_the_vocabulary_are_refused(tmp_path):
    lit = lit_model(CASES["gru-none-uni"])
    hparams = {**dict(lit.hparams), "src_vocab": TOKENS[:-2]}
    checkpoint = tmp_path / "bad.ckpt"
    torch.save({"state_dict": lit.state_dict(), "hyper_parameters": hparams}, checkpoint)
    with pytest.raises(ValueError, match=r"encoder.embedding.weight: shape \(20, 8\), expected \(18, 8\)"):
        from_lightning(checkpoint)


def test_keras_slots_cover_every_trainable_weight():
    _, model = twins(CASES["lstm-bahdanau-uni"])
    slots = keras_slots(model)
    assert sum(len(v) for v in slots.values()) == len(model.trainable_weights)
    set_keras_slots(model, slots)  # writing back what was read changes nothing
    assert all(np.array_equal(a, b) for k in slots for a, b in zip(slots[k], keras_slots(model)[k], strict=True))


@pytest.mark.skipif(os.environ.get(CHILD_FLAG) == "1", reason="backend-independent; runs once")
@pytest.mark.parametrize(
    ("module", "absent"),
    [
        ("keras_seq2seq", ["torch", "lightning"]),
        ("lit_seq2seq", ["keras", "tensorflow", "jax"]),
        ("seq2seq_fit.weight_layout", ["torch", "keras", "tensorflow", "jax"]),
    ],
)
def test_converters_import_the_other_framework_lazily(module, absent):
    code = f"import sys, {module}; assert not [m for m in {absent!r} if m in sys.modules]"
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
