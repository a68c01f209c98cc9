"""Decoding a torch model: the native greedy loop (validation) and ``translate`` through the core's search."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from lit_seq2seq import LitSeq2Seq, Seq2Seq
from lit_seq2seq.translate import TorchStepDecoder
from seq2seq_fit.translate import translate
from seq2seq_fit.vocab import EOS_ID, PAD_ID, SPECIALS, Vocab
from tests.helpers.lightning import ATTENTIONS, CELLS, random_batch, tiny_model

SRC = Vocab([*SPECIALS, *"abcdefg"])  # 11 tokens, as tiny_model's source side
TGT = Vocab([*SPECIALS, *"ABCDEFGHI"])  # 13 tokens, as tiny_model's target side


def eos_biased_model(
    attention: str = "luong", cell: str = "gru", seed: int = 0, tgt_vocab_size: int = 13, **overrides: Any
) -> Seq2Seq:
    """A random model whose outputs end after a few tokens (a large ``<eos>`` bias)."""
    model = tiny_model(seed=seed, attention=attention, cell=cell, tgt_vocab_size=tgt_vocab_size, **overrides)
    with torch.no_grad():
        model.decoder.out.bias[EOS_ID] += 1.5
    return model


def run(model: Seq2Seq, sources: list[Any], **kwargs: Any) -> Any:
    with TorchStepDecoder(model) as decoder:
        return translate(decoder, SRC, TGT, sources, **kwargs)


def batch_sources(batch: dict[str, torch.Tensor]) -> list[list[str]]:
    return [SRC.decode(row) for row in batch["source"].tolist()]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("attention", ATTENTIONS)
def test_core_greedy_equals_the_native_greedy_loop(cell: str, attention: str) -> None:
    model = eos_biased_model(attention, cell, seed=2)
    batch = random_batch(b=4)
    native, native_attention = model.generate(batch["source"], batch["source_lengths"], max_length=9)
    result = run(model, batch_sources(batch), max_length=9, return_attention=attention != "none")
    outputs = result[0] if attention != "none" else result
    assert outputs == [TGT.decode(row) for row in native.tolist()]
    if attention != "none":
        for row, (out, weights) in enumerate(zip(*result, strict=True)):
            n = int(batch["source_lengths"][row])
            expected = native_attention[row, : len(out), :n].numpy()
            np.testing.assert_allclose(weights, expected, atol=1e-6)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("attention", ATTENTIONS)
def test_beam_width_one_equals_greedy(cell: str, attention: str) -> None:
    model = eos_biased_model(attention, cell, seed=0)
    sources = batch_sources(random_batch(b=4))
    greedy = run(model, sources, max_length=12)
    assert run(model, sources, strategy="beam", beam_width=1, length_penalty=0.0, max_length=12) == greedy
    assert any(len(out) < 12 for out in greedy), "some outputs end with <eos>"


def test_translate_accepts_strings_or_token_lists_and_batches() -> None:
    model = eos_biased_model("luong", dropout=0.5).train()
    sentences = ["a b c", "d e", "f", "g a b c d"]
    from_strings = run(model, sentences, max_length=8)
    from_tokens = run(model, [s.split() for s in sentences], max_length=8, batch_size=3)
    from_chars = run(model, [s.replace(" ", "") for s in sentences], tokenizer="chars", max_length=8)
    assert from_strings == from_tokens == from_chars
    assert all(tok in TGT.tokens[3:] for out in from_strings for tok in out)
    one_by_one = [run(model, [s], max_length=8)[0] for s in sentences]
    assert one_by_one == from_strings, "padding in a batch does not change a translation (nor dropout)"
    assert model.training, "translate restores the training mode it found"


def test_translate_builds_no_autograd_graph() -> None:
    model = eos_biased_model("bahdanau")
    with TorchStepDecoder(model) as decoder:
        state = decoder.start(np.array([[4, 5, 6]]), np.array([3]))
        memory, hidden = state
        assert not memory.enc.requires_grad and not hidden.requires_grad
        logits, _, attention = decoder.step(np.array([1]), state)
    assert logits.dtype == np.float32 and logits.shape == (1, 13)
    assert attention is not None and attention.shape == (1, 3)


def test_lit_translate_returns_numpy_attention_rows_per_output_token() -> None:
    torch.manual_seed(0)
    lit = LitSeq2Seq(SRC, TGT, {"embedding_dim": 12, "hidden_size": 16, "attention": "bahdanau"})
    outputs, weights = lit.translate(["a b c", "d", ""], return_attention=True, max_length=6)
    for out, w, n in zip(outputs, weights, [3, 1, 0], strict=True):
        assert isinstance(w, np.ndarray) and w.dtype == np.float32
        assert w.shape == (len(out), n)
        np.testing.assert_allclose(w.sum(-1), np.ones(len(out)), rtol=1e-5)
    assert outputs[2] == []
    none = LitSeq2Seq(SRC, TGT, {"embedding_dim": 12, "hidden_size": 16, "attention": "none"})
    with pytest.raises(ValueError, match="attention='none'"):
        none.translate(["a"], return_attention=True)


def test_generate_is_greedy_within_max_length_and_pads_after_eos() -> None:
    model = eos_biased_model("bahdanau")
    batch = random_batch()
    tokens, _ = model.generate(batch["source"], batch["source_lengths"], max_length=3)
    assert tokens.size(1) <= 3
    default, _ = model.generate(batch["source"], batch["source_lengths"])
    assert default.size(1) <= 2 * batch["source"].size(1) + 10
    long_, att = model.generate(batch["source"], batch["source_lengths"], max_length=15)
    for row, weights in zip(long_.tolist(), att, strict=True):
        if EOS_ID in row:
            end = row.index(EOS_ID)
            assert all(t == PAD_ID for t in row[end + 1 :])
            assert (weights[end + 1 :] == 0).all()
    with pytest.raises(ValueError, match=r"Seq2Seq\.generate\.max_length: got 0"):
        model.generate(batch["source"], max_length=0)
