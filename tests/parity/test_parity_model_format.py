"""One model directory, two peers: what one side saves the other loads, with the same logits and
the same greedy and beam outputs; a directory that does not hold that model is refused by both."""

from __future__ import annotations

import json
import os
import re
import shutil

import numpy as np
import pytest

from keras_seq2seq.pretrained import keras_slots, set_keras_slots
from keras_seq2seq.system import Seq2SeqModel
from lit_seq2seq import LitSeq2Seq
from seq2seq_fit.model_format import ModelFormatError
from seq2seq_fit.vocab import EOS_ID
from tests.helpers.keras import BACKEND
from tests.helpers.parity import BACKEND_CASES, CASES, TOKENS, keras_logits, lit_logits, lit_model, source_tokens

#: Largest |logit difference| accepted between the frameworks (fp32 on CPU).
TOLERANCE = 1e-4
BEAM = {"strategy": "beam", "beam_width": 3, "length_penalty": 0.6, "max_length": 8}
LOADERS = {"lightning": LitSeq2Seq, "keras": Seq2SeqModel}


def keras_model(config: dict, seed: int = 0) -> Seq2SeqModel:
    """A Keras model with every weight drawn from ``U(-0.8, 0.8)`` and the ``<eos>`` bias lowered by
    1, like ``tests.helpers.parity.lit_model`` (outputs that vary with the source)."""
    model = Seq2SeqModel(TOKENS, TOKENS, config, {"schedule": "linear", "decay_steps": 50}, seed=seed)
    rng = np.random.default_rng(seed)
    slots = {
        slot: [rng.uniform(-0.8, 0.8, a.shape).astype(np.float32) for a in arrays]
        for slot, arrays in keras_slots(model.model).items()
    }
    output_bias = slots["decoder.output_bias"][0] if model.config.tie_embeddings else slots["decoder.out"][1]
    output_bias[EOS_ID] -= 1.0
    set_keras_slots(model.model, slots)
    return model


def assert_same_outputs(lit: LitSeq2Seq, model: Seq2SeqModel) -> None:
    sources = source_tokens()
    assert model.translate(sources, strategy="greedy") == lit.translate(sources, strategy="greedy")
    assert model.translate(sources, **BEAM) == lit.translate(sources, **BEAM)


def record(logit_differences: dict, key: str, lit: LitSeq2Seq, model: Seq2SeqModel) -> float:
    expected, actual = lit_logits(lit), keras_logits(model)
    assert actual.shape == expected.shape == (3, 6, len(TOKENS))
    diff = float(np.abs(actual - expected).max())
    logit_differences[key] = diff
    print(f"{BACKEND} {key}: max |logit difference| {diff:.3e}")
    return diff


@pytest.mark.parametrize("case", BACKEND_CASES)
def test_saved_by_lightning_loads_in_keras(case, tmp_path, logit_differences):
    lit = lit_model(CASES[case], seed=3)
    lit.save_pretrained(tmp_path / "model")
    model = Seq2SeqModel.from_pretrained(tmp_path / "model")
    assert model.config == lit.config and model.teacher_forcing == lit.teacher_forcing
    assert model.src_vocab.tokens == lit.src_vocab.tokens and model.tgt_vocab.tokens == lit.tgt_vocab.tokens
    assert model.seed == 3
    assert record(logit_differences, f"{case} lit>keras", lit, model) <= TOLERANCE
    assert_same_outputs(lit, model)


@pytest.mark.parametrize("case", BACKEND_CASES)
def test_saved_by_keras_loads_in_lightning(case, tmp_path, logit_differences):
    model = keras_model(CASES[case], seed=5)
    model.save_pretrained(tmp_path / "model")
    lit = LitSeq2Seq.from_pretrained(tmp_path / "model", lr=3e-4).eval()
    assert lit.config == model.config and lit.teacher_forcing == model.teacher_forcing
    assert lit.src_vocab.tokens == model.src_vocab.tokens and lit.tgt_vocab.tokens == model.tgt_vocab.tokens
    assert lit.hparams["seed"] == 5 and lit.hparams["lr"] == 3e-4
    assert record(logit_differences, f"{case} keras>lit", lit, model) <= TOLERANCE
    assert_same_outputs(lit, model)


def test_lightning_to_keras_to_lightning_keeps_every_tensor_but_the_lstm_bias_split(tmp_path):
    """GRU weights survive exactly; an LSTM's ``bias_ih + bias_hh`` survives as ``bias_ih`` (Keras
    keeps one bias), with ``bias_hh = 0``: the same model."""
    for case in ("gru-bahdanau-bi", "lstm-luong-general-uni"):
        lit = lit_model(CASES[case])
        lit.save_pretrained(tmp_path / case)
        Seq2SeqModel.from_pretrained(tmp_path / case).save_pretrained(tmp_path / f"{case}-back")
        back = LitSeq2Seq.from_pretrained(tmp_path / f"{case}-back").eval()
        want, got = lit.model.state_dict(), back.model.state_dict()
        assert sorted(got) == sorted(want)
        for key in want:
            if lit.config.cell == "lstm" and ".bias_" in key and ".rnn." in key:
                partner = key.replace("bias_hh", "bias_ih") if "bias_hh" in key else key
                if "bias_hh" in key:
                    assert not got[key].any(), key
                else:
                    total = want[partner] + want[partner.replace("bias_ih", "bias_hh")]
                    np.testing.assert_allclose(got[key].numpy(), total.numpy(), atol=1e-6, err_msg=key)
            else:
                assert np.array_equal(got[key].numpy(), want[key].numpy()), key
        np.testing.assert_allclose(lit_logits(back), lit_logits(lit), atol=1e-5)


# ------------------------------------------------------------------------------------- refusals


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A GRU model saved by Lightning, and a wider one (hidden size 32) saved by Keras."""
    root = tmp_path_factory.mktemp("saved")
    lit_model(CASES["gru-luong-general-uni"]).save_pretrained(root / "small")
    Seq2SeqModel(TOKENS, TOKENS, {**CASES["gru-luong-general-uni"], "hidden_size": 32}).save_pretrained(root / "wide")
    return root


def fresh_copy(saved, tmp_path) -> str:
    return shutil.copytree(saved / "small", tmp_path / "model")


@pytest.mark.backend_independent  # the refusals come from the core, before any backend arithmetic
@pytest.mark.parametrize("loader", list(LOADERS))
def test_a_directory_mixing_two_configs_is_refused(loader, saved, tmp_path):
    directory = fresh_copy(saved, tmp_path)
    shutil.copy(saved / "wide" / "config.json", directory)
    weights = os.path.join(directory, "model.safetensors")
    with pytest.raises(ModelFormatError, match=re.escape(f"{weights}: ")) as err:
        LOADERS[loader].from_pretrained(directory)
    message = str(err.value)
    assert "encoder.embedding.weight" not in message  # hidden size 32: the embeddings still fit
    assert "bridge.weight has shape (16, 16), expected (32, 32)" in message
    assert message.endswith("for the config and vocab.json")


@pytest.mark.backend_independent
@pytest.mark.parametrize("loader", list(LOADERS))
def test_a_directory_with_another_vocabulary_is_refused(loader, saved, tmp_path):
    directory = fresh_copy(saved, tmp_path)
    with open(os.path.join(directory, "vocab.json"), "w") as f:
        json.dump({"source": TOKENS, "target": TOKENS[:-1]}, f)
    weights = os.path.join(directory, "model.safetensors")
    with pytest.raises(ModelFormatError) as err:
        LOADERS[loader].from_pretrained(directory)
    assert str(err.value) == (
        f"{weights}: decoder.embedding.weight has shape (20, 8), expected (19, 8); "
        "decoder.out.weight has shape (20, 16), expected (19, 16); "
        "decoder.out.bias has shape (20,), expected (19,) for the config and vocab.json"
    )


@pytest.mark.backend_independent
@pytest.mark.parametrize("loader", list(LOADERS))
@pytest.mark.parametrize("name", ["config.json", "vocab.json", "model.safetensors"])
def test_a_missing_file_is_refused(loader, name, saved, tmp_path):
    directory = fresh_copy(saved, tmp_path)
    os.remove(os.path.join(directory, name))
    with pytest.raises(ModelFormatError) as err:
        LOADERS[loader].from_pretrained(directory)
    assert str(err.value) == (
        f"{os.path.join(directory, name)}: missing; a model directory holds config.json, vocab.json and "
        "model.safetensors"
    )


@pytest.mark.backend_independent
@pytest.mark.parametrize("loader", list(LOADERS))
def test_an_unknown_format_version_is_refused(loader, saved, tmp_path):
    directory = fresh_copy(saved, tmp_path)
    path = os.path.join(directory, "config.json")
    with open(path) as f:
        header = json.load(f)
    with open(path, "w") as f:
        json.dump({**header, "format_version": 2}, f)
    with pytest.raises(ModelFormatError, match=re.escape(f"{path}: format_version 2 is not supported")):
        LOADERS[loader].from_pretrained(directory)
