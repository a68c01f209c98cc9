"""Scheduled teacher forcing: coins, what is fed, what is logged, and the parallel/sequential equivalence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import keras
from keras_seq2seq import Seq2SeqModel
from keras_seq2seq.scheduled_sampling import (
    applied_ratio,
    draw_coins,
    fed_from_model,
    gold_probability,
    mix_inputs,
    model_tokens,
)
from keras_seq2seq.seq2seq import always_gold
from seq2seq_fit import Seq2SeqConfig, TeacherForcing
from tests.helpers.keras import first_batch, reverse_data, tiny_model, to_numpy, toy_data


def coins(granularity: str, ratio: float, shape: tuple[int, int] = (64, 40)) -> np.ndarray:
    return to_numpy(draw_coins(np.ones(shape, "int32"), ratio, granularity, keras.random.SeedGenerator(1)))


@pytest.mark.parametrize("granularity", ["token", "sequence", "batch"])
def test_coins_have_the_scheduled_rate_and_shape(granularity: str) -> None:
    gold = coins(granularity, 0.3)
    assert gold.shape == (64, 40) and gold.dtype == bool
    assert gold[:, 0].all(), "position 0 always gets <bos>"
    rate = gold[:, 1:].mean()
    assert abs(rate - 0.3) < {"token": 0.03, "sequence": 0.12, "batch": 0.15}[granularity]
    if granularity == "sequence":  # one coin per example
        assert (gold[:, 1:] == gold[:, 1:2]).all()
    if granularity == "batch":  # one coin per time step
        assert (gold == gold[:1]).all()
    if granularity == "token":
        assert not (gold[:, 1:] == gold[:, 1:2]).all() and not (gold == gold[:1]).all()


def test_ratio_bounds_give_all_gold_or_all_model() -> None:
    assert coins("token", 1.0).all()
    gold = coins("token", 0.0)
    assert gold[:, 0].all() and not gold[:, 1:].any()


def test_fed_from_model_counts_real_inputs_only() -> None:
    target_in = np.array([[1, 5, 6, 0], [1, 7, 0, 0]], dtype="int32")
    gold = np.array([[True, False, True, False], [True, False, False, False]])
    # valid (non-pad, t >= 1): (0,1) (0,2) (1,1); from the model among them: (0,1) (1,1)
    assert float(to_numpy(fed_from_model(gold, target_in))) == pytest.approx(2 / 3)


def test_model_tokens_argmax_and_sampling() -> None:
    logits = np.array([[0.0, 5.0, 1.0], [3.0, 0.0, 0.0]], dtype="float32")
    assert to_numpy(model_tokens(logits, "argmax")).tolist() == [1, 0]
    gumbel = np.array([[0.0, 0.0, 10.0], [0.0, 0.0, 0.0]], dtype="float32")
    assert to_numpy(model_tokens(logits, "sample", 1.0, gumbel)).tolist() == [2, 0]
    with pytest.raises(ValueError, match="feed: got 'beam', expected 'argmax' or 'sample'"):
        model_tokens(logits, "beam")


def test_parallel_pass_inputs_mix_gold_and_shifted_predictions() -> None:
    target_in = np.array([[1, 5, 6, 7]], dtype="int32")
    predictions = np.array([[8, 9, 10, 11]], dtype="int32")
    gold = np.array([[True, False, True, False]])
    assert to_numpy(mix_inputs(gold, target_in, predictions)).tolist() == [[1, 8, 6, 10]]


#: Bahdanau's step loop compiles anew at each eager call on JAX (two minutes here): slow.
@pytest.mark.parametrize("attention", ["luong", "none", pytest.param("bahdanau", marks=pytest.mark.slow)])
def test_parallel_at_ratio_one_equals_teacher_forced_sequential(attention: str) -> None:
    """Ratio 1 that the host cannot see (a linear schedule at step 0) runs the real sampling code."""
    data = toy_data()
    x, _ = first_batch(data)
    decaying = {"schedule": "linear", "start": 1.0, "end": 0.0, "decay_steps": 1000}
    reference = tiny_model(data, TeacherForcing(), attention=attention, num_layers=2)
    logits_tf = to_numpy(reference(x))
    for tf in (TeacherForcing(mode="parallel", passes=2, **decaying), TeacherForcing(mode="sequential", **decaying)):
        model = tiny_model(data, tf, attention=attention, num_layers=2)
        model.set_weights(reference.get_weights())
        assert not always_gold(tf)
        ratio = model.ratio(0)
        gold = draw_coins(x["target_in"], ratio, tf.granularity, seed=0)
        assert float(to_numpy(ratio)) == 1.0 and to_numpy(gold).all()
        logits = model.model.scheduled_forward(x["source"], x["target_in"], gold, tf, training=False)
        np.testing.assert_allclose(to_numpy(logits), logits_tf, atol=1e-5)


def test_parallel_bahdanau_passes_feed_the_previous_pass_predictions() -> None:
    """Each pass runs Bahdanau's step loop over the fixed inputs the previous pass built."""
    data = toy_data()
    x, _ = first_batch(data)
    tf = TeacherForcing(start=0.5, mode="parallel", passes=2)
    model = tiny_model(data, tf, attention="bahdanau", hidden_size=16, embedding_dim=8)
    gold = to_numpy(draw_coins(x["target_in"], 0.5, tf.granularity, seed=3))
    assert not gold[:, 1:].all()
    logits = model.model.scheduled_forward(x["source"], x["target_in"], gold, tf, training=False)
    inputs = x["target_in"]
    for _ in range(2):
        predictions = to_numpy(model({"source": x["source"], "target_in": inputs})).argmax(-1)
        inputs = to_numpy(mix_inputs(gold, x["target_in"], predictions))
    assert (inputs != x["target_in"]).any(), "an untrained model does not copy the gold tokens"
    np.testing.assert_allclose(
        to_numpy(logits), to_numpy(model({"source": x["source"], "target_in": inputs})), atol=1e-5
    )


def test_sequential_at_ratio_zero_feeds_the_models_own_argmax() -> None:
    data = toy_data()
    x, _ = first_batch(data)
    tf = TeacherForcing(start=0.0)
    model = tiny_model(data, tf, attention="luong")
    gold = draw_coins(x["target_in"], 0.0, tf.granularity, seed=0)
    logits = model.model.scheduled_forward(x["source"], x["target_in"], gold, tf, training=False)
    memory, states = model.model.encode(x["source"])
    fed = to_numpy(model.model.decoder.loop(x["target_in"], to_numpy(gold), states, memory)[1])
    # Feeding the model's tokens step by step equals a teacher-forced pass over [<bos>, argmax].
    inputs = np.concatenate([x["target_in"][:, :1], fed[:, :-1]], axis=1)
    np.testing.assert_allclose(
        to_numpy(logits), to_numpy(model({"source": x["source"], "target_in": inputs})), atol=1e-5
    )


@pytest.mark.parametrize(
    ("granularity", "tolerance"),
    [
        ("token", 0.05),
        pytest.param("sequence", 0.12, marks=pytest.mark.slow),
        pytest.param("batch", 0.15, marks=pytest.mark.slow),
    ],
)
def test_fed_from_model_tracks_one_minus_ratio_in_fit(granularity: str, tolerance: float) -> None:
    data = reverse_data(n_train=256, batch_size=32)
    model = tiny_model(data, TeacherForcing(start=0.3, granularity=granularity), seed=1)
    model.compile(optimizer="adam")
    history = model.fit(data.train(), epochs=1, verbose=0).history
    assert history["tf_ratio"][0] == pytest.approx(0.3)
    assert abs(history["fed_from_model"][0] - 0.7) < tolerance


def test_logged_ratio_follows_the_schedule_of_optimizer_iterations() -> None:
    data = reverse_data(n_train=128, batch_size=32)  # 4 steps per epoch
    tf = TeacherForcing(schedule="linear", start=1.0, end=0.0, decay_steps=8, mode="parallel", feed="sample")
    model = tiny_model(data, tf, attention="none")
    model.compile(optimizer="adam")
    history = model.fit(data.train(), epochs=3, verbose=0).history
    steps_per_epoch = len(data.train())
    for epoch, logged in enumerate(history["tf_ratio"]):
        steps = range(epoch * steps_per_epoch, (epoch + 1) * steps_per_epoch)
        assert logged == pytest.approx(np.mean([tf.ratio(i) for i in steps]), abs=1e-6)
    assert history["fed_from_model"][0] < history["fed_from_model"][-1]
    assert history["fed_from_model"][-1] == 1.0  # ratio 0 from step 8 on


def test_coins_come_from_the_models_seed_generator() -> None:
    data = toy_data()
    x, y = first_batch(data)
    tf = TeacherForcing(start=0.5)
    a, b = tiny_model(data, tf, seed=5), tiny_model(data, tf, seed=5)
    gold_a = [to_numpy(a.model.loss(x["source"], x["target_in"], y, tf, 0.5)[1]) for _ in range(2)]
    gold_b = [to_numpy(b.model.loss(x["source"], x["target_in"], y, tf, 0.5)[1]) for _ in range(2)]
    np.testing.assert_array_equal(gold_a[0], gold_b[0])
    np.testing.assert_array_equal(gold_a[1], gold_b[1])
    assert not np.array_equal(gold_a[0], gold_a[1]), "each batch draws new coins"


@pytest.mark.backend_independent  # plain-Python config objects: runs once, not per backend
def test_config_objects_round_trip() -> None:
    """``get_config`` -> JSON -> ``from_config`` (what a ``.keras`` file stores) rebuilds the same model:
    config, schedule, vocabularies and seed, as objects again."""
    data = toy_data()
    schedule = TeacherForcing(schedule="exponential", k=0.9, granularity="batch")
    model = tiny_model(data, schedule, seed=7, cell="lstm", attention="bahdanau")
    stored = json.loads(json.dumps(model.get_config()))
    assert stored["teacher_forcing"]["granularity"] == "batch"
    back = Seq2SeqModel.from_config(stored)
    assert isinstance(back.config, Seq2SeqConfig) and isinstance(back.teacher_forcing, TeacherForcing)
    assert back.config == model.config and back.config.cell == "lstm"
    assert back.teacher_forcing == schedule
    assert back.src_vocab.tokens == data.src_vocab.tokens and back.tgt_vocab.tokens == data.tgt_vocab.tokens
    assert back.seed == 7
    assert back.get_config() == model.get_config()


# ---- schedules over the decoding position

#: f(t) = 0.85 ** t alone (the step ratio is 0): gold at t = 1 with 0.85, at t = 19 with 0.046.
BY_POSITION = TeacherForcing(schedule="constant", start=0.0, position_schedule="exponential", position_k=0.85)


@pytest.mark.parametrize("granularity", ["token", "sequence", "batch"])
def test_coins_follow_the_probability_of_each_position(granularity: str) -> None:
    target_in = np.ones((4096, 20), "int32")
    p = to_numpy(gold_probability(BY_POSITION, 0.0, target_in))
    np.testing.assert_allclose(p, [0.85**t for t in range(20)], rtol=1e-5)
    seed = keras.random.SeedGenerator(3)
    gold = to_numpy(draw_coins(target_in, p, granularity, seed))
    rate, tolerance = gold.mean(0), 0.04  # 4096 coins per position: standard error < 0.008
    if granularity == "batch":  # one coin per position and draw: the mean of 1000 draws (standard error < 0.016)
        rate = np.mean([to_numpy(draw_coins(target_in[:1], p, granularity, seed))[0] for _ in range(1000)], axis=0)
        tolerance = 0.06
    assert rate[0] == 1.0
    assert np.abs(rate[1:] - p[1:]).max() < tolerance, (rate, p)
    assert rate[1:5].mean() > rate[15:].mean() + 0.4, "early positions are fed gold more often than late ones"
    if granularity == "sequence":
        assert (gold[:, 1:] <= gold[:, :-1]).all(), "one coin per example: gold up to a position, then the model's"


def test_gold_probability_is_the_ratio_without_a_position_schedule_and_in_the_graph_otherwise() -> None:
    target_in = np.ones((2, 5), "int32")
    assert gold_probability(TeacherForcing(schedule="linear"), 0.3, target_in) == 0.3
    composite = TeacherForcing(schedule="linear", position_schedule="sigmoid", position_k=3.0)
    ratio = keras.ops.convert_to_tensor(0.5)
    expected = [composite.at_position(0.5, t) for t in range(5)]
    np.testing.assert_allclose(to_numpy(gold_probability(composite, ratio, target_in)), expected, rtol=1e-6)
    target = np.array([[1, 5, 6, 0], [1, 5, 0, 0]], "int32")
    p = np.array([1.0, 0.8, 0.4, 0.1], "float32")
    assert float(to_numpy(applied_ratio(p, target))) == pytest.approx((0.8 + 0.4 + 0.8) / 3)


@pytest.mark.parametrize(
    ("mode", "attention"),
    [("sequential", "luong"), ("parallel", "luong"), pytest.param("parallel", "bahdanau", marks=pytest.mark.slow)],
)
def test_position_schedule_in_fit_logs_the_applied_ratio_and_round_trips(
    mode: str, attention: str, tmp_path: Path
) -> None:
    data = reverse_data(n_train=128, batch_size=32)  # 4 steps
    tf = TeacherForcing(
        schedule="linear", start=1.0, end=0.0, decay_steps=4, mode=mode, position_schedule="linear", position_k=6.0
    )
    model = tiny_model(data, tf, attention=attention, hidden_size=16, embedding_dim=8)
    model.compile(optimizer="adam")
    history = model.fit(data.train(), epochs=1, verbose=0).history
    assert sorted(history) == ["fed_from_model", "loss", "tf_ratio", "tf_ratio_applied"]
    assert history["tf_ratio"][0] == pytest.approx(np.mean([tf.ratio(i) for i in range(4)]), abs=1e-6)
    applied, fed = history["tf_ratio_applied"][0], history["fed_from_model"][0]
    # step i feeds position t gold with 1 - t * (1 - eps(i)) / 6 (targets of 3-8 tokens): 1 at step 0, then less
    assert 0.5 < applied < 1.0
    assert abs(fed - (1.0 - applied)) < 0.08, (fed, applied)
    # the fields travel with the model: .keras file and model directory
    model.save(tmp_path / "m.keras")
    assert keras.models.load_model(tmp_path / "m.keras").teacher_forcing == tf
    model.save_pretrained(tmp_path / "model")
    assert Seq2SeqModel.from_pretrained(tmp_path / "model").teacher_forcing == tf
