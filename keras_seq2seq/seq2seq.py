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
from keras_seq2seq.encoder_decoder import EncoderDecoder, always_gold, first_only, masked_cross_entropy
from keras_seq2seq.initializers import dense
from seq2seq_fit import Seq2SeqConfig
from seq2seq_fit.vocab import PAD_ID


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class Seq2Seq(EncoderDecoder):
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
        super().build(input_shape)
        if not self.bridge.built:
            self.bridge.build((None, self.config.hidden_size))

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

    def step_loop(
        self, target_in: Any, gold: Any, state: Any, memory: Memory, *, training: bool = False, **options: Any
    ) -> tuple[Any, Any, Any]:
        """:meth:`Decoder.loop` from ``state`` (``options``: ``feed``, ``temperature``, ``gumbel``), with the
        decoder's dropout masks drawn before it when training."""
        batch, time = ops.shape(target_in)[0], ops.shape(target_in)[1]
        noise = self.decoder.dropout_noise(batch, time, training)
        return self.decoder.loop(  # type: ignore[no-any-return]
            target_in, gold, state, memory, noise=noise, training=training, **options
        )


__all__ = ["Seq2Seq", "always_gold", "first_only", "masked_cross_entropy"]
