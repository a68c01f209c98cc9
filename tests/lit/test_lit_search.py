"""Decoding: greedy, sampling and beam search, and the ``translate`` wrapper."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch
from lit_helpers import ATTENTIONS, CELLS, random_batch, tiny_model

from datamodules.vocab import BOS_ID, EOS_ID, PAD_ID, Vocab
from lit_seq2seq import Seq2Seq, translate
from seq2seq_fit import length_penalty


def eos_biased_model(
    attention: str = "luong", cell: str = "gru", seed: int = 0, tgt_vocab_size: int = 13, **overrides: Any
) -> Seq2Seq:
    """A random model whose outputs end after a few tokens (a large ``<eos>`` bias)."""
    model = tiny_model(seed=seed, attention=attention, cell=cell, tgt_vocab_size=tgt_vocab_size, **overrides)
    with torch.no_grad():
        model.decoder.out.bias[EOS_ID] += 1.5
    return model


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize("seed", [0, 1])
def test_beam_width_one_equals_greedy(cell: str, attention: str, seed: int) -> None:
    model = eos_biased_model(attention, cell, seed)
    batch = random_batch(b=4)
    greedy, greedy_att = model.generate(batch["source"], batch["source_lengths"], strategy="greedy", max_length=12)
    beam, beam_att = model.generate(
        batch["source"], batch["source_lengths"], strategy="beam", beam_width=1, length_penalty=0.6, max_length=12
    )
    assert torch.equal(greedy, beam)
    if attention != "none":
        torch.testing.assert_close(greedy_att, beam_att)


@torch.no_grad()
def sequence_log_probs(
    model: Seq2Seq, source: torch.Tensor, lengths: torch.Tensor, seqs: list[list[int]]
) -> list[float]:
    """Teacher-forced ``sum log p`` of each sequence of ``seqs`` (all of one length) given one source."""
    ids = torch.tensor(seqs)  # (N, n)
    target_in = torch.cat([torch.full_like(ids[:, :1], BOS_ID), ids[:, :-1]], 1)
    n = len(seqs)
    logits = model(source.expand(n, -1), lengths.expand(n), target_in)  # (N, n, V)
    return torch.log_softmax(logits, -1).gather(-1, ids.unsqueeze(-1)).sum((1, 2)).tolist()


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_wide_beam_finds_the_exhaustive_best_hypothesis(alpha: float) -> None:
    """With more beams than prefixes, beam search is exhaustive: compare with brute force."""
    v, max_length = 5, 3
    model = eos_biased_model("luong", tgt_vocab_size=v, seed=3)
    batch = random_batch(b=1, s=4, tgt_vocab_size=v)
    source, lengths = batch["source"], batch["source_lengths"]
    candidates = []
    for n in range(1, max_length + 1):
        for prefix in itertools.product([t for t in range(v) if t != EOS_ID], repeat=n - 1):
            candidates.append([*prefix, EOS_ID])
            if n == max_length:
                candidates.extend([*prefix, t] for t in range(v) if t != EOS_ID)

    ranked = {}
    for n in range(1, max_length + 1):
        same_length = [c for c in candidates if len(c) == n]
        for c, score in zip(same_length, sequence_log_probs(model, source, lengths, same_length), strict=True):
            ranked[tuple(c)] = score / length_penalty(n, alpha)
    best = list(max(ranked, key=ranked.__getitem__))
    tokens, _ = model.generate(
        source, lengths, strategy="beam", beam_width=v**max_length, length_penalty=alpha, max_length=max_length
    )
    found = [t for t in tokens[0].tolist() if t != PAD_ID] if EOS_ID not in best else tokens[0].tolist()[: len(best)]
    assert found == best


def test_beam_search_stops_finished_rows_and_pads_them() -> None:
    model = eos_biased_model("bahdanau")
    batch = random_batch(b=4)
    tokens, att = model.generate(batch["source"], batch["source_lengths"], strategy="beam", beam_width=3, max_length=15)
    for row, weights in zip(tokens.tolist(), att, strict=True):
        if EOS_ID in row:
            end = row.index(EOS_ID)
            assert all(t == PAD_ID for t in row[end + 1 :])
            assert (weights[end + 1 :] == 0).all()


def test_sampling_is_seeded_and_top_k_one_is_greedy() -> None:
    model = eos_biased_model("luong")
    batch = random_batch(b=4)
    src, lengths = batch["source"], batch["source_lengths"]

    def sample(seed: int, **kw: Any) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return model.generate(src, lengths, strategy="sample", max_length=10, generator=g, **kw)[0]

    assert torch.equal(sample(0), sample(0))
    assert not torch.equal(sample(0, temperature=5.0), sample(1, temperature=5.0))
    greedy, _ = model.generate(src, lengths, strategy="greedy", max_length=10)
    assert torch.equal(sample(4, top_k=1), greedy)


def test_generate_respects_max_length_and_checks_arguments() -> None:
    model = tiny_model()
    batch = random_batch()
    tokens, _ = model.generate(batch["source"], batch["source_lengths"], max_length=3)
    assert tokens.size(1) <= 3
    default, _ = model.generate(batch["source"], batch["source_lengths"])
    assert default.size(1) <= 2 * batch["source"].size(1) + 10
    with pytest.raises(ValueError, match=r"strategy.*'nucleus'"):
        model.generate(batch["source"], strategy="nucleus")
    with pytest.raises(ValueError, match="beam_width"):
        model.generate(batch["source"], strategy="beam", beam_width=0)


def vocabularies() -> tuple[Vocab, Vocab]:
    src = Vocab(["<pad>", "<bos>", "<eos>", "<unk>", *"abcdefg"])
    tgt = Vocab(["<pad>", "<bos>", "<eos>", "<unk>", *"ABCDEFGHI"])
    return src, tgt


def test_translate_accepts_strings_or_token_lists_and_batches() -> None:
    model = eos_biased_model("luong", dropout=0.5).train()
    src, tgt = vocabularies()
    sentences = ["a b c", "d e", "f", "g a b c d"]
    from_strings = translate(model, src, tgt, sentences, max_length=8)
    from_tokens = translate(model, src, tgt, [s.split() for s in sentences], max_length=8, batch_size=3)
    from_chars = translate(model, src, tgt, [s.replace(" ", "") for s in sentences], tokenizer="chars", max_length=8)
    assert from_strings == from_tokens == from_chars
    assert all(
        isinstance(tok, str) and tok in tgt and tok not in ("<pad>", "<bos>", "<eos>")
        for out in from_strings
        for tok in out
    )
    one_by_one = [translate(model, src, tgt, [s], max_length=8)[0] for s in sentences]
    assert one_by_one == from_strings, "padding in a batch does not change a translation (nor dropout)"
    assert model.training, "translate restores the training mode it found"


def test_translate_returns_attention_rows_per_output_token() -> None:
    model = eos_biased_model("bahdanau")
    src, tgt = vocabularies()
    outputs, weights = translate(model, src, tgt, ["a b c", "d"], return_attention=True, max_length=6)
    for out, w, n in zip(outputs, weights, [3, 1], strict=True):
        assert w.shape == (len(out), n)
        torch.testing.assert_close(w.sum(-1), torch.ones(len(out)))
    with pytest.raises(ValueError, match="attention='none'"):
        translate(tiny_model(attention="none"), src, tgt, ["a"], return_attention=True)
