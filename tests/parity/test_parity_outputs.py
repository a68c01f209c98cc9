"""Same weights, same inputs: Lightning and Keras give the same logits (decoded outputs: test_parity_search.py)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.keras import BACKEND
from tests.helpers.parity import BACKEND_CASES, CASES, keras_logits, lit_logits, twins

#: Largest |logit difference| accepted between the frameworks (fp32 on CPU).
TOLERANCE = 1e-4


@pytest.mark.parametrize("case", BACKEND_CASES)
def test_teacher_forced_logits_match(case, logit_differences):
    lit, model = twins(CASES[case])
    expected, actual = lit_logits(lit), keras_logits(model)
    assert actual.shape == expected.shape == (3, 6, 20)
    diff = float(np.abs(actual - expected).max())
    logit_differences[case] = diff
    print(f"{BACKEND} {case}: max |logit difference| {diff:.3e}")
    assert diff < TOLERANCE
