"""Schedules as in REFERENCE.md section 1, checked at step 0, mid-way, at the end and past it."""

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


def test_parallel_mode_refused_with_bahdanau():
    with pytest.raises(ValueError, match=r"parallel.*bahdanau"):
        check_compatible(Seq2SeqConfig(attention="bahdanau"), TeacherForcing(mode="parallel"))
    check_compatible(Seq2SeqConfig(attention="luong"), TeacherForcing(mode="parallel"))
    check_compatible(Seq2SeqConfig(attention="bahdanau"), TeacherForcing(mode="sequential"))
