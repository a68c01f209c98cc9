"""The teacher-forcing coins: shapes per granularity, extremes, and the fraction fed from the model."""

from __future__ import annotations

import pytest
import torch

from lit_seq2seq.scheduled_sampling import draw_coins, fed_from_model, mix_inputs, model_tokens


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
