"""The GNMT length penalty (the argument checks are in test_translate.py)."""

import numpy as np
import pytest

from seq2seq_fit import length_penalty


def test_length_penalty_values():
    assert length_penalty(1, 0.0) == 1.0
    assert length_penalty(1, 1.0) == 1.0
    assert length_penalty(7, 1.0) == pytest.approx(2.0)
    assert length_penalty(7, 0.5) == pytest.approx(2.0**0.5)
    np.testing.assert_allclose(length_penalty(np.array([1, 7]), 1.0), [1.0, 2.0])


def test_longer_hypothesis_wins_with_length_penalty():
    short, long_ = (-2.0, 3), (-2.6, 9)
    assert short[0] > long_[0]  # raw log-probability prefers the short one
    assert long_[0] / length_penalty(long_[1], 1.0) > short[0] / length_penalty(short[1], 1.0)
