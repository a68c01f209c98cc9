"""The teacher-forcing coins: shapes per granularity, extremes, and the fraction fed from the model."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from lit_seq2seq import LitSeq2Seq
from lit_seq2seq.scheduled_sampling import (
    applied_ratio,
    draw_coins,
    fed_from_model,
    gold_probability,
    mix_inputs,
    model_tokens,
)
from seq2seq_fit import TeacherForcing
from tests.helpers.lightning import quiet_trainer, random_batch, small_data, small_model, tiny_model


def padded_targets(b: int = 64, t: int = 40) -> torch.Tensor:
    lengths = torch.arange(b) % (t - 5) + 5
    target_in = torch.full((b, t), 7)
    target_in[:, 0] = 1
    target_in[torch.arange(t) >= lengths[:, None]] = 0
    return target_in


@pytest.mark.parametrize("granularity", ["token", "sequence", "batch"])
def test_ratio_one_feeds_only_gold_and_ratio_zero_only_model_tokens(granularity: str) -> None:
    target_in = padded_targets()
    assert draw_coins(target_in, 1.0, granularity).all()
    assert fed_from_model(draw_coins(target_in, 1.0, granularity), target_in) == 0
    gold = draw_coins(target_in, 0.0, granularity)
    assert gold[:, 0].all() and not gold[:, 1:].any()
    assert fed_from_model(gold, target_in) == 1


@pytest.mark.parametrize("granularity", ["token", "sequence", "batch"])
@pytest.mark.parametrize("ratio", [0.2, 0.7])
def test_fed_from_model_tracks_one_minus_ratio(granularity: str, ratio: float) -> None:
    target_in = padded_targets()
    g = torch.Generator().manual_seed(0)
    fractions = torch.stack(
        [fed_from_model(draw_coins(target_in, ratio, granularity, g), target_in) for _ in range(400)]
    )
    # a single draw of the coarse granularities is noisy (64 or 40 coins), the mean of 400 is not:
    # its standard error is below 0.004 for every granularity here, so 0.02 is over five of them
    assert abs(fractions.mean().item() - (1 - ratio)) < 0.02


def test_coins_are_shaped_by_granularity() -> None:
    target_in = padded_targets(8, 10)
    g = torch.Generator().manual_seed(0)
    seq = draw_coins(target_in, 0.5, "sequence", g)[:, 1:]
    assert (seq == seq[:, :1]).all(), "one coin per example"
    batch = draw_coins(target_in, 0.5, "batch", g)
    assert (batch == batch[:1]).all(), "one coin per time step"
    token = draw_coins(target_in, 0.5, "token", g)[:, 1:]
    assert not (token == token[:, :1]).all() and not (token == token[:1]).all()


def test_same_generator_state_gives_same_coins() -> None:
    target_in = padded_targets()
    a = draw_coins(target_in, 0.5, "token", torch.Generator().manual_seed(5))
    b = draw_coins(target_in, 0.5, "token", torch.Generator().manual_seed(5))
    c = draw_coins(target_in, 0.5, "token", torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_mix_inputs_feeds_the_previous_positions_prediction() -> None:
    target_in = torch.tensor([[1, 5, 6, 7]])
    predictions = torch.tensor([[8, 9, 10, 11]])
    gold = torch.tensor([[True, False, True, False]])
    assert mix_inputs(gold, target_in, predictions).tolist() == [[1, 8, 6, 10]]


def test_model_tokens_argmax_and_seeded_sampling() -> None:
    logits = torch.tensor([[[0.0, 3.0, 1.0], [2.0, 0.0, 0.0]]], requires_grad=True)
    assert model_tokens(logits, "argmax").tolist() == [[1, 0]]
    a = model_tokens(logits, "sample", 1.0, torch.Generator().manual_seed(1))
    b = model_tokens(logits, "sample", 1.0, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == (1, 2) and not a.requires_grad
    cold = model_tokens(logits.expand(500, 2, 3), "sample", 0.01, torch.Generator().manual_seed(0))
    assert (cold == torch.tensor([1, 0])).all(), "a tiny temperature samples the argmax"
    with pytest.raises(ValueError, match="feed"):
        model_tokens(logits, "beam")


# ---- schedules over the decoding position

#: f(t) = 0.85 ** t alone (the step ratio is 0): gold at t = 1 with 0.85, at t = 19 with 0.046.
BY_POSITION = TeacherForcing(schedule="constant", start=0.0, position_schedule="exponential", position_k=0.85)


@pytest.mark.parametrize("granularity", ["token", "sequence", "batch"])
def test_coins_follow_the_probability_of_each_position(granularity: str) -> None:
    target_in = torch.full((512, 20), 7)
    target_in[:, 0] = 1
    p = gold_probability(BY_POSITION, 0.0, target_in)
    assert isinstance(p, torch.Tensor) and p.shape == (20,)
    g = torch.Generator().manual_seed(0)
    gold = torch.cat([draw_coins(target_in, p, granularity, g) for _ in range(8)]).float()  # (4096, 20)
    rate = gold.mean(0)
    # a "batch" coin is one per position and draw (8 draws): its rate is the noisiest, so the mean of
    # many draws is compared for it; the others have 4096 coins per position (standard error < 0.008)
    if granularity == "batch":
        rate = torch.stack([draw_coins(target_in, p, granularity, g)[0].float() for _ in range(2000)]).mean(0)
    assert rate[0] == 1.0
    assert (rate[1:] - p[1:]).abs().max() < 0.04, (rate, p)
    assert rate[1:5].mean() > rate[15:].mean() + 0.4, "early positions are fed gold more often than late ones"
    if granularity == "sequence":
        assert (gold[:, 1:] <= gold[:, :-1]).all(), "one coin per example: gold up to a position, then the model's"


def test_gold_probability_is_the_ratio_without_a_position_schedule() -> None:
    target_in = torch.ones(2, 5, dtype=torch.long)
    assert gold_probability(TeacherForcing(schedule="linear"), 0.3, target_in) == 0.3
    composite = TeacherForcing(schedule="linear", position_schedule="linear", position_k=8.0)
    assert gold_probability(composite, 0.5, target_in).tolist() == pytest.approx([1 - t * 0.5 / 8 for t in range(5)])


def test_applied_ratio_averages_the_probability_over_real_inputs() -> None:
    target_in = torch.tensor([[1, 5, 6, 0], [1, 5, 0, 0]])
    p = torch.tensor([1.0, 0.8, 0.4, 0.1])
    assert applied_ratio(p, target_in).item() == pytest.approx((0.8 + 0.4 + 0.8) / 3)
    assert applied_ratio(0.3, target_in).item() == pytest.approx(0.3)


@pytest.mark.parametrize("mode", ["sequential", "parallel"])
def test_the_training_loss_draws_coins_by_position_in_both_modes(mode: str) -> None:
    model = tiny_model(attention="luong")
    batch = random_batch(b=256, t=12, seed=3)
    batch["target_in"][:, 1:] = batch["target_in"][:, 1:].clamp(min=4)  # no padding: every position counts
    tf = TeacherForcing(**{**BY_POSITION.to_dict(), "mode": mode})
    loss, gold = model.loss(
        batch["source"], batch["source_lengths"], batch["target_in"], batch["target_out"], tf, 0.0,
        torch.Generator().manual_seed(0),
    )  # fmt: skip
    rate = gold.float().mean(0)
    assert torch.isfinite(loss)
    assert rate[0] == 1.0 and rate[1] > 0.7 and rate[-1] < 0.35, rate
    assert rate[1:4].mean() > rate[-3:].mean() + 0.3


def test_module_logs_the_applied_ratio_beside_the_step_schedule(tmp_path: Path) -> None:
    dm = small_data(n_train=32, batch_size=8)
    tf = {"schedule": "linear", "start": 1.0, "end": 0.0, "decay_steps": 4, "position_schedule": "exponential",
          "position_k": 0.5}  # fmt: skip
    model = small_model(dm, teacher_forcing=tf)
    seen: list[tuple[float, float, float]] = []

    class Record(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, *args) -> None:  # type: ignore[no-untyped-def]
            m = trainer.callback_metrics
            seen.append(
                (float(m["train/tf_ratio"]), float(m["train/tf_ratio_applied"]), float(m["train/fed_from_model"]))
            )

    trainer = quiet_trainer(validate=False, max_steps=4, callbacks=[Record()])
    trainer.fit(model, dm)
    ratios = [r for r, _, _ in seen]
    assert ratios == pytest.approx([1.0, 0.75, 0.5, 0.25]), "tf_ratio stays the step schedule"
    assert seen[0][1] == 1.0 and seen[0][2] == 0.0, "step 0: teacher forcing at every position"
    assert seen[-1][1] < seen[1][1] < 1.0, "the applied mean falls as the step ratio does"
    # the position fields travel with the model: checkpoint and model directory
    trainer.save_checkpoint(tmp_path / "model.ckpt")
    assert LitSeq2Seq.load_from_checkpoint(tmp_path / "model.ckpt").teacher_forcing == model.teacher_forcing
    model.save_pretrained(tmp_path / "model")
    assert LitSeq2Seq.from_pretrained(tmp_path / "model").teacher_forcing == TeacherForcing.from_dict(tf)
