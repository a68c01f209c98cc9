"""The shared schedules: Keras' in-graph ratio (from ``optimizer.iterations``) equals Lightning's
host ratio (from ``trainer.global_step``) step for step."""

from __future__ import annotations

import numpy as np
import pytest

import keras
from keras_seq2seq.seq2seq_model import Seq2SeqModel
from lit_seq2seq import LitSeq2Seq
from tests.helpers.keras import to_numpy
from tests.helpers.parity import TOKENS

SCHEDULES = {
    "constant": {"schedule": "constant", "start": 0.7},
    "linear": {"schedule": "linear", "start": 0.9, "end": 0.1, "decay_steps": 150},
    "exponential": {"schedule": "exponential", "start": 1.0, "end": 0.05, "k": 0.98},
    "inverse_sigmoid": {"schedule": "inverse_sigmoid", "k": 20.0},
}
STEPS = 200
#: A few float32 rounding steps of a ratio in [0, 1].
RATIO_TOLERANCE = 5e-7


@pytest.mark.parametrize("schedule", list(SCHEDULES))
def test_keras_and_lightning_ratios_match_step_for_step(schedule):
    config = {"hidden_size": 8, "embedding_dim": 8}
    lit = LitSeq2Seq(TOKENS, TOKENS, config, SCHEDULES[schedule])
    model = Seq2SeqModel(TOKENS, TOKENS, config, lit.teacher_forcing)
    model.compile(optimizer=keras.optimizers.SGD())
    host, graph = [], []
    for step in range(STEPS):
        model.optimizer.iterations.assign(step)
        graph.append(float(to_numpy(model.ratio())))
        host.append(float(lit.teacher_forcing.ratio(step)))  # what LitSeq2Seq.training_step logs
    # Keras computes in float32 inside the graph, the host in float64: they agree to float32
    # rounding (measured: at most 1.2e-7, docs/parity.md), not bit for bit.
    diff = np.abs(np.float32(graph) - np.float32(host))
    print(f"{schedule}: max |ratio difference| {diff.max():.3e} over {STEPS} steps")
    np.testing.assert_allclose(graph, host, rtol=0, atol=RATIO_TOLERANCE)
    assert (host[-1] < host[0]) == (schedule != "constant")  # the schedule really moves


#: warm-up, cosine decay and the floor after it all fall inside the steps compared.
LR_SCHEDULE = {"warmup_steps": 20, "lr_decay_steps": 150, "min_lr_ratio": 0.05}


def test_keras_and_lightning_learning_rates_match_step_for_step():
    """``LitSeq2Seq``'s ``LambdaLR`` (stepped after every optimizer step, as Lightning steps it) and
    ``WarmupCosineDecay`` at ``optimizer.iterations`` give step ``k`` the same learning rate."""
    from keras_seq2seq import WarmupCosineDecay

    config = {"hidden_size": 8, "embedding_dim": 8}
    lit = LitSeq2Seq(TOKENS, TOKENS, config, lr=3e-3, **LR_SCHEDULE)
    configured = lit.configure_optimizers()
    optimizer, scheduler = configured["optimizer"], configured["lr_scheduler"]["scheduler"]
    model = Seq2SeqModel(TOKENS, TOKENS, config, lit.teacher_forcing)
    model.compile(optimizer=keras.optimizers.AdamW(WarmupCosineDecay(3e-3, **LR_SCHEDULE), weight_decay=0.0))
    host, graph = [], []
    for step in range(STEPS):
        host.append(optimizer.param_groups[0]["lr"])
        model.optimizer.iterations.assign(step)
        graph.append(float(to_numpy(model.optimizer.learning_rate)))
        optimizer.step()
        scheduler.step()
    np.testing.assert_allclose(graph, host, rtol=1e-6, atol=0)
    assert host[0] == pytest.approx(3e-3 / 20) and host[19] == pytest.approx(3e-3)
    assert host[-1] == pytest.approx(3e-3 * 0.05)
