"""``Seq2SeqModel.translate`` through the core's search: the Keras adapter (compiled step, reorder)."""

from __future__ import annotations

import numpy as np
import pytest

from keras_seq2seq import Seq2SeqModel
from keras_seq2seq.translate import KerasStepDecoder, compiled_functions
from seq2seq_fit.vocab import EOS_ID, SPECIALS, Vocab
from tests.helpers.keras import to_numpy

VOCAB = Vocab([*SPECIALS, *"abcdefgh"])
SOURCES = [list("abcde"), list("fgh"), list("a"), list("hgfedcb")]


def untrained(attention: str, cell: str = "gru") -> Seq2SeqModel:
    """Random weights, larger than the default initialisation, ``<eos>`` made likelier so
    outputs vary in length."""
    model = Seq2SeqModel(VOCAB, VOCAB, {"embedding_dim": 8, "hidden_size": 16, "attention": attention, "cell": cell})
    rng = np.random.default_rng(0)
    for v in model.trainable_variables:
        v.assign(rng.uniform(-0.8, 0.8, size=v.shape).astype("float32"))
    bias = model.model.decoder.out.bias
    bias.assign(to_numpy(bias) + 1.0 * (np.arange(len(VOCAB)) == EOS_ID))
    return model


def padded(sources: list[list[str]]) -> np.ndarray:
    ids = np.zeros((len(sources), max(map(len, sources))), dtype="int32")
    for i, s in enumerate(sources):
        ids[i, : len(s)] = VOCAB.encode(s)
    return ids


@pytest.mark.parametrize(("attention", "cell"), [("bahdanau", "gru"), ("luong", "lstm"), ("none", "gru")])
def test_core_greedy_equals_the_compiled_generate_loop(attention: str, cell: str) -> None:
    model = untrained(attention, cell)
    tokens, weights = model.model.generate(padded(SOURCES), max_length=9)
    native = [VOCAB.decode(row) for row in to_numpy(tokens)]
    result = model.translate(SOURCES, max_length=9, return_attention=attention != "none")
    outputs = result[0] if attention != "none" else result
    assert outputs == native
    assert len({len(out) for out in outputs}) > 1, "outputs of several lengths"
    if attention != "none":
        for row, (out, w) in enumerate(zip(*result, strict=True)):
            np.testing.assert_allclose(w, to_numpy(weights)[row, : len(out), : len(SOURCES[row])], atol=1e-5)


def test_reorder_gathers_every_row_of_the_state() -> None:
    model = untrained("luong", "lstm")
    with KerasStepDecoder(model.model) as decoder:
        state = decoder.start(padded(SOURCES[:2]).astype("int64"), np.array([5, 3]))
        swapped = decoder.reorder(state, np.array([1, 0, 0]))
        tokens = np.array([1, 1, 1])
        logits, _, attention = decoder.step(tokens, swapped)
        straight, _, _ = decoder.step(np.array([1, 1]), state)
    assert logits.dtype == np.float32 and logits.shape == (3, len(VOCAB))
    np.testing.assert_allclose(logits, straight[[1, 0, 0]], atol=1e-6)
    assert attention is not None and attention.shape[0] == 3


def test_the_compiled_step_is_built_once_per_model() -> None:
    model = untrained("bahdanau")
    assert compiled_functions(model.model) is compiled_functions(model.model)
    assert compiled_functions(untrained("bahdanau").model) is not compiled_functions(model.model)
