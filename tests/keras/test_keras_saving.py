"""Saving: ``.keras`` round trip in a fresh process, ModelCheckpoint, BackupAndRestore, TensorBoard."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

import keras
from keras_seq2seq import Seq2SeqModel
from seq2seq_fit import TeacherForcing
from tests.helpers.keras import run_in_subprocess, run_model_saving_test, tiny_model, to_numpy, toy_data

SOURCES = ["I feel hungry", "tensorflow is very difficult", "tensorflow is a framework"]


def trained_model(epochs: int = 30) -> Seq2SeqModel:
    data = toy_data()
    tf = TeacherForcing(schedule="linear", start=1.0, end=0.5, decay_steps=20, granularity="sequence")
    model = tiny_model(data, tf, attention="bahdanau", cell="lstm", bidirectional=True, seed=7)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(data.train(), epochs=epochs, verbose=0)
    return model


def test_keras_file_round_trip_in_a_fresh_process(tmp_path: Path) -> None:
    model = trained_model()
    seen = run_model_saving_test(model, tmp_path / "model.keras", SOURCES)
    assert seen["translations"] == model.translate(SOURCES)
    assert seen["config"] == model.config.to_dict()
    assert seen["teacher_forcing"] == model.teacher_forcing.to_dict()
    assert seen["src_vocab"] == model.src_vocab.tokens and seen["tgt_vocab"] == model.tgt_vocab.tokens
    assert seen["iterations"] == 30, "optimizer state restored"
    assert seen["seed_states"] == [to_numpy(v).tolist() for v in model.seed_states()], "coin RNG restored"
    assert seen["warnings"] == []


def test_a_keras_file_saved_before_the_system_file_was_renamed_loads(tmp_path: Path) -> None:
    """``.keras`` files written when ``Seq2SeqModel`` lived in ``keras_seq2seq.seq2seq_model`` name that module in
    their config; they load by the registered name ``keras_seq2seq>Seq2SeqModel``, safe loading included."""
    from keras_seq2seq import load_model

    model = tiny_model(toy_data(), hidden_size=8, embedding_dim=8)
    model.save(tmp_path / "new.keras")
    old = tmp_path / "old.keras"
    with zipfile.ZipFile(tmp_path / "new.keras") as source, zipfile.ZipFile(old, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "config.json":
                config = json.loads(data)
                assert config["module"] == "keras_seq2seq.system"
                assert config["registered_name"] == "keras_seq2seq>Seq2SeqModel"
                data = json.dumps({**config, "module": "keras_seq2seq.seq2seq_model"}).encode()
            target.writestr(info, data)
    loaded = load_model(old)
    assert type(loaded) is Seq2SeqModel
    for mine, theirs in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_fit_continues_after_loading_without_warnings(tmp_path: Path) -> None:
    model = trained_model(epochs=5)
    path = tmp_path / "model.keras"
    model.save(path)
    out = run_in_subprocess(f"""
        import json, logging, warnings
        import keras
        import keras_seq2seq
        from datamodules.keras import KerasData
        model = keras.models.load_model({str(path)!r})
        data = KerasData("toy", batch_size=4, src_vocab=model.src_vocab, tgt_vocab=model.tgt_vocab)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            history = model.fit(data.train(), epochs=2, verbose=0).history
        print(json.dumps({{
            "tf_ratio": history["tf_ratio"],
            "iterations": int(keras.ops.convert_to_numpy(model.optimizer.iterations.value)),
            "warnings": [str(w.message) for w in caught if not issubclass(w.category, DeprecationWarning)],
        }}))
    """)
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["warnings"] == []
    assert seen["iterations"] == 7
    tf = model.teacher_forcing
    assert seen["tf_ratio"] == pytest.approx([tf.ratio(5), tf.ratio(6)]), "the schedule continues from step 5"


def test_model_checkpoint_and_tensorboard(tmp_path: Path) -> None:
    data = toy_data()
    model = tiny_model(data, TeacherForcing(start=0.8))
    model.compile(optimizer="adam")
    callbacks = [
        keras.callbacks.ModelCheckpoint(str(tmp_path / "best.keras"), monitor="val_exact_match", mode="max"),
        keras.callbacks.TensorBoard(log_dir=str(tmp_path / "logs")),
    ]
    model.fit(data.train(), epochs=2, verbose=0, validation_data=data.val(), callbacks=callbacks)
    restored = keras.models.load_model(tmp_path / "best.keras")
    assert restored.translate(SOURCES) == model.translate(SOURCES)
    events = list((tmp_path / "logs").rglob("events.out.tfevents.*"))
    assert events, "TensorBoard wrote no event files"


class FailOnce(keras.callbacks.Callback):
    """Raise in the middle of epoch ``epoch`` (once)."""

    def __init__(self, epoch: int, batch: int) -> None:
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, 0
        self.fired = False

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.current = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if not self.fired and self.current == self.epoch and batch == self.batch:
            self.fired = True
            raise RuntimeError("simulated crash")


def test_backup_and_restore_resumes_after_an_exception(tmp_path: Path) -> None:
    data = toy_data(batch_size=2)  # 2 steps per epoch
    tf = TeacherForcing(schedule="linear", start=1.0, end=0.0, decay_steps=10)
    model = tiny_model(data, tf, seed=3)
    model.compile(optimizer="adam")
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    with pytest.raises(RuntimeError, match="simulated crash"):
        model.fit(data.train(), epochs=4, verbose=0, callbacks=[backup, FailOnce(epoch=2, batch=0)])
    completed = [to_numpy(w) for w in model.weights]

    resumed = tiny_model(data, tf, seed=3)  # a new process would start from a fresh model
    resumed.compile(optimizer="adam")
    history = resumed.fit(data.train(), epochs=4, verbose=0, callbacks=[backup])
    assert history.epoch == [2, 3], "resumes at the epoch that crashed"
    assert int(to_numpy(resumed.optimizer.iterations)) == 8
    assert history.history["tf_ratio"] == pytest.approx([np.mean([tf.ratio(i) for i in s]) for s in ((4, 5), (6, 7))])
    assert any(not np.array_equal(a, to_numpy(b)) for a, b in zip(completed, resumed.weights, strict=True))
