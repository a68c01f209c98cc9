"""``AtomicModelCheckpoint`` never leaves a half-written checkpoint.

A failure is injected in the middle of a save (after ``config.json`` and part of the weights are
in the zip): Keras' own ``ModelCheckpoint`` then leaves a broken file where the previous
checkpoint was; ``AtomicModelCheckpoint`` leaves the previous checkpoint intact and no temporary
file behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import keras
from datamodules.keras import KerasData
from keras_seq2seq import AtomicModelCheckpoint, Seq2SeqModel, load_model
from seq2seq_fit import Seq2SeqConfig

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


class InjectedFailure(OSError):
    pass


class WeightsAtEpochEnd(keras.callbacks.Callback):  # type: ignore[misc]
    """Copies of the weights at each epoch end (placed before the checkpoint callback)."""

    def __init__(self) -> None:
        super().__init__()
        self.weights: list[list[np.ndarray]] = []

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.weights.append([keras.ops.convert_to_numpy(v) for v in self.model.weights])


def fail_on_save(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    """Make the ``n``-th save of a ``Seq2SeqModel`` fail while its weights are being written."""
    original = Seq2SeqModel.save_own_variables
    calls = {"n": 0}

    def save_own_variables(self: Seq2SeqModel, store: Any) -> None:
        calls["n"] += 1
        original(self, store)
        if calls["n"] == n:
            raise InjectedFailure(28, "No space left on device (injected)")

    monkeypatch.setattr(Seq2SeqModel, "save_own_variables", save_own_variables)


def train_with(checkpoint: keras.callbacks.Callback) -> WeightsAtEpochEnd:
    data = KerasData("toy", batch_size=4)
    model = Seq2SeqModel(data.src_vocab, data.tgt_vocab, Seq2SeqConfig(hidden_size=16, embedding_dim=8), seed=0)
    model.compile(optimizer="adam", run_eagerly=True)
    recorder = WeightsAtEpochEnd()
    with pytest.raises(InjectedFailure):
        model.fit(data.train(), epochs=2, verbose=0, callbacks=[recorder, checkpoint])
    return recorder


@pytest.mark.parametrize("name", ["last.keras", "last.weights.h5"])
def test_a_failed_save_leaves_the_previous_checkpoint_and_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    fail_on_save(monkeypatch, n=2)
    path = tmp_path / name
    recorder = train_with(AtomicModelCheckpoint(path, save_weights_only=name.endswith(".weights.h5")))
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    monkeypatch.undo()
    if name.endswith(".keras"):
        model = load_model(path)
    else:
        data = KerasData("toy", batch_size=4)
        model = Seq2SeqModel(data.src_vocab, data.tgt_vocab, Seq2SeqConfig(hidden_size=16, embedding_dim=8))
        model.compile(optimizer="adam", run_eagerly=True)
        model.optimizer.build(model.trainable_variables)
        model.load_weights(path)
    for saved, expected in zip(model.weights, recorder.weights[0], strict=True):  # the epoch-1 checkpoint
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(saved), expected)


def test_keras_model_checkpoint_loses_the_previous_checkpoint_in_the_same_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reason for ``AtomicModelCheckpoint``: Keras 3 writes the zip in place."""
    fail_on_save(monkeypatch, n=2)
    path = tmp_path / "last.keras"
    train_with(keras.callbacks.ModelCheckpoint(path))
    monkeypatch.undo()
    with pytest.raises(Exception):  # noqa: B017 (any error: the file is broken)
        load_model(path)


def test_a_successful_save_replaces_the_file_and_removes_stale_temporaries(tmp_path: Path) -> None:
    data = KerasData("toy", batch_size=4)
    model = Seq2SeqModel(data.src_vocab, data.tgt_vocab, Seq2SeqConfig(hidden_size=16, embedding_dim=8), seed=0)
    model.compile(optimizer="adam", run_eagerly=True)
    path = tmp_path / "ckpt" / "epoch{epoch}.keras"
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / ".epoch2.keras.tmp-abc123.keras").write_bytes(b"PK")  # left by a killed writer
    model.fit(data.train(), epochs=2, verbose=0, callbacks=[AtomicModelCheckpoint(str(path))])
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["epoch1.keras", "epoch2.keras"]
    assert int(keras.ops.convert_to_numpy(load_model(tmp_path / "ckpt" / "epoch2.keras").optimizer.iterations)) > 0
