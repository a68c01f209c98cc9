"""``scan`` over time steps whose per-step outputs are the carry itself, on every Keras backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
from keras import ops


def scan_steps(f: Callable[[Any, Any], Any], init: Any, xs: Any) -> Any:
    """``jax.lax.scan``-like loop where ``f(carry, x)`` returns the new carry, which is also
    the step's output; returns the outputs stacked on a new leading (time) axis.

    JAX and torch use ``keras.ops.scan``. TensorFlow gets its own ``tf.while_loop`` with
    ``maximum_iterations`` set, which XLA (``jit_compile=True``) needs to differentiate the loop.

    Args:
        f: step function ``carry, x -> new carry`` (same structure, dtypes and shapes).
        init: initial carry (nested structure of tensors).
        xs: time-major inputs (nested structure, leading axis ``T``).
    """
    if keras.backend.backend() != "tensorflow":
        return ops.scan(lambda c, x: (f(c, x),) * 2, init, xs)[1]
    import tensorflow as tf

    xs_flat = [tf.convert_to_tensor(x) for x in keras.tree.flatten(xs)]
    steps = tf.shape(xs_flat[0])[0]
    xs_arrays = [tf.TensorArray(x.dtype, size=steps, element_shape=x.shape[1:]).unstack(x) for x in xs_flat]
    init_flat = [tf.convert_to_tensor(c) for c in keras.tree.flatten(init)]
    ys_arrays = [tf.TensorArray(c.dtype, size=steps, element_shape=c.shape) for c in init_flat]

    def body(i: Any, carry_flat: list[Any], ys: list[Any]) -> tuple[Any, list[Any], list[Any]]:
        x = keras.tree.pack_sequence_as(xs, [a.read(i) for a in xs_arrays])
        new_flat = keras.tree.flatten(f(keras.tree.pack_sequence_as(init, carry_flat), x))
        new_flat = [tf.cast(n, c.dtype) for n, c in zip(new_flat, init_flat, strict=True)]
        return i + 1, new_flat, [a.write(i, n) for a, n in zip(ys, new_flat, strict=True)]

    _, _, ys_arrays = tf.while_loop(
        lambda i, *_: i < steps,
        body,
        (tf.constant(0), init_flat, ys_arrays),
        maximum_iterations=steps,
    )
    return keras.tree.pack_sequence_as(init, [a.stack() for a in ys_arrays])
