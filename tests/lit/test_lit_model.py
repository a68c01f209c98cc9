"""The plain ``Seq2Seq``: equivalences between decoding paths, gradients, the loss."""

from __future__ import annotations

import math

import pytest
import torch

from lit_seq2seq import masked_cross_entropy
from lit_seq2seq.scheduled_sampling import draw_coins, mix_inputs
from seq2seq_fit import TeacherForcing
from tests.helpers.lightning import ATTENTIONS, CELLS, random_batch, tiny_model


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("attention", ATTENTIONS)
def test_incremental_decoding_with_gold_prefix_equals_teacher_forcing(cell: str, attention: str) -> None:
    model = tiny_model(cell=cell, attention=attention, bidirectional=True, num_layers=2)
    batch = random_batch()
    expected = model(batch["source"], batch["source_lengths"], batch["target_in"])  # (B, T, V)
    memory, state = model.encode(batch["source"], batch["source_lengths"])
    for t in range(batch["target_in"].size(1)):
        logits, state, _ = model.decoder.step(batch["target_in"][:, t], state, memory)
        torch.testing.assert_close(logits, expected[:, t], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize("passes", [1, 3])
def test_parallel_at_ratio_one_equals_teacher_forcing(attention: str, passes: int) -> None:
    model = tiny_model(attention=attention, cell="lstm")
    batch = random_batch()
    expected = model(batch["source"], batch["source_lengths"], batch["target_in"])
    tf = TeacherForcing(mode="parallel", passes=passes, start=1.0)
    gold = draw_coins(batch["target_in"], 1.0, "token")
    logits = model.scheduled_forward(batch["source"], batch["source_lengths"], batch["target_in"], gold, tf, 1.0)
    torch.testing.assert_close(logits, expected, rtol=0, atol=0)


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_sequential_step_loop_with_all_gold_equals_teacher_forcing(attention: str) -> None:
    model = tiny_model(attention=attention)
    batch = random_batch()
    expected = model(batch["source"], batch["source_lengths"], batch["target_in"])
    gold = torch.ones_like(batch["target_in"], dtype=torch.bool)
    # ratio < 1 on the host forces the step loop even though every coin says gold
    logits = model.scheduled_forward(
        batch["source"], batch["source_lengths"], batch["target_in"], gold, TeacherForcing(), 0.99
    )
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_ratio_zero_feeds_only_the_models_own_argmax(attention: str) -> None:
    model = tiny_model(attention=attention)
    batch = random_batch()
    gold = draw_coins(batch["target_in"], 0.0, "token")
    assert gold[:, 1:].sum() == 0 and gold[:, 0].all()
    src, lengths = batch["source"], batch["source_lengths"]
    logits = model.scheduled_forward(src, lengths, batch["target_in"], gold, TeacherForcing(start=0.0), 0.0)
    fed = mix_inputs(gold, batch["target_in"], logits.argmax(-1))  # what it must have been fed
    assert (fed[:, 1:] != batch["target_in"][:, 1:]).any(), "an untrained model does not copy the gold tokens"
    torch.testing.assert_close(model(src, lengths, fed), logits, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("attention", ["luong", "bahdanau"])
def test_parallel_passes_feed_the_previous_pass_predictions(attention: str) -> None:
    """Each pass, Bahdanau's step loop included, reads the fixed inputs the previous pass built."""
    model = tiny_model(attention=attention)
    batch = random_batch()
    src, lengths, target_in = batch["source"], batch["source_lengths"], batch["target_in"]
    gold = draw_coins(target_in, 0.5, "token", torch.Generator().manual_seed(3))
    tf = TeacherForcing(mode="parallel", passes=2, start=0.5)
    logits = model.scheduled_forward(src, lengths, target_in, gold, tf, 0.5)
    inputs = target_in
    for _ in range(2):
        inputs = mix_inputs(gold, target_in, model(src, lengths, inputs).argmax(-1))
    torch.testing.assert_close(logits, model(src, lengths, inputs), rtol=0, atol=0)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize("mode", ["sequential", "parallel"])
def test_every_parameter_gets_a_gradient(cell: str, attention: str, mode: str) -> None:
    model = tiny_model(cell=cell, attention=attention, bidirectional=True, num_layers=2).train()
    tf = TeacherForcing(mode=mode, start=0.5, feed="sample")
    batch = random_batch()
    gold = draw_coins(batch["target_in"], 0.5, "token", torch.Generator().manual_seed(0))
    args = (batch["source"], batch["source_lengths"], batch["target_in"], gold, tf, 0.5)
    loss = masked_cross_entropy(model.scheduled_forward(*args), batch["target_out"])
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"{name} got an all-zero gradient"


def test_tied_embeddings_share_the_weight_and_keep_their_own_bias() -> None:
    model = tiny_model(embedding_dim=16, hidden_size=16, tie_embeddings=True)
    assert model.decoder.out.weight is model.decoder.embedding.weight
    assert model.decoder.out.bias is not None
    names = [n for n, _ in model.named_parameters()]
    assert "decoder.out.weight" not in names  # one parameter, reported once


def test_masked_cross_entropy_ignores_padding_and_smooths_labels() -> None:
    logits = torch.randn(2, 3, 5)
    target = torch.tensor([[4, 2, 0], [2, 0, 0]])
    valid = target != 0
    logp = torch.log_softmax(logits, -1)
    nll = -logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)[valid].mean()
    smooth = -logp.mean(-1)[valid].mean()
    torch.testing.assert_close(masked_cross_entropy(logits, target), nll)
    torch.testing.assert_close(masked_cross_entropy(logits, target, 0.1), 0.9 * nll + 0.1 * smooth)


def test_initial_loss_is_about_log_vocab_size() -> None:
    model = tiny_model(tgt_vocab_size=13)
    batch = random_batch()
    loss = masked_cross_entropy(
        model(batch["source"], batch["source_lengths"], batch["target_in"]), batch["target_out"]
    )
    assert abs(loss.item() - math.log(13)) < 0.5


@pytest.mark.parametrize("mode", ["sequential", "parallel"])
def test_loss_is_the_scheduled_cross_entropy_with_label_smoothing(mode: str) -> None:
    """``Seq2Seq.loss`` (what LitSeq2Seq.training_step and the benchmark loops call) draws the coins,
    runs the scheduled forward and smooths the labels with the config's ``label_smoothing``."""
    model = tiny_model(attention="luong", label_smoothing=0.2).eval()
    b = random_batch()
    tf = TeacherForcing(start=0.5, mode=mode)
    args = (b["source"], b["source_lengths"], b["target_in"])
    loss, gold = model.loss(*args, b["target_out"], tf, 0.5, torch.Generator().manual_seed(7))
    generator = torch.Generator().manual_seed(7)
    expected_gold = draw_coins(b["target_in"], 0.5, "token", generator)
    logits = model.scheduled_forward(*args, expected_gold, tf, 0.5, generator)
    assert torch.equal(gold, expected_gold) and not gold[:, 1:].all(), "the coins of the ratio, some tokens fed"
    torch.testing.assert_close(loss, masked_cross_entropy(logits, b["target_out"], 0.2))
    assert not torch.isclose(loss, masked_cross_entropy(logits, b["target_out"])), "label smoothing applied"
