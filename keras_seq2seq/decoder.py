"""Recurrent decoder with Bahdanau, Luong or no attention, and its step loop."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops
from keras_seq2seq.bahdanau_attention import BahdanauAttention
from keras_seq2seq.encoder import rnn_layer
from keras_seq2seq.initializers import dense, embedding, torch_uniform
from keras_seq2seq.luong_attention import LuongAttention
from keras_seq2seq.scheduled_sampling import model_tokens
from keras_seq2seq.step_scan import scan_steps
from seq2seq_fit.config import ATTENTIONS, CELLS, LUONG_SCORES, check_choice

Memory = tuple[Any, Any, Any]  # (encoder outputs (B, S, H), attention keys (B, S, H), source mask (B, S))


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class Decoder(keras.layers.Layer):
    """Target embedding, bridge, stacked GRU/LSTM, attention and output layer.

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
        attention: ``"bahdanau"``, ``"luong"`` or ``"none"``.
        luong_score: ``"dot"`` or ``"general"``.
        dropout: on embeddings, between layers and before the output layer.
        tie_embeddings: output weight = embedding matrix (needs ``E == H``); own bias kept.
        seed: seed of the dropout ``SeedGenerator``.
        **kwargs: passed to ``keras.layers.Layer``.

    Example:
        >>> import numpy as np
        >>> dec = Decoder(vocab_size=7, embedding_dim=4, hidden_size=6, attention="luong")
        >>> enc = np.zeros((2, 3, 6), "float32")
        >>> memory = dec.memory(enc, np.ones((2, 3), bool))
        >>> states = dec.initial_states(np.zeros((2, 6), "float32"))
        >>> tuple(dec(np.ones((2, 5), "int32"), states, memory).shape)
        (2, 5, 7)
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int = 64,
        hidden_size: int = 128,
        num_layers: int = 1,
        cell: str = "gru",
        attention: str = "luong",
        luong_score: str = "general",
        dropout: float = 0.0,
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
        self.attention = attention
        self.luong_score = luong_score
        self.dropout = dropout
        self.tie_embeddings = tie_embeddings
        self.seed = seed
        policy = self.dtype_policy
        self.embedding = embedding(vocab_size, embedding_dim, dtype=policy, name="embedding")
        self.bridge = dense(num_layers * hidden_size, hidden_size, activation="tanh", dtype=policy, name="bridge")
        self.rnn_layers = [rnn_layer(cell, hidden_size, f"rnn_{i}", policy) for i in range(num_layers)]
        self.attention_layer: LuongAttention | BahdanauAttention | None = None
        if attention == "luong":
            self.attention_layer = LuongAttention(hidden_size, luong_score, dtype=policy, name="attention")
        elif attention == "bahdanau":
            self.attention_layer = BahdanauAttention(hidden_size, dtype=policy, name="attention")
        self.combine = (
            dense(hidden_size, 2 * hidden_size, use_bias=False, activation="tanh", dtype=policy, name="combine")
            if attention == "luong"
            else None
        )
        self.output_projection = (
            None if tie_embeddings else dense(vocab_size, hidden_size, dtype=policy, name="output_projection")
        )
        self.seed_generator = keras.random.SeedGenerator(seed, name="dropout_seed")

    def build(self, input_shape: Any = None) -> None:
        self.embedding.build((None, None))
        self.bridge.build((None, self.hidden_size))
        first_width = self.embedding_dim + (self.hidden_size if self.attention == "bahdanau" else 0)
        for i, layer in enumerate(self.rnn_layers):
            layer.build((None, None, first_width if i == 0 else self.hidden_size))
        if self.attention_layer is not None:
            self.attention_layer.build()
        if self.combine is not None:
            self.combine.build((None, None, 2 * self.hidden_size))
        if self.output_projection is not None:
            self.output_projection.build((None, None, self.hidden_size))
        else:
            self.output_bias = self.add_weight(
                shape=(self.vocab_size,), initializer=torch_uniform(self.hidden_size), name="output_bias"
            )
        self.built = True

    @property
    def steps_one_at_a_time(self) -> bool:
        """Bahdanau attention feeds the context into the RNN input, so even teacher forcing runs the step loop."""
        return self.attention == "bahdanau"

    # ----------------------------------------------------------------------------------- pieces

    def memory(self, encoder_outputs: Any, source_mask: Any) -> Memory:
        """What attention needs, computed once per source batch: ``(enc, keys, mask)``."""
        if not self.built:  # called before the layer itself: build once, here
            self.build()
        keys = encoder_outputs if self.attention_layer is None else self.attention_layer.keys(encoder_outputs)
        return encoder_outputs, keys, source_mask

    def initial_states(self, summary: Any) -> list[list[Any]]:
        """``h0 = tanh(W summary + b)`` split per layer; LSTM cell states start at zero."""
        if not self.built:
            self.build()
        h0 = self.bridge(summary)  # (B, L * H)
        states = []
        for i in range(self.num_layers):
            h = h0[:, i * self.hidden_size : (i + 1) * self.hidden_size]  # (B, H)
            states.append([h] if self.cell == "gru" else [h, ops.zeros_like(h)])
        return states

    def logits(self, pre: Any) -> Any:
        """Output layer on ``pre`` (already through dropout).  # (..., V)"""
        if self.output_projection is not None:
            return self.output_projection(pre)
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

    def call(self, tokens: Any, states: list[list[Any]], memory: Memory, training: bool = False) -> Any:
        """Logits for decoder inputs ``tokens`` (B, T) given as a whole (teacher forcing or a
        parallel scheduled-sampling pass).  # (B, T, V)"""
        batch, time = ops.shape(tokens)[0], ops.shape(tokens)[1]
        noise = self.dropout_noise(batch, time, training)
        if self.steps_one_at_a_time:
            gold = ops.ones_like(tokens, dtype="bool")
            return self.loop(tokens, gold, states, memory, noise=noise, training=training)[0]
        x = self.embedding(tokens)  # (B, T, E)
        if noise is not None:
            x = x * noise["embedding"]
        for i, layer in enumerate(self.rnn_layers):
            if i > 0 and noise is not None:
                x = x * noise[f"between_{i}"]
            x = layer(x, initial_state=states[i], training=training)[0]  # (B, T, H)
        pre = x
        if self.attention_layer is not None and self.combine is not None:
            enc, keys, mask = memory
            context, _ = self.attention_layer(x, keys, enc, mask)  # (B, T, H)
            pre = self.combine(ops.concatenate([context, x], axis=-1))  # (B, T, H)
        if noise is not None:
            pre = pre * noise["output"]
        return self.logits(pre)

    # ----------------------------------------------------------------------------- step by step

    def step(
        self,
        token: Any,
        states: list[list[Any]],
        memory: Memory,
        noise: dict[str, Any] | None = None,
        training: bool = False,
    ) -> tuple[Any, list[list[Any]], Any]:
        """One decoder step: ``(logits (B, V), new states, attention weights (B, S))``."""
        enc, keys, mask = memory
        x = self.embedding(token)  # (B, E)
        if noise is not None:
            x = x * noise["embedding"]
        weights = None
        if isinstance(self.attention_layer, BahdanauAttention):
            context, weights = self.attention_layer(states[-1][0], keys, enc, mask)  # (B, H), (B, S)
            x = ops.concatenate([x, context], axis=-1)  # (B, E + H)
        new_states = []
        for i, layer in enumerate(self.rnn_layers):
            if i > 0 and noise is not None:
                x = x * noise[f"between_{i}"]
            x, layer_states = layer.cell(x, states[i], training=training)  # (B, H)
            new_states.append(list(layer_states) if isinstance(layer_states, (list, tuple)) else [layer_states])
        pre = x
        if isinstance(self.attention_layer, LuongAttention) and self.combine is not None:
            context, weights = self.attention_layer(x, keys, enc, mask)  # (B, H), (B, S)
            pre = self.combine(ops.concatenate([context, x], axis=-1))  # (B, H)
        if noise is not None:
            pre = pre * noise["output"]
        if weights is None:
            weights = ops.zeros(ops.shape(mask), self.compute_dtype)
        return self.logits(pre), new_states, weights

    def loop(
        self,
        target_in: Any,
        gold: Any,
        states: list[list[Any]],
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
            states: from :meth:`initial_states`.
            memory: from :meth:`memory`.
            feed, temperature: how the model's token is chosen.
            gumbel: ``(B, T, V)`` Gumbel noise for ``feed="sample"``.
            noise: dropout masks from :meth:`dropout_noise`.
            training: passed to the cells.

        Returns:
            ``(logits (B, T, V), model tokens (B, T), attention weights (B, T, S))``.
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
            "states": states,
            "logits": ops.zeros((batch, self.vocab_size), self.compute_dtype),
            "weights": ops.zeros(ops.shape(memory[2]), self.compute_dtype),
        }

        def body(carry: dict[str, Any], x: dict[str, Any]) -> dict[str, Any]:
            token = ops.where(x["gold"], x["target"], carry["token"])  # (B,)
            logits, new_states, weights = self.step(token, carry["states"], memory, x.get("noise"), training)
            chosen = model_tokens(logits, feed, temperature, x.get("gumbel"))  # (B,)
            return {"token": chosen, "states": new_states, "logits": logits, "weights": weights}

        ys = scan_steps(body, init, xs)
        return time_major(ys["logits"]), time_major(ys["token"]), time_major(ys["weights"])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "vocab_size": self.vocab_size,
                "embedding_dim": self.embedding_dim,
                "hidden_size": self.hidden_size,
                "num_layers": self.num_layers,
                "cell": self.cell,
                "attention": self.attention,
                "luong_score": self.luong_score,
                "dropout": self.dropout,
                "tie_embeddings": self.tie_embeddings,
                "seed": self.seed,
            }
        )
        return config
