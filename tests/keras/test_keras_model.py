"""Seq2SeqModel under plain ``fit``: it learns, logs, decodes, and trains in mixed precision."""

from __future__ import annotations

import numpy as np
import pytest

import keras
from keras_seq2seq import Seq2SeqModel, WarmupCosineDecay
from keras_seq2seq.seq2seq import masked_cross_entropy
from seq2seq_fit import EVAL_METRICS, TRAIN_METRICS, TeacherForcing, exact_match, metric_name
from tests.helpers.keras import BACKEND, first_batch, reverse_data, tiny_model, to_numpy, toy_data

JIT_BACKENDS = ("tensorflow", "jax")


def jit_for_backend() -> bool | str:
    """``jit_compile=True`` where XLA runs (TF, JAX); torch stays eager."""
    return True if BACKEND in JIT_BACKENDS else "auto"


@pytest.fixture(scope="module")
def toy_model() -> Seq2SeqModel:
    """The toy corpus memorised with scheduled sampling (linear decay to ratio 0.5)."""
    keras.utils.set_random_seed(0)
    data = toy_data()
    model = tiny_model(data, TeacherForcing(schedule="linear", start=1.0, end=0.5, decay_steps=60), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=jit_for_backend())
    model.fit(data.train(), epochs=120, verbose=0)
    return model


def test_memorises_the_toy_corpus(toy_model: Seq2SeqModel) -> None:
    sources, references = toy_data().references("test")
    hypotheses = toy_model.translate(sources)
    assert exact_match(hypotheses, references) == 100.0, hypotheses


@pytest.mark.slow  # 6 epochs of 3,000 pairs per backend, 40-50 s each here (learning in the default run: memorises)
def test_learns_reverse() -> None:
    data = reverse_data(n_train=3000, batch_size=64, n_test=200)
    model = tiny_model(data, hidden_size=64, embedding_dim=32, bidirectional=True, luong_score="dot")
    # The learning rate decays to 5% over the 6 epochs (LitSeq2Seq's lr_decay_steps): at a constant
    # 1e-2, dev exact match still swings by several points between the last epochs.
    schedule = WarmupCosineDecay(1e-2, lr_decay_steps=6 * len(data.train()), min_lr_ratio=0.05)
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=0.0, global_clipnorm=1.0), jit_compile=jit_for_backend()
    )
    history = model.fit(data.train(), epochs=6, verbose=0, validation_data=data.val()).history
    sources, references = data.references("test")
    score = exact_match(model.translate(sources), references)
    assert score >= 95.0, (score, history["val_exact_match"])
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_exact_match"][-1] >= 90.0 and history["val_token_acc"][-1] >= 95.0, history


def test_fit_and_evaluate_logs(toy_model: Seq2SeqModel) -> None:
    data = toy_data()
    history = toy_model.fit(data.train(), epochs=1, verbose=0, validation_data=data.val()).history
    expected = {metric_name(m, "train", "keras") for m in TRAIN_METRICS if m != "tokens_per_s"}  # a callback's
    assert set(history) == expected | {metric_name(m, "val", "keras") for m in EVAL_METRICS}
    assert history["tf_ratio"] == [pytest.approx(0.5)]
    logs = toy_model.evaluate(data.test(), verbose=0, return_dict=True)
    assert set(logs) == set(EVAL_METRICS)
    assert logs["exact_match"] == 100.0 and logs["token_acc"] == 100.0 and logs["wer"] == 0.0
    assert logs["per"] == 0.0 and logs["bleu"] == pytest.approx(100.0)


def test_beam_width_one_equals_greedy(toy_model: Seq2SeqModel) -> None:
    sources = ["I feel hungry", "tensorflow is very", "tensorflow", "deep learning is fast", ""]
    greedy = toy_model.translate(sources)
    assert toy_model.translate(sources, strategy="beam", beam_width=1, length_penalty=0.0) == greedy
    assert toy_model.translate(sources[:1], strategy="beam", beam_width=3) == greedy[:1]
    assert greedy[-1] == [], "an empty source gives an empty output"


def test_translate_options(toy_model: Seq2SeqModel) -> None:
    sources = ["I feel hungry", ["tensorflow", "is", "very", "difficult"]]
    greedy = toy_model.translate(sources)
    assert greedy[0] == ["나는", "배가", "고프다"]
    assert toy_model.translate(sources, strategy="sample", top_k=1, seed=1) == greedy
    sampled = toy_model.translate(sources * 4, strategy="sample", temperature=5.0, seed=3)
    assert sampled == toy_model.translate(sources * 4, strategy="sample", temperature=5.0, seed=3)
    assert len(toy_model.translate(sources, max_length=2)[1]) <= 2
    outputs, attention = toy_model.translate(sources, return_attention=True)
    assert attention[0].shape == (len(outputs[0]), 3), "one row per output token, one column per source token"
    assert attention[0].dtype == np.float32
    np.testing.assert_allclose(attention[0].sum(-1), 1.0, atol=1e-3)
    _, beam_attention = toy_model.translate(sources, strategy="beam", beam_width=2, return_attention=True)
    assert beam_attention[1].shape == (len(outputs[1]), 4)


@pytest.mark.backend_independent  # argument checks: runs once, not per backend
def test_translate_rejects_bad_arguments(toy_model: Seq2SeqModel) -> None:
    with pytest.raises(ValueError, match=r"strategy: got 'nucleus', expected one of 'greedy', 'sample', 'beam'"):
        toy_model.translate(["I feel hungry"], strategy="nucleus")
    with pytest.raises(ValueError, match=r"beam_width: got 0"):
        toy_model.translate(["I feel hungry"], strategy="beam", beam_width=0)
    with pytest.raises(ValueError, match=r"tokenizer: got 'bpe'"):
        toy_model.translate(["I feel hungry"], tokenizer="bpe")


def test_predict_returns_greedy_ids(toy_model: Seq2SeqModel) -> None:
    data = toy_data()
    x, _ = first_batch(data, "test")
    ids = toy_model.predict(data.test(), verbose=0)
    assert ids.shape == (4, 2 * x["source"].shape[1] + 10)
    assert [toy_model.tgt_vocab.decode(row) for row in ids] == toy_model.translate(
        [[toy_model.src_vocab.tokens[i] for i in row if i] for row in x["source"]]
    )


class TwoWidths(keras.utils.PyDataset):
    """Two batches of sources of widths 2 and 5: budgets of 14 and 20 steps."""

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        return {"source": np.full((3, 2 if index == 0 else 5), 4, dtype="int32")}


def test_predict_joins_batches_of_different_widths_padded(toy_model: Seq2SeqModel) -> None:
    ids = toy_model.predict(TwoWidths(), verbose=0)
    assert ids.shape == (6, 20)
    assert (ids[:3, 14:] == 0).all(), "the narrower batch is right-padded with <pad>"
    np.testing.assert_array_equal(ids[3:], toy_model.predict(TwoWidths()[1], verbose=0))


def test_masked_cross_entropy_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 5)).astype("float32")
    target = np.array([[4, 2, 0], [3, 0, 0]], dtype="int32")
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(logp, target[..., None], -1)[..., 0]
    smooth = -logp.mean(-1)
    mask = target != 0
    for eps in (0.0, 0.1):
        expected = (((1 - eps) * nll + eps * smooth) * mask).sum() / mask.sum()
        assert float(to_numpy(masked_cross_entropy(logits, target, eps))) == pytest.approx(expected, rel=1e-5)
    assert float(to_numpy(masked_cross_entropy(logits, np.zeros_like(target)))) == 0.0


def test_the_system_trains_the_networks_loss_and_logs_its_coins() -> None:
    """``Seq2SeqModel.training_loss`` is the network's ``loss`` at the scheduled ratio: the same coins
    from the same seed, the same value; at ratio 1 it is the label-smoothed teacher-forced loss."""
    data = toy_data()
    x, y = first_batch(data)
    tf = TeacherForcing(schedule="linear", start=0.6, end=0.2, decay_steps=10)
    system, twin = tiny_model(data, tf, seed=4), tiny_model(data, tf, seed=4)
    twin.set_weights(system.get_weights())
    loss, stats = system.training_loss(x, y)
    network_loss, gold = twin.model.loss(x["source"], x["target_in"], y, tf, 0.6)
    assert float(to_numpy(loss)) == pytest.approx(float(to_numpy(network_loss)), rel=1e-6)
    valid = (x["target_in"] != 0) & (np.arange(x["target_in"].shape[1]) >= 1)
    assert float(to_numpy(stats["fed_from_model"])) == pytest.approx((~to_numpy(gold) & valid).sum() / valid.sum())
    assert float(to_numpy(stats["tf_ratio"])) == pytest.approx(0.6)

    forced = tiny_model(data, seed=4, label_smoothing=0.1)
    loss, stats = forced.training_loss(x, y)
    expected = masked_cross_entropy(forced(x), y, 0.1)
    assert float(to_numpy(loss)) == pytest.approx(float(to_numpy(expected)), rel=1e-5)
    assert float(to_numpy(stats["fed_from_model"])) == 0.0


@pytest.mark.parametrize(
    ("attention", "cell"),
    [
        ("bahdanau", "lstm"),
        pytest.param("luong", "gru", marks=pytest.mark.slow),
        pytest.param("none", "lstm", marks=pytest.mark.slow),
    ],
)
def test_every_weight_gets_a_finite_gradient_free_step(attention: str, cell: str) -> None:
    """One training step with token coins changes every trainable weight and stays finite (Adam with a
    tiny epsilon moves a weight by about the learning rate whenever its gradient is non-zero)."""
    data = toy_data()
    tf = TeacherForcing(start=0.5, feed="sample", granularity="token")
    model = tiny_model(data, tf, attention=attention, cell=cell, num_layers=2, bidirectional=True, dropout=0.1)
    model.compile(optimizer=keras.optimizers.Adam(1e-3, epsilon=1e-12))
    before = [to_numpy(w) for w in model.trainable_weights]
    model.fit(data.train(), epochs=1, verbose=0)
    after = [to_numpy(w) for w in model.trainable_weights]
    for weight, old, new in zip(model.trainable_weights, before, after, strict=True):
        assert np.isfinite(new).all(), weight.path
        assert not np.array_equal(old, new), f"{weight.path} got no gradient"


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_trains_without_nan(policy: str) -> None:
    keras.config.set_dtype_policy(policy)
    data = reverse_data(n_train=256, batch_size=32)
    model = tiny_model(data, TeacherForcing(start=0.7), hidden_size=32)
    model.compile(optimizer=keras.optimizers.Adam(5e-3))
    if policy == "mixed_float16":
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    losses = model.fit(data.train(), epochs=3, verbose=0).history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < 0.9 * losses[0], losses
    assert model.model.decoder.compute_dtype == policy.split("_")[1]
    assert all(w.dtype == "float32" for w in model.trainable_weights)


def moved_weights(model: Seq2SeqModel, data: object) -> list[bool]:
    before = [to_numpy(w) for w in model.trainable_weights]
    model.fit(data.train(), epochs=1, verbose=0)  # type: ignore[attr-defined]
    return [not np.array_equal(b, to_numpy(w)) for b, w in zip(before, model.trainable_weights, strict=True)]


def test_float16_loss_scaling_keeps_small_gradients_alive() -> None:
    """With a Bahdanau energy vector of about 1e-7 (a tiny but trained-looking value), the gradients of
    the attention's key and query projections fall below float16's smallest subnormal (6e-8):
    without loss scaling they flush to zero and those weights never move; the scaled step moves
    every weight."""

    def small_energy_model() -> Seq2SeqModel:
        model = tiny_model(data, attention="bahdanau")
        model(first_batch(data)[0])  # build the weights
        energy = model.model.decoder.attention.v.kernel
        energy.assign(to_numpy(energy) * 1e-6)
        return model

    keras.config.set_dtype_policy("mixed_float16")
    data = toy_data()
    model = small_energy_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-3, epsilon=1e-12))
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert all(moved_weights(model, data))
    assert float(to_numpy(model.optimizer.dynamic_scale)) > 1.0
    unscaled = small_energy_model()
    unscaled.compile(optimizer=keras.optimizers.Adam(1e-3, epsilon=1e-12), auto_scale_loss=False)
    moved = dict(zip([w.path for w in unscaled.trainable_weights], moved_weights(unscaled, data), strict=True))
    assert not any(moved[path] for path in moved if "/w1/" in path or "/w2/" in path), moved
    assert moved[unscaled.model.decoder.attention.v.kernel.path]  # the rest still trains


@pytest.mark.skipif(BACKEND not in JIT_BACKENDS, reason="jit_compile=True means XLA: TensorFlow and JAX only")
@pytest.mark.parametrize("mode", [pytest.param("sequential", marks=pytest.mark.slow), "parallel"])
def test_jit_compile(mode: str) -> None:
    data = reverse_data(n_train=128, batch_size=32)
    model = tiny_model(data, TeacherForcing(schedule="linear", decay_steps=4, mode=mode, feed="sample"))
    model.compile(optimizer="adam", jit_compile=True)
    history = model.fit(data.train(), epochs=2, verbose=0, validation_data=data.val()).history
    assert np.isfinite(history["loss"]).all() and history["tf_ratio"][-1] == 0.0
