"""``EncoderDecoder``: what the Keras ``Seq2Seq`` and ``Transformer`` do the same way, once.

The training loss (coins, scheduled forward, masked cross-entropy), the teacher-forced call, the
parallel passes of scheduled sampling, greedy generation with ``<pad>`` after ``<eos>`` and the
layer config. A network supplies ``encoder``/``decoder`` (a decoder that runs whole sequences:
``decoder(inputs, state, memory)``, ``steps_one_at_a_time``), ``encode`` and ``step_loop`` (its exact
step loop). The base class adds no weights; the registered subclasses are what is serialised.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
from keras import ops
from keras_seq2seq.decoder import Memory
from keras_seq2seq.scheduled_sampling import draw_coins, gold_probability, gumbel_noise, mix_inputs, model_tokens
from seq2seq_fit import Seq2SeqConfig, TeacherForcing, check_compatible
from seq2seq_fit.config import as_config, check_int
from seq2seq_fit.decoding import length_budget
from seq2seq_fit.vocab import BOS_ID, EOS_ID, PAD_ID


def masked_cross_entropy(logits: Any, target_out: Any, label_smoothing: float = 0.0) -> Any:
    """Mean cross-entropy over non-pad targets, with optional label smoothing.

    ``(1 - eps) * nll + eps * mean_over_vocab(-log p)``, computed in float32. A target of padding
    only gives a loss of 0, not NaN.

    Example:
        >>> import numpy as np
        >>> loss = masked_cross_entropy(np.zeros((1, 2, 4), "float32"), np.array([[2, 0]]))
        >>> round(float(keras.ops.convert_to_numpy(loss)), 4) == round(float(np.log(4.0)), 4)
        True
    """
    logp = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)  # (B, T, V)
    target = ops.expand_dims(ops.cast(target_out, "int32"), -1)  # (B, T, 1)
    per_token = -ops.squeeze(ops.take_along_axis(logp, target, axis=-1), -1)  # (B, T)
    if label_smoothing > 0.0:
        per_token = (1.0 - label_smoothing) * per_token - label_smoothing * ops.mean(logp, axis=-1)
    mask = ops.cast(ops.not_equal(target_out, PAD_ID), "float32")  # (B, T)
    return ops.sum(per_token * mask) / ops.maximum(ops.sum(mask), 1.0)


def always_gold(teacher_forcing: TeacherForcing) -> bool:
    """Whether the ratio is 1 at every step, known on the host (then ``luong``/``none`` decoders take
    the one-call teacher-forced path, which gives the same numbers as the step loop)."""
    tf = teacher_forcing
    return tf.start == 1.0 and (tf.schedule == "constant" or tf.end == 1.0)


def first_only(batch: Any, time: Any) -> Any:
    """``(B, T)`` bool coins that feed only position 0 (``<bos>``): free-running decoding."""
    first = ops.expand_dims(ops.equal(ops.arange(time, dtype="int32"), 0), 0)  # (1, T)
    return ops.broadcast_to(first, (batch, time))


class EncoderDecoder(keras.layers.Layer):
    """The shared part of the Keras encoder-decoder networks (not registered: its subclasses are).

    Args:
        config: architecture (a :class:`seq2seq_fit.Seq2SeqConfig` or a mapping of its fields; a dict in
            ``get_config``).
        src_vocab_size: source vocabulary size.
        tgt_vocab_size: target vocabulary size.
        seed: seed of the coin ``SeedGenerator`` (the subclass seeds its dropout generators after it).
        **kwargs: passed to ``keras.layers.Layer`` (``name``, ``dtype``...).
    """

    encoder: Any
    decoder: Any
    coin_seed: keras.random.SeedGenerator

    def __init__(
        self,
        config: Seq2SeqConfig | Mapping[str, Any],
        src_vocab_size: int,
        tgt_vocab_size: int,
        *,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        name = type(self).__name__
        check_int(name, "src_vocab_size", src_vocab_size, 1)
        check_int(name, "tgt_vocab_size", tgt_vocab_size, 1)
        self.config = as_config(config, name=f"{name}.config")
        self.src_vocab_size = src_vocab_size
        self.tgt_vocab_size = tgt_vocab_size
        self.seed = seed

    def build(self, input_shape: Any = None) -> None:
        for layer in (self.encoder, self.decoder):
            if not layer.built:  # built once, in __init__; a second build() keeps the weights
                layer.build()
        self.built = True

    def encode(self, source: Any, training: bool = False) -> tuple[Memory, Any]:
        """Encode ``source`` (B, S); returns the decoder's memory and initial state."""
        raise NotImplementedError(f"{type(self).__name__}.encode: a subclass of EncoderDecoder defines it")

    def step_loop(
        self,
        target_in: Any,
        gold: Any,
        state: Any,
        memory: Memory,
        *,
        feed: str = "argmax",
        temperature: float = 1.0,
        gumbel: Any = None,
        training: bool = False,
    ) -> tuple[Any, Any, Any]:
        """The exact step loop from ``state``: the input at ``t`` is ``target_in[:, t]`` where ``gold[:, t]``,
        else the model's own token from step ``t - 1``; returns ``(logits (B, T, V), tokens (B, T), attention
        weights (B, T, S) or None)``."""
        raise NotImplementedError(f"{type(self).__name__}.step_loop: a subclass of EncoderDecoder defines it")

    def call(self, source: Any, target_in: Any, training: bool = False, *, encoded: Any = None) -> Any:
        """Teacher-forced logits (B, T, V) for decoder inputs ``target_in`` (B, T); ``encoded``: ``encode(source)``
        when the caller has it already (evaluation reuses it for its greedy decode)."""
        memory, state = self.encode(source, training=training) if encoded is None else encoded
        return self.decoder(ops.cast(target_in, "int32"), state, memory, training=training)

    def scheduled_forward(
        self, source: Any, target_in: Any, gold: Any, teacher_forcing: TeacherForcing, training: bool = True
    ) -> Any:
        """Training logits (B, T, V) under scheduled sampling with the coins ``gold`` (B, T).

        ``sequential`` runs the exact step loop (the input at ``t`` is gold where ``gold``, else the
        token this same loop produced at ``t - 1``); when the schedule is 1 at every step and the
        decoder runs a whole sequence in one call (the Transformer, ``luong``/``none`` attention) it
        takes the one-call teacher-forced path, which gives the same numbers. ``parallel`` runs
        ``passes`` whole-sequence passes without gradient to build the mixed inputs, then one pass
        with gradient (Duckworth et al. 2019); with ``bahdanau`` each pass is the step loop over its
        fixed inputs, as the teacher-forced call is. Sampled feeds draw their Gumbel noise from the
        coin ``SeedGenerator``.
        """
        check_compatible(self.config, teacher_forcing)
        tf = teacher_forcing
        target_in = ops.cast(target_in, "int32")
        batch, time = ops.shape(target_in)[0], ops.shape(target_in)[1]
        memory, state = self.encode(source, training=training)
        noise_shape = (batch, time, self.tgt_vocab_size)
        if tf.mode == "parallel":
            inputs = target_in
            for _ in range(tf.passes):
                logits = ops.stop_gradient(self.decoder(inputs, state, memory, training=training))  # (B, T, V)
                gumbel = gumbel_noise(self.coin_seed, noise_shape) if tf.feed == "sample" else None
                inputs = mix_inputs(gold, target_in, model_tokens(logits, tf.feed, tf.temperature, gumbel))
            return self.decoder(inputs, state, memory, training=training)
        if always_gold(tf) and not self.decoder.steps_one_at_a_time:
            return self.decoder(target_in, state, memory, training=training)
        gumbel = gumbel_noise(self.coin_seed, noise_shape) if tf.feed == "sample" else None
        logits, _, _ = self.step_loop(
            target_in, gold, state, memory, feed=tf.feed, temperature=tf.temperature, gumbel=gumbel, training=training
        )
        return logits

    def loss(
        self,
        source: Any,
        target_in: Any,
        target_out: Any,
        teacher_forcing: TeacherForcing,
        ratio: Any = 1.0,
        training: bool = True,
    ) -> tuple[Any, Any]:
        """The training loss: scheduled forward, then masked cross-entropy with label smoothing.

        Draws the teacher-forcing coins at ``ratio``, or at each position's
        ``teacher_forcing.at_position(ratio, t)`` with a ``position_schedule`` (with
        ``teacher_forcing.granularity``, from the coin ``SeedGenerator``), runs
        :meth:`scheduled_forward` and averages the cross-entropy over the non-pad tokens of
        ``target_out`` (B, T) with ``config.label_smoothing``. ``Seq2SeqModel``'s train steps and
        the benchmarks' hand-written loops call this one function.

        Returns:
            ``(loss (), gold (B, T))``: the scalar loss and the coins (``True`` where the gold
            token was fed).
        """
        probability = gold_probability(teacher_forcing, ratio, target_in)  # a number, or (T,)
        gold = draw_coins(target_in, probability, teacher_forcing.granularity, self.coin_seed)  # (B, T)
        logits = self.scheduled_forward(source, target_in, gold, teacher_forcing, training)  # (B, T, V)
        return masked_cross_entropy(logits, target_out, self.config.label_smoothing), gold

    def generate(self, source: Any, *, max_length: Any = None, encoded: Any = None) -> tuple[Any, Any]:
        """Greedy decoding as one compiled loop (what ``predict`` and the evaluation decodes run;
        ``Seq2SeqModel.translate`` uses the shared search of :mod:`seq2seq_fit.search`).

        The same results as ``lit_seq2seq.Seq2Seq.generate``: ``max_length`` columns, ``<pad>`` after
        each row's ``<eos>``. The loop runs all ``max_length`` steps: a compiled loop (XLA, ``tf.function``)
        has a fixed trip count and output shape, so it cannot stop when every row is done as the torch
        loop does.

        Args:
            source: ``(B, S)`` source ids.
            max_length: steps to run (an int or a scalar tensor); ``None``: ``2 * S + 10``.
            encoded: ``encode(source)`` when the caller has it already (evaluation also needs it
                for the teacher-forced loss), so the source is encoded once.

        Returns:
            ``(tokens (B, max_length), attention (B, max_length, S) or None)``: generated ids
            (``<bos>`` not included), ``<pad>`` after each row's ``<eos>``; the attention weights
            (zero at ``<pad>``; the Transformer's: the last layer's cross-attention, mean over heads),
            ``None`` without attention.
        """
        source = ops.cast(source, "int32")
        if max_length is None:
            max_length = length_budget(ops.shape(source)[1])
        memory, state = self.encode(source) if encoded is None else encoded
        batch = ops.shape(source)[0]
        start = ops.full((batch, max_length), BOS_ID, dtype="int32")  # (B, L), only column 0 is read
        _, tokens, weights = self.step_loop(start, first_only(batch, max_length), state, memory)
        is_eos = ops.cast(ops.equal(tokens, EOS_ID), "int32")  # (B, L)
        finished = ops.cumsum(is_eos, axis=1) - is_eos > 0  # (B, L): an <eos> came before
        tokens = ops.where(finished, ops.zeros_like(tokens) + PAD_ID, tokens)  # (B, L)
        if weights is None:
            return tokens, None
        kept = ops.cast(ops.not_equal(tokens, PAD_ID), weights.dtype)  # (B, L)
        return tokens, weights * ops.expand_dims(kept, -1)  # (B, L, S)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "config": self.config.to_dict(),
                "src_vocab_size": self.src_vocab_size,
                "tgt_vocab_size": self.tgt_vocab_size,
                "seed": self.seed,
            }
        )
        return config


__all__ = ["EncoderDecoder", "always_gold", "first_only", "masked_cross_entropy"]
