"""The shared learning-rate schedule: warm-up, cosine decay, floor, and its argument checks."""

from __future__ import annotations

import itertools
import math

import pytest

from seq2seq_fit import check_lr_schedule, lr_factor


def test_warmup_alone_ramps_linearly_then_stays_at_one():
    assert [lr_factor(s, warmup_steps=4) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_no_schedule_is_the_constant_base_rate():
    assert {lr_factor(s) for s in (0, 1, 10, 10**9)} == {1.0}


def test_cosine_decay_runs_from_one_to_the_floor_after_the_warmup():
    factors = [lr_factor(s, warmup_steps=10, decay_steps=100, min_lr_ratio=0.1) for s in range(200)]
    assert factors[9] == 1.0  # the last warm-up step
    # half way through the decay the cosine is at the mid point between 1 and the floor
    assert factors[9 + 50] == pytest.approx(0.55)
    assert factors[9 + 100 :] == pytest.approx([0.1] * 91)
    decay = factors[9:110]
    assert all(a > b for a, b in itertools.pairwise(decay))  # strictly decreasing


def test_decay_without_warmup_starts_just_below_one():
    first = lr_factor(0, decay_steps=100)
    assert first == pytest.approx(0.5 * (1 + math.cos(math.pi / 100)))
    assert lr_factor(99, decay_steps=100) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-1, 0, 0.0), r"warmup_steps.*-1"),
        ((0, 2.5, 0.0), r"lr_decay_steps.*2\.5"),
        ((0, 10, 1.5), r"min_lr_ratio.*1\.5"),
        ((0, 10, -0.1), r"min_lr_ratio.*-0\.1"),
    ],
)
def test_bad_schedule_arguments_name_the_owner_and_value(args, message):
    with pytest.raises(ValueError, match=message) as info:
        check_lr_schedule("Owner", *args)
    assert "Owner" in str(info.value)
