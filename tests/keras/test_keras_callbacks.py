"""Logging of ``model.fit``: the validation scores of ``Seq2SeqModel.evaluate`` and the throughput of
``TrainingThroughput`` reach CSVLogger, TensorBoard and EarlyStopping / ModelCheckpoint through Keras'
own ``logs``."""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import keras
from datamodules.keras import KerasData
from keras_seq2seq import AtomicModelCheckpoint, Seq2SeqModel, TrainingThroughput
from seq2seq_fit import EVAL_METRICS, TRAIN_METRICS, TeacherForcing, metric_name
from seq2seq_fit.decoding import length_budget
from seq2seq_fit.scores import bleu, exact_match, g2p_scores
from tests.helpers import REPO
from tests.helpers.keras import BACKEND, reverse_data, tiny_model, to_numpy

TRAIN_NAMES = {metric_name(m, "train", "keras") for m in TRAIN_METRICS}
VAL_NAMES = {metric_name(m, "val", "keras") for m in EVAL_METRICS}
SLEEP_S = 0.3  # validation made slower by this much; the throughput must not count it


class SlowValidation(keras.callbacks.Callback):  # type: ignore[misc]
    """Records each epoch's wall time and sleeps during validation."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch_seconds: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._start = time.perf_counter()

        self.test_batch_keys: set[str] = set()

    def on_test_batch_end(self, batch: int, logs: Any = None) -> None:
        self.test_batch_keys |= set(logs or {})

    def on_test_end(self, logs: Any = None) -> None:
        time.sleep(SLEEP_S)

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.epoch_seconds.append(time.perf_counter() - self._start)


@dataclass
class Run:
    data: KerasData
    model: Seq2SeqModel
    out: Path
    history: dict[str, list[float]]
    throughput: TrainingThroughput
    slow: SlowValidation


def target_tokens(sequence: Any) -> int:
    return int(sum((np.asarray(sequence[i][1]) != 0).sum() for i in range(len(sequence))))


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def small_data() -> KerasData:
    # 4 training and 2 validation batches, all (32, 8): one trace of each step function.
    return reverse_data(n_train=128, batch_size=32, max_len=6)


def compiled_model(data: KerasData) -> Seq2SeqModel:
    model = tiny_model(data, TeacherForcing(schedule="linear", start=1.0, end=0.5, decay_steps=8, mode="parallel"))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=BACKEND == "jax")  # XLA compiles cost more here
    return model


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Two epochs with the throughput callback ahead of CSVLogger and TensorBoard."""
    keras.utils.set_random_seed(0)
    data = small_data()
    model = compiled_model(data)
    out = tmp_path_factory.mktemp("logged")
    throughput, slow = TrainingThroughput(), SlowValidation()
    callbacks = [
        slow,
        throughput,
        keras.callbacks.CSVLogger(str(out / "history.csv")),
        keras.callbacks.TensorBoard(str(out / "tensorboard")),
    ]
    history = model.fit(data.train(), validation_data=data.val(), epochs=2, verbose=0, callbacks=callbacks)
    return Run(data, model, out, history.history, throughput, slow)


def test_csv_log_holds_every_logged_name(run: Run) -> None:
    rows = read_csv(run.out / "history.csv")
    assert [row["epoch"] for row in rows] == ["0", "1"]
    assert set(rows[0]) == {"epoch"} | TRAIN_NAMES | VAL_NAMES, "exactly the names of the metric table"
    for row in rows:
        values = {k: float(v) for k, v in row.items()}
        assert values["val_exact_match"] == pytest.approx(100.0 - values["val_wer"])
        assert values["tokens_per_s"] > 0.0 and 0.0 <= values["fed_from_model"] <= 1.0
        assert values["val_ppl"] == pytest.approx(math.exp(values["val_loss"]), rel=1e-6)
        assert values["val_ppl"] < len(run.data.tgt_vocab) * 1.5  # near-uniform at worst after training
    assert float(rows[1]["tf_ratio"]) < float(rows[0]["tf_ratio"]) < 1.0  # the linear schedule, epoch means
    for name in TRAIN_NAMES | VAL_NAMES:  # the CSV is what History saw
        assert [float(row[name]) for row in rows] == pytest.approx(run.history[name], rel=1e-6), name


def test_val_loss_is_the_mean_nll_per_target_token(run: Run) -> None:
    nll = tokens = 0.0
    val = run.data.val()
    for i in range(len(val)):
        x, y = val[i]
        logits = to_numpy(run.model(x)).astype("float64")  # (B, T, V)
        top = logits.max(-1, keepdims=True)
        logp = logits - top - np.log(np.exp(logits - top).sum(-1, keepdims=True))
        picked = np.take_along_axis(logp, y[..., None], -1)[..., 0]  # (B, T)
        nll -= float(picked[y != 0].sum())
        tokens += float((y != 0).sum())
    # Weights after the last epoch are the ones its validation saw.
    assert run.history["val_loss"][-1] == pytest.approx(nll / tokens, rel=1e-4)
    assert run.history["val_ppl"][-1] == pytest.approx(math.exp(nll / tokens), rel=1e-4)


def test_val_scores_are_those_of_the_greedy_output_against_all_references(run: Run) -> None:
    """One greedy decode with each source's length budget, scored per source against all its references."""
    sources, references = run.data.references("val")
    outputs = [run.model.translate([s], max_length=length_budget(len(s)))[0] for s in sources]
    expected = g2p_scores(outputs, references)
    assert run.history["val_wer"][-1] == pytest.approx(expected.wer, abs=1e-9)
    assert run.history["val_per"][-1] == pytest.approx(expected.per, abs=1e-9)
    assert run.history["val_exact_match"][-1] == pytest.approx(exact_match(outputs, references), abs=1e-9)
    assert run.history["val_bleu"][-1] == pytest.approx(bleu(outputs, references), abs=1e-9)
    assert run.slow.test_batch_keys == {"loss"}, "the greedy ids never reach the callbacks or the progress bar"


def test_evaluate_returns_the_names_of_the_metric_table_and_the_last_validation(run: Run) -> None:
    logs = run.model.evaluate(run.data.val(), return_dict=True, verbose=0)
    assert set(logs) == set(EVAL_METRICS)
    for name in EVAL_METRICS:  # the weights the last validation saw
        assert logs[name] == pytest.approx(run.history[metric_name(name, "val", "keras")][-1], rel=1e-5), name


def test_tokens_per_s_counts_target_tokens_of_training_steps_only(run: Run) -> None:
    assert run.throughput.tokens == target_tokens(run.data.train())  # every example once per epoch
    seconds = run.throughput.seconds
    assert seconds is not None and 0.0 < seconds < run.slow.epoch_seconds[-1] - SLEEP_S  # validation excluded
    assert run.history["tokens_per_s"][-1] == pytest.approx(run.throughput.tokens / seconds)


def test_tensorboard_event_files_hold_the_scalars(run: Run) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    seen = {}
    for split in ("train", "validation"):
        events = EventAccumulator(str(run.out / "tensorboard" / split)).Reload()
        seen[split] = {
            tag: [float(np.asarray(keras.ops.convert_to_numpy(_tensor(e)))) for e in events.Tensors(tag)]
            for tag in events.Tags()["tensors"]
        }
    assert {f"epoch_{n}" for n in TRAIN_NAMES} <= set(seen["train"])
    assert {f"epoch_{n[4:]}" for n in VAL_NAMES} <= set(seen["validation"])
    assert seen["train"]["epoch_tokens_per_s"] == pytest.approx(run.history["tokens_per_s"], rel=1e-5)
    assert seen["validation"]["epoch_wer"] == pytest.approx(run.history["val_wer"], rel=1e-5)
    assert seen["validation"]["epoch_ppl"] == pytest.approx(run.history["val_ppl"], rel=1e-5)


def _tensor(event: Any) -> Any:
    from tensorboard.util import tensor_util

    return tensor_util.make_ndarray(event.tensor_proto)


def test_early_stopping_and_checkpoint_monitor_val_wer(run: Run, tmp_path: Path) -> None:
    # min_delta=100: no later epoch can beat the first epoch's WER, so patience 1 stops after epoch 2.
    stop = keras.callbacks.EarlyStopping(monitor="val_wer", mode="min", patience=1, min_delta=100.0)
    best = AtomicModelCheckpoint(str(tmp_path / "best.weights.h5"), monitor="val_wer", mode="min",
                                 save_best_only=True, save_weights_only=True)  # fmt: skip
    history = run.model.fit(
        run.data.train(), validation_data=run.data.val(), epochs=5, verbose=0, callbacks=[stop, best]
    ).history
    assert len(history["val_wer"]) == 2 and stop.stopped_epoch == 1
    assert stop.best == history["val_wer"][0] and best.best == min(history["val_wer"])
    assert (tmp_path / "best.weights.h5").exists()


def test_stopping_listed_before_throughput_still_sees_the_validation_scores(run: Run) -> None:
    """The scores come from evaluate, not from a callback, so no callback order can hide them."""
    stop = keras.callbacks.EarlyStopping(monitor="val_wer", mode="min", patience=1, min_delta=100.0)
    run.model.fit(
        run.data.train(), validation_data=run.data.val(), epochs=3, verbose=0, callbacks=[stop, TrainingThroughput()]
    )
    assert stop.stopped_epoch == 1


@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.data input")
@pytest.mark.filterwarnings("ignore:`shuffle=True` was passed", "ignore:Your input ran out of data")
def test_tokens_are_counted_from_a_tf_dataset(run: Run) -> None:
    throughput = TrainingThroughput()
    run.model.fit(run.data.tf_dataset("train"), epochs=1, verbose=0, callbacks=[throughput])
    assert throughput.tokens == target_tokens(run.data.train())


@pytest.mark.slow  # a fresh model: its step functions are traced again (about 15 s)
def test_cli_writes_csv_and_tensorboard_logs(tmp_path: Path) -> None:
    from keras_seq2seq.cli import main

    main(["fit", "--backend", BACKEND, "--corpus", "toy", "--batch_size", "4", "--epochs", "2", "--hidden_size", "16",
          "--embedding_dim", "8", "--jit_compile", "false", "--output", str(tmp_path), "--verbose", "0"])  # fmt: skip
    rows = read_csv(tmp_path / "history.csv")
    assert len(rows) == 2 and set(rows[0]) == {"epoch"} | TRAIN_NAMES | VAL_NAMES
    assert all(float(row["val_exact_match"]) == pytest.approx(100 - float(row["val_wer"])) for row in rows)
    assert list((tmp_path / "logs" / "train").glob("events.out.tfevents.*"))
    assert list((tmp_path / "logs" / "validation").glob("events.out.tfevents.*"))


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("KERAS_SEQ2SEQ_CHILD") == "1", reason="already inside a per-backend run")
@pytest.mark.parametrize("backend", [b for b in ("tensorflow", "jax", "torch") if b != BACKEND])
def test_callbacks_under_backend(backend: str) -> None:
    """The same tests under the other backends (the token tracker in the JAX stateless step...)."""
    env = {**os.environ, "KERAS_BACKEND": backend, "KERAS_SEQ2SEQ_CHILD": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
           "OMP_NUM_THREADS": "1"}  # fmt: skip
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"under KERAS_BACKEND={backend}:\n{result.stdout[-8000:]}"
