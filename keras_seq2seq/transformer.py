"""``Transformer``: the pre-layer-norm Transformer encoder-decoder as a registered Keras layer.

The counterpart of :class:`~keras_seq2seq.Seq2Seq` with the same methods the system, the search and
the training steps call (``encode``, ``call``, ``scheduled_forward``, ``loss``, ``generate``, and the
decoder's ``step``), so :class:`~keras_seq2seq.Seq2SeqModel` trains, evaluates, decodes and saves it
as it does the RNNs; the layers are in :mod:`keras_seq2seq.transformer_layers`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

import keras
from keras import ops
from keras_seq2seq.decoder import Memory
from keras_seq2seq.encoder_decoder import EncoderDecoder
from keras_seq2seq.scheduled_sampling import model_tokens
from keras_seq2seq.transformer_layers import DecoderCache, TransformerDecoder, TransformerEncoder, grow_cache
from keras_seq2seq.translate import JAX_WIDTH_MULTIPLE, KerasStepDecoder, to_numpy
from seq2seq_fit import Seq2SeqConfig
from seq2seq_fit.vocab import PAD_ID

#: The search's cache grows by this many positions at a time, so a compiled step (JAX) sees few shapes.
CACHE_CHUNK = 16


def scan_outputs(f: Callable[[Any, Any], tuple[Any, Any]], init: Any, xs: Any) -> Any:
    """``jax.lax.scan``: ``f(carry, x) -> (carry, y)`` over the leading axis of ``xs``; returns the ``y`` s
    stacked on a new leading (time) axis. Unlike :func:`~keras_seq2seq.step_scan.scan_steps` the outputs
    need not be the carry (a decoder cache stays out of them). TensorFlow runs a ``tf.while_loop`` with
    ``maximum_iterations`` (XLA differentiates it); JAX and torch ``keras.ops.scan``."""
    if keras.backend.backend() != "tensorflow":
        return ops.scan(f, init, xs)[1]
    import tensorflow as tf

    xs_flat = [tf.convert_to_tensor(x) for x in keras.tree.flatten(xs)]
    steps = tf.shape(xs_flat[0])[0]
    xs_arrays = [tf.TensorArray(x.dtype, size=steps, element_shape=x.shape[1:]).unstack(x) for x in xs_flat]
    init_flat = [tf.convert_to_tensor(c) for c in keras.tree.flatten(init)]
    first_x = keras.tree.pack_sequence_as(xs, [x[0] for x in xs_flat])
    y_structure = f(keras.tree.pack_sequence_as(init, init_flat), first_x)[1]  # traced once for the output shapes
    y_flat = [tf.convert_to_tensor(y) for y in keras.tree.flatten(y_structure)]
    ys_arrays = [tf.TensorArray(y.dtype, size=steps, element_shape=y.shape) for y in y_flat]

    def body(i: Any, carry_flat: list[Any], ys: list[Any]) -> tuple[Any, list[Any], list[Any]]:
        x = keras.tree.pack_sequence_as(xs, [a.read(i) for a in xs_arrays])
        carry, y = f(keras.tree.pack_sequence_as(init, carry_flat), x)
        new_flat = [tf.cast(n, c.dtype) for n, c in zip(keras.tree.flatten(carry), init_flat, strict=True)]
        return i + 1, new_flat, [a.write(i, v) for a, v in zip(ys, keras.tree.flatten(y), strict=True)]

    _, _, ys_arrays = tf.while_loop(
        lambda i, *_: i < steps, body, (tf.constant(0), init_flat, ys_arrays), maximum_iterations=steps
    )
    return keras.tree.pack_sequence_as(y_structure, [a.stack() for a in ys_arrays])


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class Transformer(EncoderDecoder):
    """Pre-layer-norm Transformer encoder-decoder with sinusoidal positions (``config.architecture="transformer"``).

    Args:
        config: architecture (a :class:`seq2seq_fit.Seq2SeqConfig` or a mapping of its fields; a dict in
            ``get_config``): ``num_layers`` blocks per side, ``hidden_size`` model width, ``num_heads``,
            ``feed_forward_size``, ``dropout``, ``tie_embeddings``, ``label_smoothing``.
        src_vocab_size: source vocabulary size.
        tgt_vocab_size: target vocabulary size.
        seed: seed of the coin ``SeedGenerator`` (the dropout generators use the seeds after it).
        **kwargs: passed to ``keras.layers.Layer`` (``name``, ``dtype``...).

    Built on construction, as the PyTorch module.

    Example:
        >>> net = Transformer(Seq2SeqConfig(architecture="transformer", embedding_dim=8, hidden_size=8,
        ...                                 num_heads=2), 10, 12)
        >>> src, tgt = np.array([[4, 5, 6]]), np.array([[1, 7, 8]])
        >>> tuple(net(src, tgt).shape)
        (1, 3, 12)

        The training loss (:meth:`~keras_seq2seq.encoder_decoder.EncoderDecoder.loss`) and its coins:

        >>> from seq2seq_fit import TeacherForcing
        >>> src, tgt_in, tgt_out = np.array([[4, 5]]), np.array([[1, 7]]), np.array([[7, 2]])
        >>> loss, gold = net.loss(src, tgt_in, tgt_out, TeacherForcing())
        >>> tuple(loss.shape), bool(keras.ops.all(gold))
        ((), True)
    """

    def __init__(
        self,
        config: Seq2SeqConfig | Mapping[str, Any],
        src_vocab_size: int,
        tgt_vocab_size: int,
        *,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(config, src_vocab_size, tgt_vocab_size, seed=seed, **kwargs)
        c = self.config
        if c.architecture != "transformer":
            raise ValueError(
                f"Transformer.config.architecture: got {c.architecture!r}, expected 'transformer' (Seq2Seq builds "
                "the RNN)"
            )
        policy = self.dtype_policy
        common = (c.embedding_dim, c.hidden_size, c.num_layers, c.num_heads, c.feed_forward_size, c.dropout)
        self.encoder = TransformerEncoder(src_vocab_size, *common, seed=seed + 1, dtype=policy, name="encoder")
        decoder_seed = seed + 2 + 3 * c.num_layers  # after the encoder's generators
        self.decoder = TransformerDecoder(
            tgt_vocab_size, *common, c.tie_embeddings, seed=decoder_seed, dtype=policy, name="decoder"
        )
        self.coin_seed = keras.random.SeedGenerator(seed, name="coin_seed")
        self.build()

    def encode(self, source: Any, training: bool = False) -> tuple[Memory, DecoderCache]:
        """Encode ``source`` (B, S); returns the decoder's memory (encoder outputs, zero at padding, source mask
        and every layer's cross-attention keys and values) and an empty :class:`DecoderCache` (room for 0
        positions: :meth:`generate` and the search make room)."""
        source = ops.cast(source, "int32")
        mask = ops.not_equal(source, PAD_ID)  # (B, S)
        enc = self.encoder(source, training=training)  # (B, S, H)
        enc = enc * ops.expand_dims(ops.cast(mask, enc.dtype), -1)  # zero at padding, as Memory.enc promises
        return Memory(enc, mask, self.decoder.keys(enc)), self.decoder.initial_state(ops.shape(source)[0])

    def step_loop(self, target_in: Any, gold: Any, state: Any, memory: Memory, **options: Any) -> tuple[Any, Any, Any]:
        """:meth:`loop` (from an empty cache of its own; ``state`` is not read; ``options``: ``feed``,
        ``temperature``, ``gumbel``, ``training``)."""
        return self.loop(target_in, gold, memory, **options)

    def loop(
        self,
        target_in: Any,
        gold: Any,
        memory: Memory,
        *,
        feed: str = "argmax",
        temperature: float = 1.0,
        gumbel: Any = None,
        training: bool = False,
    ) -> tuple[Any, Any, Any]:
        """The exact step loop over the cached decoder step: the input at ``t`` is ``target_in[:, t]`` where
        ``gold[:, t]``, else the model's own token from step ``t - 1`` (argmax, or a sample with ``gumbel``).

        Dropout masks are drawn before the loop (:meth:`TransformerDecoder.step_noise`), so no random state
        changes inside it.

        Returns:
            ``(logits (B, T, V), model tokens (B, T), cross-attention weights (B, T, S))``.
        """

        def time_major(x: Any) -> Any:
            return ops.swapaxes(x, 0, 1)

        target_in = ops.cast(target_in, "int32")
        batch, time = ops.shape(target_in)[0], ops.shape(target_in)[1]
        xs: dict[str, Any] = {"target": time_major(target_in), "gold": time_major(gold)}
        noise = self.decoder.step_noise(batch, time, ops.shape(memory.mask)[1], training)
        if noise is not None:
            xs["noise"] = noise
        if gumbel is not None:
            xs["gumbel"] = time_major(gumbel)
        init = {"token": ops.zeros((batch,), "int32"), "cache": self.decoder.initial_state(batch, time)}

        def body(carry: dict[str, Any], x: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
            token = ops.where(x["gold"], x["target"], carry["token"])  # (B,)
            logits, cache, weights = self.decoder.step(token, carry["cache"], memory, x.get("noise"), training)
            chosen = model_tokens(logits, feed, temperature, x.get("gumbel"))  # (B,)
            return {"token": chosen, "cache": cache}, {"logits": logits, "token": chosen, "weights": weights}

        ys = scan_outputs(body, init, xs)
        return time_major(ys["logits"]), time_major(ys["token"]), time_major(ys["weights"])


#: ``(memory, cache, positions taken)``: the search's state of a :class:`Transformer`.
TransformerState = tuple[tuple[Any, Any, Any], DecoderCache, int]


class TransformerStepDecoder(KerasStepDecoder):
    """A :class:`Transformer` as the core's ``StepDecoder``: the encoder once, then one cached decoder step per
    token (compiled as the RNN's, see :func:`keras_seq2seq.translate.compiled_functions`).

    The cache grows by :data:`CACHE_CHUNK` positions when the search reaches its end, so a compiled step
    sees a new shape once per chunk, not once per token.

    Example:
        >>> from seq2seq_fit import Vocab
        >>> from seq2seq_fit.translate import translate
        >>> vocab = Vocab.build([list("abc")])
        >>> net = Transformer({"architecture": "transformer", "embedding_dim": 8, "hidden_size": 8, "num_heads": 2},
        ...                   len(vocab), len(vocab))
        >>> with TransformerStepDecoder(net) as decoder:
        ...     outputs = translate(decoder, vocab, vocab, ["a b"], max_length=3)
        >>> len(outputs[0]) <= 3
        True
    """

    def __init__(self, model: Transformer) -> None:  # type: ignore[override]
        super().__init__(model)  # type: ignore[arg-type]
        self.has_attention = True

    def __enter__(self) -> TransformerStepDecoder:
        super().__enter__()
        return self

    def start(self, source_ids: np.ndarray, lengths: np.ndarray) -> TransformerState:  # type: ignore[override]
        """The memory of ``source_ids`` (B, S) and an empty cache (on JAX the width is padded up to a multiple
        of :data:`~keras_seq2seq.translate.JAX_WIDTH_MULTIPLE`; the mask covers it)."""
        source = np.asarray(source_ids, dtype=np.int32)
        if self._jax and source.shape[1] % JAX_WIDTH_MULTIPLE:
            source = np.pad(source, ((0, 0), (0, JAX_WIDTH_MULTIPLE - source.shape[1] % JAX_WIDTH_MULTIPLE)))
        memory, cache = self._encode(self._values, ops.convert_to_tensor(source))
        return tuple(memory), DecoderCache(*cache), 0  # type: ignore[return-value]

    def step(  # type: ignore[override]
        self, tokens: np.ndarray, state: TransformerState, *, attention: bool = True
    ) -> tuple[np.ndarray, TransformerState, np.ndarray | None]:
        """Logits (N, V) float32, the new state and, if ``attention``, the cross-attention weights (N, S)."""
        memory, cache, taken = state
        if taken >= int(cache.keys[0].shape[2]):
            cache = grow_cache(cache, taken + CACHE_CHUNK)
        token = ops.convert_to_tensor(np.asarray(tokens, dtype=np.int32))
        logits, cache, weights = self._step(self._values, token, cache, memory)  # (N, V), (N, S)
        host_weights = to_numpy(weights) if attention else None
        return to_numpy(logits), (memory, DecoderCache(*cache), taken + 1), host_weights

    def reorder(self, state: TransformerState, index: np.ndarray) -> TransformerState:  # type: ignore[override]
        """The rows ``index`` (N',) of the memory and of the cache."""
        memory, cache, taken = state
        rows = ops.convert_to_tensor(np.asarray(index, dtype=np.int32))

        def take(x: Any) -> Any:
            return ops.take(x, rows, axis=0)

        return keras.tree.map_structure(take, memory), keras.tree.map_structure(take, cache), taken


__all__ = ["CACHE_CHUNK", "Transformer", "TransformerStepDecoder", "scan_outputs"]
