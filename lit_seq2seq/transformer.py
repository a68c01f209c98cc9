"""``Transformer``: the pre-LN Transformer encoder-decoder as a plain ``nn.Module``, the counterpart of ``Seq2Seq``.

The same methods and signatures as :class:`lit_seq2seq.seq2seq.Seq2Seq` (``encode``, and from
:class:`~lit_seq2seq.encoder_decoder.EncoderDecoder` ``forward``, ``scheduled_forward``, ``loss``,
``generate``; ``decoder.step``/``decoder.keys``), so
``LitSeq2Seq``, the shared search and the benchmarks' loops run either network. The decoder state
is the self-attention cache (:data:`lit_seq2seq.transformer_layers.Cache`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from lit_seq2seq.decoder import Memory
from lit_seq2seq.encoder_decoder import EncoderDecoder
from lit_seq2seq.transformer_layers import Cache, TransformerDecoder, TransformerEncoder
from seq2seq_fit import Seq2SeqConfig
from seq2seq_fit.vocab import PAD_ID


class Transformer(EncoderDecoder):
    """Pre-layer-norm Transformer encoder-decoder with sinusoidal positions (``architecture="transformer"``).

    Initialised with xavier-uniform linear weights, zero biases, LayerNorm ones and zeros, and
    embeddings drawn from ``normal(0, hidden_size ** -0.5)``.

    Args:
        config: a :class:`seq2seq_fit.Seq2SeqConfig` (or a mapping of its fields) with
            ``architecture="transformer"``: ``num_layers`` blocks on each side, width ``hidden_size``,
            ``num_heads``, ``feed_forward_size``, ``dropout``, ``tie_embeddings``, ``label_smoothing``.
        src_vocab_size: source vocabulary size.
        tgt_vocab_size: target vocabulary size.

    Example:
        >>> config = Seq2SeqConfig(architecture="transformer", embedding_dim=8, hidden_size=8, num_heads=2)
        >>> model = Transformer(config, 10, 12)
        >>> src, tgt = torch.tensor([[4, 5, 6]]), torch.tensor([[1, 7, 8]])
        >>> model(src, torch.tensor([3]), tgt).shape
        torch.Size([1, 3, 12])

        The training loss (:meth:`~lit_seq2seq.encoder_decoder.EncoderDecoder.loss`) and its coins:

        >>> from seq2seq_fit import TeacherForcing
        >>> src, tgt_in, tgt_out = torch.tensor([[4, 5]]), torch.tensor([[1, 7]]), torch.tensor([[7, 2]])
        >>> loss, gold = model.loss(src, torch.tensor([2]), tgt_in, tgt_out, TeacherForcing())
        >>> loss.shape, bool(gold.all())
        (torch.Size([]), True)
    """

    def __init__(self, config: Seq2SeqConfig | Mapping[str, Any], src_vocab_size: int, tgt_vocab_size: int) -> None:
        super().__init__(config, src_vocab_size, tgt_vocab_size)
        c = self.config
        if c.architecture != "transformer":
            raise ValueError(
                f"Transformer.config.architecture: got {c.architecture!r}, expected 'transformer' (Seq2Seq builds "
                "the RNN)"
            )
        widths = (c.embedding_dim, c.hidden_size, c.num_layers, c.num_heads, c.feed_forward_size, c.dropout)
        self.encoder = TransformerEncoder(src_vocab_size, *widths)
        self.decoder = TransformerDecoder(tgt_vocab_size, *widths, tie_embeddings=c.tie_embeddings)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform linear weights, zero biases, LayerNorm ones/zeros, embeddings ``normal(0, H^-0.5)``."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        for embedding in (self.encoder.embedding, self.decoder.embedding):  # last: a tied output weight is this one
            nn.init.normal_(embedding.weight, 0.0, self.config.hidden_size**-0.5)

    def encode(self, source: torch.Tensor, source_lengths: torch.Tensor | None = None) -> tuple[Memory, Cache]:
        """Encode ``source`` (B, S); returns the memory (with every decoder layer's cross-attention keys and
        values) and the empty decoder cache. Padding is read from ``source`` (``<pad>``), as ``Seq2Seq`` does."""
        mask = source != PAD_ID  # (B, S)
        enc = self.encoder(source, mask).masked_fill(~mask.unsqueeze(-1), 0.0)  # (B, S, H), zero at padding
        memory = Memory(enc, mask, self.decoder.keys(enc))
        return memory, self.decoder.initial_state(memory)


__all__ = ["Transformer"]
