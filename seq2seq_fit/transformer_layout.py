"""The Transformer's canonical weight layout (numpy only).

The canonical tensors of an ``architecture="transformer"`` model are named and shaped as the PyTorch
``lit_seq2seq.Transformer(config, src_vocab_size, tgt_vocab_size).state_dict()``: per side an
embedding, a bias-free ``in_proj`` when ``embedding_dim != hidden_size``, pre-LN blocks
(``self_attn_norm``, ``self_attn.{q,k,v,o}``, on the decoder ``cross_attn_norm`` and ``cross_attn``,
``ffn_norm``, ``ffn.{w1,w2}``), a final ``norm``, and the decoder's ``out`` layer (whose weight is the
decoder embedding when tied). :func:`seq2seq_fit.weight_layout.canonical_shapes` hands a Transformer
config to :func:`transformer_canonical_shapes`, so the model directory, the checkpoint checks and the
parameter count read either network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from seq2seq_fit.config import Seq2SeqConfig
from seq2seq_fit.weight_layout import Arrays, Slots, check_canonical_weights

Shapes = dict[str, tuple[int, ...]]


def attention_shapes(prefix: str, hidden_size: int) -> Shapes:
    """``{q,k,v,o}.{weight (H, H), bias (H,)}`` of one multi-head attention at ``prefix``."""
    shapes: Shapes = {}
    for name in ("q", "k", "v", "o"):
        shapes[f"{prefix}.{name}.weight"] = (hidden_size, hidden_size)
        shapes[f"{prefix}.{name}.bias"] = (hidden_size,)
    return shapes


def norm_shapes(prefix: str, hidden_size: int) -> Shapes:
    """A LayerNorm's ``weight`` and ``bias`` (H,)."""
    return {f"{prefix}.weight": (hidden_size,), f"{prefix}.bias": (hidden_size,)}


def transformer_canonical_shapes(config: Seq2SeqConfig, src_vocab_size: int, tgt_vocab_size: int) -> Shapes:
    """Every canonical tensor of a Transformer with ``config`` and these vocabulary sizes, and its shape.

    Example:
        >>> config = Seq2SeqConfig(architecture="transformer", embedding_dim=4, hidden_size=8, num_heads=2)
        >>> shapes = transformer_canonical_shapes(config, 5, 6)
        >>> shapes["encoder.in_proj.weight"], shapes["decoder.blocks.0.ffn.w1.weight"], shapes["decoder.out.weight"]
        ((8, 4), (32, 8), (6, 8))
    """
    e, h, f = config.embedding_dim, config.hidden_size, config.feed_forward_size
    shapes: Shapes = {}
    for side, vocab_size in (("encoder", src_vocab_size), ("decoder", tgt_vocab_size)):
        shapes[f"{side}.embedding.weight"] = (vocab_size, e)
        if e != h:
            shapes[f"{side}.in_proj.weight"] = (h, e)
        for i in range(config.num_layers):
            block = f"{side}.blocks.{i}"
            shapes.update(norm_shapes(f"{block}.self_attn_norm", h))
            shapes.update(attention_shapes(f"{block}.self_attn", h))
            if side == "decoder":
                shapes.update(norm_shapes(f"{block}.cross_attn_norm", h))
                shapes.update(attention_shapes(f"{block}.cross_attn", h))
            shapes.update(norm_shapes(f"{block}.ffn_norm", h))
            shapes[f"{block}.ffn.w1.weight"] = (f, h)
            shapes[f"{block}.ffn.w1.bias"] = (f,)
            shapes[f"{block}.ffn.w2.weight"] = (h, f)
            shapes[f"{block}.ffn.w2.bias"] = (h,)
        shapes.update(norm_shapes(f"{side}.norm", h))
    shapes["decoder.out.weight"] = (tgt_vocab_size, h)
    shapes["decoder.out.bias"] = (tgt_vocab_size,)
    return shapes


# -- the Keras layout (keras_seq2seq.Transformer): slots at the canonical attribute paths -------------------


def transformer_keras_layers(config: Seq2SeqConfig) -> list[tuple[str, str]]:
    """``(slot, kind)`` of every weight-owning Keras layer (or variable) of a ``keras_seq2seq.Transformer``, in
    canonical order; ``kind`` is ``"embedding"``, ``"norm"`` (``LayerNormalization``: gamma, beta),
    ``"dense"`` (``Dense``: kernel = the transposed canonical weight, then the bias if any) or ``"bias"`` (the
    tied output layer's lone ``decoder.output_bias``: Keras multiplies by the embedding matrix).

    The slot is the canonical layer path (``"decoder.blocks.0.cross_attn.k"``), read off
    :func:`transformer_canonical_shapes`.

    Example:
        >>> config = Seq2SeqConfig(architecture="transformer", embedding_dim=8, hidden_size=8, num_heads=2,
        ...                        tie_embeddings=True)
        >>> layers = transformer_keras_layers(config)
        >>> layers[:3], layers[-2:]
        ([('encoder.embedding', 'embedding'), ('encoder.blocks.0.self_attn_norm', 'norm'), \
('encoder.blocks.0.self_attn.q', 'dense')], [('decoder.norm', 'norm'), ('decoder.output_bias', 'bias')])
    """
    layers: list[tuple[str, str]] = []
    for key in transformer_canonical_shapes(config, 1, 1):
        layer = key.rsplit(".", 1)[0]
        if any(slot == layer for slot, _ in layers) or (config.tie_embeddings and layer == "decoder.out"):
            continue
        name = layer.rsplit(".", 1)[-1]
        layers.append((layer, "embedding" if name == "embedding" else "norm" if name.endswith("norm") else "dense"))
    return layers + ([("decoder.output_bias", "bias")] if config.tie_embeddings else [])


def transformer_keras_slot_names(config: Seq2SeqConfig) -> list[str]:
    """Every Keras slot of a ``keras_seq2seq.Transformer`` with ``config``, in a fixed order."""
    return [slot for slot, _ in transformer_keras_layers(config)]


def transformer_canonical_to_keras(
    state: Arrays, config: Seq2SeqConfig, src_vocab_size: int, tgt_vocab_size: int
) -> Slots:
    """Keras slot arrays (``get_weights()`` order) holding the canonical Transformer weights ``state``.

    Dense kernels are the transposed canonical ``weight`` s, LayerNorm gamma/beta the ``weight``/``bias``, a tied
    output layer keeps only ``decoder.out.bias`` (its weight must equal ``decoder.embedding.weight``).

    Raises:
        ValueError: a tensor is missing, unexpected or has the wrong shape, or tied output and embedding
            weights differ.

    Example:
        >>> config = Seq2SeqConfig(architecture="transformer", embedding_dim=4, hidden_size=8, num_heads=2)
        >>> state = {k: np.zeros(s, np.float32) for k, s in transformer_canonical_shapes(config, 5, 6).items()}
        >>> slots = transformer_canonical_to_keras(state, config, 5, 6)
        >>> [a.shape for a in slots["encoder.in_proj"]], [a.shape for a in slots["decoder.out"]]
        ([(4, 8)], [(8, 6), (6,)])
    """
    s = {key: np.asarray(value, dtype=np.float32) for key, value in state.items()}
    check_canonical_weights(s, config, src_vocab_size, tgt_vocab_size)
    if config.tie_embeddings and not np.array_equal(s["decoder.out.weight"], s["decoder.embedding.weight"]):
        raise ValueError(
            "tie_embeddings=True but decoder.out.weight differs from decoder.embedding.weight; "
            "the weights do not come from a tied model"
        )
    slots: Slots = {}
    for slot, kind in transformer_keras_layers(config):
        if kind == "bias":
            slots[slot] = [s["decoder.out.bias"]]
        elif kind == "dense":
            slots[slot] = [s[f"{slot}.weight"].T] + ([s[f"{slot}.bias"]] if f"{slot}.bias" in s else [])
        else:  # embedding: [weight]; norm: [gamma, beta]
            slots[slot] = [s[f"{slot}.weight"]] + ([s[f"{slot}.bias"]] if kind == "norm" else [])
    return {slot: [np.ascontiguousarray(a) for a in arrays] for slot, arrays in slots.items()}


def transformer_keras_to_canonical(
    slots: Mapping[str, Sequence[np.ndarray]], config: Seq2SeqConfig
) -> dict[str, np.ndarray]:
    """Canonical arrays (``lit_seq2seq.Transformer.state_dict()`` names) holding the Keras slot arrays ``slots``
    (the inverse of :func:`transformer_canonical_to_keras`; a tied ``decoder.out.weight`` is the decoder embedding)."""
    k = {slot: [np.asarray(a, dtype=np.float32) for a in arrays] for slot, arrays in slots.items()}
    state: dict[str, np.ndarray] = {}
    for slot, kind in transformer_keras_layers(config):
        arrays = k[slot]
        if kind == "bias":
            state["decoder.out.bias"] = arrays[0]
            continue
        state[f"{slot}.weight"] = arrays[0].T if kind == "dense" else arrays[0]
        if len(arrays) > 1:
            state[f"{slot}.bias"] = arrays[1]
    if config.tie_embeddings:
        state["decoder.out.weight"] = state["decoder.embedding.weight"]
    shapes = transformer_canonical_shapes(config, 1, 1)
    ordered = {key: state[key] for key in shapes if key in state}  # the canonical order
    return {key: np.ascontiguousarray(value) for key, value in ordered.items()}


__all__ = [
    "transformer_canonical_shapes",
    "transformer_canonical_to_keras",
    "transformer_keras_layers",
    "transformer_keras_slot_names",
    "transformer_keras_to_canonical",
]
