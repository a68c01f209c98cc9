"""Mixed precision: bf16 autocast on CPU trains without NaN; float16 needs a GPU."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch.utils.data import DataLoader

from datamodules import Seq2SeqDataModule
from lit_seq2seq import LitSeq2Seq
from seq2seq_fit import Vocab
from tests.helpers.lightning import CELLS, StepRecorder, quiet_trainer


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


def _batch(lengths: list[int], vocab_size: int) -> dict[str, torch.Tensor]:
    """A batch in the documented layout whose source rows have ``lengths`` (targets: the source + 1)."""
    b, s = len(lengths), max(lengths)
    source = torch.zeros(b, s, dtype=torch.long)  # (B, S)
    target_in = torch.zeros(b, s + 1, dtype=torch.long)  # (B, T)
    target_out = torch.zeros(b, s + 1, dtype=torch.long)  # (B, T)
    for i, n in enumerate(lengths):
        row = (torch.arange(n) + i) % (vocab_size - 4) + 4  # (n,)
        source[i, :n] = row
        target_in[i, 0], target_in[i, 1 : n + 1] = 1, row
        target_out[i, :n], target_out[i, n] = row, 2
    return {"source": source, "source_lengths": torch.tensor(lengths), "target_in": target_in, "target_out": target_out}


# What Lightning runs on the CPU: "16-mixed" becomes "bf16-mixed" there (fp16 AMP needs a GPU; it warns), tested as
# the user writes it; "bf16-true" keeps the whole model in bfloat16. ("16-true" is left out: AdamW's eps underflows
# in float16, and pure-fp16 training turns these weights to NaN.)
CPU_PRECISIONS = ["32-true", "bf16-mixed", "16-mixed", "bf16-true"]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("precision", CPU_PRECISIONS)
@pytest.mark.parametrize("lengths", [[3, 3, 3, 3], [4, 3, 2, 1]], ids=["equal", "unequal"])
def test_every_cell_trains_and_translates_on_cpu_at_every_precision(
    cell: str, precision: str, lengths: list[int]
) -> None:
    vocab = Vocab(["<pad>", "<bos>", "<eos>", "<unk>", *"abcdef"])
    config = {"embedding_dim": 8, "hidden_size": 8, "cell": cell, "bidirectional": True, "attention": "luong"}
    torch.manual_seed(0)
    model = LitSeq2Seq(vocab, vocab, config, {"start": 0.5, "mode": "parallel"}, lr=1e-2)
    batch = _batch(lengths, len(vocab))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*AMP with fp16 is not supported on CPU.*")
        trainer = quiet_trainer(max_steps=1, precision=precision)
    loader = DataLoader([batch], batch_size=None)  # the user's own loader of ready batches
    trainer.fit(model, train_dataloaders=loader, val_dataloaders=loader)
    assert trainer.global_step == 1
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert math.isfinite(float(trainer.callback_metrics["val/loss"]))
    sources = [" ".join(vocab.decode(row.tolist())) for row in batch["source"]]
    with trainer.precision_plugin.forward_context():  # the autocast the trainer runs its steps under
        outputs = model.translate(sources, max_length=6)
        beams = model.translate(sources, strategy="beam", beam_width=2, max_length=6)
    assert len(outputs) == len(beams) == len(lengths)
    assert all(set(out) <= set(vocab.tokens[4:]) for out in outputs + beams)
