"""WER/PER with several references (Sequitur's rule) and exact match."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seq2seq_fit import edit_distance, exact_match, g2p_scores, phone_error_rate, word_error_rate


def reference_edit_distance(a, b):
    """Textbook dynamic programme, to check the library call against."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


@given(st.lists(st.sampled_from("abcd"), max_size=8), st.lists(st.sampled_from("abcd"), max_size=8))
def test_edit_distance_matches_reference(a, b):
    assert edit_distance(a, b) == reference_edit_distance(a, b)


def test_any_reference_counts_as_correct():
    hyps = [["T", "OW", "M"], ["K", "AE", "T"]]
    refs = [[["T", "AH", "M"], ["T", "OW", "M"]], [["K", "AE", "T", "S"]]]
    s = g2p_scores(hyps, refs)
    assert s.word_errors == 1 and s.wer == pytest.approx(50.0)
    # word 1 matches its second reference (0 errors, length 3); word 2: 1 deletion of 4 phones.
    assert (s.phone_errors, s.phones) == (1, 7)
    assert s.per == pytest.approx(100 * 1 / 7)
    assert word_error_rate(hyps, refs) == s.wer
    assert phone_error_rate(hyps, refs) == s.per


def test_per_uses_the_closest_reference_length():
    # Closest reference is the 2-phone one (1 substitution), not the 5-phone one.
    s = g2p_scores([["A", "X"]], [[["A", "B", "C", "D", "E"], ["A", "B"]]])
    assert (s.phone_errors, s.phones) == (1, 2)


def test_empty_inputs_and_mismatch():
    s = g2p_scores([], [])
    assert (s.wer, s.per, s.words) == (0.0, 0.0, 0)
    with pytest.raises(ValueError, match="match one to one"):
        g2p_scores([["A"]], [])
    with pytest.raises(ValueError, match="at least one"):
        g2p_scores([["A"]], [[]])


def test_exact_match():
    assert exact_match([["a", "b"], ["c"]], [["a", "b"], ["d"]]) == 0.5
    assert exact_match([], []) == 0.0
    with pytest.raises(ValueError):
        exact_match([["a"]], [])
