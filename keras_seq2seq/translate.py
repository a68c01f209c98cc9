"""The Keras side of ``translate``: a :class:`Seq2Seq` network one token at a time, numpy at the boundary.

The search and everything around it live in :mod:`seq2seq_fit.translate`; this adapter only
runs the model's encoder, decoder step and state gather (``keras.ops.take``), on any backend.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

import keras
from keras import ops

if TYPE_CHECKING:
    from keras_seq2seq.seq2seq import Seq2Seq

#: ``(memory (encoder outputs, mask, keys or None), per-layer recurrent states)``.
State = tuple[tuple[Any, Any, Any], list[list[Any]]]
#: JAX compiles per shape: source widths are padded to a multiple of this (the mask covers it).
JAX_WIDTH_MULTIPLE = 8

#: ``model -> (encode, step)`` compiled once per model: ``encode(values, source)`` and
#: ``step(values, token, states, memory)``, ``values`` the model's variable values (read by JAX only).
_COMPILED: weakref.WeakKeyDictionary[Any, tuple[Callable[..., Any], Callable[..., Any]]] = weakref.WeakKeyDictionary()


def compiled_functions(model: Seq2Seq) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The model's encode and decoder step as one compiled call each: ``tf.function`` on
    TensorFlow (one trace for every shape, see :func:`traced_once`), ``jax.jit`` of the stateless
    calls on JAX (one compilation per shape), plain eager calls on torch. Each step of the
    host-side search is then one device call."""
    if model in _COMPILED:
        return _COMPILED[model]
    ref = weakref.ref(model)  # the cache must not keep the model alive

    def encode(values: Any, source: Any) -> Any:
        m = ref()
        assert m is not None
        return m.encode(source)

    def step(values: Any, token: Any, states: Any, memory: Any) -> Any:
        m = ref()
        assert m is not None
        logits, states, weights = m.decoder.step(token, states, memory)  # (N, V), (N, S)
        return ops.cast(logits, "float32"), states, None if weights is None else ops.cast(weights, "float32")

    backend = keras.backend.backend()
    if backend == "tensorflow":
        encode, step = traced_once(encode), traced_once(step)
    elif backend == "jax":
        import jax

        def stateless(fn: Callable[..., Any]) -> Callable[..., Any]:
            def run(values: Any, *args: Any) -> Any:
                m = ref()
                assert m is not None
                with keras.StatelessScope(state_mapping=list(zip(m.variables, values, strict=True))):
                    return fn(values, *args)

            return jax.jit(run)

        encode, step = stateless(encode), stateless(step)
    _COMPILED[model] = (encode, step)
    return _COMPILED[model]


def traced_once(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn(None, *args)`` as a ``tf.function`` traced once, at the first call, for arguments of the first
    call's structure, ranks and dtypes with every dimension left open. A ``None`` in the arguments (the
    attention keys of a network without attention) stays ``None``: the function takes only the tensors."""
    import tensorflow as tf

    compiled: list[Any] = []

    def call(values: Any, *args: Any) -> Any:
        leaves = tf.nest.flatten(list(args))  # None is a leaf
        if not compiled:
            structure, present = list(args), [t is not None for t in leaves]

            def run(*tensors: Any) -> Any:
                given = iter(tensors)
                return fn(None, *tf.nest.pack_sequence_as(structure, [next(given) if p else None for p in present]))

            signature = [tf.TensorSpec([None] * len(t.shape), t.dtype) for t in leaves if t is not None]
            compiled.append(tf.function(run, input_signature=signature))
        return compiled[0](*[t for t in leaves if t is not None])

    return call


def to_numpy(x: Any) -> np.ndarray:
    """A backend tensor as a float32 numpy array (mixed-precision outputs included)."""
    x = ops.cast(x, "float32")
    if keras.backend.backend() == "torch":  # keras' convert_to_numpy warns under NumPy 2 on every call
        return x.detach().cpu().numpy()  # type: ignore[no-any-return]
    return np.asarray(ops.convert_to_numpy(x))


class KerasStepDecoder:
    """A :class:`Seq2Seq` network as the core's ``StepDecoder`` (inference mode, no gradients).

    Use it as a context manager: on the torch backend the ``with`` block runs without autograd.

    Args:
        model: the encoder-decoder.

    Example:
        >>> from seq2seq_fit import Vocab
        >>> from seq2seq_fit.translate import translate
        >>> from keras_seq2seq import Seq2Seq
        >>> vocab = Vocab.build([list("abc")])
        >>> model = Seq2Seq({"embedding_dim": 8, "hidden_size": 8}, len(vocab), len(vocab))
        >>> with KerasStepDecoder(model) as decoder:
        ...     outputs = translate(decoder, vocab, vocab, ["a b"], max_length=3)
        >>> len(outputs[0]) <= 3
        True
    """

    def __init__(self, model: Seq2Seq) -> None:
        self.model = model
        self.has_attention = model.config.attention != "none"
        self._context: contextlib.ExitStack | None = None
        self._encode, self._step = compiled_functions(model)
        self._jax = keras.backend.backend() == "jax"
        self._values = [v.value for v in model.variables] if self._jax else None

    def __enter__(self) -> KerasStepDecoder:
        self._context = contextlib.ExitStack()
        if keras.backend.backend() == "torch":
            import torch

            self._context.enter_context(torch.no_grad())
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._context is not None:
            self._context.close()
            self._context = None

    def start(self, source_ids: np.ndarray, lengths: np.ndarray) -> State:
        """Attention memory and initial decoder states of ``source_ids`` (B, S) (padding masks itself;
        on JAX the width is padded up to a multiple of :data:`JAX_WIDTH_MULTIPLE`, so the attention
        has extra zero columns that the driver drops)."""
        source = np.asarray(source_ids, dtype=np.int32)
        if self._jax and source.shape[1] % JAX_WIDTH_MULTIPLE:
            source = np.pad(source, ((0, 0), (0, JAX_WIDTH_MULTIPLE - source.shape[1] % JAX_WIDTH_MULTIPLE)))
        memory, states = self._encode(self._values, ops.convert_to_tensor(source))
        return tuple(memory), [list(layer) for layer in states]  # type: ignore[return-value]

    def step(
        self, tokens: np.ndarray, state: State, *, attention: bool = True
    ) -> tuple[np.ndarray, State, np.ndarray | None]:
        """Logits (N, V) float32, the new state and, if ``attention``, the attention weights (N, S) of one step
        (``None`` otherwise: they stay on the device)."""
        memory, states = state
        token = ops.convert_to_tensor(np.asarray(tokens, dtype=np.int32))
        logits, states, weights = self._step(self._values, token, states, memory)  # (N, V), (N, S)
        states = [list(layer) for layer in states]
        host_weights = to_numpy(weights) if attention and self.has_attention else None
        return to_numpy(logits), (memory, states), host_weights

    def reorder(self, state: State, index: np.ndarray) -> State:
        """The rows ``index`` (N',) of the memory and of every recurrent state."""
        memory, states = state
        rows = ops.convert_to_tensor(np.asarray(index, dtype=np.int32))
        memory = tuple(None if m is None else ops.take(m, rows, axis=0) for m in memory)  # type: ignore[assignment]
        return memory, [[ops.take(s, rows, axis=0) for s in layer] for layer in states]
