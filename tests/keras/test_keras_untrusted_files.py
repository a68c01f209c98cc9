"""A ``.keras`` file from someone else: a config asking for a model bigger than its weights, a zip bomb,
NaN weights or a truncated file is refused quickly as one ModelFormatError naming the file, before Keras
builds the model (backend-independent: runs once, on the main test process's backend)."""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from keras_seq2seq import Seq2SeqModel
from keras_seq2seq.cli import main
from keras_seq2seq.safe_loading import load_model
from seq2seq_fit import limits
from seq2seq_fit.errors import ModelFormatError
from tests.helpers import error_line

TOKENS = ["<pad>", "<bos>", "<eos>", "<unk>", "a", "b", "c"]
CONFIG = {"hidden_size": 8, "embedding_dim": 4}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keras") / "model.keras"
    Seq2SeqModel(TOKENS, TOKENS, CONFIG).save(path)
    return path


def rewritten(source: Path, target: Path, **members: bytes) -> Path:
    """A copy of the archive ``source`` with ``members`` replaced or added (deflated)."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            if info.filename not in members:
                new.writestr(info.filename, old.read(info.filename))
        for name, data in members.items():
            new.writestr(name, data)
    return target


def with_config(saved: Path, target: Path, **settings: object) -> Path:
    with zipfile.ZipFile(saved) as archive:
        config = json.loads(archive.read("config.json"))
    config["config"]["config"].update(settings)
    return rewritten(saved, target, **{"config.json": json.dumps(config).encode()})


def refused(path: Path, match: str) -> str:
    start = time.perf_counter()
    with pytest.raises(ModelFormatError) as info:
        load_model(path)
    assert time.perf_counter() - start < 2
    message = str(info.value)
    assert str(path) in message and match in message, message
    assert "\n" not in message and len(message) < 600
    return message


@pytest.mark.parametrize(("hidden_size", "match"), [(6000, "model.weights.h5 holds"), (20_000, "MAX_PARAMETERS")])
def test_a_config_bigger_than_the_weights_is_refused_before_keras_builds_it(saved, tmp_path, hidden_size, match):
    refused(with_config(saved, tmp_path / "big.keras", hidden_size=hidden_size), match)


def test_a_zip_bomb_member_is_refused_unread(saved, tmp_path):
    bomb = rewritten(saved, tmp_path / "bomb.keras", **{"assets/padding.bin": bytes(4 * 2**20)})  # ratio ~1000
    refused(bomb, "MAX_COMPRESSION_RATIO")


def test_a_config_json_over_the_size_limit_is_refused_unread(saved, monkeypatch):
    monkeypatch.setattr(limits, "MAX_JSON_BYTES", 100)
    refused(saved, "config.json of")


def test_deeply_nested_config_json_is_refused(saved, tmp_path):
    deep = rewritten(saved, tmp_path / "deep.keras", **{"config.json": b"[" * 50_000 + b"]" * 50_000})
    refused(deep, "MAX_JSON_DEPTH")


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_weights_are_refused_naming_the_variable(tmp_path, value):
    model = Seq2SeqModel(TOKENS, TOKENS, CONFIG)
    variable = model.model.decoder.embedding.weights[0]
    array = np.array(variable.numpy())
    array[1, 1] = value
    variable.assign(array)
    path = tmp_path / "nan.keras"
    model.save(path)
    with pytest.raises(ModelFormatError, match="holds 1 NaN or infinite value"):
        load_model(path)


@pytest.mark.parametrize("keep", [0.5, 0.999])
def test_a_truncated_or_not_zip_keras_file_is_one_named_error(saved, tmp_path, capsys, keep):
    path = tmp_path / "cut.keras"
    data = saved.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    refused(path, "is not a .keras archive")
    line = error_line(main, ["translate", "--model", str(path), "a b"], capsys)
    assert line.startswith("keras-seq2seq translate: error: --model ") and str(path) in line


def test_a_sound_file_still_loads(saved):
    assert load_model(saved).tgt_vocab.tokens == TOKENS
