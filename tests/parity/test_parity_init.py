"""A config starts from the same weight distributions in both frameworks: the Keras layers use
PyTorch's default initialisation (``keras_seq2seq.initializers``)."""

from __future__ import annotations

import numpy as np
import pytest

from keras_seq2seq import Seq2SeqModel
from keras_seq2seq.pretrained import keras_slots
from lit_seq2seq import LitSeq2Seq
from seq2seq_fit import Seq2SeqConfig
from seq2seq_fit.weight_layout import canonical_to_keras
from tests.helpers.parity import TOKENS

CONFIGS = {
    "gru-luong-bi": {"cell": "gru", "attention": "luong", "bidirectional": True, "num_layers": 2},
    "lstm-bahdanau-uni": {"cell": "lstm", "attention": "bahdanau"},
    "lstm-dot-tied": {"cell": "lstm", "attention": "luong", "luong_score": "dot", "tie_embeddings": True},
}


@pytest.mark.parametrize("case", list(CONFIGS))
def test_every_keras_weight_is_drawn_like_its_pytorch_counterpart(case):
    """Same spread (standard deviations within four sampling errors) and, for the uniform ones, the same bound (the
    largest |w| within a few percent of PyTorch's), for every weight of 200 values or more."""
    config = Seq2SeqConfig(embedding_dim=64, hidden_size=64, **CONFIGS[case])
    lit = LitSeq2Seq(TOKENS, TOKENS, config)
    model = Seq2SeqModel(TOKENS, TOKENS, config)
    state = {k: v.detach().numpy() for k, v in lit.model.state_dict().items()}
    expected = canonical_to_keras(state, config, len(TOKENS), len(TOKENS))
    compared = 0
    for slot, arrays in keras_slots(model.model).items():
        for i, (ours, theirs) in enumerate(zip(arrays, expected[slot], strict=True)):
            assert ours.shape == theirs.shape, slot
            recurrent = ".rnn" in slot  # encoder.rnn.0, encoder.rnn_reverse.0, decoder.rnn.1, ...
            if (config.cell == "lstm" and recurrent and ours.ndim == 1) or ours.size < 200:
                continue  # an LSTM's one Keras bias holds torch's b_ih + b_hh; tiny tensors: too few draws
            name = f"{slot}[{i}] {ours.shape}"
            if "embedding" not in slot:  # uniform: the same bound (embeddings are N(0, 1))
                assert np.abs(theirs).max() * 0.9 <= np.abs(ours).max() <= np.abs(theirs).max() * 1.05, name
            # two sample standard deviations of n draws differ by about sqrt(1 / n) of their value (normal
            # draws; less for uniform ones): 4 of those, so that a sound initialiser does not fail by chance
            assert ours.std() == pytest.approx(theirs.std(), rel=4 / np.sqrt(ours.size)), name
            compared += 1
    assert compared >= 8
