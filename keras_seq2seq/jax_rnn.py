"""LSTM and GRU layers over a whole sequence in JAX, with a hand-written backward pass.

Autodiff of a ``lax.scan`` over the cell computes the weight gradients inside the reverse loop:
per step, ``x_t^T @ dz_t`` for the input kernel and ``h_{t-1}^T @ dz_t`` for the recurrent kernel,
each a small product added to an accumulator of the kernel's size. The custom VJPs here carry only
``dh`` (and ``dc``) through a reverse scan, keep each step's gate gradients ``dz_t``, and then
take every weight gradient as ONE matrix product over all ``(t, b)`` (``X^T @ dZ``,
``H_prev^T @ dZ``), the input gradient as one product ``dZ @ kernel^T`` and the biases' as sums.

The forward loop keeps the per-step input projection ``x_t @ kernel``: on the CPU (XLA, one
thread) hoisting it out of the loop as one product measured slower, not faster.

Gates follow Keras: LSTM ``i, f, c, o`` (sigmoid, sigmoid, tanh, sigmoid), ``c' = f c + i g``,
``h' = o tanh(c')``; GRU with ``reset_after=True`` (the PyTorch formula) ``z, r, h``:
``n = tanh(x W_h + b_ih + r (h U_h + b_hh))``, ``h' = z h + (1 - z) n``. Everything runs in the dtype
of the arguments (the layer's compute dtype). Inputs and outputs are time-major.

Example:
    >>> import jax.numpy as jnp
    >>> x, h0 = jnp.zeros((5, 2, 4)), jnp.zeros((2, 3))  # (T, B, F), (B, H)
    >>> outputs, c_last = lstm_sequence(x, h0, h0, jnp.zeros((4, 12)), jnp.zeros((3, 12)), jnp.zeros(12))
    >>> tuple(outputs.shape), tuple(c_last.shape)
    ((5, 2, 3), (2, 3))
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

Array = Any


def previous_states(initial: Array, states: Array) -> Array:
    """The state each step started from: ``initial`` then all but the last of ``states``.  # (T, B, H)"""
    return jnp.concatenate([initial[None], states[:-1]], axis=0)


def sum_over_steps(a: Array, b: Array) -> Array:
    """``sum_t a_t^T @ b_t`` as one matrix product over all ``(t, b)``.  # (A, G)"""
    return jnp.einsum("tba,tbg->ag", a, b)


# ------------------------------------------------------------------------------------------ LSTM


def lstm_forward(
    x: Array, h0: Array, c0: Array, kernel: Array, recurrent_kernel: Array, bias: Array
) -> tuple[Array, ...]:
    """The LSTM loop; returns ``(outputs, cells, i, f, g, o, tanh(cells))``, each ``(T, B, H)``."""

    def step(carry: tuple[Array, Array], x_t: Array) -> tuple[tuple[Array, Array], tuple[Array, ...]]:
        h, c = carry  # (B, H)
        z = x_t @ kernel + h @ recurrent_kernel + bias  # (B, 4H)
        zi, zf, zg, zo = jnp.split(z, 4, axis=-1)
        i, f, g, o = jax.nn.sigmoid(zi), jax.nn.sigmoid(zf), jnp.tanh(zg), jax.nn.sigmoid(zo)
        c = f * c + i * g
        tanh_c = jnp.tanh(c)
        h = o * tanh_c
        return (h, c), (h, c, i, f, g, o, tanh_c)

    return lax.scan(step, (h0, c0), x)[1]  # type: ignore[no-any-return]


@jax.custom_vjp
def lstm_sequence(
    x: Array, h0: Array, c0: Array, kernel: Array, recurrent_kernel: Array, bias: Array
) -> tuple[Array, Array]:
    """Run an LSTM over a sequence.

    Args:
        x: inputs, time-major.  # (T, B, F)
        h0, c0: initial states.  # (B, H)
        kernel: ``(F, 4H)``.
        recurrent_kernel: ``(H, 4H)``.
        bias: ``(4H,)``.

    Returns:
        ``(outputs, c_last)``: every step's ``h`` ``(T, B, H)`` and the last cell state ``(B, H)``.
    """
    outputs, cells = lstm_forward(x, h0, c0, kernel, recurrent_kernel, bias)[:2]
    return outputs, cells[-1]


def lstm_sequence_fwd(
    x: Array, h0: Array, c0: Array, kernel: Array, recurrent_kernel: Array, bias: Array
) -> tuple[tuple[Array, Array], tuple[Array, ...]]:
    outputs, cells, i, f, g, o, tanh_c = lstm_forward(x, h0, c0, kernel, recurrent_kernel, bias)
    return (outputs, cells[-1]), (x, h0, c0, kernel, recurrent_kernel, outputs, cells, i, f, g, o, tanh_c)


def lstm_sequence_bwd(residuals: tuple[Array, ...], cotangents: tuple[Array, Array]) -> tuple[Array, ...]:
    x, h0, c0, kernel, recurrent_kernel, outputs, cells, i, f, g, o, tanh_c = residuals
    d_outputs, d_c_last = cotangents  # (T, B, H), (B, H)
    recurrent_t = recurrent_kernel.T  # (4H, H)

    def step(carry: tuple[Array, Array], xs: tuple[Array, ...]) -> tuple[tuple[Array, Array], Array]:
        dh, dc = carry  # gradients reaching h_t, c_t from later steps  # (B, H)
        d_out, c_prev, i, f, g, o, tanh_c = xs
        dh = dh + d_out
        dc = dc + dh * o * (1 - tanh_c * tanh_c)
        dz = jnp.concatenate(
            [dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g * g), dh * tanh_c * o * (1 - o)],
            axis=-1,
        )  # (B, 4H)
        return (dz @ recurrent_t, dc * f), dz

    xs = (d_outputs, previous_states(c0, cells), i, f, g, o, tanh_c)
    (dh0, dc0), dz = lax.scan(step, (jnp.zeros_like(h0), d_c_last), xs, reverse=True)  # dz: (T, B, 4H)
    return (
        dz @ kernel.T,  # (T, B, F)
        dh0,
        dc0,
        sum_over_steps(x, dz),  # (F, 4H)
        sum_over_steps(previous_states(h0, outputs), dz),  # (H, 4H)
        dz.sum(axis=(0, 1)),  # (4H,)
    )


lstm_sequence.defvjp(lstm_sequence_fwd, lstm_sequence_bwd)


# ------------------------------------------------------------------------------------------- GRU


def gru_forward(x: Array, h0: Array, kernel: Array, recurrent_kernel: Array, bias: Array) -> tuple[Array, ...]:
    """The GRU loop; returns ``(outputs, z, r, n, h U_h + b_hh)``, each ``(T, B, H)``."""

    def step(h: Array, x_t: Array) -> tuple[Array, tuple[Array, ...]]:
        xz, xr, xh = jnp.split(x_t @ kernel + bias[0], 3, axis=-1)  # (B, H) each
        hz, hr, hh = jnp.split(h @ recurrent_kernel + bias[1], 3, axis=-1)
        z, r = jax.nn.sigmoid(xz + hz), jax.nn.sigmoid(xr + hr)
        n = jnp.tanh(xh + r * hh)
        h = z * h + (1 - z) * n
        return h, (h, z, r, n, hh)

    return lax.scan(step, h0, x)[1]  # type: ignore[no-any-return]


@jax.custom_vjp
def gru_sequence(x: Array, h0: Array, kernel: Array, recurrent_kernel: Array, bias: Array) -> Array:
    """Run a GRU (``reset_after=True``) over a sequence.

    Args:
        x: inputs, time-major.  # (T, B, F)
        h0: initial state.  # (B, H)
        kernel: ``(F, 3H)``.
        recurrent_kernel: ``(H, 3H)``.
        bias: ``(2, 3H)``, the input and the recurrent bias.

    Returns:
        Every step's ``h``.  # (T, B, H)
    """
    return gru_forward(x, h0, kernel, recurrent_kernel, bias)[0]


def gru_sequence_fwd(
    x: Array, h0: Array, kernel: Array, recurrent_kernel: Array, bias: Array
) -> tuple[Array, tuple[Array, ...]]:
    outputs, z, r, n, hh = gru_forward(x, h0, kernel, recurrent_kernel, bias)
    return outputs, (x, h0, kernel, recurrent_kernel, outputs, z, r, n, hh)


def gru_sequence_bwd(residuals: tuple[Array, ...], d_outputs: Array) -> tuple[Array, ...]:
    x, h0, kernel, recurrent_kernel, outputs, z, r, n, hh = residuals
    recurrent_t = recurrent_kernel.T  # (3H, H)

    def step(dh: Array, xs: tuple[Array, ...]) -> tuple[Array, tuple[Array, Array]]:
        d_out, h_prev, z, r, n, hh = xs
        dh = dh + d_out  # (B, H)
        dn = dh * (1 - z) * (1 - n * n)  # at tanh's input
        dz = dh * (h_prev - n) * z * (1 - z)
        dr = dn * hh * r * (1 - r)
        d_input = jnp.concatenate([dz, dr, dn], axis=-1)  # at x W + b_ih  # (B, 3H)
        d_recurrent = jnp.concatenate([dz, dr, dn * r], axis=-1)  # at h U + b_hh  # (B, 3H)
        return dh * z + d_recurrent @ recurrent_t, (d_input, d_recurrent)

    xs = (d_outputs, previous_states(h0, outputs), z, r, n, hh)
    dh0, (d_input, d_recurrent) = lax.scan(step, jnp.zeros_like(h0), xs, reverse=True)  # (T, B, 3H) each
    return (
        d_input @ kernel.T,  # (T, B, F)
        dh0,
        sum_over_steps(x, d_input),  # (F, 3H)
        sum_over_steps(previous_states(h0, outputs), d_recurrent),  # (H, 3H)
        jnp.stack([d_input.sum(axis=(0, 1)), d_recurrent.sum(axis=(0, 1))]),  # (2, 3H)
    )


gru_sequence.defvjp(gru_sequence_fwd, gru_sequence_bwd)
