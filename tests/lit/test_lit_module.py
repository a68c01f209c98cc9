"""``LitSeq2Seq`` under ``Trainer``: hyper-parameters, logging, checkpoints, resume, evaluation."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from datamodules import Seq2SeqDataModule, Vocab
from lit_seq2seq import LitSeq2Seq
from seq2seq_fit import EVAL_METRICS, Seq2SeqConfig, TeacherForcing, lr_factor, metric_name
from tests.helpers.lightning import StepRecorder, quiet_trainer

TINY = {"embedding_dim": 12, "hidden_size": 16}


def test_accepts_dataclasses_or_plain_data_and_stores_plain_data(toy_data: Seq2SeqDataModule) -> None:
    a = LitSeq2Seq(toy_data.src_vocab, toy_data.tgt_vocab, Seq2SeqConfig(**TINY), TeacherForcing(start=0.5))
    b = LitSeq2Seq(toy_data.src_vocab.tokens, toy_data.tgt_vocab.tokens, dict(TINY), {"start": 0.5})
    assert dict(a.hparams) == dict(b.hparams)
    assert json.loads(json.dumps(dict(a.hparams))) == dict(a.hparams), "only JSON-able primitives"
    assert a.hparams["src_vocab"] == toy_data.src_vocab.tokens
    assert a.config == Seq2SeqConfig(**TINY) and isinstance(a.tgt_vocab, Vocab)


def test_parallel_with_bahdanau_trains_with_a_position_schedule(toy_data: Seq2SeqDataModule) -> None:
    """Parallel mode runs Bahdanau's step loop in every pass; the coins follow the position schedule."""
    tf = TeacherForcing(start=0.5, mode="parallel", passes=2, position_schedule="linear", position_k=4.0)
    model = LitSeq2Seq(toy_data.src_vocab, toy_data.tgt_vocab, {**TINY, "attention": "bahdanau"}, tf)
    recorder = StepRecorder()
    quiet_trainer(max_steps=3, callbacks=[recorder], limit_val_batches=0).fit(model, toy_data)
    fed = [row[2] for row in recorder.rows]
    assert len(fed) == 3 and all(math.isfinite(row[3]) for row in recorder.rows), recorder.rows
    assert 0.0 < sum(fed) / 3 < 1.0, "some inputs from the model, some gold"


def test_bad_arguments_name_the_value(toy_data: Seq2SeqDataModule) -> None:
    with pytest.raises(ValueError, match="'transformer'"):
        LitSeq2Seq(toy_data.src_vocab, toy_data.tgt_vocab, {"attention": "transformer"})
    with pytest.raises(ValueError, match=r"warmup_steps.*-1"):
        LitSeq2Seq(toy_data.src_vocab, toy_data.tgt_vocab, TINY, warmup_steps=-1)


def test_vocabulary_mismatch_with_the_data_fails_early(toy_data: Seq2SeqDataModule) -> None:
    model = LitSeq2Seq(toy_data.src_vocab, [*toy_data.tgt_vocab.tokens, "extra"], TINY)
    with pytest.raises(ValueError, match="target vocabulary mismatch"):
        quiet_trainer(max_steps=1).fit(model, toy_data)


def test_logs_the_scheduled_ratio_and_the_fed_fraction_each_step(toy_data: Seq2SeqDataModule) -> None:
    tf = TeacherForcing(schedule="linear", start=1.0, end=0.0, decay_steps=6)
    model = LitSeq2Seq(toy_data.src_vocab, toy_data.tgt_vocab, TINY, tf)
    recorder = StepRecorder()
    quiet_trainer(max_steps=8, callbacks=[recorder], limit_val_batches=0).fit(model, toy_data)
    steps = [row[0] for row in recorder.rows]
    assert steps == list(range(1, 9))
    for step, ratio, fed, loss in recorder.rows:
        assert ratio == pytest.approx(tf.ratio(step - 1))  # logged during the step before global_step advanced
        assert 0.0 <= fed <= 1.0 and math.isfinite(loss)
    assert recorder.rows[0][2] == 0.0, "ratio 1 feeds only gold"
    assert recorder.rows[-1][2] == 1.0, "ratio 0 feeds only model tokens"


@pytest.mark.parametrize("granularity", ["token", "sequence", "batch"])
def test_fed_fraction_in_training_tracks_one_minus_ratio(granularity: str) -> None:
    dm = Seq2SeqDataModule("reverse", batch_size=64, corpus_options={"n_train": 640, "n_val": 8, "n_test": 8})
    tf = TeacherForcing(start=0.3, granularity=granularity, mode="parallel")
    model = LitSeq2Seq(dm.src_vocab, dm.tgt_vocab, {**TINY, "attention": "none"}, tf)
    recorder = StepRecorder()
    quiet_trainer(max_steps=30, callbacks=[recorder], limit_val_batches=0).fit(model, dm)
    fed = torch.tensor([row[2] for row in recorder.rows])
    # 30 batches of 64 x ~8 coins (token), 64 (sequence) or ~11 (batch): mean within 0.06 of 0.7,
    # at least four standard errors for the noisiest (batch: sd 0.14 per step, 0.026 for the mean)
    assert abs(fed.mean().item() - 0.7) < 0.06
    assert fed.std() > 0, "the coins differ from step to step"


def train_toy(model: LitSeq2Seq, dm: Seq2SeqDataModule, tmp_path: Path, steps: int) -> Path:
    trainer = quiet_trainer(max_steps=steps, limit_val_batches=0, default_root_dir=tmp_path)
    trainer.fit(model, dm)
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    return path


def test_checkpoint_round_trip_with_weights_only(tmp_path: Path) -> None:
    dm = Seq2SeqDataModule("toy", batch_size=2)
    config = {**TINY, "attention": "bahdanau", "cell": "lstm", "bidirectional": True}
    model = LitSeq2Seq(dm.src_vocab, dm.tgt_vocab, config, {"start": 0.5, "feed": "sample"}, lr=1e-2, seed=7)
    path = train_toy(model, dm, tmp_path, steps=6)
    raw = torch.load(path, weights_only=True)  # no pickled objects anywhere
    assert raw["hyper_parameters"]["tgt_vocab"] == dm.tgt_vocab.tokens
    assert raw["coin_rng_state"].dtype == torch.uint8
    loaded = LitSeq2Seq.load_from_checkpoint(path)
    assert loaded.config == model.config and loaded.teacher_forcing == model.teacher_forcing
    assert loaded.src_vocab == dm.src_vocab and loaded.tgt_vocab == dm.tgt_vocab
    sources = ["I feel hungry", "tensorflow is very difficult"]
    for strategy in ("greedy", "beam"):
        assert loaded.translate(sources, strategy=strategy) == model.translate(sources, strategy=strategy)
    batch = next(iter(dm.val_dataloader()))
    model.eval()
    loaded.eval()
    args = (batch["source"], batch["source_lengths"], batch["target_in"])
    torch.testing.assert_close(loaded(*args), model(*args), rtol=0, atol=0)


def resumable_run(tmp_path: Path, max_epochs: int, ckpt_path: str | None = None) -> tuple[StepRecorder, Path]:
    dm = Seq2SeqDataModule("toy", batch_size=2)  # 2 steps per epoch
    tf = TeacherForcing(schedule="linear", start=0.9, end=0.1, decay_steps=8, granularity="token")
    torch.manual_seed(0)
    model = LitSeq2Seq(dm.src_vocab, dm.tgt_vocab, TINY, tf, lr=1e-2, seed=3)
    recorder = StepRecorder()
    trainer = quiet_trainer(max_epochs=max_epochs, limit_val_batches=0, callbacks=[recorder], default_root_dir=tmp_path)
    trainer.fit(model, dm, ckpt_path=ckpt_path)
    path = tmp_path / f"epoch{max_epochs}.ckpt"
    trainer.save_checkpoint(path)
    return recorder, path


def test_resumed_run_continues_the_same_schedule_and_coins(tmp_path: Path) -> None:
    full, _ = resumable_run(tmp_path / "full", max_epochs=4)
    first, ckpt = resumable_run(tmp_path / "first", max_epochs=2)
    resumed, _ = resumable_run(tmp_path / "resumed", max_epochs=4, ckpt_path=str(ckpt))
    assert [r[0] for r in resumed.rows] == [5, 6, 7, 8]
    assert first.rows == full.rows[:4]
    for a, b in zip(full.rows[4:], resumed.rows, strict=True):
        assert a[:3] == b[:3], "same step, ratio and fraction of model-fed tokens"
        assert a[3] == pytest.approx(b[3], rel=1e-5, abs=1e-6), "same weights, optimiser and data: same loss"
    # the check has teeth: without the saved generator state the coins differ
    raw = torch.load(ckpt, weights_only=True)
    del raw["coin_rng_state"]
    torch.save(raw, tmp_path / "no_rng.ckpt")
    fresh, _ = resumable_run(tmp_path / "fresh", max_epochs=4, ckpt_path=str(tmp_path / "no_rng.ckpt"))
    assert [r[2] for r in fresh.rows] != [r[2] for r in full.rows[4:]]


def test_validation_logs_teacher_forced_and_free_running_metrics(toy_data: Seq2SeqDataModule) -> None:
    model = LitSeq2Seq(toy_data.src_vocab, toy_data.tgt_vocab, TINY)
    metrics = quiet_trainer().validate(model, toy_data, verbose=False)[0]
    assert set(metrics) == {metric_name(k, "val", "lightning") for k in EVAL_METRICS}
    assert metrics["val/ppl"] == pytest.approx(torch.tensor(metrics["val/loss"]).exp().item(), rel=1e-5)
    assert metrics["val/exact_match"] == pytest.approx(100 - metrics["val/wer"])
    test_metrics = quiet_trainer().test(model, toy_data, verbose=False)[0]
    assert set(test_metrics) == {metric_name(k, "test", "lightning") for k in EVAL_METRICS}


def test_predict_returns_greedy_ids_that_decode_to_the_translations(toy_data: Seq2SeqDataModule) -> None:
    model = LitSeq2Seq(toy_data.src_vocab, toy_data.tgt_vocab, TINY)
    predictions = quiet_trainer().predict(model, toy_data)
    assert predictions is not None
    toy_data.setup("predict")
    batch = next(iter(toy_data.predict_dataloader()))
    ids = predictions[0]
    assert isinstance(ids, torch.Tensor) and ids.dtype == torch.int64
    assert ids.shape == (len(batch["source"]), 2 * batch["source"].shape[1] + 10)
    sources = [[toy_data.src_vocab.tokens[i] for i in row if i] for row in batch["source"].tolist()]
    assert [model.tgt_vocab.decode(row) for row in ids] == model.translate(sources, max_length=ids.shape[1])


class LrRecorder(pl.Callback):
    """The learning rate each training step runs with."""

    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, *args) -> None:  # type: ignore[no-untyped-def]
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


def test_warmup_ramps_the_learning_rate(toy_data: Seq2SeqDataModule) -> None:
    model = LitSeq2Seq(toy_data.src_vocab, toy_data.tgt_vocab, TINY, lr=0.01, warmup_steps=4)
    recorder = LrRecorder()
    quiet_trainer(max_steps=6, callbacks=[recorder], limit_val_batches=0).fit(model, toy_data)
    assert recorder.lrs == pytest.approx([0.0025, 0.005, 0.0075, 0.01, 0.01, 0.01])


def test_cosine_decay_after_the_warmup_reaches_the_floor_and_survives_a_resume(tmp_path: Path) -> None:
    """``Trainer.fit`` steps the schedule once per optimizer step; a run resumed from a mid-decay
    checkpoint continues the schedule where it stopped."""
    kwargs = {"lr": 0.01, "warmup_steps": 2, "lr_decay_steps": 4, "min_lr_ratio": 0.1}

    def run(max_steps: int, ckpt_path: str | None = None, save: bool = False) -> list[float]:
        recorder = LrRecorder()
        callbacks: list[pl.Callback] = [recorder]
        if save:
            callbacks.append(ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=3, save_top_k=-1))
        dm = Seq2SeqDataModule("toy", batch_size=1)  # 4 steps per epoch
        model = LitSeq2Seq(dm.src_vocab, dm.tgt_vocab, TINY, **kwargs)
        trainer = quiet_trainer(
            max_steps=max_steps, callbacks=callbacks, limit_val_batches=0, enable_checkpointing=save
        )
        trainer.fit(model, dm, ckpt_path=ckpt_path)
        return recorder.lrs

    full = run(8, save=True)
    expected = [0.01 * lr_factor(s, 2, 4, 0.1) for s in range(8)]
    assert full == pytest.approx(expected)
    assert full[-1] == pytest.approx(0.001) and full[2] < 0.01
    resumed = run(8, ckpt_path=str(tmp_path / "epoch=0-step=3.ckpt"))
    assert resumed == pytest.approx(expected[3:])


def test_mid_epoch_resume_from_model_checkpoint_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    def run(max_steps: int, ckpt_path: str | None = None, save_every: int | None = None) -> StepRecorder:
        dm = Seq2SeqDataModule("toy", batch_size=1)  # 4 steps per epoch: step 6 is mid-epoch
        tf = TeacherForcing(schedule="exponential", start=1.0, end=0.0, k=0.8, granularity="sequence")
        torch.manual_seed(0)
        model = LitSeq2Seq(dm.src_vocab, dm.tgt_vocab, TINY, tf, lr=1e-2, seed=11)
        recorder = StepRecorder()
        callbacks: list[pl.Callback] = [recorder]
        if save_every:
            callbacks.append(ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=save_every, save_top_k=-1))
        trainer = quiet_trainer(
            max_steps=max_steps, limit_val_batches=0, callbacks=callbacks, enable_checkpointing=bool(save_every)
        )
        trainer.fit(model, dm, ckpt_path=ckpt_path)
        return recorder

    full = run(10)
    run(6, save_every=6)
    (ckpt,) = tmp_path.glob("*step=6.ckpt")
    resumed = run(10, ckpt_path=str(ckpt))
    assert [r[0] for r in resumed.rows] == [7, 8, 9, 10]
    for a, b in zip(full.rows[6:], resumed.rows, strict=True):
        assert a[:3] == b[:3]
        assert a[3] == pytest.approx(b[3], rel=1e-5, abs=1e-6)


def test_a_data_module_uses_the_modules_batch_hooks_without_a_warning() -> None:
    """Lightning warns at every fit that a module overriding the batch-transfer hooks takes them over from
    the data module: that is what LitSeq2Seq means (numpy and Hugging Face batches become tensors with any
    data module), so the package silences exactly that warning."""
    from lightning.pytorch.trainer.connectors import data_connector

    dm = Seq2SeqDataModule("reverse", batch_size=8, corpus_options={"n_train": 16, "n_val": 8, "n_test": 8})
    model = LitSeq2Seq(dm.src_vocab, dm.tgt_vocab, {"embedding_dim": 8, "hidden_size": 8})
    data_connector.warning_cache.clear()  # Lightning warns once per process: an earlier fit may have warned
    with warnings.catch_warnings(record=True) as caught:
        selector = data_connector._DataHookSelector(model, dm)
        assert selector.get_instance("on_before_batch_transfer") is model
        assert selector.get_instance("on_after_batch_transfer") is model
        warnings.warn("You have overridden `something_else` in `LightningModule`", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["You have overridden `something_else` in `LightningModule`"]
