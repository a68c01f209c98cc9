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

from seq2seq_fit.config import Seq2SeqConfig

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


__all__ = ["transformer_canonical_shapes"]
