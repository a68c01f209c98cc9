"""FastLSTM / FastGRU: the Keras layers' weights, outputs and (on JAX) gradients, by a faster path.

The JAX path only exists under ``KERAS_BACKEND=jax``; the JAX child run (``tests.helpers.backends``)
runs this file there when the main process is on another backend.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import keras
from keras_seq2seq.encoder import rnn_layer
from keras_seq2seq.fast_rnn import FastGRU, FastLSTM
from tests.helpers.keras import BACKEND, run_serialization_test, to_numpy

PARENTS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}
B, T, F, H = 3, 5, 4, 6
only_jax = pytest.mark.skipif(BACKEND != "jax", reason="the fast path is JAX-only")


def twin_layers(cell: str, **kwargs: Any) -> tuple[keras.layers.Layer, keras.layers.Layer]:
    """The fast layer of ``rnn_layer`` and the Keras layer of the same config, with the same (non-zero) weights."""
    fast = rnn_layer(cell, H, f"{cell}_layer", "float32")
    config = {**fast.get_config(), **kwargs}
    fast = type(fast).from_config(config)
    parent = PARENTS[cell].from_config(config)
    fast.build((None, None, F))
    parent.build((None, None, F))
    rng = np.random.default_rng(0)
    weights = [w + rng.normal(scale=0.3, size=w.shape).astype("float32") for w in parent.get_weights()]
    parent.set_weights(weights)
    fast.set_weights(weights)
    return fast, parent


def random_inputs(cell: str, seed: int = 1) -> tuple[np.ndarray, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(B, T, F)).astype("float32")  # (B, T, F)
    states = [rng.normal(size=(B, H)).astype("float32") for _ in range(2 if cell == "lstm" else 1)]  # (B, H) each
    return x, states


def test_rnn_layer_builds_fast_layers_with_the_keras_cells_and_weights() -> None:
    for cell, fast_cls in (("lstm", FastLSTM), ("gru", FastGRU)):
        fast = rnn_layer(cell, H, "rnn_0", "float32")
        assert type(fast) is fast_cls and isinstance(fast, PARENTS[cell])
        assert type(fast.cell) is type(PARENTS[cell](H).cell)  # step loops call the plain Keras cell
        parent = PARENTS[cell].from_config(fast.get_config())
        fast.build((None, None, F))
        parent.build((None, None, F))
        assert [(w.path, tuple(w.shape)) for w in fast.weights] == [(w.path, tuple(w.shape)) for w in parent.weights]
        assert keras.saving.get_registered_name(fast_cls) == f"keras_seq2seq>{fast_cls.__name__}"
    run_serialization_test(FastLSTM, {"units": 3, "return_sequences": True, "return_state": True})
    run_serialization_test(FastGRU, {"units": 3, "return_sequences": True, "reset_after": True})


@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_outputs_and_states_equal_the_keras_layer(cell: str, with_state: bool) -> None:
    fast, parent = twin_layers(cell)
    x, states = random_inputs(cell)
    initial_state = states if with_state else None
    got = fast(x, initial_state=initial_state)
    expected = parent(x, initial_state=initial_state)
    assert len(got) == len(expected) == 1 + len(states)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(to_numpy(a), to_numpy(b), atol=1e-5)


def loss_and_grads(layer: keras.layers.Layer, x: np.ndarray, states: list[np.ndarray], with_state: bool) -> Any:
    """``jax.grad`` of ``sum(outputs * w) + sum(last states * v)`` w.r.t. the weights, the inputs and
    the initial states (random ``w``, ``v``)."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(2)
    w = rng.normal(size=(B, T, H)).astype("float32")
    v = [rng.normal(size=(B, H)).astype("float32") for _ in states]
    non_trainable = [var.value for var in layer.non_trainable_variables]

    def loss(trainable: list[Any], x: Any, states: list[Any]) -> Any:
        (outputs, *last), _ = layer.stateless_call(
            trainable, non_trainable, x, initial_state=states if with_state else None
        )
        return jnp.sum(outputs * w) + sum(jnp.sum(s * vi) for s, vi in zip(last, v, strict=True))

    trainable = [var.value for var in layer.trainable_variables]
    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))(trainable, x, states)


def uses_fast_path(layer: keras.layers.Layer, x: np.ndarray, **call_kwargs: Any) -> bool:
    """Whether ``layer(x, **call_kwargs)`` runs :mod:`keras_seq2seq.jax_rnn`'s custom-VJP recurrence."""
    import jax

    def call(trainable: list[Any], x: Any) -> Any:
        non_trainable = [var.value for var in layer.non_trainable_variables]
        return layer.stateless_call(trainable, non_trainable, x, **call_kwargs)[0]

    jaxpr = jax.make_jaxpr(call)([var.value for var in layer.trainable_variables], x)
    return "custom_vjp_call" in str(jaxpr)


@only_jax
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gradients_equal_keras_autodiff(cell: str, with_state: bool) -> None:
    """Kernel, recurrent kernel, bias, inputs and initial states: the custom VJP agrees with autodiff
    of Keras' own loop."""
    fast, parent = twin_layers(cell)
    x, states = random_inputs(cell)
    assert uses_fast_path(fast, x) and not uses_fast_path(parent, x)
    fast_loss, fast_grads = loss_and_grads(fast, x, states, with_state)
    loss, grads = loss_and_grads(parent, x, states, with_state)
    np.testing.assert_allclose(float(fast_loss), float(loss), rtol=1e-5)
    (fast_weights, fast_x, fast_states), (weights, dx, dstates) = fast_grads, grads
    names = [var.name for var in parent.trainable_variables]
    assert names == ["kernel", "recurrent_kernel", "bias"]
    for name, a, b in zip([*names, "inputs"], [*fast_weights, fast_x], [*weights, dx], strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5, err_msg=name)
        assert np.abs(np.asarray(b)).max() > 1e-3, f"{name}: gradient should not be trivially zero"
    for a, b in zip(fast_states, dstates, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5, err_msg="initial state")


@only_jax
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_unusual_calls_fall_back_to_the_keras_loop(cell: str) -> None:
    """A mask, ``go_backwards`` or dropout takes the parent's path, with the parent's outputs."""
    x, _ = random_inputs(cell)
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], dtype=bool)
    for kwargs, call_kwargs in (({}, {"mask": mask}), ({"go_backwards": True}, {}), ({"dropout": 0.5}, {})):
        fast, parent = twin_layers(cell, **kwargs)
        assert not uses_fast_path(fast, x, **call_kwargs)
        for a, b in zip(fast(x, **call_kwargs), parent(x, **call_kwargs), strict=True):
            np.testing.assert_allclose(to_numpy(a), to_numpy(b), atol=1e-6)


@only_jax
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_mixed_bfloat16_runs_and_matches_float32(cell: str) -> None:
    """Under ``mixed_bfloat16`` the variables stay float32, outputs and gradients come in bfloat16/float32
    and agree with the float32 Keras layer to bfloat16 precision."""
    import jax

    x, states = random_inputs(cell)
    fast32, parent32 = twin_layers(cell)
    expected = [to_numpy(o) for o in parent32(x, initial_state=states)]
    _, expected_grads = loss_and_grads(parent32, x, states, with_state=True)
    keras.config.set_dtype_policy("mixed_bfloat16")
    fast = type(fast32).from_config({**fast32.get_config(), "dtype": "mixed_bfloat16"})
    fast.build((None, None, F))
    fast.set_weights(fast32.get_weights())
    assert all(v.dtype == "float32" for v in fast.trainable_variables)
    got = fast(x, initial_state=states)
    assert all(keras.backend.standardize_dtype(o.dtype) == "bfloat16" for o in got)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(to_numpy(keras.ops.cast(a, "float32")), b, atol=0.1)
    assert uses_fast_path(fast, x)
    _, grads = loss_and_grads(fast, x, states, with_state=True)
    for a, b in zip(jax.tree.leaves(grads[0]), jax.tree.leaves(expected_grads[0]), strict=True):
        assert a.dtype == np.float32  # the gradients of float32 variables
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=0.1 * np.abs(np.asarray(b)).max())
