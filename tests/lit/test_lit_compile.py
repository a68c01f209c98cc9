"""``compile=True`` compiles the whole-sequence decoder and gives the same training numbers."""

from __future__ import annotations

import pytest
import torch

from datamodules import Seq2SeqDataModule
from lit_seq2seq import LitSeq2Seq
from tests.helpers.lightning import StepRecorder, quiet_trainer


@pytest.mark.slow
def test_compiled_decoder_trains_like_the_eager_one() -> None:
    dm = Seq2SeqDataModule("toy", batch_size=4)
    losses = {}
    for compile_ in (False, True):
        torch.manual_seed(0)
        config = {"embedding_dim": 16, "hidden_size": 16, "attention": "luong"}
        model = LitSeq2Seq(dm.src_vocab, dm.tgt_vocab, config, {"start": 0.5, "mode": "parallel"}, compile=compile_)
        recorder = StepRecorder()
        quiet_trainer(max_steps=3, limit_val_batches=0, callbacks=[recorder]).fit(model, dm)
        losses[compile_] = [row[3] for row in recorder.rows]
    assert losses[True] == pytest.approx(losses[False], rel=1e-4, abs=1e-5)
