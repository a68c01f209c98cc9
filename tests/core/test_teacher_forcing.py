"""Schedules as in docs/architecture.md, checked at step 0, mid-way, at the end and past it."""

import math

import numpy as np
import pytest

from seq2seq_fit import Seq2SeqConfig, TeacherForcing, check_compatible


def test_constant():
    tf = TeacherForcing(schedule="constant", start=0.75)
    assert [tf.ratio(i) for i in (0, 500, 10_000, 10**9)] == [0.75] * 4


def test_linear_values():
    tf = TeacherForcing(schedule="linear", start=1.0, end=0.2, decay_steps=100)
    assert tf.ratio(0) == 1.0
    assert tf.ratio(50) == pytest.approx(0.6)
    assert tf.ratio(100) == pytest.approx(0.2)
    assert tf.ratio(1000) == pytest.approx(0.2)  # floor


def test_exponential_values():
    tf = TeacherForcing(schedule="exponential", start=0.9, end=0.1, k=0.99)
    assert tf.ratio(0) == pytest.approx(0.9)
    assert tf.ratio(100) == pytest.approx(0.9 * 0.99**100)
    step_at_floor = math.ceil(math.log(0.1 / 0.9) / math.log(0.99))
    assert tf.ratio(step_at_floor) == pytest.approx(0.1)
    assert tf.ratio(100_000) == pytest.approx(0.1)


def test_inverse_sigmoid_values():
    k = 100.0
    tf = TeacherForcing(schedule="inverse_sigmoid", start=1.0, end=0.0, k=k)
    assert tf.ratio(0) == pytest.approx(k / (k + 1.0))
    mid = k * math.log(k)  # exp(i/k) == k: the ratio is halfway
    assert tf.ratio(mid) == pytest.approx(0.5)
    assert tf.ratio(2000) == pytest.approx(k / (k + math.exp(20.0)))
    assert tf.ratio(10**7) == 0.0  # exp overflow handled: the floor
    shifted = TeacherForcing(schedule="inverse_sigmoid", start=0.9, end=0.3, k=k)
    assert shifted.ratio(mid) == pytest.approx(0.6)


def test_default_k_depends_on_schedule():
    assert 0 < TeacherForcing(schedule="exponential").k < 1
    assert TeacherForcing(schedule="inverse_sigmoid").k >= 1


@pytest.mark.parametrize("schedule", ["constant", "linear", "exponential", "inverse_sigmoid"])
def test_tensor_path_matches_python_path(schedule):
    tf = TeacherForcing(schedule=schedule, start=0.95, end=0.05, decay_steps=300, k=None)
    steps = np.array([0.0, 1.0, 150.0, 300.0, 5000.0], dtype=np.float64)
    vectorised = tf.ratio(steps, exp=np.exp, maximum=np.maximum)
    expected = [tf.ratio(int(s)) for s in steps]
    np.testing.assert_allclose(np.broadcast_to(vectorised, steps.shape), expected, rtol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"schedule": "cosine"}, "schedule"),
        ({"start": 1.5}, "start"),
        ({"end": -0.1}, "end"),
        ({"schedule": "linear", "start": 0.2, "end": 0.5}, "end"),
        ({"decay_steps": 0}, "decay_steps"),
        ({"schedule": "exponential", "k": 1.0}, "k"),
        ({"schedule": "exponential", "k": 0.0}, "k"),
        ({"schedule": "inverse_sigmoid", "k": 0.5}, "k"),
        ({"granularity": "word"}, "granularity"),
        ({"feed": "beam"}, "feed"),
        ({"temperature": 0.0}, "temperature"),
        ({"mode": "batch"}, "mode"),
        ({"passes": 0}, "passes"),
    ],
)
def test_invalid_parameters_raise_at_construction(kwargs, field):
    with pytest.raises(ValueError, match=rf"TeacherForcing\.{field}: got"):
        TeacherForcing(**kwargs)


def test_dict_round_trip_and_unknown_keys():
    tf = TeacherForcing(schedule="linear", decay_steps=7, granularity="batch", mode="parallel", passes=2)
    assert TeacherForcing.from_dict(tf.to_dict()) == tf
    with pytest.raises(ValueError, match="unknown key"):
        TeacherForcing.from_dict({"ratio": 0.5})


@pytest.mark.parametrize("attention", ["bahdanau", "luong", "none"])
@pytest.mark.parametrize("mode", ["sequential", "parallel"])
def test_every_attention_runs_both_modes(attention, mode):
    """Parallel mode with Bahdanau attention runs the step loop in each pass: nothing is refused."""
    check_compatible(
        Seq2SeqConfig(attention=attention), TeacherForcing(start=0.0, mode=mode, position_schedule="sigmoid")
    )


# ---- schedules over the decoding position ("Scheduled Sampling Based on Decoding Steps for NMT")

#: The position schedule alone: the step schedule's ratio is 0, so p(i, t) = f(t).
ALONE = {"schedule": "constant", "start": 0.0}


def test_position_schedules_alone_at_hand_computed_points():
    exponential = TeacherForcing(**ALONE, position_schedule="exponential", position_k=0.9)
    assert [exponential.position_ratio(0, t) for t in (0, 1, 10)] == pytest.approx([1.0, 0.9, 0.9**10])
    sigmoid = TeacherForcing(**ALONE, position_schedule="sigmoid", position_k=20.0)
    assert sigmoid.position_ratio(0, 0) == pytest.approx(20 / 21)
    assert sigmoid.position_ratio(0, 20 * math.log(20)) == pytest.approx(0.5)  # exp(t / k) == k
    assert sigmoid.position_ratio(0, 10**6) == 0.0  # exp overflow: the floor
    linear = TeacherForcing(**ALONE, position_schedule="linear", position_k=40.0, position_end=0.1)
    assert [linear.position_ratio(0, t) for t in (0, 10, 20, 36, 100)] == pytest.approx([1.0, 0.75, 0.5, 0.1, 0.1])


def test_composite_with_the_step_schedule_is_f_of_t_times_one_minus_eps():
    tf = TeacherForcing(
        schedule="linear", start=1.0, end=0.0, decay_steps=100, position_schedule="exponential", position_k=0.8
    )
    for step, t in [(0, 7), (25, 3), (50, 6), (100, 4), (500, 9)]:
        eps = tf.ratio(step)
        assert tf.position_ratio(step, t) == pytest.approx(0.8 ** (t * (1 - eps)))
    assert [tf.position_ratio(0, t) for t in range(20)] == [1.0] * 20  # eps = 1: teacher forcing everywhere
    assert tf.position_ratio(100, 5) == pytest.approx(0.8**5)  # eps = 0: f(t) itself
    assert tf.position_ratio(50, 10) == pytest.approx(0.8**5)  # halfway: f(t / 2)


@pytest.mark.parametrize("position_schedule", ["exponential", "sigmoid", "linear"])
def test_position_ratio_is_a_probability_falling_with_position_and_with_step(position_schedule):
    tf = TeacherForcing(
        schedule="inverse_sigmoid", k=10.0, position_schedule=position_schedule, position_k=None, position_end=0.05
    )
    grid = np.array([[tf.position_ratio(step, t) for t in range(0, 200, 5)] for step in range(0, 400, 20)])
    assert ((grid >= 0.05) & (grid <= 1.0)).all()
    assert (np.diff(grid, axis=1) <= 1e-12).all(), "never rises with the position"
    assert (np.diff(grid, axis=0) <= 1e-12).all(), "never rises with the step"
    assert grid[-1, -1] < grid[0, 0] and grid[-1, 0] == pytest.approx(tf.position_ratio(10**6, 0))


def test_without_a_position_schedule_every_position_gets_the_step_ratio():
    tf = TeacherForcing(schedule="linear", decay_steps=10)
    assert [tf.position_ratio(4, t) for t in (0, 3, 99)] == [tf.ratio(4)] * 3
    assert TeacherForcing().position_schedule == "none"


@pytest.mark.parametrize("position_schedule", ["none", "exponential", "sigmoid", "linear"])
def test_position_ratio_tensor_path_matches_python_path(position_schedule):
    tf = TeacherForcing(schedule="exponential", k=0.99, position_schedule=position_schedule, position_end=0.02)
    steps = np.array([[0.0], [30.0], [300.0]])  # (3, 1)
    positions = np.arange(0, 60, dtype=np.float64)[None, :]  # (1, 60)
    grid = tf.position_ratio(steps, positions, exp=np.exp, maximum=np.maximum)
    expected = [[tf.position_ratio(int(s), int(t)) for t in positions[0]] for s in steps[:, 0]]
    np.testing.assert_allclose(np.broadcast_to(grid, (3, 60)), expected, rtol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({**ALONE, "position_schedule": "cosine"}, "position_schedule"),
        ({**ALONE, "position_schedule": "exponential", "position_k": 1.0}, "position_k"),
        ({**ALONE, "position_schedule": "sigmoid", "position_k": 0.5}, "position_k"),
        ({**ALONE, "position_schedule": "linear", "position_k": 0.0}, "position_k"),
        ({**ALONE, "position_schedule": "linear", "position_end": 1.5}, "position_end"),
        ({"position_schedule": "linear"}, "position_schedule"),  # constant 1.0: it could never act
    ],
)
def test_invalid_position_parameters_raise_at_construction(kwargs, field):
    with pytest.raises(ValueError, match=rf"TeacherForcing\.{field}: got"):
        TeacherForcing(**kwargs)


def test_position_fields_round_trip_and_old_dicts_keep_their_meaning():
    tf = TeacherForcing(schedule="linear", position_schedule="sigmoid", position_k=8.0, position_end=0.1)
    assert TeacherForcing.from_dict(tf.to_dict()) == tf
    old = {k: v for k, v in TeacherForcing(schedule="linear").to_dict().items() if not k.startswith("position_")}
    assert TeacherForcing.from_dict(old).position_schedule == "none"  # a checkpoint from before these fields
