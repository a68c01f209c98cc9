"""The shared schedules: Keras' in-graph ratio (from ``optimizer.iterations``) equals Lightning's
host ratio (from ``trainer.global_step``) step for step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import keras
from keras_seq2seq.scheduled_sampling import gold_probability as keras_gold_probability
from keras_seq2seq.seq2seq import masked_cross_entropy as keras_cross_entropy
from keras_seq2seq.system import Seq2SeqModel
from lit_seq2seq import LitSeq2Seq
from lit_seq2seq.scheduled_sampling import gold_probability as lit_gold_probability
from lit_seq2seq.seq2seq import masked_cross_entropy as lit_cross_entropy
from seq2seq_fit import TeacherForcing
from tests.helpers.keras import to_numpy
from tests.helpers.parity import CASES, SOURCE, TARGET_IN, TOKENS, twins

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


#: The decoding-position schedules, each combined with a decaying step schedule.
POSITION_SCHEDULES = {
    name: {"schedule": "inverse_sigmoid", "k": 20.0, "position_schedule": name, "position_k": k, "position_end": 0.05}
    for name, k in (("exponential", 0.8), ("sigmoid", 3.0), ("linear", 6.0))
}


@pytest.mark.parametrize("position_schedule", list(POSITION_SCHEDULES))
def test_keras_and_lightning_position_probabilities_match_step_for_step(position_schedule):
    """What each side's coins are compared with: Keras in the graph at ``optimizer.iterations``,
    Lightning on the host at ``trainer.global_step``, for every position of the batch."""
    config = {"hidden_size": 8, "embedding_dim": 8}
    lit = LitSeq2Seq(TOKENS, TOKENS, config, POSITION_SCHEDULES[position_schedule])
    model = Seq2SeqModel(TOKENS, TOKENS, config, lit.teacher_forcing)
    model.compile(optimizer=keras.optimizers.SGD())
    target_in = np.ones((2, 12), "int32")
    host, graph = [], []
    for step in range(0, STEPS, 10):
        model.optimizer.iterations.assign(step)
        graph.append(to_numpy(keras_gold_probability(model.teacher_forcing, model.ratio(), target_in)))
        ratio = float(lit.teacher_forcing.ratio(step))  # what LitSeq2Seq.training_step passes to the loss
        host.append(lit_gold_probability(lit.teacher_forcing, ratio, torch.from_numpy(target_in)).numpy())
    np.testing.assert_allclose(graph, host, rtol=0, atol=5 * RATIO_TOLERANCE)
    assert host[-1][-1] < host[-1][1] < host[0][1], "falls with the position and with the step"


#: Both modes with every attention (parallel Bahdanau runs the step loop in each pass).
PARITY_CASES = [
    (case, mode)
    for case in ("gru-luong-general-uni", "lstm-none-bi", "gru-bahdanau-uni")
    for mode in ("sequential", "parallel")
]


@pytest.mark.parametrize(("case", "mode"), PARITY_CASES)
def test_same_weights_and_coins_give_the_same_scheduled_loss(case, mode):
    """The coins drawn at the per-position probabilities of the core (one numpy draw shared by both),
    then each side's scheduled forward feeds its own argmax where a coin says "model". One parallel
    pass, so that parallel mode feeds other tokens than the sequential loop (a run of model tokens)."""
    tf = TeacherForcing(
        schedule="linear", start=1.0, end=0.0, decay_steps=100, mode=mode, passes=1,
        position_schedule="exponential", position_k=0.6,
    )  # fmt: skip
    lit, model = twins(CASES[case], seed=4)
    step = 80  # eps = 0.2: p(t) = 0.6 ** (0.8 t), from 1 at t = 0 to 0.19 at t = 5
    p = tf.position_ratio(step, np.arange(TARGET_IN.shape[1]), exp=np.exp, maximum=np.maximum)
    gold = np.random.default_rng(0).uniform(size=TARGET_IN.shape) < p  # (B, T)
    gold[:, 0] = True
    assert not gold.all() and gold[:, 1].sum() > gold[:, -1].sum()
    target_out = np.concatenate([TARGET_IN[:, 1:], np.zeros((3, 1), "int32")], axis=1)  # any labels will do
    source, lit_target_out = torch.from_numpy(SOURCE).long(), torch.from_numpy(target_out).long()
    lengths, lit_target_in, lit_gold = (source != 0).sum(1), torch.from_numpy(TARGET_IN).long(), torch.from_numpy(gold)
    with torch.no_grad():
        logits = lit.model.scheduled_forward(source, lengths, lit_target_in, lit_gold, tf, 0.2)
        expected = float(lit_cross_entropy(logits, lit_target_out))
        forced = float(lit_cross_entropy(lit(source, lengths, lit_target_in), lit_target_out))
        sequential = TeacherForcing(**{**tf.to_dict(), "mode": "sequential"})
        looped = lit.model.scheduled_forward(source, lengths, lit_target_in, lit_gold, sequential, 0.2)
    assert abs(expected - forced) > 1e-3, "the coins that say 'model' change the loss"
    # one pass feeds the first pass's argmax where the loop fed its own (the logits of later positions differ)
    assert bool((logits - looped).abs().max() > 1e-3) == (mode == "parallel"), "one parallel pass is not the loop"
    keras_logits = model.model.scheduled_forward(SOURCE, TARGET_IN, gold, tf, training=False)
    actual = float(to_numpy(keras_cross_entropy(keras_logits, target_out)))
    print(f"{case} {mode}: scheduled loss {expected:.6f} (Lightning) vs {actual:.6f} (Keras)")
    assert actual == pytest.approx(expected, abs=1e-4)
    np.testing.assert_allclose(to_numpy(keras_logits), logits.numpy(), rtol=0, atol=1e-4)
