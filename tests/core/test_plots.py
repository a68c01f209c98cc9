"""Schedule and attention plots render and save."""

import numpy as np
import pytest

from seq2seq_fit import TeacherForcing
from seq2seq_fit.plots import plot_attention, plot_schedule

pytest.importorskip("matplotlib")


def test_plot_schedule_draws_every_schedule(tmp_path):
    schedules = {
        "linear": TeacherForcing(schedule="linear", decay_steps=5000),
        "exponential": TeacherForcing(schedule="exponential", k=0.9995),
        "inverse sigmoid": TeacherForcing(schedule="inverse_sigmoid", k=800),
        "constant": TeacherForcing(start=0.5),
    }
    out = tmp_path / "schedules.png"
    fig = plot_schedule(schedules, steps=10_000, path=out)
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == list(schedules)
    linear = lines[0].get_ydata()
    assert linear[0] == pytest.approx(1.0) and linear[-1] == pytest.approx(0.0)
    assert out.stat().st_size > 5000


def test_plot_attention_crops_to_tokens_and_saves(tmp_path):
    weights = np.full((6, 7), 0.1)
    out = tmp_path / "attention.png"
    fig = plot_attention(weights, list("cat"), ["K", "AE", "T"], path=out)
    assert fig.axes[0].images[0].get_array().shape == (3, 3)
    assert out.stat().st_size > 2000
    with pytest.raises(ValueError, match="2-D"):
        plot_attention(np.zeros(3), ["a"], ["b"])
