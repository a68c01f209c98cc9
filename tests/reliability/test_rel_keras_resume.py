"""Resume equivalence on the Keras side, TensorFlow backend, CPU.

Train 8 steps straight; train the same model from scratch, interrupt it after 4 steps (an epoch
boundary) or 6 steps (mid-epoch), and let a fresh model with a fresh ``KerasData`` resume from the
``keras.callbacks.BackupAndRestore`` backup. The batches, the teacher-forcing decisions of every
step and the final weights must be identical (bitwise).

Keras 3.15's ``BackupAndRestore`` restores the weights, the optimizer (so ``optimizer.iterations``)
and the number of finished epochs, but not the batch inside an epoch: it writes ``batch`` to its
metadata and never reads it back. ``Seq2SeqModel.fit`` therefore seeks a ``BatchSequence`` to
``optimizer.iterations`` (``StreamPosition``); the last test shows what happens without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import keras
from datamodules.keras import KerasData
from keras_seq2seq import AtomicModelCheckpoint, Seq2SeqModel, load_model
from seq2seq_fit import Seq2SeqConfig, TeacherForcing

pytestmark = [
    pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="bitwise resume is checked on TensorFlow"),
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
]

EPOCHS = 2  # of 4 batches each


class Interrupted(RuntimeError):
    pass


class InterruptAfter(keras.callbacks.Callback):  # type: ignore[misc]
    """Raises before training step ``step + 1``, after every callback of step ``step`` (and of its
    epoch end) ran."""

    def __init__(self, step: int) -> None:
        super().__init__()
        self.step = step

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        if int(self.model.optimizer.iterations) >= self.step:
            raise Interrupted(f"interrupted after step {self.step}")


def small_data() -> KerasData:
    return KerasData("reverse", batch_size=4, corpus_options={"n_train": 16, "n_val": 4, "n_test": 4})


def recording_model(data: KerasData, steps: list[dict[str, Any]]) -> Seq2SeqModel:
    """A tiny model whose every training step appends its step, sources and coin draws to ``steps``."""
    keras.utils.set_random_seed(0)  # the initial weights
    config = Seq2SeqConfig(hidden_size=16, embedding_dim=8, dropout=0.1)
    schedule = TeacherForcing(schedule="linear", start=0.9, end=0.1, decay_steps=8)
    model = Seq2SeqModel(data.src_vocab, data.tgt_vocab, config, schedule, seed=3)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    return record(model, steps)


def record(model: Seq2SeqModel, steps: list[dict[str, Any]]) -> Seq2SeqModel:
    model.run_eagerly = True  # the recorder sees values
    network_loss = model.model.loss

    def recorded(source: Any, target_in: Any, target_out: Any, *args: Any, **kwargs: Any) -> Any:
        loss, gold = network_loss(source, target_in, target_out, *args, **kwargs)
        steps.append(
            {
                "step": int(model.optimizer.iterations),
                "source": keras.ops.convert_to_numpy(source).tolist(),
                "gold": keras.ops.convert_to_numpy(gold).tolist(),
            }
        )
        return loss, gold

    model.model.loss = recorded
    return model


def weights(model: Seq2SeqModel) -> list[np.ndarray]:
    return [np.asarray(keras.ops.convert_to_numpy(v)) for v in [*model.weights, *model.optimizer.variables]]


def straight_run() -> tuple[list[dict[str, Any]], list[np.ndarray]]:
    steps: list[dict[str, Any]] = []
    model = recording_model(small_data(), steps)
    model.fit(small_data().train(), epochs=EPOCHS, verbose=0)
    return steps, weights(model)


@pytest.fixture(scope="module")
def straight() -> tuple[list[dict[str, Any]], list[np.ndarray]]:
    return straight_run()


@pytest.mark.parametrize(
    ("stop", "save_freq"),
    [
        (4, "epoch"),  # at the epoch boundary
        (6, 2),  # mid-epoch
        pytest.param(4, 2, marks=pytest.mark.slow),  # a batch-level backup that lands on the boundary
        pytest.param(5, 1, marks=pytest.mark.slow),  # first batch of an epoch
    ],
)
def test_an_interrupted_run_resumed_by_backup_and_restore_is_bitwise_the_straight_run(
    tmp_path: Path, straight: tuple[list[dict[str, Any]], list[np.ndarray]], stop: int, save_freq: Any
) -> None:
    expected_steps, expected_weights = straight
    assert len(expected_steps) == 8 and [s["step"] for s in expected_steps] == list(range(8))

    before: list[dict[str, Any]] = []
    model = recording_model(small_data(), before)
    backup = keras.callbacks.BackupAndRestore(tmp_path / "backup", save_freq=save_freq)
    with pytest.raises(Interrupted):
        model.fit(small_data().train(), epochs=EPOCHS, verbose=0, callbacks=[backup, InterruptAfter(stop)])
    assert len(before) == stop

    after: list[dict[str, Any]] = []
    resumed = recording_model(small_data(), after)  # a fresh model and data, as in a new process
    backup = keras.callbacks.BackupAndRestore(tmp_path / "backup", save_freq=save_freq)
    resumed.fit(small_data().train(), epochs=EPOCHS, verbose=0, callbacks=[backup])

    assert [s["step"] for s in after] == list(range(stop, 8))
    assert before + after == expected_steps  # same batches, same coins, step by step
    for got, want in zip(weights(resumed), expected_weights, strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_run_resumed_from_an_atomic_checkpoint_at_an_epoch_boundary_is_bitwise_the_straight_run(
    tmp_path: Path, straight: tuple[list[dict[str, Any]], list[np.ndarray]]
) -> None:
    """The ``.keras`` file holds the optimizer and the random streams; the data seeks to the epoch."""
    before: list[dict[str, Any]] = []
    model = recording_model(small_data(), before)
    checkpoint = AtomicModelCheckpoint(tmp_path / "last.keras")
    with pytest.raises(Interrupted):
        model.fit(small_data().train(), epochs=EPOCHS, verbose=0, callbacks=[checkpoint, InterruptAfter(4)])
    after: list[dict[str, Any]] = []
    resumed = record(load_model(tmp_path / "last.keras"), after)
    resumed.fit(small_data().train(), epochs=EPOCHS, initial_epoch=1, verbose=0)
    assert before + after == straight[0]
    for got, want in zip(weights(resumed), straight[1], strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.slow
def test_backup_and_restore_alone_restarts_the_epoch_from_its_first_batch(tmp_path: Path) -> None:
    """Why ``StreamPosition`` exists: with Keras' own bookkeeping a mid-epoch resume trains the
    epoch's first batches again and runs past the straight run's step count."""
    model = recording_model(small_data(), [])
    backup = keras.callbacks.BackupAndRestore(tmp_path / "backup", save_freq=2)
    with pytest.raises(Interrupted):
        model.fit(small_data().train(), epochs=EPOCHS, verbose=0, callbacks=[backup, InterruptAfter(6)])
    after: list[dict[str, Any]] = []
    resumed = recording_model(small_data(), after)
    resumed.fit(keras_pydataset(small_data()), epochs=EPOCHS, verbose=0, callbacks=[backup], shuffle=False)
    assert [s["step"] for s in after] == list(range(6, 10))  # epoch 1 again from batch 0: 10 steps in all


def keras_pydataset(data: KerasData) -> keras.utils.PyDataset:
    """The same batches in a plain ``PyDataset`` (no ``seek``, so no ``StreamPosition``)."""
    sequence = data.train()

    class Plain(keras.utils.PyDataset):  # type: ignore[misc]
        def __len__(self) -> int:
            return len(sequence)

        def __getitem__(self, index: int) -> Any:
            return sequence[index]

    return Plain()
