"""Logging of ``model.fit``: perplexity, WER/PER and throughput reach CSVLogger, TensorBoard and
EarlyStopping / ModelCheckpoint through Keras' own ``logs``."""

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
from keras_helpers import BACKEND, REPO, reverse_data, tiny_model, to_numpy

import keras
from datamodules.keras import KerasData
from keras_seq2seq import AtomicModelCheckpoint, Seq2SeqModel, TrainingThroughput, ValidationScores
from seq2seq_fit import TeacherForcing, g2p_scores

TRAIN_NAMES = {"loss", "tf_ratio", "fed_from_model", "tokens_per_s"}
VAL_NAMES = {"val_loss", "val_ppl", "val_wer", "val_per", "val_exact_match", "val_token_accuracy"}
SLEEP_S = 0.3  # validation made slower by this much; the throughput must not count it


class SlowValidation(keras.callbacks.Callback):  # type: ignore[misc]
    """Records each epoch's wall time and sleeps during validation."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch_seconds: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._start = time.perf_counter()

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
    scores: ValidationScores
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
    """Two epochs with the callbacks ahead of CSVLogger and TensorBoard."""
    keras.utils.set_random_seed(0)
    data = small_data()
    model = compiled_model(data)
    out = tmp_path_factory.mktemp("logged")
    scores, throughput, slow = ValidationScores.from_data(data, "val"), TrainingThroughput(), SlowValidation()
    callbacks = [
        slow,
        scores,
        throughput,
        keras.callbacks.CSVLogger(str(out / "history.csv")),
        keras.callbacks.TensorBoard(str(out / "tensorboard")),
    ]
    history = model.fit(data.train(), validation_data=data.val(), epochs=2, verbose=0, callbacks=callbacks)
    return Run(data, model, out, history.history, scores, throughput, slow)


def test_csv_log_holds_every_logged_name(run: Run) -> None:
    rows = read_csv(run.out / "history.csv")
    assert [row["epoch"] for row in rows] == ["0", "1"]
    assert set(rows[0]) == {"epoch"} | TRAIN_NAMES | VAL_NAMES
    for row in rows:
        values = {k: float(v) for k, v in row.items()}
        assert 0.0 <= values["val_wer"] <= 100.0 and values["val_per"] >= 0.0
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


def test_val_wer_and_per_score_the_greedy_output_against_all_references(run: Run) -> None:
    sources, references = run.data.references("val")
    assert run.scores.sources == sources and run.scores.references == references
    expected = g2p_scores(run.model.translate(sources), references)
    assert run.history["val_wer"][-1] == expected.wer and run.history["val_per"][-1] == expected.per
    assert run.scores.last_scores == expected


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
    scores = ValidationScores.from_data(run.data, "val")
    history = run.model.fit(
        run.data.train(), validation_data=run.data.val(), epochs=5, verbose=0, callbacks=[scores, stop, best]
    ).history
    assert len(history["val_wer"]) == 2 and stop.stopped_epoch == 1
    assert stop.best == history["val_wer"][0] and best.best == min(history["val_wer"])
    assert (tmp_path / "best.weights.h5").exists()


def test_callbacks_after_the_scores_see_nothing(run: Run) -> None:
    """The documented order matters: EarlyStopping placed first finds no val_wer and never stops."""
    stop = keras.callbacks.EarlyStopping(monitor="val_wer", mode="min", patience=1, min_delta=100.0)
    scores = ValidationScores.from_data(run.data, "val")
    with pytest.warns(UserWarning, match="val_wer"):
        history = run.model.fit(run.data.train(), epochs=2, verbose=0, callbacks=[stop, scores]).history
    assert len(history["val_wer"]) == 2 and stop.stopped_epoch == 0  # in order it stops at epoch 1


def test_scores_every_n_epochs_keep_the_csv_columns(run: Run, tmp_path: Path) -> None:
    scores = ValidationScores.from_data(run.data, "val", every=2)
    logger = keras.callbacks.CSVLogger(str(tmp_path / "history.csv"))
    run.model.fit(run.data.train(), epochs=2, verbose=0, callbacks=[scores, logger])
    assert [row["val_wer"] != "NA" for row in read_csv(tmp_path / "history.csv")] == [True, False]


def test_from_data_takes_the_words_of_the_first_batches() -> None:
    """``batches=k`` scores the sources of the first k validation batches with the references found
    there (what LitSeq2Seq scores under ``limit_val_batches=k``)."""
    data = small_data()
    x, y = data.val()[0]
    pairs = {
        (tuple(data.src_vocab.decode(s)), tuple(data.tgt_vocab.decode(t))) for s, t in zip(x["source"], y, strict=True)
    }
    scores = ValidationScores.from_data(data, "val", batches=1)
    got = {(tuple(s), tuple(r)) for s, refs in zip(scores.sources, scores.references, strict=True) for r in refs}
    assert got == pairs and len(scores.sources) == len({s for s, _ in pairs})
    assert len(ValidationScores.from_data(data, "val").sources) == len(data.references("val")[0])
    with pytest.raises(ValueError, match="ValidationScores: got 2 sources and 1 reference"):
        ValidationScores([["a"], ["b"]], [[["A"]]])
    with pytest.raises(ValueError, match="every: got 0"):
        ValidationScores([["a"]], [[["A"]]], every=0)


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
    assert all(0.0 <= float(row["val_wer"]) <= 100.0 for row in rows)
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
