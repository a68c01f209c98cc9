"""The per-backend steps of :class:`~keras_seq2seq.Seq2SeqModel`, as functions the model calls.

TensorFlow and torch differentiate ``model.training_loss`` with their own machinery (a
``GradientTape``; ``backward``); JAX's trainer is stateless: it passes the variable values in and
expects the new ones back, so its train, test and predict steps run the model inside a
``keras.StatelessScope``. Every step updates the model's trackers through
``model.train_metrics`` / ``model.test_metrics``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import keras

if TYPE_CHECKING:
    from keras_seq2seq.system import Seq2SeqModel


def num_replicas() -> int:
    """Replicas of a ``tf.distribute`` strategy in the current replica context (1 elsewhere)."""
    if keras.backend.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    return int(context.num_replicas_in_sync) if context is not None else 1


def tensorflow_train_step(model: Seq2SeqModel, data: Any) -> dict[str, Any]:
    """``GradientTape`` over the training loss (divided by the replicas, scaled for mixed precision)."""
    import tensorflow as tf

    x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
    weights = model.trainable_variables
    with tf.GradientTape() as tape:
        loss, stats = model.training_loss(x, y)
        scaled = model.optimizer.scale_loss(loss / num_replicas())
    model.optimizer.apply(tape.gradient(scaled, weights), weights)
    return model.train_metrics(loss, stats)


def torch_train_step(model: Seq2SeqModel, data: Any) -> dict[str, Any]:
    """``backward`` of the (scaled) training loss, then the optimizer update without autograd."""
    import torch

    x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
    weights = model.trainable_variables
    model.zero_grad()
    loss, stats = model.training_loss(x, y)
    model.optimizer.scale_loss(loss).backward()
    grads = [v.value.grad for v in weights]
    with torch.no_grad():
        model.optimizer.apply(grads, weights)
    return model.train_metrics(loss, stats)


def jax_train_step(model: Seq2SeqModel, state: Any, data: Any) -> tuple[dict[str, Any], Any]:
    """``jax.value_and_grad`` of the training loss over the trainable values; returns the new state."""
    import jax

    trainable, non_trainable, optimizer_vars, metrics_vars = state
    x, y, _ = keras.utils.unpack_x_y_sample_weight(data)

    def loss_fn(trainable: Any, non_trainable: Any) -> Any:
        mapping = [
            *variable_mapping(model, trainable, non_trainable),
            *zip(model.optimizer.variables, optimizer_vars, strict=True),
        ]
        with keras.StatelessScope(state_mapping=mapping) as scope:
            loss, stats = model.training_loss(x, y)
            scaled = model.optimizer.scale_loss(loss)
        new_non_trainable = [scope.get_current_value(v) for v in model.non_trainable_variables]
        return scaled, (loss, stats, new_non_trainable)

    (_, (loss, stats, non_trainable)), grads = jax.value_and_grad(loss_fn, has_aux=True)(trainable, non_trainable)
    trainable, optimizer_vars = model.optimizer.stateless_apply(optimizer_vars, grads, trainable)
    logs, metrics_vars = stateless_metrics(model, metrics_vars, lambda: model.train_metrics(loss, stats))
    return logs, (trainable, non_trainable, optimizer_vars, metrics_vars)


def jax_test_step(model: Seq2SeqModel, state: Any, data: Any) -> tuple[dict[str, Any], Any]:
    """The evaluation statistics of one batch on the given variable values; returns the new state."""
    trainable, non_trainable, metrics_vars = state
    x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
    with keras.StatelessScope(state_mapping=variable_mapping(model, trainable, non_trainable)) as scope:
        stats = model.evaluation_stats(x, y)
    non_trainable = [scope.get_current_value(v) for v in model.non_trainable_variables]
    logs, metrics_vars = stateless_metrics(model, metrics_vars, lambda: model.test_metrics(stats))
    return model.with_ids(logs, stats), (trainable, non_trainable, metrics_vars)


def jax_predict_step(model: Seq2SeqModel, state: Any, data: Any) -> tuple[Any, Any]:
    """``model.predict_outputs(data)`` on the given variable values."""
    trainable, non_trainable = state
    with keras.StatelessScope(state_mapping=variable_mapping(model, trainable, non_trainable)):
        outputs = model.predict_outputs(data)
    return outputs, non_trainable


def variable_mapping(model: Seq2SeqModel, trainable: Any, non_trainable: Any) -> list[tuple[Any, Any]]:
    """``(variable, value)`` pairs of the model's trainable and non-trainable variables."""
    return [
        *zip(model.trainable_variables, trainable, strict=True),
        *zip(model.non_trainable_variables, non_trainable, strict=True),
    ]


def stateless_metrics(
    model: Seq2SeqModel, metrics_vars: Any, update: Callable[[], dict[str, Any]]
) -> tuple[dict[str, Any], list[Any]]:
    """Run the tracker ``update`` on the values ``metrics_vars``; returns its logs and the new values."""
    with keras.StatelessScope(state_mapping=list(zip(model.metrics_variables, metrics_vars, strict=True))) as scope:
        logs = update()
    return logs, [scope.get_current_value(v) for v in model.metrics_variables]


__all__ = [
    "jax_predict_step",
    "jax_test_step",
    "jax_train_step",
    "num_replicas",
    "tensorflow_train_step",
    "torch_train_step",
]
