"""Recurrent decoder with Bahdanau, Luong or no attention, and its step loop."""

from __future__ import annotations

from typing import Any, NamedTuple

import keras
from keras import ops
from keras_seq2seq.bahdanau_attention import BahdanauAttention
from keras_seq2seq.encoder import rnn_layer
from keras_seq2seq.initializers import dense, embedding, torch_uniform
from keras_seq2seq.luong_attention import LuongAttention
from keras_seq2seq.scheduled_sampling import model_tokens
from keras_seq2seq.step_scan import scan_steps
from seq2seq_fit.config import ATTENTIONS, CELLS, LUONG_SCORES, check_choice


class Memory(NamedTuple):
    """What the decoder attends to, computed once per source batch (the same fields, in the same order, as
    ``lit_seq2seq.Memory``).

    Attributes:
        enc: encoder outputs (B, S, H), zero at padding.
        mask: True at real source positions (B, S).
        keys: attention keys (B, S, H) (``W_a enc``, ``enc`` or ``W1 enc``); ``None`` without attention.
    """

    enc: Any
    mask: Any
    keys: Any


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class Decoder(keras.layers.Layer):
    """Predicts the next target token from the previous one, the recurrent state and the source:
    target embedding, stacked GRU/LSTM, attention and output layer.

    ``luong`` and ``none`` decoders run teacher-forced (or on any given inputs) as one
    whole-sequence RNN call per layer (:meth:`call`); every decoder also steps one token at a time
    (:meth:`step`, :meth:`loop`) with the *same* weights, by calling each RNN layer's cell. Dropout
    masks are drawn before a loop starts (from this layer's ``SeedGenerator``), so no random state
    changes inside a compiled loop.

    Args:
        vocab_size: target vocabulary size ``V``.
        embedding_dim: ``E``.
        hidden_size: ``H``.
        num_layers: ``L``.
        cell: ``"gru"`` or ``"lstm"``.
        dropout: on embeddings, between layers and before the output layer.
        attention: ``"bahdanau"``, ``"luong"`` or ``"none"``.
        luong_score: ``"dot"`` or ``"general"``.
        tie_embeddings: output weight = embedding matrix (needs ``E == H``); own bias kept.
        seed: seed of the dropout ``SeedGenerator``.
        **kwargs: passed to ``keras.layers.Layer``.

    Example:
        >>> import numpy as np
        >>> dec = Decoder(vocab_size=7, embedding_dim=4, hidden_size=6, attention="luong")
        >>> enc = np.zeros((2, 3, 6), "float32")
        >>> memory = Memory(enc, np.ones((2, 3), bool), dec.keys(enc))
        >>> state = [[np.zeros((2, 6), "float32")]]
        >>> tuple(dec(np.ones((2, 5), "int32"), state, memory).shape)
        (2, 5, 7)
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int = 64,
        hidden_size: int = 128,
        num_layers: int = 1,
        cell: str = "gru",
        dropout: float = 0.0,
        attention: str = "luong",
        luong_score: str = "general",
        tie_embeddings: bool = False,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_choice("Decoder", "cell", cell, CELLS)
        check_choice("Decoder", "attention", attention, ATTENTIONS)
        check_choice("Decoder", "luong_score", luong_score, LUONG_SCORES)
        if tie_embeddings and embedding_dim != hidden_size:
            raise ValueError(
                f"Decoder.tie_embeddings: needs embedding_dim == hidden_size, got {embedding_dim} and {hidden_size}"
            )
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.cell = cell
        self.dropout = dropout
        self.attention_kind = attention
        self.luong_score = luong_score
        self.tie_embeddings = tie_embeddings
        self.seed = seed
        policy = self.dtype_policy
        self.embedding = embedding(vocab_size, embedding_dim, dtype=policy, name="embedding")
        self.rnn = [rnn_layer(cell, hidden_size, f"rnn_{i}", policy) for i in range(num_layers)]
        self.attention: LuongAttention | BahdanauAttention | None = None
        if attention == "luong":
            self.attention = LuongAttention(hidden_size, luong_score, dtype=policy, name="attention")
        elif attention == "bahdanau":
            self.attention = BahdanauAttention(hidden_size, dtype=policy, name="attention")
        # tied: the output weight is the embedding matrix and only the bias is a weight of its own
        self.out = None if tie_embeddings else dense(vocab_size, hidden_size, dtype=policy, name="out")
        self.seed_generator = keras.random.SeedGenerator(seed, name="dropout_seed")

    def build(self, input_shape: Any = None) -> None:
        self.embedding.build((None, None))
        first_width = self.embedding_dim + (self.hidden_size if self.attention_kind == "bahdanau" else 0)
        for i, layer in enumerate(self.rnn):
            layer.build((None, None, first_width if i == 0 else self.hidden_size))
        if self.attention is not None:
            self.attention.build()
        if self.out is not None:
            self.out.build((None, None, self.hidden_size))
        else:
            self.output_bias = self.add_weight(
                shape=(self.vocab_size,), initializer=torch_uniform(self.hidden_size), name="output_bias"
            )
        self.built = True

    @property
    def steps_one_at_a_time(self) -> bool:
        """Bahdanau attention feeds the context into the RNN input, so even teacher forcing runs the step loop."""
        return self.attention_kind == "bahdanau"

    # ----------------------------------------------------------------------------------- pieces

    def keys(self, enc: Any) -> Any:
        """Attention keys for :class:`Memory` (``None`` without attention).  # (B, S, H)"""
        if not self.built:  # called before the layer itself: build once, here
            self.build()
        return None if self.attention is None else self.attention.keys(enc)

    def logits(self, pre: Any) -> Any:
        """Output layer on ``pre`` (already through dropout).  # (..., V)"""
        if self.out is not None:
            return self.out(pre)
        matrix = ops.cast(self.embedding.embeddings, self.compute_dtype)  # (V, E == H)
        return ops.matmul(pre, ops.transpose(matrix)) + ops.cast(self.output_bias, self.compute_dtype)

    def dropout_noise(self, batch: Any, time: Any, training: bool) -> dict[str, Any] | None:
        """Dropout masks for ``time`` steps (scaled by ``1 / (1 - rate)``), or ``None`` when off.

        Keys: ``embedding`` (B, T, E), ``between_{i}`` (B, T, H) for layers ``i >= 1``, ``output``
        (B, T, H).
        """
        if not training or self.dropout <= 0.0:
            return None
        widths = {"embedding": self.embedding_dim, "output": self.hidden_size}
        widths.update({f"between_{i}": self.hidden_size for i in range(1, self.num_layers)})
        return {
            key: keras.random.dropout(
                ops.ones((batch, time, width), self.compute_dtype), self.dropout, seed=self.seed_generator
            )
            for key, width in widths.items()
        }

    # ------------------------------------------------------------------------- whole sequences

    def call(self, tokens: Any, state: list[list[Any]], memory: Memory, training: bool = False) -> Any:
        """Logits for decoder inputs ``tokens`` (B, T) given as a whole (teacher forcing or a
        parallel scheduled-sampling pass).  # (B, T, V)"""
        batch, time = ops.shape(tokens)[0], ops.shape(tokens)[1]
        noise = self.dropout_noise(batch, time, training)
        if self.steps_one_at_a_time:
            gold = ops.ones_like(tokens, dtype="bool")
            return self.loop(tokens, gold, state, memory, noise=noise, training=training)[0]
        x = self.embedding(tokens)  # (B, T, E)
        if noise is not None:
            x = x * noise["embedding"]
        for i, layer in enumerate(self.rnn):
            if i > 0 and noise is not None:
                x = x * noise[f"between_{i}"]
            x = layer(x, initial_state=state[i], training=training)[0]  # (B, T, H)
        pre = x
        if isinstance(self.attention, LuongAttention):
            enc, mask, keys = memory
            pre, _ = self.attention(x, enc, keys, mask)  # (B, T, H)
        if noise is not None:
            pre = pre * noise["output"]
        return self.logits(pre)

    # ----------------------------------------------------------------------------- step by step

    def step(
        self,
        token: Any,
        state: list[list[Any]],
        memory: Memory,
        noise: dict[str, Any] | None = None,
        training: bool = False,
    ) -> tuple[Any, list[list[Any]], Any]:
        """One decoding step from ``token`` (B,); returns ``(logits (B, V), new state, weights (B, S) or None)``."""
        enc, mask, keys = memory  # a Memory, or the plain tuple of its fields
        x = self.embedding(token)  # (B, E)
        if noise is not None:
            x = x * noise["embedding"]
        weights = None
        if isinstance(self.attention, BahdanauAttention):
            context, weights = self.attention(state[-1][0], enc, keys, mask)  # (B, H), (B, S)
            x = ops.concatenate([x, context], axis=-1)  # (B, E + H)
        new_states = []
        for i, layer in enumerate(self.rnn):
            if i > 0 and noise is not None:
                x = x * noise[f"between_{i}"]
            x, layer_states = layer.cell(x, state[i], training=training)  # (B, H)
            new_states.append(list(layer_states) if isinstance(layer_states, (list, tuple)) else [layer_states])
        pre = x
        if isinstance(self.attention, LuongAttention):
            pre, weights = self.attention(x, enc, keys, mask)  # (B, H), (B, S)
        if noise is not None:
            pre = pre * noise["output"]
        return self.logits(pre), new_states, weights

    def loop(
        self,
        target_in: Any,
        gold: Any,
        state: list[list[Any]],
        memory: Memory,
        *,
        feed: str = "argmax",
        temperature: float = 1.0,
        gumbel: Any = None,
        noise: dict[str, Any] | None = None,
        training: bool = False,
    ) -> tuple[Any, Any, Any]:
        """The exact step loop: the input at ``t`` is ``target_in[:, t]`` where ``gold[:, t]``, else
        the model's own token from step ``t - 1`` (argmax, or a sample using ``gumbel`` noise).

        Runs as one loop (``tf.while_loop`` / ``jax.lax.scan`` / a torch loop, see :func:`scan_steps`).

        Args:
            target_in: ``(B, T)`` gold decoder inputs (``<bos>`` first).
            gold: ``(B, T)`` bool, where to feed ``target_in``.
            state: per layer ``[h]`` (GRU) or ``[h, c]`` (LSTM), from ``Seq2Seq.encode``.
            memory: from ``Seq2Seq.encode``.
            feed, temperature: how the model's token is chosen.
            gumbel: ``(B, T, V)`` Gumbel noise for ``feed="sample"``.
            noise: dropout masks from :meth:`dropout_noise`.
            training: passed to the cells.

        Returns:
            ``(logits (B, T, V), model tokens (B, T), attention weights (B, T, S) or None)``.
        """

        def time_major(x: Any) -> Any:
            return ops.swapaxes(x, 0, 1)

        xs: dict[str, Any] = {"target": time_major(ops.cast(target_in, "int32")), "gold": time_major(gold)}
        if noise is not None:
            xs["noise"] = {k: time_major(v) for k, v in noise.items()}
        if gumbel is not None:
            xs["gumbel"] = time_major(gumbel)
        batch = ops.shape(target_in)[0]
        init = {
            "token": ops.zeros((batch,), "int32"),
            "state": state,
            "logits": ops.zeros((batch, self.vocab_size), self.compute_dtype),
        }
        if self.attention is not None:
            init["weights"] = ops.zeros(ops.shape(memory[1]), self.compute_dtype)  # (B, S)

        def body(carry: dict[str, Any], x: dict[str, Any]) -> dict[str, Any]:
            token = ops.where(x["gold"], x["target"], carry["token"])  # (B,)
            logits, new_states, weights = self.step(token, carry["state"], memory, x.get("noise"), training)
            chosen = model_tokens(logits, feed, temperature, x.get("gumbel"))  # (B,)
            out = {"token": chosen, "state": new_states, "logits": logits}
            return out if weights is None else {**out, "weights": weights}

        ys = scan_steps(body, init, xs)
        weights = time_major(ys["weights"]) if "weights" in ys else None
        return time_major(ys["logits"]), time_major(ys["token"]), weights

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "vocab_size": self.vocab_size,
                "embedding_dim": self.embedding_dim,
                "hidden_size": self.hidden_size,
                "num_layers": self.num_layers,
                "cell": self.cell,
                "dropout": self.dropout,
                "attention": self.attention_kind,
                "luong_score": self.luong_score,
                "tie_embeddings": self.tie_embeddings,
                "seed": self.seed,
            }
        )
        return config
