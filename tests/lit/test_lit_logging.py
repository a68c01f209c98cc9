"""What ``LitSeq2Seq`` logs, read back from the CSV and TensorBoard files of a one-epoch run."""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.trainer.states import TrainerFn

from datamodules import Seq2SeqDataModule
from datamodules.corpus import group_references
from lit_seq2seq import LitSeq2Seq, TrainingThroughput
from lit_seq2seq import callbacks as lit_callbacks
from seq2seq_fit.decoding import length_budget
from seq2seq_fit.scores import (
    EVAL_METRICS,
    TRAIN_METRICS,
    bleu,
    metric_name,
    phone_error_rate,
    word_error_rate,
)
from seq2seq_fit.vocab import PAD_ID
from tests.helpers.lightning import quiet_trainer

TRAIN_TAGS = tuple(metric_name(m, "train", "lightning") for m in TRAIN_METRICS)
VAL_TAGS = tuple(metric_name(m, "val", "lightning") for m in EVAL_METRICS)


class StepClock(pl.Callback):
    """Target tokens and wall time of every training step, and the span of the epoch's training."""

    def __init__(self) -> None:
        self.tokens: list[int] = []
        self.seconds: list[float] = []
        self.span = [0.0, 0.0]  # (epoch start, validation start)
        self._start = 0.0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.span[0] = time.perf_counter()

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, *_: Any) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, _: Any, batch: Any, *__: Any
    ) -> None:
        self.seconds.append(time.perf_counter() - self._start)
        self.tokens.append(int((batch["target_out"] != PAD_ID).sum()))

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.span[1] = time.perf_counter()


def small_reverse() -> Seq2SeqDataModule:
    return Seq2SeqDataModule("reverse", batch_size=8, corpus_options={"n_train": 48, "n_val": 8, "n_test": 8})


def test_one_epoch_logs_loss_ppl_schedule_wer_and_tokens_per_s_to_csv_and_tensorboard(tmp_path: Path) -> None:
    dm = small_reverse()
    torch.manual_seed(0)
    model = LitSeq2Seq(
        dm.src_vocab, dm.tgt_vocab, {"embedding_dim": 12, "hidden_size": 16},
        {"schedule": "linear", "start": 1.0, "end": 0.5, "decay_steps": 6}, lr=0.01,
    )  # fmt: skip
    clock = StepClock()
    loggers = [CSVLogger(tmp_path, name="csv"), TensorBoardLogger(tmp_path, name="tb")]
    trainer = quiet_trainer(max_epochs=1, logger=loggers, log_every_n_steps=1, callbacks=[clock])
    trainer.fit(model, dm)  # no TrainingThroughput given: the module adds its own
    assert trainer.global_step == 6

    (metrics_csv,) = (tmp_path / "csv").rglob("metrics.csv")
    rows = list(csv.DictReader(metrics_csv.open()))
    assert set(rows[0]) == {"epoch", "step", *TRAIN_TAGS, *VAL_TAGS}, "exactly the names of the metric table"
    train = [r for r in rows if r["train/tokens_per_s"]]
    assert [int(r["step"]) for r in train] == list(range(6)), "one row per step with log_every_n_steps=1"
    rates = [float(r["train/tokens_per_s"]) for r in train]
    # With log_every_n_steps=1 each rate covers one step: its tokens over the time from the end of the step
    # before (the epoch start for the first) to the end of this one. Each such interval holds its step, and
    # together they tile the epoch's training up to validation, less the logging of the last step.
    implied = [n / rate for n, rate in zip(clock.tokens, rates, strict=True)]
    assert all(math.isfinite(r) and r > 0 for r in rates)
    assert all(t >= s for t, s in zip(implied, clock.seconds, strict=True)), (implied, clock.seconds)
    training = clock.span[1] - clock.span[0]
    assert 0.75 * training <= sum(implied) <= training, (implied, training)
    assert [float(r["train/tf_ratio"]) for r in train] == pytest.approx([1.0 - 0.5 * s / 6 for s in range(6)])
    assert all(0.0 <= float(r["train/fed_from_model"]) <= 1.0 for r in train)
    (val,) = [r for r in rows if r["val/loss"]]
    assert float(val["val/ppl"]) == pytest.approx(math.exp(float(val["val/loss"])), rel=1e-5)
    # the free-running scores are those of translating each validation source on its own with the same budget
    sources, references = group_references(dm.corpus.val)
    model.eval()
    outputs = [model.translate([s], max_length=length_budget(len(s)))[0] for s in sources]
    assert float(val["val/wer"]) == pytest.approx(word_error_rate(outputs, references), abs=1e-4)
    assert float(val["val/per"]) == pytest.approx(phone_error_rate(outputs, references), abs=1e-4)
    assert float(val["val/bleu"]) == pytest.approx(bleu(outputs, references), abs=1e-4)

    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    (events,) = {p.parent for p in (tmp_path / "tb").rglob("events.out.tfevents.*")}
    accumulator = event_accumulator.EventAccumulator(str(events))
    accumulator.Reload()
    assert set(TRAIN_TAGS + VAL_TAGS) <= set(accumulator.Tags()["scalars"])
    board = [e.value for e in accumulator.Scalars("train/tokens_per_s")]
    assert board == pytest.approx(rates, rel=1e-6), "the same numbers in both logs"


def test_a_throughput_callback_of_the_trainer_is_kept() -> None:
    dm = small_reverse()
    mine = TrainingThroughput(window=3)
    trainer = quiet_trainer(max_steps=4, limit_val_batches=0, callbacks=[mine])
    trainer.fit(LitSeq2Seq(dm.src_vocab, dm.tgt_vocab, {"embedding_dim": 12, "hidden_size": 16}), dm)
    assert [c for c in trainer.callbacks if isinstance(c, TrainingThroughput)] == [mine]
    assert mine.tokens > 0 and float(trainer.callback_metrics["train/tokens_per_s"]) > 0
    with pytest.raises(ValueError, match=r"TrainingThroughput\.window: got 0"):
        TrainingThroughput(window=0)


def test_the_rate_covers_the_steps_since_the_last_value_and_skips_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr(lit_callbacks.time, "perf_counter", lambda: now[0])
    logged: list[float] = []
    module = SimpleNamespace(log=lambda name, value, **kwargs: logged.append(value))
    trainer = SimpleNamespace(state=SimpleNamespace(fn=TrainerFn.FITTING))
    throughput = TrainingThroughput(window=2)

    def step(seconds: float, tokens: int) -> None:
        now[0] += seconds
        target_out = torch.tensor([[5] * tokens + [PAD_ID] * 3])  # (1, tokens + 3): padding never counts
        throughput.on_train_batch_end(trainer, module, None, {"target_out": target_out}, 0)  # type: ignore[arg-type]

    throughput.on_train_epoch_start(trainer, module)  # type: ignore[arg-type]
    step(1.0, 10)
    assert logged == [], "logged every window = 2 steps"
    step(1.0, 30)
    step(2.0, 10)
    step(2.0, 30)
    assert logged == [40 / 2, 40 / 4]
    step(1.0, 10)  # an unfinished window, then validation
    now[0] += 100.0
    throughput.on_validation_end(trainer, module)  # type: ignore[arg-type]
    step(0.5, 20)
    step(0.5, 20)
    assert logged[-1] == 40 / 1.0, "the pause is not training time"
    assert throughput.tokens == 130


def test_tokens_stay_on_the_device_between_logged_values(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []
    module = SimpleNamespace(log=lambda name, value, **kwargs: None)
    trainer = SimpleNamespace(state=SimpleNamespace(fn=TrainerFn.FITTING))
    throughput = TrainingThroughput(window=3)
    throughput.on_train_epoch_start(trainer, module)  # type: ignore[arg-type]

    class CountedTensor(torch.Tensor):
        def __int__(self) -> int:  # a host read of the device count
            reads.append(1)
            return super().__int__()

    for _ in range(6):
        target_out = torch.tensor([[5, 5, PAD_ID]]).as_subclass(CountedTensor)
        throughput.on_train_batch_end(trainer, module, None, {"target_out": target_out}, 0)  # type: ignore[arg-type]
    assert len(reads) == 2, "one read per logged value, none on the other steps"
    assert throughput.tokens == 12


def test_a_data_seed_other_than_the_models_seed_fits_with_a_logger(tmp_path: Path) -> None:
    """Both the module (its coins) and the data module (its shuffling) have a ``seed``; Lightning refuses
    to log two different values under one name, so the data module's settings stay out of the loggers."""
    dm = Seq2SeqDataModule("reverse", batch_size=8, seed=1, corpus_options={"n_train": 16, "n_val": 8, "n_test": 8})
    model = LitSeq2Seq(dm.src_vocab, dm.tgt_vocab, {"embedding_dim": 8, "hidden_size": 8}, seed=0)
    trainer = quiet_trainer(max_steps=1, limit_val_batches=1, logger=CSVLogger(tmp_path, name="csv"))
    trainer.fit(model, dm)
    assert trainer.global_step == 1 and dm.hparams["seed"] == 1
