"""A Transformer through ONNX: the export decodes as the torch model does, the cache as graph inputs and outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from lit_seq2seq import LitSeq2Seq
from seq2seq_fit import GenerationConfig
from seq2seq_fit.serving import OnnxTranslator

pytest.importorskip("onnxruntime")

TOKENS = ["<pad>", "<bos>", "<eos>", "<unk>", *"abcdefghij"]
SOURCES = ["a b c d", "e f", "g h i j a b"]
VARIANTS = {
    "tied-1x2": {"hidden_size": 16, "embedding_dim": 16, "num_heads": 2, "tie_embeddings": True},
    "proj-2x1": {"hidden_size": 16, "embedding_dim": 8, "num_heads": 1, "num_layers": 2, "ffn_size": 24},
}


def random_system(**config: Any) -> LitSeq2Seq:
    """A Transformer whose weights are perturbed away from the initialisation, so outputs vary by source."""
    torch.manual_seed(0)
    model = LitSeq2Seq(TOKENS, TOKENS, {"architecture": "transformer", **config})
    with torch.no_grad():
        for p in model.model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_export_gives_the_models_logits_and_searches(variant: str, tmp_path: Path) -> None:
    model = random_system(**VARIANTS[variant])
    runtime = OnnxTranslator(model.export_onnx(tmp_path / "export"))
    ids, lengths = np.array([[4, 5, 6, 7], [8, 9, 0, 0]]), np.array([4, 2])
    target_in = np.array([[1, 4, 5, 6, 7, 8], [1, 8, 9, 10, 11, 12]])
    expected = model.model.eval()(torch.tensor(ids), None, torch.tensor(target_in)).detach().numpy()
    np.testing.assert_allclose(runtime.logits(ids, lengths, target_in), expected, atol=1e-4, rtol=0)
    for options in (
        GenerationConfig(max_length=40),
        GenerationConfig(strategy="beam", beam_width=3, max_length=40),
        GenerationConfig(strategy="sample", seed=3, max_length=40),
    ):
        assert runtime.translate(SOURCES, options) == model.translate(SOURCES, options), options
    outputs, attention = runtime.translate(SOURCES, max_length=12, return_attention=True)  # type: ignore[misc]
    torch_outputs, torch_attention = model.translate(SOURCES, max_length=12, return_attention=True)  # type: ignore[misc]
    assert outputs == torch_outputs
    for got, want in zip(attention, torch_attention, strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-5)
