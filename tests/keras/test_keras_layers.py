"""Encoder, attention and decoder layers: shapes, masking, one set of weights for both decoder paths."""

from __future__ import annotations

import numpy as np
import pytest

import keras
from keras import ops
from keras_seq2seq import BahdanauAttention, Decoder, Encoder, LuongAttention, Memory, Seq2Seq
from keras_seq2seq.masked_softmax import masked_softmax
from seq2seq_fit import Seq2SeqConfig
from tests.helpers.keras import run_precision_test, run_serialization_test, to_numpy

NETWORK_CONFIG = Seq2SeqConfig(embedding_dim=4, hidden_size=6, attention="bahdanau", cell="lstm").to_dict()
SOURCE = np.array([[4, 5, 6, 7, 0, 0], [8, 9, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]], dtype="int32")


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_encoder_reads_only_the_valid_part_of_each_row(cell: str, bidirectional: bool) -> None:
    encoder = Encoder(12, embedding_dim=8, hidden_size=6, num_layers=2, cell=cell, bidirectional=bidirectional)
    outputs, summary = encoder(SOURCE)
    mask = SOURCE != 0
    assert tuple(outputs.shape) == (3, 6, 6) and tuple(summary.shape) == (3, 6)
    outputs, summary = to_numpy(outputs), to_numpy(summary)
    assert (outputs[to_numpy(mask) == 0] == 0).all(), "encoder outputs must be exactly zero at padding"
    assert np.isfinite(summary).all(), "a fully padded row still runs (length clamped to 1)"
    # The same rows without padding give the same outputs and summary: padding is never read,
    # and the backward direction starts at the last real token.
    for row, length in ((0, 4), (1, 2)):
        alone_out, alone_summary = encoder(SOURCE[row : row + 1, :length])
        np.testing.assert_allclose(outputs[row, :length], to_numpy(alone_out)[0], atol=1e-6)
        np.testing.assert_allclose(summary[row], to_numpy(alone_summary)[0], atol=1e-6)


def test_bidirectional_summary_is_each_directions_final_state() -> None:
    encoder = Encoder(12, embedding_dim=8, hidden_size=6, bidirectional=True)
    outputs, summary = encoder(SOURCE[:2])
    outputs, summary = to_numpy(outputs), to_numpy(summary)
    np.testing.assert_allclose(summary[0], np.concatenate([outputs[0, 3, :3], outputs[0, 0, 3:]]), atol=1e-6)
    np.testing.assert_allclose(summary[1], np.concatenate([outputs[1, 1, :3], outputs[1, 0, 3:]]), atol=1e-6)


def test_encoder_uses_pytorch_gru_formula() -> None:
    encoder = Encoder(12, embedding_dim=8, hidden_size=6)
    encoder.build()
    assert encoder.rnn[0].cell.reset_after
    assert tuple(encoder.rnn[0].cell.bias.shape) == (2, 18)  # input and recurrent biases


def test_masked_softmax_fully_padded_row_gives_zeros_not_nan() -> None:
    scores = np.array([[1.0, 2.0, 3.0], [5.0, 6.0, 7.0]], dtype="float32")
    mask = np.array([[1, 1, 0], [0, 0, 0]])
    weights = to_numpy(masked_softmax(scores, mask, "float32"))
    np.testing.assert_allclose(
        weights[0], [np.exp(1) / (np.exp(1) + np.exp(2)), np.exp(2) / (np.exp(1) + np.exp(2)), 0]
    )
    assert (weights[1] == 0).all()


def test_masked_softmax_is_float32_inside_and_safe_in_float16() -> None:
    scores = np.array([[60000.0, -60000.0, 0.0]], dtype="float16")  # would overflow a float16 softmax
    weights = masked_softmax(ops.convert_to_tensor(scores), np.array([[1, 1, 0]]), "float16")
    assert keras.backend.standardize_dtype(weights.dtype) == "float16"
    np.testing.assert_allclose(to_numpy(ops.cast(weights, "float32")), [[1.0, 0.0, 0.0]])


@pytest.mark.parametrize("score", ["dot", "general"])
def test_luong_attention_matches_the_formula(score: str) -> None:
    rng = np.random.default_rng(0)
    enc = rng.normal(size=(2, 4, 5)).astype("float32")
    query = rng.normal(size=(2, 3, 5)).astype("float32")
    mask = np.array([[1, 1, 1, 0], [1, 0, 0, 0]], dtype=bool)
    attention = LuongAttention(5, score=score)
    attention.build()
    pre, weights = attention(query, enc, attention.keys(enc), mask)
    keys = enc if score == "dot" else enc @ to_numpy(attention.w_a.kernel)
    s = np.einsum("bth,bsh->bts", query, keys)
    s = np.where(mask[:, None], s, -np.inf)
    expected = np.exp(s - s.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(to_numpy(weights), expected, atol=1e-5)
    context = expected @ enc  # (B, T, H)
    expected_pre = np.tanh(np.concatenate([context, query], -1) @ to_numpy(attention.w_c.kernel))
    np.testing.assert_allclose(to_numpy(pre), expected_pre, atol=1e-5)


def test_bahdanau_attention_matches_the_formula() -> None:
    rng = np.random.default_rng(1)
    enc = rng.normal(size=(2, 4, 5)).astype("float32")
    query = rng.normal(size=(2, 5)).astype("float32")
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]], dtype=bool)
    attention = BahdanauAttention(5)
    attention.build()
    context, weights = attention(query, enc, attention.keys(enc), mask)
    w1 = to_numpy(attention.w1.kernel)
    w2, b2 = to_numpy(attention.w2.kernel), to_numpy(attention.w2.bias)
    v = to_numpy(attention.v.kernel)[:, 0]
    s = np.tanh(enc @ w1 + (query @ w2 + b2)[:, None]) @ v
    s = np.where(mask, s, -np.inf)
    expected = np.exp(s - s.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(to_numpy(weights), expected, atol=1e-5)
    np.testing.assert_allclose(to_numpy(context), np.einsum("bs,bsh->bh", expected, enc), atol=1e-5)


@pytest.mark.parametrize("attention", ["luong", "bahdanau", "none"])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_step_loop_equals_whole_sequence_call(attention: str, cell: str) -> None:
    """Teacher-forced logits from the step loop (cells of the same layers) equal the one-call path."""
    decoder = Decoder(9, embedding_dim=4, hidden_size=6, num_layers=2, cell=cell, attention=attention)
    decoder.build()
    rng = np.random.default_rng(2)
    mask = np.array([[1, 1, 1], [1, 0, 0]], dtype=bool)
    enc = rng.normal(size=(2, 3, 6)).astype("float32") * mask[..., None]
    memory = Memory(enc, mask, decoder.keys(enc))
    states = [[rng.normal(size=(2, 6)).astype("float32") for _ in range(1 if cell == "gru" else 2)] for _ in range(2)]
    tokens = np.array([[1, 4, 5, 6, 0], [1, 3, 3, 0, 0]], dtype="int32")
    whole = to_numpy(decoder(tokens, states, memory))
    stepped = to_numpy(decoder.loop(tokens, np.ones((2, 5), bool), states, memory)[0])
    assert whole.shape == (2, 5, 9)
    np.testing.assert_allclose(whole, stepped, atol=1e-5)


def test_tied_output_layer_uses_the_embedding_matrix() -> None:
    decoder = Decoder(9, embedding_dim=6, hidden_size=6, tie_embeddings=True, attention="none")
    decoder.build()
    pre = np.ones((2, 6), "float32")
    expected = pre @ to_numpy(decoder.embedding.embeddings).T + to_numpy(decoder.output_bias)
    np.testing.assert_allclose(to_numpy(decoder.logits(pre)), expected, atol=1e-6)
    assert decoder.out is None
    with pytest.raises(ValueError, match="embedding_dim == hidden_size"):
        Decoder(9, embedding_dim=4, hidden_size=6, tie_embeddings=True)


@pytest.mark.backend_independent  # argument checks: runs once, not per backend
def test_bad_choices_name_the_value_and_the_options() -> None:
    with pytest.raises(ValueError, match=r"attention: got 'additive', expected one of 'bahdanau', 'luong', 'none'"):
        Decoder(9, attention="additive")
    with pytest.raises(ValueError, match=r"score: got 'cosine'"):
        LuongAttention(4, score="cosine")
    with pytest.raises(ValueError, match=r"cell: got 'rnn'"):
        Encoder(9, cell="rnn")


@pytest.mark.parametrize(
    ("layer_cls", "kwargs"),
    [
        (Encoder, {"vocab_size": 11, "embedding_dim": 4, "hidden_size": 6, "cell": "lstm", "bidirectional": True}),
        (Decoder, {"vocab_size": 11, "embedding_dim": 6, "hidden_size": 6, "attention": "bahdanau", "seed": 3}),
        (LuongAttention, {"hidden_size": 6, "score": "dot"}),
        (BahdanauAttention, {"hidden_size": 6}),
        (Seq2Seq, {"config": NETWORK_CONFIG, "src_vocab_size": 11, "tgt_vocab_size": 12, "seed": 3}),
    ],
)
def test_layers_serialize(layer_cls: type, kwargs: dict) -> None:
    run_serialization_test(layer_cls, kwargs)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_layers_compute_in_the_policy_dtype(policy: str) -> None:
    run_precision_test(
        lambda: Encoder(11, embedding_dim=4, hidden_size=6, bidirectional=True), lambda e: e(SOURCE)[:2], policy
    )

    def decode(decoder: Decoder) -> object:
        mask = SOURCE != 0
        enc = ops.cast(np.ones((3, 6, 6)), decoder.compute_dtype)
        states = [[ops.cast(np.ones((3, 6)), decoder.compute_dtype)]]
        memory = Memory(enc, mask, decoder.keys(enc))
        return decoder(np.ones((3, 4), "int32"), states, memory)

    run_precision_test(lambda: Decoder(11, embedding_dim=4, hidden_size=6, attention="luong"), decode, policy)
    run_precision_test(lambda: Decoder(11, embedding_dim=4, hidden_size=6, attention="bahdanau"), decode, policy)
    run_precision_test(lambda: Seq2Seq(NETWORK_CONFIG, 11, 12), lambda n: n(SOURCE, np.ones((3, 4), "int32")), policy)
