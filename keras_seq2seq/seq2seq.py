"""``Seq2Seq``: the encoder-decoder network as a registered Keras layer (docs/architecture.md, exactly).

The network only: encode, teacher-forced logits, scheduled-sampling logits, the training loss and
greedy generation. Training policy, trackers and the per-backend steps belong to
:class:`~keras_seq2seq.Seq2SeqModel`; the method names and meanings are those of the Lightning
side's ``lit_seq2seq.Seq2Seq``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
from keras import ops
from keras_seq2seq.decoder import Decoder, Memory
from keras_seq2seq.encoder import Encoder
from keras_seq2seq.initializers import dense
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


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class Seq2Seq(keras.layers.Layer):
    """RNN encoder-decoder with a bridge from the encoder summary to the decoder's initial state.

    Args:
        config: architecture (a :class:`seq2seq_fit.Seq2SeqConfig` or a mapping of its fields; a dict in
            ``get_config``).
        src_vocab_size: source vocabulary size.
        tgt_vocab_size: target vocabulary size.
        seed: seed of the coin ``SeedGenerator`` (the decoder's dropout uses ``seed + 1``).
        **kwargs: passed to ``keras.layers.Layer`` (``name``, ``dtype``...).

    Built on construction (its weights do not depend on the input shape), as the PyTorch module.

    Example:
        >>> import numpy as np
        >>> net = Seq2Seq(Seq2SeqConfig(embedding_dim=8, hidden_size=16), 10, 12)
        >>> src, tgt = np.array([[4, 5, 6]]), np.array([[1, 7, 8]])
        >>> tuple(net(src, tgt).shape)
        (1, 3, 12)
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
        super().__init__(**kwargs)
        check_int("Seq2Seq", "src_vocab_size", src_vocab_size, 1)
        check_int("Seq2Seq", "tgt_vocab_size", tgt_vocab_size, 1)
        self.config = as_config(config, name="Seq2Seq.config")
        self.src_vocab_size = src_vocab_size
        self.tgt_vocab_size = tgt_vocab_size
        self.seed = seed
        c, policy = self.config, self.dtype_policy
        self.encoder = Encoder(
            src_vocab_size, c.embedding_dim, c.hidden_size, c.num_layers, c.cell, c.bidirectional,
            c.dropout, dtype=policy, name="encoder",
        )  # fmt: skip
        self.bridge = dense(
            c.num_layers * c.hidden_size, c.hidden_size, activation="tanh", dtype=policy, name="bridge"
        )  # tanh(W summary + b)
        self.decoder = Decoder(
            tgt_vocab_size, c.embedding_dim, c.hidden_size, c.num_layers, c.cell, c.dropout, c.attention,
            c.luong_score, c.tie_embeddings, seed=seed + 1, dtype=policy, name="decoder",
        )  # fmt: skip
        self.coin_seed = keras.random.SeedGenerator(seed, name="coin_seed")
        self.build()

    def build(self, input_shape: Any = None) -> None:
        for layer in (self.encoder, self.decoder):
            if not layer.built:  # built once, in __init__; a second build() keeps the weights
                layer.build()
        if not self.bridge.built:
            self.bridge.build((None, self.config.hidden_size))
        self.built = True

    def encode(self, source: Any, training: bool = False) -> tuple[Memory, list[list[Any]]]:
        """Encode ``source`` (B, S); returns the decoder's memory and initial state (per layer ``[h]`` or
        ``[h, c]``): ``h0 = tanh(W summary + b)`` split per layer, LSTM cell states at zero."""
        enc, summary = self.encoder(source, training=training)  # (B, S, H), (B, H)
        mask = ops.not_equal(ops.cast(source, "int32"), PAD_ID)  # (B, S)
        h0 = self.bridge(summary)  # (B, L * H)
        h = self.config.hidden_size
        states = []
        for i in range(self.config.num_layers):
            h_i = h0[:, i * h : (i + 1) * h]  # (B, H)
            states.append([h_i] if self.config.cell == "gru" else [h_i, ops.zeros_like(h_i)])
        return Memory(enc, mask, self.decoder.keys(enc)), states

    def call(self, source: Any, target_in: Any, training: bool = False, *, encoded: Any = None) -> Any:
        """Teacher-forced logits (B, T, V) for decoder inputs ``target_in`` (B, T); ``encoded``: ``encode(source)``
        when the caller has it already (evaluation reuses it for its greedy decode)."""
        memory, states = self.encode(source, training=training) if encoded is None else encoded
        return self.decoder(ops.cast(target_in, "int32"), states, memory, training=training)

    def scheduled_forward(
        self, source: Any, target_in: Any, gold: Any, teacher_forcing: TeacherForcing, training: bool = True
    ) -> Any:
        """Training logits (B, T, V) under scheduled sampling with the coins ``gold`` (B, T).

        ``sequential`` runs the exact step loop (the input at ``t`` is gold where ``gold``, else the
        token this same loop produced at ``t - 1``); when the schedule is 1 at every step and the
        attention is ``luong``/``none`` it takes the one-call teacher-forced path, which gives the
        same numbers. ``parallel`` runs ``passes`` whole-sequence passes without gradient to build
        the mixed inputs, then one pass with gradient (Duckworth et al. 2019); with ``bahdanau`` each
        pass is the step loop over its fixed inputs, as the teacher-forced call is. Sampled feeds
        draw their Gumbel noise from the coin ``SeedGenerator``.
        """
        check_compatible(self.config, teacher_forcing)
        tf = teacher_forcing
        target_in = ops.cast(target_in, "int32")
        batch, time = ops.shape(target_in)[0], ops.shape(target_in)[1]
        memory, states = self.encode(source, training=training)
        noise_shape = (batch, time, self.tgt_vocab_size)
        if tf.mode == "parallel":
            inputs = target_in
            for _ in range(tf.passes):
                logits = ops.stop_gradient(self.decoder(inputs, states, memory, training=training))  # (B, T, V)
                gumbel = gumbel_noise(self.coin_seed, noise_shape) if tf.feed == "sample" else None
                inputs = mix_inputs(gold, target_in, model_tokens(logits, tf.feed, tf.temperature, gumbel))
            return self.decoder(inputs, states, memory, training=training)
        if always_gold(tf) and not self.decoder.steps_one_at_a_time:
            return self.decoder(target_in, states, memory, training=training)
        gumbel = gumbel_noise(self.coin_seed, noise_shape) if tf.feed == "sample" else None
        noise = self.decoder.dropout_noise(batch, time, training)
        logits, _, _ = self.decoder.loop(
            target_in, gold, states, memory, feed=tf.feed, temperature=tf.temperature, gumbel=gumbel,
            noise=noise, training=training,
        )  # fmt: skip
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

        Example:
            >>> import numpy as np
            >>> net = Seq2Seq(Seq2SeqConfig(embedding_dim=8, hidden_size=16), 10, 12)
            >>> src, tgt_in, tgt_out = np.array([[4, 5]]), np.array([[1, 7]]), np.array([[7, 2]])
            >>> loss, gold = net.loss(src, tgt_in, tgt_out, TeacherForcing())
            >>> tuple(loss.shape), bool(keras.ops.all(gold))
            ((), True)
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
            (zero at ``<pad>``), ``None`` without attention.
        """
        source = ops.cast(source, "int32")
        if max_length is None:
            max_length = length_budget(ops.shape(source)[1])
        memory, states = self.encode(source) if encoded is None else encoded
        batch = ops.shape(source)[0]
        start = ops.full((batch, max_length), BOS_ID, dtype="int32")  # (B, L), only column 0 is read
        _, tokens, weights = self.decoder.loop(start, first_only(batch, max_length), states, memory)
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


__all__ = ["Seq2Seq", "always_gold", "masked_cross_entropy"]
