"""Mixed-precision faults on the Keras side, TensorFlow backend.

Under ``mixed_float16`` Keras wraps the optimizer in a ``LossScaleOptimizer`` and
``Seq2SeqModel.train_step`` scales the loss with ``optimizer.scale_loss`` before taking gradients;
an injected inf gradient must skip the step (weights and optimizer state untouched), halve the
loss scale, and leave the next step training normally. Fully padded rows and length-1 sequences
must give finite logits, loss and gradients under every policy.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import keras
from datamodules.keras import KerasData
from keras_seq2seq import Seq2SeqModel
from keras_seq2seq.scheduled_sampling import draw_coins
from seq2seq_fit import Seq2SeqConfig, TeacherForcing
from seq2seq_fit.vocab import BOS_ID, EOS_ID, PAD_ID

pytestmark = [
    pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="gradient checks use tf.GradientTape"),
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
    pytest.mark.filterwarnings("ignore:You are using a softmax over axis -1"),
]


@pytest.fixture
def policy(request: pytest.FixtureRequest) -> Iterator[str]:
    keras.config.set_dtype_policy(request.param)
    keras.utils.set_random_seed(0)
    yield request.param
    keras.config.set_dtype_policy("float32")


def numpy(values: list[Any]) -> list[np.ndarray]:
    return [np.asarray(keras.ops.convert_to_numpy(v)) for v in values]


@pytest.mark.parametrize("policy", ["mixed_float16"], indirect=True)
def test_an_inf_gradient_skips_the_step_and_halves_the_loss_scale(policy: str) -> None:
    data = KerasData("toy", batch_size=4)
    model = Seq2SeqModel(data.src_vocab, data.tgt_vocab, Seq2SeqConfig(hidden_size=16, embedding_dim=8), seed=0)
    model.compile(optimizer="adam", run_eagerly=True)  # eager, so the Python switch below is read each step
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    inject = {"on": False}
    clean_loss = model.training_loss

    def training_loss(x: Any, y: Any) -> Any:
        loss, stats = clean_loss(x, y)
        if inject["on"]:  # d(loss)/d(embedding) becomes inf
            loss = loss + float("inf") * keras.ops.sum(keras.ops.cast(model.trainable_variables[0], "float32"))
        return loss, stats

    model.training_loss = training_loss
    model.fit(data.train(), epochs=1, verbose=0)
    weights, slots = numpy(model.weights), numpy(model.optimizer.variables)
    scale, steps = float(numpy([model.optimizer.dynamic_scale])[0]), int(model.optimizer.iterations)

    inject["on"] = True
    history = model.fit(data.train(), epochs=1, verbose=0)
    assert not np.isfinite(history.history["loss"][0])
    for before, after in zip(weights, numpy(model.weights), strict=True):
        np.testing.assert_array_equal(before, after)
    changed = [
        v.path for v, a, b in zip(model.optimizer.variables, slots, numpy(model.optimizer.variables), strict=True)
        if not np.array_equal(a, b)
    ]  # fmt: skip
    assert all("scale" in name or "step_counter" in name for name in changed), changed
    assert float(numpy([model.optimizer.dynamic_scale])[0]) == scale / 2
    assert int(model.optimizer.iterations) == steps  # the schedule does not advance on a skipped step

    inject["on"] = False
    history = model.fit(data.train(), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert int(model.optimizer.iterations) == steps + 1
    assert all(np.isfinite(w).all() for w in numpy(model.weights))


def edge_batch(src_size: int, tgt_size: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Row 0 ordinary, row 1 fully padded (source and target), row 2 one token in and out."""
    source = np.full((3, 5), PAD_ID, "int32")
    source[0, :4] = np.arange(4, 8) % src_size
    source[2, 0] = 5 % src_size
    target_in = np.full((3, 4), PAD_ID, "int32")
    target_out = np.full((3, 4), PAD_ID, "int32")
    target_in[0, :3] = [BOS_ID, 4 % tgt_size, 5 % tgt_size]
    target_out[0, :3] = [4 % tgt_size, 5 % tgt_size, EOS_ID]
    target_in[2, :2], target_out[2, :2] = [BOS_ID, 6 % tgt_size], [6 % tgt_size, EOS_ID]
    return {"source": source, "target_in": target_in}, target_out


@pytest.mark.parametrize("policy", ["float32", "mixed_float16", "mixed_bfloat16"], indirect=True)
@pytest.mark.parametrize(("attention", "cell"), [("luong", "gru"), ("bahdanau", "lstm"), ("none", "gru")])
def test_padded_rows_and_length_one_sequences_stay_finite(policy: str, attention: str, cell: str) -> None:
    import tensorflow as tf

    data = KerasData("toy", batch_size=4)
    config = Seq2SeqConfig(hidden_size=16, embedding_dim=8, attention=attention, cell=cell, label_smoothing=0.1)
    schedule = TeacherForcing(schedule="constant", start=0.5)  # half the inputs come from the model
    model = Seq2SeqModel(data.src_vocab, data.tgt_vocab, config, schedule, seed=0)
    x, y = edge_batch(len(data.src_vocab), len(data.tgt_vocab))
    with tf.GradientTape() as tape:
        gold = draw_coins(x["target_in"], 0.5, "token", seed=0)  # half the inputs come from the model
        logits = model.model.scheduled_forward(x["source"], x["target_in"], gold, schedule, training=True)
        loss, _ = model.training_loss(x, y)
    grads = tape.gradient(loss, model.trainable_variables)
    assert np.isfinite(numpy([keras.ops.cast(logits, "float32")])[0]).all()
    assert np.isfinite(float(loss))
    assert all(g is not None for g in grads)
    assert all(np.isfinite(numpy([tf.convert_to_tensor(g)])[0]).all() for g in grads)
    evaluation = model.evaluation_stats(x, y)
    assert np.isfinite(float(evaluation["loss"]))
    assert model.translate([[], ["a"]], max_length=3) is not None  # empty and one-token sources decode
