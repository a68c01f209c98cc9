"""Helpers of the parity tests: the configurations (all, and those this backend runs), a fixed batch and
both twins of one model."""

from __future__ import annotations

import tempfile
from typing import Any

import numpy as np
import pytest
import torch

from keras_seq2seq import Seq2SeqModel
from lit_seq2seq import LitSeq2Seq
from seq2seq_fit.vocab import EOS_ID
from tests.helpers.keras import BACKEND, to_numpy

#: 16 specials-plus-letters vocabulary (ids 0-3 are <pad>, <bos>, <eos>, <unk>).
TOKENS = ["<pad>", "<bos>", "<eos>", "<unk>", *"abcdefghijklmnop"]
ATTENTIONS = {
    "bahdanau": {"attention": "bahdanau"},
    "luong-dot": {"attention": "luong", "luong_score": "dot"},
    "luong-general": {"attention": "luong", "luong_score": "general"},
    "none": {"attention": "none"},
}


def case_config(cell: str, attention: str, bidirectional: bool) -> dict[str, Any]:
    """A tiny config; two layers when exactly one of ``lstm`` / ``bidirectional`` holds, tied
    embeddings for ``luong-dot`` (so every feature is covered somewhere)."""
    layers = 2 if (cell == "lstm") != bidirectional else 1
    tied = attention == "luong-dot"
    return {
        "cell": cell,
        "bidirectional": bidirectional,
        "num_layers": layers,
        "hidden_size": 16,
        "embedding_dim": 16 if tied else 8,
        "tie_embeddings": tied,
        **ATTENTIONS[attention],
    }


CASES = {
    f"{cell}-{attention}-{'bi' if bidirectional else 'uni'}": case_config(cell, attention, bidirectional)
    for cell in ("gru", "lstm")
    for attention in ATTENTIONS
    for bidirectional in (False, True)
}


#: The configs a backend's parity run compares. The Keras code per config is the same on every backend
#: (what differs per backend is its ops), so TensorFlow and JAX run a covering subset of four (each cell, each
#: attention, uni- and bidirectional, one and two layers and tied embeddings at least once) and torch, the
#: fastest parity run here, runs every (cell, attention) pair: those four and four more. The other eight
#: configs of the full matrix run on torch with ``-m slow`` (``make test-slow``).
FULL_MATRIX_BACKEND = "torch"
COVERING_CASES = ["gru-bahdanau-bi", "lstm-luong-dot-uni", "gru-luong-general-uni", "lstm-none-bi"]
PAIR_CASES = [*COVERING_CASES, "lstm-bahdanau-uni", "gru-luong-dot-bi", "lstm-luong-general-bi", "gru-none-uni"]
BACKEND_CASES = (
    [case if case in PAIR_CASES else pytest.param(case, marks=pytest.mark.slow) for case in CASES]
    if BACKEND == FULL_MATRIX_BACKEND
    else COVERING_CASES
)


def lit_model(config: dict[str, Any], seed: int = 0) -> LitSeq2Seq:
    """A Lightning model in eval mode with every weight drawn from ``U(-0.8, 0.8)`` (LSTM ``b_hh``
    included, so the bias split is tested): larger than the default initialisation, so untrained
    greedy and beam outputs vary with the source instead of repeating one token. The ``<eos>``
    bias is lowered by 1 so outputs are neither all empty nor all at the length limit."""
    torch.manual_seed(seed)
    lit = LitSeq2Seq(TOKENS, TOKENS, config, {"schedule": "linear", "decay_steps": 50}, seed=seed)
    with torch.no_grad():
        for p in lit.parameters():
            p.uniform_(-0.8, 0.8)
        lit.model.decoder.out.bias[EOS_ID] -= 1.0
    return lit.eval()


def twins(config: dict[str, Any], seed: int = 0) -> tuple[LitSeq2Seq, Seq2SeqModel]:
    """A Lightning model (:func:`lit_model`) and its Keras twin, passed through ``save_pretrained``."""
    lit = lit_model(config, seed)
    with tempfile.TemporaryDirectory() as directory:
        lit.save_pretrained(directory)
        return lit, Seq2SeqModel.from_pretrained(directory)


#: Right-padded sources of lengths 5, 3, 1 and decoder inputs (``<bos>`` first), B = 3.
SOURCE = np.array([[4, 5, 6, 7, 8], [9, 10, 11, 0, 0], [12, 0, 0, 0, 0]], dtype="int32")
TARGET_IN = np.array([[1, 8, 7, 6, 5, 4], [1, 11, 10, 9, 0, 0], [1, 12, 0, 0, 0, 0]], dtype="int32")


def lit_logits(lit: LitSeq2Seq) -> np.ndarray:
    source = torch.from_numpy(SOURCE).long()
    with torch.no_grad():
        return lit(source, (source != 0).sum(1), torch.from_numpy(TARGET_IN).long()).numpy()


def keras_logits(model: Seq2SeqModel) -> np.ndarray:
    return to_numpy(model({"source": SOURCE, "target_in": TARGET_IN}))


def source_tokens() -> list[list[str]]:
    return [[TOKENS[i] for i in row if i] for row in SOURCE]
