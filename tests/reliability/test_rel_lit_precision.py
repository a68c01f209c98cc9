"""Mixed-precision faults (Lightning side).

Lightning 2.6 turns ``precision="16-mixed"`` on CPU into bfloat16 (it logs "Using bfloat16
Automatic Mixed Precision"), which has no loss scaling. The float16 path with a ``GradScaler`` is
tested on CPU by giving the trainer Lightning's own ``MixedPrecision`` plugin with a CPU
``torch.amp.GradScaler``: the same optimizer-step code that ``16-mixed`` runs on a GPU.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.plugins.precision import MixedPrecision

from datamodules import BOS_ID, EOS_ID, PAD_ID
from lit_seq2seq import Seq2Seq, masked_cross_entropy
from lit_seq2seq.scheduled_sampling import draw_coins
from seq2seq_fit import Seq2SeqConfig, TeacherForcing
from tests.helpers.lightning import quiet_trainer, small_data, small_model, weights

INF_AT = 3  # the training step (0-based) whose gradients get an inf


class InfGradientAt(pl.Callback):
    """Puts an inf into one gradient at step ``INF_AT``; records weights, loss scale and Adam steps."""

    def __init__(self, scaler: torch.amp.GradScaler | None) -> None:
        self.scaler = scaler
        self.rows: list[dict[str, Any]] = []
        self.logits_dtypes: set[torch.dtype] = set()

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        self.before = weights(pl_module)
        self.scale = self.scaler.get_scale() if self.scaler is not None else None

    def on_after_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.global_step == INF_AT:
            grad = next(p for p in pl_module.parameters() if p.grad is not None).grad
            assert grad is not None
            grad.view(-1)[0] = math.inf

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        after = weights(pl_module)
        state = trainer.optimizers[0].state
        self.rows.append(
            {
                "changed": [k for k in after if not torch.equal(after[k], self.before[k])],
                "finite": all(torch.isfinite(v).all() for v in after.values()),
                "scale_before": self.scale,
                "scale_after": self.scaler.get_scale() if self.scaler is not None else None,
                "adam_steps": max((int(s["step"]) for s in state.values()), default=0),
            }
        )


def fp16_on_cpu() -> tuple[MixedPrecision, torch.amp.GradScaler]:
    scaler = torch.amp.GradScaler("cpu")
    return MixedPrecision("16-mixed", "cpu", scaler=scaler), scaler


@pytest.mark.parametrize("attention,mode", [("luong", "parallel"), ("bahdanau", "sequential")])
def test_an_inf_gradient_under_fp16_skips_the_step_and_halves_the_loss_scale(attention: str, mode: str) -> None:
    dm = small_data()
    model = small_model(dm, config={"embedding_dim": 12, "hidden_size": 16, "attention": attention})
    model.teacher_forcing = TeacherForcing(start=0.5, mode=mode)
    plugin, scaler = fp16_on_cpu()
    probe = InfGradientAt(scaler)
    model.model.decoder.out.register_forward_hook(lambda m, i, out: probe.logits_dtypes.add(out.dtype))
    quiet_trainer(validate=False, max_steps=INF_AT + 3, plugins=[plugin], callbacks=[probe]).fit(model, dm)

    assert torch.float16 in probe.logits_dtypes, "the forward pass really ran in float16"
    skipped = probe.rows[INF_AT]
    assert skipped["changed"] == [], "no weight moved on the step with the inf gradient"
    assert skipped["scale_after"] == skipped["scale_before"] / 2
    assert skipped["adam_steps"] == INF_AT, "the optimizer step was skipped"
    for i, row in enumerate(probe.rows):
        assert row["finite"], f"non-finite weights after step {i}"
        if i != INF_AT:
            assert row["changed"], f"step {i} updated the weights"
            assert row["scale_after"] == row["scale_before"]
    assert probe.rows[-1]["adam_steps"] == INF_AT + 2


def test_without_a_scaler_the_same_inf_corrupts_the_weights() -> None:
    """What the scaler protects against: plain float32 training applies the inf and goes NaN."""
    dm = small_data()
    model = small_model(dm)
    probe = InfGradientAt(None)
    quiet_trainer(validate=False, max_steps=INF_AT + 1, callbacks=[probe]).fit(model, dm)
    assert not probe.rows[INF_AT]["finite"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_an_inf_gradient_under_16_mixed_on_gpu_skips_the_step() -> None:
    dm = small_data()
    model = small_model(dm)
    trainer = quiet_trainer(validate=False, accelerator="gpu", max_steps=INF_AT + 3, precision="16-mixed")
    scaler = trainer.precision_plugin.scaler  # type: ignore[attr-defined]
    probe = InfGradientAt(scaler)
    trainer.callbacks.append(probe)  # type: ignore[attr-defined]
    trainer.fit(model, dm)
    skipped = probe.rows[INF_AT]
    assert skipped["changed"] == [] and skipped["scale_after"] == skipped["scale_before"] / 2
    assert all(row["finite"] for row in probe.rows)


# -- edge-case rows in every dtype ---------------------------------------------------------------


def edge_batch() -> dict[str, torch.Tensor]:
    """Rows: fully padded (source and target), length-1 source and target, length-1 source with an
    empty target (only ``<eos>``), and a full-length row."""
    source = torch.tensor([[0, 0, 0], [5, 0, 0], [6, 0, 0], [4, 7, 8]])
    lengths = torch.tensor([0, 1, 1, 3])
    target_in = torch.tensor([[0, 0, 0], [BOS_ID, 9, 0], [BOS_ID, 0, 0], [BOS_ID, 4, 5]])
    target_out = torch.tensor([[0, 0, 0], [9, EOS_ID, 0], [EOS_ID, 0, 0], [4, 5, EOS_ID]])
    return {"source": source, "source_lengths": lengths, "target_in": target_in, "target_out": target_out}


DTYPES = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}
CASES = list(itertools.product(DTYPES, ("gru", "lstm"), ("luong", "bahdanau", "none"), (False, True)))


@pytest.mark.parametrize("dtype,cell,attention,bidirectional", CASES)
def test_padded_and_length_one_rows_give_no_nan(dtype: str, cell: str, attention: str, bidirectional: bool) -> None:
    torch.manual_seed(0)
    config = Seq2SeqConfig(
        cell=cell, attention=attention, bidirectional=bidirectional, embedding_dim=8, hidden_size=8, dropout=0.1
    )
    model = Seq2Seq(config, 10, 10).train()
    b = edge_batch()
    mode = "sequential" if attention == "bahdanau" else "parallel"
    tf = TeacherForcing(start=0.5, mode=mode, feed="sample")
    generator = torch.Generator().manual_seed(0)
    autocast = torch.autocast("cpu", dtype=DTYPES[dtype], enabled=DTYPES[dtype] is not None)
    with autocast:
        forced = model(b["source"], b["source_lengths"], b["target_in"])  # (B, T, V)
        gold = draw_coins(b["target_in"], 0.5, "token", generator)
        scheduled = model.scheduled_forward(b["source"], b["source_lengths"], b["target_in"], gold, tf, 0.5, generator)
        loss = masked_cross_entropy(forced, b["target_out"]) + masked_cross_entropy(scheduled, b["target_out"])
        padding_only = masked_cross_entropy(forced[:1], b["target_out"][:1])
    if DTYPES[dtype] is not None:
        assert forced.dtype == DTYPES[dtype]
    assert torch.isfinite(forced).all() and torch.isfinite(scheduled).all()
    assert torch.isfinite(loss) and padding_only.item() == 0.0, "a row of padding only adds nothing, not NaN"
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), f"{name}: missing or non-finite gradient"
    model.eval()
    with autocast, torch.no_grad():
        generated, _ = model.generate(b["source"], b["source_lengths"], max_length=4)
    assert generated.shape[0] == 4 and (generated < 10).all() and (generated != PAD_ID).any(), "ids of the vocabulary"
    eos = (generated == EOS_ID).long()  # (B, L)
    after_eos = (eos.cumsum(1) - eos) > 0
    assert (generated[after_eos] == PAD_ID).all(), "only <pad> after a row's <eos>"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("attention,mode", [("luong", "parallel"), ("bahdanau", "sequential")])
def test_16_mixed_on_gpu_runs_float16_and_its_cuda_scaler_skips_the_inf_step(attention: str, mode: str) -> None:
    """The CPU test above with Lightning's own ``16-mixed`` on a GPU: a CUDA ``GradScaler``, float16 logits."""
    dm = small_data()
    model = small_model(dm, config={"embedding_dim": 12, "hidden_size": 16, "attention": attention})
    model.teacher_forcing = TeacherForcing(start=0.5, mode=mode)
    trainer = quiet_trainer(validate=False, accelerator="gpu", max_steps=INF_AT + 3, precision="16-mixed")
    plugin = trainer.precision_plugin
    assert isinstance(plugin, MixedPrecision) and plugin.scaler is not None
    probe = InfGradientAt(plugin.scaler)
    model.model.decoder.out.register_forward_hook(lambda m, i, out: probe.logits_dtypes.add(out.dtype))
    trainer.callbacks.append(probe)  # type: ignore[attr-defined]
    trainer.fit(model, dm)

    assert plugin.scaler._scale is not None and plugin.scaler._scale.is_cuda, "a CUDA scaler"
    assert torch.float16 in probe.logits_dtypes, "the forward pass really ran in float16"
    skipped = probe.rows[INF_AT]
    assert skipped["changed"] == [] and skipped["adam_steps"] == INF_AT, "the optimizer step was skipped"
    assert skipped["scale_after"] == skipped["scale_before"] / 2
    for i, row in enumerate(probe.rows):
        assert row["finite"], f"non-finite weights after step {i}"
        if i != INF_AT:
            assert row["changed"], f"step {i} updated the weights"
            assert row["scale_after"] == row["scale_before"]
    assert probe.rows[-1]["adam_steps"] == INF_AT + 2
