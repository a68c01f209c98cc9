"""Mixed precision: bf16 autocast on CPU trains without NaN; float16 needs a GPU."""

from __future__ import annotations

import math

import pytest
import torch

from datamodules import Seq2SeqDataModule
from lit_seq2seq import LitSeq2Seq
from tests.helpers.lightning import StepRecorder, quiet_trainer


@pytest.mark.parametrize(
    "cell,attention,mode",
    [("lstm", "luong", "parallel"), ("lstm", "bahdanau", "sequential"), ("gru", "luong", "sequential")],
)
def test_bf16_mixed_on_cpu_trains_without_nan(cell: str, attention: str, mode: str) -> None:
    dm = Seq2SeqDataModule("toy", batch_size=4)
    config = {"embedding_dim": 16, "hidden_size": 16, "attention": attention, "bidirectional": True, "cell": cell}
    model = LitSeq2Seq(dm.src_vocab, dm.tgt_vocab, config, {"start": 0.5, "mode": mode}, lr=1e-2)
    recorder = StepRecorder()
    trainer = quiet_trainer(max_steps=20, precision="bf16-mixed", callbacks=[recorder], check_val_every_n_epoch=20)
    trainer.fit(model, dm)
    losses = [row[3] for row in recorder.rows]
    assert all(math.isfinite(x) for x in losses)
    assert losses[-1] < losses[0], "it learns"
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert math.isfinite(float(trainer.callback_metrics["val/loss"]))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision", ["16-mixed", "bf16-mixed"])
def test_mixed_precision_on_gpu_trains_without_nan(precision: str) -> None:
    dm = Seq2SeqDataModule("reverse", batch_size=64, corpus_options={"n_train": 640, "n_val": 64, "n_test": 64})
    model = LitSeq2Seq(dm.src_vocab, dm.tgt_vocab, {"hidden_size": 64, "embedding_dim": 32}, {"start": 0.5}, lr=1e-2)
    recorder = StepRecorder()
    trainer = quiet_trainer(accelerator="gpu", max_steps=30, precision=precision, callbacks=[recorder])
    trainer.fit(model, dm)
    losses = [row[3] for row in recorder.rows]
    assert all(math.isfinite(x) for x in losses) and losses[-1] < losses[0]
    assert model.coin_generator.device.type == "cuda"
