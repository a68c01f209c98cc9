"""An ONNX export decodes what the framework it came from decodes, for every configuration.

Each case exports the same weights twice, from Lightning (``LitSeq2Seq.export_onnx``) and from
Keras (``Seq2SeqModel.export_onnx``, whose LSTM keeps one bias), and runs both exports with
onnxruntime (:class:`seq2seq_fit.serving.OnnxTranslator`): teacher-forced logits within 1e-4 of
both frameworks', and greedy, beam (several widths and length penalties), sampled outputs and
attention weights equal to both frameworks' ``translate``. The parity folder reruns this on every
Keras backend.
"""

from __future__ import annotations

import numpy as np
import pytest

from seq2seq_fit.serving import OnnxTranslator
from tests.helpers.parity import BACKEND_CASES, CASES, SOURCE, TARGET_IN, keras_logits, lit_logits, twins

#: Sources of lengths 5, 3, 1, 7 and 2 (tokens ``a``-``p``), and one with a token the vocabulary lacks.
SOURCES = [list("abcde"), list("ijk"), ["m"], list("ponmlkj"), list("fa"), ["a", "zz", "b"]]
OPTIONS = [
    {},
    {"strategy": "beam", "beam_width": 1},
    {"strategy": "beam", "beam_width": 3, "length_penalty": 0.6},
    {"strategy": "beam", "beam_width": 5, "length_penalty": 1.5},
    {"strategy": "beam", "beam_width": 4, "max_length": 3},
    {"strategy": "sample", "seed": 0, "temperature": 0.7, "top_k": 5},
    {"batch_size": 2},
]
#: Also decoded by Keras here (greedy and beam): JAX compiles its step for each new shape, which costs time.
KERAS_OPTIONS = [OPTIONS[0], OPTIONS[2]]
TOLERANCE = 1e-4


@pytest.mark.filterwarnings("ignore::seq2seq_fit.UnknownTokensWarning")
@pytest.mark.parametrize("case", BACKEND_CASES)
def test_onnx_export_matches_both_frameworks(case, tmp_path, logit_differences):
    lit, model = twins(CASES[case])
    lit.export_onnx(tmp_path / "from_lightning")
    model.export_onnx(tmp_path / "from_keras")
    runners = {side: OnnxTranslator(tmp_path / f"from_{side}", threads=1) for side in ("lightning", "keras")}
    lengths = (SOURCE != 0).sum(1)
    expected = {"lightning": lit_logits(lit), "keras": keras_logits(model)}
    for side, runner in runners.items():
        got = runner.logits(SOURCE, lengths, TARGET_IN)  # (B, T, V)
        valid = TARGET_IN != 0  # padded decoder inputs are not compared (the frameworks run them whole-sequence)
        diff = float(np.abs(got - expected[side])[valid].max())
        logit_differences[f"onnx<-{side} {case}"] = diff
        assert diff < TOLERANCE, f"{case}: ONNX exported from {side} differs by {diff:.2e} in logits"
    for options in OPTIONS:
        reference = lit.translate(SOURCES, **options)
        if options in KERAS_OPTIONS:  # the rest: Keras equals Lightning in test_parity_search.py
            assert model.translate(SOURCES, **options) == reference, options
        for side, runner in runners.items():
            assert runner.translate(SOURCES, **options) == reference, (side, options)
    if CASES[case]["attention"] != "none":
        _, weights = lit.translate(SOURCES, return_attention=True)
        for runner in runners.values():
            _, got_weights = runner.translate(SOURCES, return_attention=True)
            assert [w.shape for w in got_weights] == [w.shape for w in weights]
            assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(got_weights, weights, strict=True))
