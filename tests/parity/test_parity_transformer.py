"""Same canonical weights, same Transformer: Lightning and Keras give the same logits (teacher-forced and cached
step, 1e-4) and identical greedy, beam-5 and sampled outputs, for E == H and E != H, tied and untied, 1 and 2
layers, 1 and 2 heads. The parity folder reruns this on every Keras backend."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from keras_seq2seq import Seq2SeqModel
from keras_seq2seq.transformer import Transformer
from keras_seq2seq.transformer_layers import grow_cache
from lit_seq2seq import LitSeq2Seq
from tests.helpers.keras import to_numpy
from tests.helpers.parity import SOURCE, TARGET_IN, TOKENS, lit_logits, twins

#: Largest |logit difference| accepted between the frameworks (fp32 on CPU).
TOLERANCE = 1e-4
#: Each case: (embedding_dim, layers, heads, tied) at hidden size 16; together every option both ways.
CASES = {
    "e16-l1-h1-tied": (16, 1, 1, True),
    "e8-l2-h2": (8, 2, 2, False),
    "e16-l2-h1": (16, 2, 1, False),
    "e8-l1-h2": (8, 1, 2, False),
    "e16-l2-h2-tied": (16, 2, 2, True),
}
#: Sources of lengths 5, 3, 1, 7 and 2 (tokens ``a``-``p``).
SOURCES = [list("abcde"), list("ijk"), ["m"], list("ponmlkj"), list("fa")]


def case_config(case: str) -> dict[str, Any]:
    embedding_dim, layers, heads, tied = CASES[case]
    return {
        "architecture": "transformer",
        "embedding_dim": embedding_dim,
        "hidden_size": 16,
        "num_layers": layers,
        "num_heads": heads,
        "ffn_size": 24,
        "tie_embeddings": tied,
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_teacher_forced_and_cached_step_logits_match(case: str, logit_differences: dict[str, float]) -> None:
    lit, model = twins(case_config(case))
    assert isinstance(model.model, Transformer)
    expected = lit_logits(lit)  # (B, T, V)
    actual = to_numpy(model({"source": SOURCE, "target_in": TARGET_IN}))
    assert actual.shape == expected.shape == (3, 6, 20)
    diff = float(np.abs(actual - expected).max())
    logit_differences[f"transformer {case}"] = diff
    assert diff < TOLERANCE

    source = torch.from_numpy(SOURCE).long()
    with torch.no_grad():
        lit_memory, lit_state = lit.model.encode(source)
        memory, cache = model.model.encode(SOURCE)
        cache = grow_cache(cache, TARGET_IN.shape[1])
        for t in range(TARGET_IN.shape[1]):
            lit_step, lit_state, lit_weights = lit.model.decoder.step(
                torch.from_numpy(TARGET_IN[:, t]).long(), lit_state, lit_memory
            )
            step, cache, weights = model.model.decoder.step(TARGET_IN[:, t], cache, memory)
            np.testing.assert_allclose(to_numpy(step), lit_step.numpy(), atol=TOLERANCE, err_msg=f"step {t}")
            np.testing.assert_allclose(to_numpy(weights), lit_weights.numpy(), atol=1e-5, err_msg=f"weights {t}")


@pytest.mark.parametrize("case", sorted(CASES))
def test_greedy_beam_and_sampled_outputs_are_identical(case: str) -> None:
    lit, model = twins(case_config(case))
    greedy = lit.translate(SOURCES)
    assert model.translate(SOURCES) == greedy
    assert any(0 < len(out) < 20 for out in greedy), "some rows end before the budget"
    for options in (
        {"strategy": "beam", "beam_width": 5},
        {"strategy": "beam", "beam_width": 5, "length_penalty": 0.6, "max_length": 4},
        {"strategy": "sample", "seed": 0, "temperature": 0.7, "top_k": 5},
    ):
        assert model.translate(SOURCES, **options) == lit.translate(SOURCES, **options), options
    attention = {"return_attention": True}
    (_, lit_attention), (_, keras_attention) = (
        lit.translate(SOURCES, **attention),
        model.translate(SOURCES, **attention),
    )
    for a, b in zip(lit_attention, keras_attention, strict=True):
        np.testing.assert_allclose(b, a, atol=1e-5)


def test_generate_matches_the_lightning_generate() -> None:
    lit, model = twins(case_config("e8-l2-h2"))
    with torch.no_grad():
        lit_ids, lit_attention = lit.model.generate(torch.from_numpy(SOURCE).long(), max_length=12)
    ids, attention = model.model.generate(SOURCE, max_length=12)
    np.testing.assert_array_equal(to_numpy(ids), lit_ids.numpy())
    np.testing.assert_allclose(to_numpy(attention), lit_attention.numpy(), atol=1e-5)


def test_initialisations_draw_from_the_same_distributions() -> None:
    """Not the same values (the frameworks' generators differ) but the same scale per tensor kind."""
    config = case_config("e8-l2-h2")
    torch.manual_seed(0)
    torch_weights = LitSeq2Seq(TOKENS, TOKENS, config).canonical_weights()
    keras_weights = Seq2SeqModel(TOKENS, TOKENS, config).canonical_weights()
    assert sorted(torch_weights) == sorted(keras_weights)
    for key, value in torch_weights.items():
        other = keras_weights[key]
        if key.endswith("bias") or "norm" in key:
            np.testing.assert_array_equal(other, value, err_msg=key)  # zeros, and LayerNorm ones
        else:
            assert 0.8 < other.std() / value.std() < 1.25, key


@pytest.mark.parametrize("case", ["e8-l2-h2", "e16-l1-h1-tied"])
def test_the_onnx_export_of_the_keras_transformer_decodes_as_keras(case: str, tmp_path) -> None:
    from seq2seq_fit.serving import OnnxTranslator

    _, model = twins(case_config(case))
    model.export_onnx(tmp_path)
    runner = OnnxTranslator(tmp_path, threads=1)
    logits = runner.logits(SOURCE, (SOURCE != 0).sum(1), TARGET_IN)  # (B, T, V)
    expected = to_numpy(model({"source": SOURCE, "target_in": TARGET_IN}))
    assert float(np.abs(logits - expected)[TARGET_IN != 0].max()) < TOLERANCE
    for options in ({}, {"strategy": "beam", "beam_width": 5}):
        assert runner.translate(SOURCES, **options) == model.translate(SOURCES, **options), options
