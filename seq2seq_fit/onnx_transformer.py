"""ONNX graphs of a Transformer (``architecture="transformer"``), built from its canonical weights.

The same two graphs as the RNN's (:mod:`seq2seq_fit.onnx_export`), with the self-attention cache as
graph inputs and outputs, so :class:`seq2seq_fit.serving.OnnxTranslator` decodes a Transformer
with the one search:

- ``encoder.onnx``: ``source_ids (B, S) int64, lengths (B,) int64`` -> ``self_keys``, ``self_values``
  (the empty cache ``(L, B, NH, 0, D)``), ``cross_keys (B, L, 2, NH, S, D)`` (every decoder layer's
  cross-attention keys and values of the encoded source) and ``mask (B, S) bool``;
- ``decoder.onnx``: ``token (N,) int64``, the cache ``(L, N, NH, T, D)`` twice, ``cross_keys``, ``mask`` ->
  ``logits (N, V)``, ``self_keys_out``/``self_values_out`` ``(L, N, NH, T + 1, D)`` and ``attention (N, S)``
  (the last layer's cross-attention, averaged over heads). The position of the token is ``T``.

The arithmetic is ``lit_seq2seq.transformer``'s: pre-LN blocks (``LayerNormalization``, epsilon
1e-5), scores ``q k^T / sqrt(D)`` with float32's minimum at padding, the exact (erf) GELU, and the
sinusoidal positions computed in the graph for any position.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from seq2seq_fit.config import Seq2SeqConfig
from seq2seq_fit.onnx_export import STATE_NAMES, GraphBuilder, tensor
from seq2seq_fit.vocab import PAD_ID

#: The decoder's state inputs (batch on axis 1, as an RNN's ``h``): the self-attention cache.
CACHE_NAMES = STATE_NAMES[2:]


def position_denominators(width: int) -> np.ndarray:
    """``10000^(2j / width)`` for each column (``j = column // 2``), float32 ``(width,)``."""
    exponent = (2 * (np.arange(width) // 2)).astype(np.float32) / np.float32(width)
    return np.power(np.float32(10000.0), exponent).astype(np.float32)


class TransformerGraph(GraphBuilder):
    """A :class:`~seq2seq_fit.onnx_export.GraphBuilder` with the Transformer's pieces."""

    def __init__(self, config: Seq2SeqConfig, weights: Mapping[str, np.ndarray]) -> None:
        super().__init__(weights)
        self.config = config
        self.heads = config.num_heads
        self.head_size = config.hidden_size // config.num_heads

    def positions(self, t: str) -> str:
        """Sinusoidal rows ``(..., H)`` of the float positions ``t`` (``(T, 1)`` or ``(1,)``)."""
        h = self.config.hidden_size
        angle = self.op("Div", [t, self.const("position_denominators", position_denominators(h))])
        even = self.const("position_even", np.arange(h) % 2 == 0)
        return self.op("Where", [even, self.op("Sin", [angle]), self.op("Cos", [angle])])  # type: ignore[no-any-return]

    def embed(self, side: str, tokens: str) -> str:
        """``embed(tokens)``, ``in_proj`` when ``E != H``, times ``sqrt(H)`` (positions are added by the caller)."""
        x = self.op("Gather", [self.weight(f"{side}.embedding.weight"), tokens])  # (..., E)
        if self.config.embedding_dim != self.config.hidden_size:
            x = self.op("MatMul", [x, self.weight(f"{side}.in_proj.weight", lambda a: a.T)])  # (..., H)
        scale = self.const("sqrt_hidden", np.array(math.sqrt(self.config.hidden_size), np.float32))
        return self.op("Mul", [x, scale])  # type: ignore[no-any-return]

    def norm(self, x: str, module: str) -> str:
        """LayerNorm ``module`` over the last axis."""
        scale, bias = self.weight(f"{module}.weight"), self.weight(f"{module}.bias")
        return self.op("LayerNormalization", [x, scale, bias], axis=-1, epsilon=1e-5)  # type: ignore[no-any-return]

    def split_heads(self, x: str) -> str:
        """``(B, T, H)`` -> ``(B, NH, T, D)``."""
        shaped = self.op("Reshape", [x, self.ints(0, 0, self.heads, self.head_size)])  # (B, T, NH, D)
        return self.op("Transpose", [shaped], perm=[0, 2, 1, 3])  # type: ignore[no-any-return]

    def attention(self, q: str, keys: str, values: str, mask: str = "") -> tuple[str, str]:
        """Context ``(B, NH, T, D)`` and weights ``(B, NH, T, S)`` of queries ``q`` over ``keys``/``values``
        (``(B, NH, S, D)``), masked where ``mask`` (broadcast) is False."""
        scores = self.op("MatMul", [q, self.op("Transpose", [keys], perm=[0, 1, 3, 2])])  # (B, NH, T, S)
        scores = self.op("Div", [scores, self.const("sqrt_head", np.array(math.sqrt(self.head_size), np.float32))])
        if mask:
            lowest = self.const("float32_min", np.array(np.finfo(np.float32).min, np.float32))
            scores = self.op("Where", [mask, scores, lowest])
        weights = self.op("Softmax", [scores], axis=-1)
        return self.op("MatMul", [weights, values]), weights

    def merge_heads(self, context: str, module: str) -> str:
        """``(B, NH, T, D)`` -> ``(B, T, H)``, then the output projection ``module.o``."""
        merged = self.op("Reshape", [self.op("Transpose", [context], perm=[0, 2, 1, 3]), self.ints(0, 0, -1)])
        return self.linear(merged, f"{module}.o")

    def ffn(self, x: str, module: str) -> str:
        """``w2(gelu(w1(x)))`` with the exact GELU ``0.5 x (1 + erf(x / sqrt 2))``."""
        hidden = self.linear(x, f"{module}.w1")
        erf = self.op("Erf", [self.op("Div", [hidden, self.const("sqrt_two", np.array(math.sqrt(2), np.float32))])])
        one, half = self.const("one_f32", np.array(1, np.float32)), self.const("half_f32", np.array(0.5, np.float32))
        gelu = self.op("Mul", [self.op("Mul", [hidden, half]), self.op("Add", [erf, one])])
        return self.linear(gelu, f"{module}.w2")


def build_transformer_encoder(
    config: Seq2SeqConfig, weights: Mapping[str, np.ndarray], metadata: Mapping[str, str]
) -> Any:
    """The encoder graph: source ids -> the empty cache, every decoder layer's cross keys/values, the mask."""
    from onnx import TensorProto

    c, g = config, TransformerGraph(config, weights)
    layers, heads, d = c.num_layers, c.num_heads, c.hidden_size // c.num_heads
    mask = g.op("Not", [g.op("Equal", ["source_ids", g.const("pad_id", np.array(PAD_ID, np.int64))])], ["mask"])
    shape = g.op("Shape", ["source_ids"])
    length = g.op("Gather", [shape, g.const("one_i64", np.array(1, np.int64))])  # S
    steps = g.op(
        "Range", [g.const("zero_i64", np.array(0, np.int64)), length, g.const("one_i64", np.array(1, np.int64))]
    )
    t = g.op("Unsqueeze", [g.op("Cast", [steps], to=TensorProto.FLOAT), g.ints(1)])  # (S, 1)
    x = g.op("Add", [g.embed("encoder", "source_ids"), g.positions(t)])  # (B, S, H)
    attend = g.op("Unsqueeze", [mask, g.ints(1, 2)])  # (B, 1, 1, S)
    for i in range(layers):
        block = f"encoder.blocks.{i}"
        n = g.norm(x, f"{block}.self_attn_norm")
        q, k, v = (g.split_heads(g.linear(n, f"{block}.self_attn.{p}")) for p in "qkv")
        context, _ = g.attention(q, k, v, attend)
        x = g.op("Add", [x, g.merge_heads(context, f"{block}.self_attn")])
        x = g.op("Add", [x, g.ffn(g.norm(x, f"{block}.ffn_norm"), f"{block}.ffn")])
    enc = g.norm(x, "encoder.norm")  # (B, S, H)
    per_layer = []
    for i in range(layers):
        module = f"decoder.blocks.{i}.cross_attn"
        pair = [g.op("Unsqueeze", [g.split_heads(g.linear(enc, f"{module}.{p}")), g.ints(1)]) for p in "kv"]
        per_layer.append(g.op("Unsqueeze", [g.op("Concat", pair, axis=1), g.ints(1)]))  # (B, 1, 2, NH, S, D)
    g.op("Concat", per_layer, ["cross_keys"], axis=1)  # (B, L, 2, NH, S, D)
    batch = g.op("Slice", [shape, g.ints(0), g.ints(1)])  # (1,) B
    cache_shape = g.op("Concat", [g.ints(layers), batch, g.ints(heads, 0, d)], axis=0)
    g.op("ConstantOfShape", [cache_shape], ["self_keys"])  # (L, B, NH, 0, D) float32 zeros
    g.op("Identity", ["self_keys"], ["self_values"])
    inputs = [tensor("source_ids", TensorProto.INT64, ["B", "S"]), tensor("lengths", TensorProto.INT64, ["B"])]
    outputs = [tensor(name, TensorProto.FLOAT, [layers, "B", heads, 0, d]) for name in CACHE_NAMES]
    outputs += [
        tensor("cross_keys", TensorProto.FLOAT, ["B", layers, 2, heads, "S", d]),
        tensor("mask", TensorProto.BOOL, ["B", "S"]),
    ]
    return g.model("seq2seq_fit_transformer_encoder", inputs, outputs, metadata)


def build_transformer_decoder(
    config: Seq2SeqConfig, weights: Mapping[str, np.ndarray], tgt_vocab_size: int, metadata: Mapping[str, str]
) -> Any:
    """The one-step decoder graph: previous token, cache and memory -> logits, the grown cache, attention."""
    from onnx import TensorProto

    c, g = config, TransformerGraph(config, weights)
    layers, heads, d = c.num_layers, c.num_heads, c.hidden_size // c.num_heads
    position = g.op("Slice", [g.op("Shape", ["self_keys"]), g.ints(3), g.ints(4)])  # (1,) T
    t = g.op("Cast", [position], to=TensorProto.FLOAT)
    x = g.op("Add", [g.embed("decoder", "token"), g.positions(t)])  # (N, H)
    x = g.op("Unsqueeze", [x, g.ints(1)])  # (N, 1, H)
    attend = g.op("Unsqueeze", ["mask", g.ints(1, 2)])  # (N, 1, 1, S)
    new_keys, new_values, weights_out = [], [], ""
    for i in range(layers):
        block = f"decoder.blocks.{i}"
        layer = g.const(f"layer_{i}", np.array(i, np.int64))
        n = g.norm(x, f"{block}.self_attn_norm")
        q, k, v = (g.split_heads(g.linear(n, f"{block}.self_attn.{p}")) for p in "qkv")  # (N, NH, 1, D)
        keys = g.op("Concat", [g.op("Gather", ["self_keys", layer], axis=0), k], axis=2)  # (N, NH, T + 1, D)
        values = g.op("Concat", [g.op("Gather", ["self_values", layer], axis=0), v], axis=2)
        new_keys.append(g.op("Unsqueeze", [keys, g.ints(0)]))
        new_values.append(g.op("Unsqueeze", [values, g.ints(0)]))
        context, _ = g.attention(q, keys, values)
        x = g.op("Add", [x, g.merge_heads(context, f"{block}.self_attn")])
        n = g.norm(x, f"{block}.cross_attn_norm")
        q = g.split_heads(g.linear(n, f"{block}.cross_attn.q"))
        cross = g.op("Gather", ["cross_keys", layer], axis=1)  # (N, 2, NH, S, D)
        pair = [g.op("Gather", [cross, g.const(f"kv_{j}", np.array(j, np.int64))], axis=1) for j in (0, 1)]
        context, weights_out = g.attention(q, pair[0], pair[1], attend)  # (N, NH, 1, D), (N, NH, 1, S)
        x = g.op("Add", [x, g.merge_heads(context, f"{block}.cross_attn")])
        x = g.op("Add", [x, g.ffn(g.norm(x, f"{block}.ffn_norm"), f"{block}.ffn")])
    g.op("Concat", new_keys, ["self_keys_out"], axis=0)  # (L, N, NH, T + 1, D)
    g.op("Concat", new_values, ["self_values_out"], axis=0)
    mean = g.op("ReduceMean", [weights_out], axes=[1], keepdims=0)  # (N, 1, S)
    g.op("Squeeze", [mean, g.ints(1)], ["attention"])  # (N, S)
    top = g.op("Squeeze", [g.norm(x, "decoder.norm"), g.ints(1)])  # (N, H)
    out_weight = "decoder.embedding.weight" if c.tie_embeddings else "decoder.out.weight"
    g.op("Gemm", [top, g.weight(out_weight), g.weight("decoder.out.bias")], ["logits"], transB=1)  # (N, V)
    inputs = [tensor("token", TensorProto.INT64, ["N"])]
    inputs += [tensor(name, TensorProto.FLOAT, [layers, "N", heads, "T", d]) for name in CACHE_NAMES]
    inputs += [
        tensor("cross_keys", TensorProto.FLOAT, ["N", layers, 2, heads, "S", d]),
        tensor("mask", TensorProto.BOOL, ["N", "S"]),
    ]
    outputs = [tensor("logits", TensorProto.FLOAT, ["N", tgt_vocab_size])]
    outputs += [tensor(f"{name}_out", TensorProto.FLOAT, [layers, "N", heads, "T1", d]) for name in CACHE_NAMES]
    outputs.append(tensor("attention", TensorProto.FLOAT, ["N", "S"]))
    return g.model("seq2seq_fit_transformer_decoder_step", inputs, outputs, metadata)


__all__ = ["build_transformer_decoder", "build_transformer_encoder"]
