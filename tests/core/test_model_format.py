"""The model directory: a round trip keeps everything, and every malformed directory is refused
with a message naming the file (and the tensor)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from seq2seq_fit import Seq2SeqConfig, TeacherForcing
from seq2seq_fit.model_format import (
    FORMAT_VERSION,
    ModelFormatError,
    PretrainedModel,
    load_pretrained,
    save_pretrained,
)
from seq2seq_fit.weight_layout import canonical_shapes

SRC = ["<pad>", "<bos>", "<eos>", "<unk>", "a", "b", "c"]
TGT = ["<pad>", "<bos>", "<eos>", "<unk>", "x", "y", "z", "é"]
CONFIG = Seq2SeqConfig(
    cell="lstm", attention="bahdanau", bidirectional=True, num_layers=2, hidden_size=6, embedding_dim=4
)
TEACHER_FORCING = TeacherForcing(schedule="linear", decay_steps=50)


def random_weights(config: Seq2SeqConfig = CONFIG, src: int = len(SRC), tgt: int = len(TGT)) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        key: rng.standard_normal(shape).astype(np.float32) for key, shape in canonical_shapes(config, src, tgt).items()
    }


@pytest.fixture
def saved(tmp_path):
    """A model directory named ``model`` (the messages name ``.../model/<file>``)."""
    directory = tmp_path / "model"
    save_pretrained(
        directory,
        config=CONFIG,
        teacher_forcing=TEACHER_FORCING,
        src_vocab=SRC,
        tgt_vocab=TGT,
        weights=random_weights(),
        extra={"seed": 7},
    )
    return directory


def test_round_trip_keeps_config_vocabularies_weights_and_extra(saved):
    loaded = load_pretrained(saved)
    assert isinstance(loaded, PretrainedModel)
    assert loaded.config == CONFIG and loaded.teacher_forcing == TEACHER_FORCING
    assert loaded.src_vocab.tokens == SRC and loaded.tgt_vocab.tokens == TGT
    assert loaded.extra == {"seed": 7}
    expected = random_weights()
    assert sorted(loaded.weights) == sorted(expected)
    for key, value in expected.items():
        assert loaded.weights[key].dtype == np.float32
        np.testing.assert_array_equal(loaded.weights[key], value, err_msg=key)


def test_files_are_plain_json_and_safetensors(saved):
    header = json.loads((saved / "config.json").read_text())
    listed = header.pop("files")  # each other file's size and sha256, which load_pretrained checks
    assert sorted(listed) == ["model.safetensors", "tokenizer_config.json", "vocab.json"]
    assert listed["vocab.json"]["bytes"] == (saved / "vocab.json").stat().st_size
    assert header == {
        "format_version": FORMAT_VERSION,
        "config": CONFIG.to_dict(),
        "teacher_forcing": TEACHER_FORCING.to_dict(),
        "extra": {"seed": 7},
    }
    assert json.loads((saved / "vocab.json").read_text(encoding="utf-8")) == {"source": SRC, "target": TGT}
    assert sorted(load_file(saved / "model.safetensors")) == sorted(canonical_shapes(CONFIG, len(SRC), len(TGT)))


def test_saving_again_replaces_the_files_and_leaves_no_temporaries(saved):
    weights = {key: value + 1 for key, value in random_weights().items()}
    save_pretrained(
        saved, config=CONFIG, teacher_forcing=TEACHER_FORCING, src_vocab=SRC, tgt_vocab=TGT, weights=weights
    )
    assert sorted(p.name for p in saved.iterdir()) == [
        "config.json",
        "model.safetensors",
        "tokenizer_config.json",
        "vocab.json",
    ]
    loaded = load_pretrained(saved)
    np.testing.assert_array_equal(loaded.weights["decoder.out.bias"], weights["decoder.out.bias"])
    assert loaded.extra == {}


def test_saving_weights_that_do_not_fit_is_refused(tmp_path):
    weights = random_weights()
    weights["decoder.out.bias"] = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=re.escape("decoder.out.bias has shape (3,), expected (8,)")):
        save_pretrained(
            tmp_path, config=CONFIG, teacher_forcing=TEACHER_FORCING, src_vocab=SRC, tgt_vocab=TGT, weights=weights
        )
    assert not (tmp_path / "model.safetensors").exists()
    with pytest.raises(ValueError, match=r"save_pretrained.extra: got \{'f': <built-in"):
        save_pretrained(
            tmp_path,
            config=CONFIG,
            teacher_forcing=TEACHER_FORCING,
            src_vocab=SRC,
            tgt_vocab=TGT,
            weights=random_weights(),
            extra={"f": print},
        )


def test_not_a_directory_is_refused(tmp_path):
    with pytest.raises(ModelFormatError, match=re.escape(f"{tmp_path / 'nowhere'}: not a model directory")):
        load_pretrained(tmp_path / "nowhere")
    (tmp_path / "file").write_text("")
    with pytest.raises(ModelFormatError, match=re.escape(f"{tmp_path / 'file'}: not a model directory (a file)")):
        load_pretrained(tmp_path / "file")


@pytest.mark.parametrize("name", ["config.json", "vocab.json", "model.safetensors"])
def test_a_missing_file_is_named(saved, name):
    (saved / name).unlink()
    expected = f"{saved / name}: missing; a model directory holds config.json, vocab.json and model.safetensors"
    with pytest.raises(ModelFormatError) as err:
        load_pretrained(saved)
    assert str(err.value) == expected


@pytest.mark.parametrize("name", ["config.json", "vocab.json"])
def test_bad_json_is_refused(saved, name):
    (saved / name).write_text('{"format_version": 1,')
    with pytest.raises(ModelFormatError, match=re.escape(f"{saved / name}: not valid JSON (")):
        load_pretrained(saved)


def test_a_json_file_of_the_wrong_shape_is_refused(saved):
    (saved / "vocab.json").write_text(json.dumps({"source": SRC}))
    with pytest.raises(ModelFormatError, match=re.escape(f"{saved / 'vocab.json'}: no 'target' entry")):
        load_pretrained(saved)
    (saved / "vocab.json").write_text(json.dumps({"source": SRC[1:], "target": TGT}))
    with pytest.raises(ModelFormatError, match=re.escape(f"{saved / 'vocab.json'}: 'source': Vocab: the first")):
        load_pretrained(saved)
    header = json.loads((saved / "config.json").read_text())
    (saved / "config.json").write_text(json.dumps({**header, "config": {**header["config"], "cell": "rnn"}}))
    with pytest.raises(ModelFormatError, match=re.escape(f"{saved / 'config.json'}: ")) as err:
        load_pretrained(saved)
    assert "'rnn'" in str(err.value)


@pytest.mark.parametrize("version", [2, 0, "1", None])
def test_an_unknown_format_version_is_refused(saved, version):
    header = json.loads((saved / "config.json").read_text())
    if version is None:
        del header["format_version"]
    else:
        header["format_version"] = version
    (saved / "config.json").write_text(json.dumps(header))
    expected = (
        f"{saved / 'config.json'}: format_version {version!r} is not supported; "
        "this version of seq2seq-fit reads format_version 1"
    )
    with pytest.raises(ModelFormatError, match=re.escape(expected)):
        load_pretrained(saved)


def test_a_mis_shaped_tensor_is_named(saved):
    weights = random_weights()
    weights["decoder.out.weight"] = weights["decoder.out.weight"][:-1]  # (7, 6) instead of (8, 6)
    save_file(weights, saved / "model.safetensors")
    expected = (
        f"{saved / 'model.safetensors'}: decoder.out.weight has shape (7, 6), expected (8, 6) "
        "for the config and vocab.json"
    )
    with pytest.raises(ModelFormatError) as err:
        load_pretrained(saved)
    assert str(err.value) == expected


def test_a_vocabulary_of_another_size_is_refused(saved):
    (saved / "vocab.json").write_text(json.dumps({"source": SRC, "target": TGT[:-1]}))
    with pytest.raises(ModelFormatError, match=re.escape("decoder.embedding.weight has shape (8, 4), expected (7, 4)")):
        load_pretrained(saved)


def test_a_config_of_another_size_is_refused(saved):
    header = json.loads((saved / "config.json").read_text())
    header["config"]["hidden_size"] = 8
    (saved / "config.json").write_text(json.dumps(header))
    with pytest.raises(ModelFormatError, match=re.escape(f"{saved / 'model.safetensors'}: ")) as err:
        load_pretrained(saved)
    assert "encoder.rnn.weight_ih_l0 has shape (12, 4), expected (16, 4)" in str(err.value)
    assert "and 26 more" in str(err.value) and len(str(err.value)) < 600  # one short line, not every tensor


def test_missing_unexpected_and_float64_tensors_are_named(saved):
    weights = random_weights()
    del weights["decoder.attention.v.weight"]
    weights["decoder.extra.weight"] = np.zeros((2, 3), np.float32)
    weights["bridge.bias"] = weights["bridge.bias"].astype(np.float64)
    save_file(weights, saved / "model.safetensors")
    with pytest.raises(ModelFormatError) as err:
        load_pretrained(saved)
    message = str(err.value)
    assert message.startswith(f"{saved / 'model.safetensors'}: ")
    assert "decoder.attention.v.weight is missing (expected shape (1, 6))" in message
    assert "unexpected tensor decoder.extra.weight (2, 3)" in message
    assert "bridge.bias has dtype float64, expected float32" in message


def test_a_corrupt_weights_file_is_refused(saved):
    (saved / "model.safetensors").write_bytes(b"\x00\x01not safetensors")
    with pytest.raises(ModelFormatError, match=re.escape(f"{saved / 'model.safetensors'}: not a readable safetensors")):
        load_pretrained(saved)
