"""Same weights: Lightning and Keras give identical greedy, beam and sampled outputs (one shared search).

Every configuration (cell x attention x bidirectional: ``BACKEND_CASES``), beam widths 1-5, length penalties 0, 0.6
and 1.5, and ``max_length`` 3 (short enough that some beams are cut before their ``<eos>``) as
well as the default budget. The parity folder reruns this on every Keras backend.
"""

from __future__ import annotations

import pytest

from tests.helpers.parity import BACKEND_CASES, CASES, TOKENS, twins

#: Sources of lengths 5, 3, 1, 7 and 2 (tokens ``a``-``p``).
SOURCES = [list("abcde"), list("ijk"), ["m"], list("ponmlkj"), list("fa")]
WIDTHS = (1, 2, 3, 4, 5)
PENALTIES = (0.0, 0.6, 1.5)
SHORT = 3


@pytest.mark.backend_independent
def test_sources_use_the_parity_vocabulary():
    assert all(token in TOKENS for source in SOURCES for token in source)


@pytest.mark.parametrize("case", BACKEND_CASES)
def test_greedy_beam_and_sampled_outputs_are_identical(case):
    lit, model = twins(CASES[case])
    greedy = lit.translate(SOURCES)
    assert model.translate(SOURCES) == greedy
    cut = 0
    for max_length in (None, SHORT):
        for width in WIDTHS:
            for alpha in PENALTIES:
                options = {"strategy": "beam", "beam_width": width, "length_penalty": alpha, "max_length": max_length}
                expected = lit.translate(SOURCES, **options)
                assert model.translate(SOURCES, **options) == expected, options
                if width == 1 and alpha == 0.0 and max_length is None:
                    assert expected == greedy, "beam width 1 without length penalty is greedy"
                if max_length == SHORT:
                    cut += sum(len(out) == SHORT for out in expected)  # SHORT tokens and no room for <eos>
    assert cut > 0, "some beams were cut at max_length before finishing"
    sample = {"strategy": "sample", "seed": 0, "temperature": 0.7, "top_k": 5}
    assert model.translate(SOURCES, **sample) == lit.translate(SOURCES, **sample)
