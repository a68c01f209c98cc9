"""The torch Transformer network: canonical layout, cached step, masks, positions, scheduled sampling, precision."""

from __future__ import annotations

import inspect
import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from lit_seq2seq.decoder import Decoder
from lit_seq2seq.seq2seq import Seq2Seq, masked_cross_entropy
from lit_seq2seq.transformer import Transformer
from lit_seq2seq.transformer_layers import EncoderBlock, TransformerDecoder, sinusoidal_positions
from seq2seq_fit import Seq2SeqConfig, TeacherForcing
from seq2seq_fit.untrusted import parameter_count
from seq2seq_fit.vocab import BOS_ID, EOS_ID, PAD_ID
from seq2seq_fit.weight_layout import canonical_shapes
from tests.helpers.lightning import random_batch

#: Small variants covering what changes the layer tree: E == H (tied or not) and E != H, 1 and 2 layers and heads.
VARIANTS = {
    "tied-1x2": {"embedding_dim": 16, "tie_embeddings": True, "num_layers": 1, "num_heads": 2},
    "proj-2x1": {"embedding_dim": 8, "num_layers": 2, "num_heads": 1, "ffn_size": 24},
    "untied-2x2": {"embedding_dim": 16, "num_layers": 2, "num_heads": 2},
}


def config(**overrides: Any) -> Seq2SeqConfig:
    options: dict[str, Any] = {"architecture": "transformer", "hidden_size": 16, "embedding_dim": 16, "num_heads": 2}
    return Seq2SeqConfig(**{**options, **overrides})


def tiny_transformer(seed: int = 0, **overrides: Any) -> Transformer:
    """A tiny Transformer in eval mode over the vocabularies of ``random_batch`` (11 source, 13 target tokens)."""
    torch.manual_seed(seed)
    return Transformer(config(**overrides), 11, 13).eval()


def step_logits(model: Transformer, source: torch.Tensor, target_in: torch.Tensor) -> torch.Tensor:
    """Logits (B, T, V) of feeding ``target_in`` one token at a time through the cached step."""
    memory, state = model.encode(source)
    steps = []
    for t in range(target_in.size(1)):
        logits, state, _ = model.decoder.step(target_in[:, t], state, memory)
        steps.append(logits)
    return torch.stack(steps, 1)


@pytest.mark.parametrize("variant", VARIANTS)
def test_state_dict_is_the_canonical_layout(variant: str) -> None:
    model = tiny_transformer(**VARIANTS[variant])
    c = model.config
    found = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    assert found == canonical_shapes(c, 11, 13)
    assert ("encoder.in_proj.weight" in found) == (c.embedding_dim != c.hidden_size)
    assert found["decoder.blocks.0.ffn.w1.weight"] == (c.feed_forward_size, 16)
    if c.tie_embeddings:
        assert model.decoder.out.weight is model.decoder.embedding.weight
        assert parameter_count(c, 11, 13) == sum(p.numel() for p in model.parameters()) + 13 * 16
    else:
        assert parameter_count(c, 11, 13) == sum(p.numel() for p in model.parameters())


def test_initialisation_follows_the_spec() -> None:
    model = tiny_transformer(hidden_size=64, embedding_dim=64, num_heads=4).requires_grad_(False)
    block = model.encoder.blocks[0]
    assert isinstance(block, EncoderBlock)
    q = block.self_attn.q
    bound = math.sqrt(6 / (64 + 64))
    assert float(q.weight.abs().max()) <= bound and float(q.bias.abs().max()) == 0.0
    assert torch.equal(model.decoder.norm.weight, torch.ones(64))
    assert abs(float(model.decoder.embedding.weight.std()) - 64**-0.5) < 0.02


def test_sinusoidal_positions_are_the_formula_at_any_position() -> None:
    p = sinusoidal_positions(3, 6, offset=5000)  # far past any training length: no table to run out of
    for row, t in enumerate((5000, 5001, 5002)):
        for j in range(3):
            angle = t / 10000 ** (2 * j / 6)
            assert p[row, 2 * j].item() == pytest.approx(math.sin(angle), abs=1e-3)
            assert p[row, 2 * j + 1].item() == pytest.approx(math.cos(angle), abs=1e-3)
    assert torch.allclose(sinusoidal_positions(4, 6)[2:], sinusoidal_positions(2, 6, offset=2))


@pytest.mark.parametrize("variant", VARIANTS)
def test_cached_step_gives_the_teacher_forced_logits(variant: str) -> None:
    model = tiny_transformer(**VARIANTS[variant])
    batch = random_batch(b=4, s=7, t=6)
    full = model(batch["source"], batch["source_lengths"], batch["target_in"])  # (B, T, V)
    stepped = step_logits(model, batch["source"], batch["target_in"])
    assert full.shape == (4, 6, 13)
    torch.testing.assert_close(stepped, full, atol=1e-5, rtol=0)


def test_a_later_target_token_does_not_change_earlier_logits() -> None:
    model = tiny_transformer(num_layers=2)
    batch = random_batch(b=2, s=5, t=6)
    target = batch["target_in"].clone()
    before = model(batch["source"], None, target)
    target[:, 4] = (target[:, 4] + 1) % 13
    after = model(batch["source"], None, target)
    torch.testing.assert_close(after[:, :4], before[:, :4], atol=0, rtol=0)
    assert not torch.allclose(after[:, 4:], before[:, 4:])


def test_extra_source_padding_changes_no_output() -> None:
    model = tiny_transformer(num_layers=2)
    batch = random_batch(b=4, s=6, t=5)
    padded = F.pad(batch["source"], (0, 5), value=PAD_ID)  # (B, S + 5)
    logits = model(batch["source"], batch["source_lengths"], batch["target_in"])
    torch.testing.assert_close(model(padded, batch["source_lengths"], batch["target_in"]), logits, atol=1e-5, rtol=0)
    tokens, attention = model.generate(batch["source"], max_length=8)
    padded_tokens, padded_attention = model.generate(padded, max_length=8)
    assert torch.equal(padded_tokens, tokens)
    assert padded_attention is not None and attention is not None
    assert float(padded_attention[:, :, 6:].abs().max()) == 0.0  # no weight on the added padding
    torch.testing.assert_close(padded_attention[:, :, :6], attention, atol=1e-5, rtol=0)


def test_decoding_runs_past_the_longest_training_length() -> None:
    model = tiny_transformer()
    source = torch.tensor([[4, 5, 6]])
    target_in = torch.cat([torch.tensor([[BOS_ID]]), torch.randint(4, 13, (1, 99))], 1)  # 100 positions
    full = model(source, None, target_in)
    stepped = step_logits(model, source, target_in)
    torch.testing.assert_close(stepped[:, 80:], full[:, 80:], atol=1e-5, rtol=0)
    with torch.no_grad():  # logit biases that never emit <eos> or <pad>: the decode fills its whole budget
        model.decoder.out.bias[[EOS_ID, PAD_ID]] = -1e4
    tokens, attention = model.generate(source, max_length=120)
    assert tokens.shape == (1, 120) and not bool(((tokens == EOS_ID) | (tokens == PAD_ID)).any())
    assert attention is not None and torch.allclose(attention.sum(-1), torch.ones(1, 120))


def test_generate_stops_at_eos_and_pads_after_it() -> None:
    model = tiny_transformer()
    with torch.no_grad():  # <eos> wins at every step of row 0's decode
        model.decoder.out.bias[EOS_ID] = 1e4
    tokens, attention = model.generate(torch.tensor([[4, 5, 0], [6, 7, 8]]), max_length=5)
    assert tokens.tolist() == [[EOS_ID, PAD_ID, PAD_ID, PAD_ID, PAD_ID]] * 2
    assert attention is not None and float(attention[:, 1:].abs().max()) == 0.0


def test_parallel_passes_feed_the_previous_pass_predictions() -> None:
    model = tiny_transformer(num_layers=2)
    batch = random_batch(b=3, s=5, t=6)
    source, target_in = batch["source"], batch["target_in"]
    never_gold = torch.zeros_like(target_in, dtype=torch.bool)
    never_gold[:, 0] = True
    teacher_forced = model(source, None, target_in)
    for passes in (1, 2):
        tf = TeacherForcing(mode="parallel", passes=passes, feed="argmax")
        inputs = target_in
        for _ in range(passes):  # the K passes by hand: position t gets the previous pass's argmax at t - 1
            predictions = model(source, None, inputs).argmax(-1)
            inputs = torch.cat([target_in[:, :1], predictions[:, :-1]], 1)
        expected = model(source, None, inputs)
        got = model.scheduled_forward(source, None, target_in, never_gold, tf, ratio=0.0)
        torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
        all_gold = torch.ones_like(never_gold)
        torch.testing.assert_close(model.scheduled_forward(source, None, target_in, all_gold, tf), teacher_forced)


def test_sequential_mode_runs_the_cached_loop_on_its_own_tokens() -> None:
    model = tiny_transformer()
    batch = random_batch(b=3, s=5, t=6)
    source, target_in = batch["source"], batch["target_in"]
    never_gold = torch.zeros_like(target_in, dtype=torch.bool)
    never_gold[:, 0] = True
    tf = TeacherForcing(mode="sequential", feed="argmax")
    logits = model.scheduled_forward(source, None, target_in, never_gold, tf, ratio=0.0)  # (B, T, V)
    fed_back = torch.cat([target_in[:, :1], logits.argmax(-1)[:, :-1]], 1)  # what the loop fed itself
    torch.testing.assert_close(model(source, None, fed_back), logits, atol=1e-5, rtol=0)
    all_gold = torch.ones_like(never_gold)
    torch.testing.assert_close(
        model.scheduled_forward(source, None, target_in, all_gold, tf, ratio=0.5),
        model(source, None, target_in),
        atol=1e-5,
        rtol=0,
    )


@pytest.mark.parametrize(
    "settings",
    [
        {"mode": "parallel", "passes": 2, "feed": "sample", "granularity": "sequence"},
        {"mode": "parallel", "position_schedule": "linear", "position_k": 4, "granularity": "token"},
        {"mode": "sequential", "feed": "sample", "temperature": 0.5},
    ],
    ids=["parallel-sequence-sample", "parallel-position", "sequential-sample"],
)
def test_scheduled_sampling_settings_train(settings: dict[str, Any]) -> None:
    model = tiny_transformer(dropout=0.1).train()
    batch = random_batch(b=4, s=6, t=6)
    tf = TeacherForcing(schedule="linear", start=1.0, end=0.0, decay_steps=10, **settings)
    generator = torch.Generator().manual_seed(0)
    loss, gold = model.loss(
        batch["source"], batch["source_lengths"], batch["target_in"], batch["target_out"], tf, 0.3, generator
    )
    loss.backward()
    assert torch.isfinite(loss) and bool(gold[:, 0].all()) and not bool(gold.all())
    if settings.get("granularity") == "sequence":
        assert bool((gold[:, 1:] == gold[:, 1:2]).all()), "one coin per sequence"
    no_gradient = [name for name, p in model.named_parameters() if p.grad is None]
    assert not no_gradient


def test_loss_is_the_label_smoothed_cross_entropy() -> None:
    model = tiny_transformer(label_smoothing=0.1)
    batch = random_batch(b=3, s=5, t=6)
    loss, _ = model.loss(
        batch["source"], None, batch["target_in"], batch["target_out"], TeacherForcing(), 1.0
    )  # fmt: skip
    logits = model(batch["source"], None, batch["target_in"])
    mask = batch["target_out"] != PAD_ID
    expected = F.cross_entropy(logits[mask], batch["target_out"][mask], label_smoothing=0.1)
    torch.testing.assert_close(loss, expected)
    assert not torch.isclose(loss, masked_cross_entropy(logits, batch["target_out"]))


def test_tied_output_weight_stays_the_embedding_through_training() -> None:
    model = tiny_transformer(tie_embeddings=True).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    batch = random_batch()
    loss, _ = model.loss(batch["source"], None, batch["target_in"], batch["target_out"], TeacherForcing())
    loss.backward()
    optimizer.step()
    assert model.decoder.out.weight is model.decoder.embedding.weight


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_autocast_forward_and_step_on_cpu(dtype: torch.dtype) -> None:
    model = tiny_transformer(num_layers=2)
    batch = random_batch(b=3, s=6, t=5)
    reference = model(batch["source"], None, batch["target_in"])
    with torch.autocast("cpu", dtype=dtype):
        logits = model(batch["source"], None, batch["target_in"])
        stepped = step_logits(model, batch["source"], batch["target_in"])
        _, attention = model.generate(batch["source"], max_length=6)
    assert bool(torch.isfinite(logits).all()) and bool(torch.isfinite(stepped).all())
    torch.testing.assert_close(logits.float(), reference, atol=0.1, rtol=0.05)
    torch.testing.assert_close(stepped.float(), logits.float(), atol=0.1, rtol=0.05)
    assert attention is not None and float(attention[1, :, 4:].abs().max()) == 0.0  # row 1 has 4 source tokens


def test_a_transformer_needs_a_transformer_config() -> None:
    with pytest.raises(ValueError, match="architecture: got 'rnn', expected 'transformer'"):
        Transformer(Seq2SeqConfig(), 5, 5)
    with pytest.raises(ValueError, match="hidden_size must be a multiple of num_heads"):
        config(num_heads=3)


def described(fn: Any) -> list[tuple[str, str, Any]]:
    """``(name, kind, default)`` of every parameter of ``fn``."""
    return [(p.name, p.kind.name, p.default) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize("method", ["__init__", "encode", "forward", "scheduled_forward", "loss", "generate"])
def test_the_transformer_takes_the_rnn_networks_arguments(method: str) -> None:
    """``LitSeq2Seq``, the search adapter and the benchmarks' loops call either network the same way."""
    assert described(getattr(Transformer, method)) == described(getattr(Seq2Seq, method))


@pytest.mark.parametrize("method", ["forward", "step", "keys"])
def test_the_transformer_decoder_takes_the_rnn_decoders_arguments(method: str) -> None:
    assert described(getattr(TransformerDecoder, method)) == described(getattr(Decoder, method))
    assert isinstance(inspect.getattr_static(TransformerDecoder, "steps_one_at_a_time"), property)
