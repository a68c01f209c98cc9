"""The Keras Transformer: layer configs, the cached step against the whole pass, masking, decoding, training, saving."""

from __future__ import annotations

import numpy as np
import pytest

import keras
from keras_seq2seq import Seq2SeqModel
from keras_seq2seq.pretrained import canonical_weights, keras_slots, load_canonical_weights
from keras_seq2seq.transformer import CACHE_CHUNK, Transformer, TransformerStepDecoder
from keras_seq2seq.transformer_layers import (
    DecoderBlock,
    EncoderBlock,
    FeedForward,
    MultiHeadAttention,
    TransformerDecoder,
    TransformerEncoder,
    grow_cache,
    sinusoidal_positions,
)
from seq2seq_fit import Seq2SeqConfig, TeacherForcing
from seq2seq_fit.transformer_layout import transformer_canonical_shapes
from seq2seq_fit.vocab import EOS_ID, PAD_ID
from tests.helpers.keras import BACKEND, run_precision_test, run_serialization_test, to_numpy, toy_data

#: Two layers, two heads, E != H (in_proj) and untied; and one layer, one head, E == H, tied.
CONFIGS = {
    "2x2-proj": {"embedding_dim": 8, "hidden_size": 16, "num_layers": 2, "num_heads": 2, "ffn_size": 24},
    "1x1-tied": {"embedding_dim": 16, "hidden_size": 16, "num_heads": 1, "ffn_size": 32, "tie_embeddings": True},
}
SOURCE = np.array([[4, 5, 6, 7, 8], [9, 10, 11, 0, 0], [12, 0, 0, 0, 0]], dtype="int32")
TARGET_IN = np.array([[1, 8, 7, 6, 5, 4], [1, 11, 10, 9, 0, 0], [1, 12, 0, 0, 0, 0]], dtype="int32")


def network(case: str, seed: int = 0, **overrides: object) -> Transformer:
    """A Transformer of ``CONFIGS[case]`` over 20-token vocabularies, weights larger than at initialisation so
    that untrained outputs vary with the input."""
    config = Seq2SeqConfig(architecture="transformer", **{**CONFIGS[case], **overrides})  # type: ignore[arg-type]
    net = Transformer(config, 20, 20, seed=seed)
    rng = np.random.default_rng(seed)
    weights = canonical_weights(net)
    weights = {k: (v + rng.uniform(-0.3, 0.3, v.shape)).astype(np.float32) for k, v in weights.items()}
    if config.tie_embeddings:
        weights["decoder.out.weight"] = weights["decoder.embedding.weight"]
    load_canonical_weights(net, weights)
    return net


@pytest.mark.parametrize(
    ("layer_cls", "kwargs"),
    [
        (MultiHeadAttention, {"hidden_size": 8, "num_heads": 2, "dropout": 0.1, "seed": 3}),
        (FeedForward, {"hidden_size": 8, "ffn_size": 16, "dropout": 0.1, "seed": 3}),
        (EncoderBlock, {"hidden_size": 8, "num_heads": 2, "ffn_size": 16, "dropout": 0.1, "seed": 3}),
        (DecoderBlock, {"hidden_size": 8, "num_heads": 2, "ffn_size": 16, "dropout": 0.1, "seed": 3}),
        (
            TransformerEncoder,
            {"vocab_size": 9, "embedding_dim": 4, "hidden_size": 8, "num_layers": 2, "num_heads": 2, "ffn_size": 16},
        ),
        (
            TransformerDecoder,
            {
                "vocab_size": 9,
                "embedding_dim": 8,
                "hidden_size": 8,
                "num_layers": 1,
                "num_heads": 2,
                "ffn_size": 16,
                "tie_embeddings": True,
            },
        ),
    ],
)
def test_layers_serialise_their_arguments(layer_cls: type, kwargs: dict[str, object]) -> None:
    run_serialization_test(layer_cls, kwargs)


def test_network_config_round_trips_and_builds_the_same_tree() -> None:
    net = network("2x2-proj")
    again = Transformer.from_config(net.get_config())
    assert again.config == net.config
    assert [w.shape for w in again.trainable_weights] == [w.shape for w in net.trainable_weights]


def test_sinusoidal_positions_follow_the_formula_for_any_length() -> None:
    positions = to_numpy(sinusoidal_positions(np.arange(500), 6))  # far past any training length
    t = np.arange(500)[:, None]
    j = np.arange(3)[None, :]
    np.testing.assert_allclose(positions[:, 0::2], np.sin(t / 10000 ** (2 * j / 6)), atol=2e-4)
    np.testing.assert_allclose(positions[:, 1::2], np.cos(t / 10000 ** (2 * j / 6)), atol=2e-4)


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_cached_steps_give_the_teacher_forced_logits(case: str) -> None:
    net = network(case)
    full = to_numpy(net(SOURCE, TARGET_IN))  # (B, T, V)
    assert full.shape == (3, 6, 20)
    memory, cache = net.encode(SOURCE)
    cache = grow_cache(cache, 4)  # too small on purpose: grown again below, as the search does
    steps = []
    for t in range(TARGET_IN.shape[1]):
        if t == 4:
            cache = grow_cache(cache, 4 + CACHE_CHUNK)
        logits, cache, weights = net.decoder.step(TARGET_IN[:, t], cache, memory)
        steps.append(to_numpy(logits))
        assert tuple(weights.shape) == (3, 5)
        np.testing.assert_allclose(to_numpy(weights).sum(-1), 1.0, atol=1e-5)
        assert (to_numpy(weights)[SOURCE == PAD_ID] == 0).all(), "padding gets no attention"
    np.testing.assert_allclose(np.stack(steps, 1), full, atol=1e-5)


def test_a_position_never_sees_later_target_tokens() -> None:
    net = network("2x2-proj")
    changed = TARGET_IN.copy()
    changed[:, 3:] = 13
    before, after = to_numpy(net(SOURCE, TARGET_IN)), to_numpy(net(SOURCE, changed))
    np.testing.assert_allclose(after[:, :3], before[:, :3], atol=1e-6)
    assert np.abs(after[0, 3:] - before[0, 3:]).max() > 1e-3


def test_padding_changes_nothing() -> None:
    net = network("2x2-proj")
    logits = to_numpy(net(SOURCE, TARGET_IN))
    wider_source = np.pad(SOURCE, ((0, 0), (0, 3)))
    longer_target = np.pad(TARGET_IN, ((0, 0), (0, 2)))
    np.testing.assert_allclose(to_numpy(net(wider_source, TARGET_IN)), logits, atol=1e-5)
    np.testing.assert_allclose(to_numpy(net(SOURCE, longer_target))[:, :6], logits, atol=1e-5)
    alone = to_numpy(net(SOURCE[1:2, :3], TARGET_IN[1:2, :4]))  # the row without any padding
    np.testing.assert_allclose(alone, logits[1:2, :4], atol=1e-5)


def test_generate_is_the_greedy_search_with_pad_after_eos() -> None:
    net = network("1x1-tied")
    net.decoder.output_bias.assign(to_numpy(net.decoder.output_bias) + np.eye(20)[EOS_ID] * 1.5)  # rows end early
    tokens, attention = net.generate(SOURCE, max_length=CACHE_CHUNK + 4)  # past one cache chunk
    tokens, attention = to_numpy(tokens), to_numpy(attention)
    assert tokens.shape == (3, CACHE_CHUNK + 4) and attention.shape == (3, CACHE_CHUNK + 4, 5)
    for row in tokens:
        ends = np.flatnonzero(row == EOS_ID)
        if len(ends):
            assert (row[ends[0] + 1 :] == PAD_ID).all()
    assert (attention[tokens == PAD_ID] == 0).all()
    from seq2seq_fit.search import greedy

    with TransformerStepDecoder(net) as decoder:
        state = decoder.start(SOURCE, (SOURCE != 0).sum(1))
        result = greedy(decoder.step, state, 3, CACHE_CHUNK + 4)
    np.testing.assert_array_equal(result.ids, tokens[:, : result.ids.shape[1]])


@pytest.mark.parametrize("mode", ["parallel", "sequential"])
@pytest.mark.parametrize("feed", ["argmax", "sample"])
def test_scheduled_sampling_runs_with_dropout(mode: str, feed: str) -> None:
    net = network("2x2-proj", dropout=0.2)
    teacher_forcing = TeacherForcing(start=0.5, mode=mode, feed=feed, passes=2, granularity="sequence")
    loss, gold = net.loss(SOURCE, TARGET_IN, np.roll(TARGET_IN, -1, axis=1), teacher_forcing, 0.5)
    assert np.isfinite(float(to_numpy(loss))) and to_numpy(gold).shape == (3, 6)


def test_parallel_at_ratio_one_is_teacher_forcing() -> None:
    net = network("2x2-proj")
    gold = np.ones(TARGET_IN.shape, bool)
    expected = to_numpy(net(SOURCE, TARGET_IN))
    for mode in ("parallel", "sequential"):
        logits = net.scheduled_forward(SOURCE, TARGET_IN, gold, TeacherForcing(mode=mode, start=0.5), training=False)
        np.testing.assert_allclose(to_numpy(logits), expected, atol=1e-5)


def test_sequential_loop_feeds_the_models_own_tokens() -> None:
    net = network("2x2-proj")
    gold = np.zeros(TARGET_IN.shape, bool)
    gold[:, 0] = True
    logits = to_numpy(net.scheduled_forward(SOURCE, TARGET_IN, gold, TeacherForcing(start=0.0), training=False))
    fed = np.concatenate([TARGET_IN[:, :1], logits.argmax(-1)[:, :-1]], axis=1)  # what the loop fed itself
    np.testing.assert_allclose(to_numpy(net(SOURCE, fed)), logits, atol=1e-5)


def test_weight_slots_cover_every_weight_and_round_trip() -> None:
    for case in CONFIGS:
        net = network(case)
        slots = keras_slots(net)  # raises when a trainable weight has no slot
        assert "decoder.output_bias" in slots if net.config.tie_embeddings else "decoder.out" in slots
        weights = canonical_weights(net)
        assert {k: v.shape for k, v in weights.items()} == transformer_canonical_shapes(net.config, 20, 20)
        twin = Transformer(net.config, 20, 20, seed=1)
        load_canonical_weights(twin, weights)
        np.testing.assert_allclose(to_numpy(twin(SOURCE, TARGET_IN)), to_numpy(net(SOURCE, TARGET_IN)), atol=1e-6)


def transformer_model(teacher_forcing: TeacherForcing | None = None, **config: object) -> Seq2SeqModel:
    data = toy_data()
    options = {"architecture": "transformer", "embedding_dim": 16, "hidden_size": 16, "num_heads": 2, "ffn_size": 32}
    return Seq2SeqModel(data.src_vocab, data.tgt_vocab, Seq2SeqConfig(**{**options, **config}), teacher_forcing)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["parallel", pytest.param("sequential", marks=pytest.mark.slow)])
def test_transformer_model_fits_and_logs_the_ratio(mode: str) -> None:
    model = transformer_model(TeacherForcing(schedule="linear", decay_steps=4, mode=mode), dropout=0.1)
    model.compile(optimizer="adam", jit_compile=False)  # an XLA compile costs more than these few steps
    history = model.fit(toy_data().train(), epochs=2, steps_per_epoch=3, verbose=0)
    assert sorted(history.history) == ["fed_from_model", "loss", "tf_ratio"]
    assert all(np.isfinite(history.history["loss"]))
    assert history.history["tf_ratio"][-1] < 1.0


def test_transformer_model_translates_and_saves_both_ways(tmp_path) -> None:
    model = transformer_model(tie_embeddings=True)
    sources = [toy_data().src_vocab.tokens[4:7], toy_data().src_vocab.tokens[5:6]]
    greedy = model.translate(sources)
    assert model.translate(sources, strategy="beam", beam_width=1) == greedy
    beam = model.translate(sources, strategy="beam", beam_width=5, max_length=CACHE_CHUNK + 3)
    model.save_pretrained(tmp_path / "directory")
    again = Seq2SeqModel.from_pretrained(tmp_path / "directory")
    assert isinstance(again.model, Transformer)
    assert again.translate(sources) == greedy
    assert again.translate(sources, strategy="beam", beam_width=5, max_length=CACHE_CHUNK + 3) == beam
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert isinstance(loaded.model, Transformer) and loaded.translate(sources) == greedy
    predicted = model.predict({"source": np.array([[4, 5, 6], [5, 0, 0]], "int32")}, verbose=0)
    assert predicted.shape == (2, 16)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_half_precision_keeps_float32_weights_and_finite_outputs(policy: str) -> None:
    config = Seq2SeqConfig(architecture="transformer", **CONFIGS["2x2-proj"])  # type: ignore[arg-type]

    def outputs(net: Transformer) -> list[object]:
        memory, cache = net.encode(SOURCE)
        logits, cache, weights = net.decoder.step(TARGET_IN[:, 0], grow_cache(cache, 2), memory)
        return [net(SOURCE, TARGET_IN), logits, weights, *cache.keys]

    run_precision_test(lambda: Transformer(config, 20, 20), outputs, policy)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="a TensorFlow SavedModel is exported from the TensorFlow backend")
def test_saved_model_serves_the_transformers_greedy_ids(tmp_path) -> None:
    import tensorflow as tf

    model = transformer_model()
    model.export(tmp_path / "saved", verbose=False)
    source = np.array([[4, 5, 6], [7, 0, 0]], "int32")
    loaded = tf.saved_model.load(str(tmp_path / "saved"))  # kept: its variables live as long as it does
    served = loaded.serve(tf.constant(source)).numpy()
    expected = model.predict({"source": source}, verbose=0)
    np.testing.assert_array_equal(served, expected[:, : served.shape[1]])
    assert (expected[:, served.shape[1] :] == PAD_ID).all()
