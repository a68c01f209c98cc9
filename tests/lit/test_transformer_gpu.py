"""The torch Transformer on a CUDA GPU: fp16 with loss scaling and bf16 training, the cached step on the device.

Marked ``gpu`` and skipped without CUDA (``pytest -m gpu`` on a lent device).
"""

from __future__ import annotations

import pytest
import torch

from lit_seq2seq import LitSeq2Seq
from lit_seq2seq.transformer import Transformer
from seq2seq_fit import Seq2SeqConfig
from tests.helpers.lightning import quiet_trainer, random_batch, small_data

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

TRANSFORMER = {"architecture": "transformer", "hidden_size": 16, "embedding_dim": 16, "num_heads": 2}


@pytest.mark.parametrize("precision", ["16-mixed", "bf16-mixed"])
def test_mixed_precision_trains_a_transformer(precision: str) -> None:
    dm = small_data(n_train=16)
    torch.manual_seed(0)
    schedule = {"start": 0.5, "mode": "parallel", "passes": 2}
    model = LitSeq2Seq(dm.src_vocab, dm.tgt_vocab, TRANSFORMER, schedule, lr=0.01)
    trainer = quiet_trainer(accelerator="gpu", devices=1, max_steps=4, precision=precision, limit_val_batches=1)
    trainer.fit(model, dm)
    assert trainer.global_step == 4
    assert torch.isfinite(trainer.callback_metrics["train/loss"]) and torch.isfinite(
        trainer.callback_metrics["val/loss"]
    )
    if precision == "16-mixed":
        assert getattr(trainer.precision_plugin, "scaler", None) is not None, "fp16 trains with loss scaling"


def test_the_cached_step_gives_the_teacher_forced_logits_on_the_device() -> None:
    torch.manual_seed(0)
    config = Seq2SeqConfig(architecture="transformer", hidden_size=16, embedding_dim=16, num_heads=2, num_layers=2)
    model = Transformer(config, 11, 13).cuda().eval()
    batch = {k: v.cuda() for k, v in random_batch().items()}
    full = model(batch["source"], None, batch["target_in"])
    memory, state = model.encode(batch["source"])
    steps = []
    for t in range(batch["target_in"].size(1)):
        logits, state, _ = model.decoder.step(batch["target_in"][:, t], state, memory)
        steps.append(logits)
    torch.testing.assert_close(torch.stack(steps, 1), full, atol=1e-4, rtol=0)
    with torch.autocast("cuda", dtype=torch.float16):
        half = model(batch["source"], None, batch["target_in"])
    assert bool(torch.isfinite(half).all())
    torch.testing.assert_close(half.float(), full, atol=0.05, rtol=0.05)
