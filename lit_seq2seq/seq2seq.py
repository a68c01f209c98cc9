"""``Seq2Seq``: the plain encoder-decoder ``nn.Module`` (docs/architecture.md, exactly)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from lit_seq2seq.decoder import Decoder, Memory, State
from lit_seq2seq.encoder import Encoder
from lit_seq2seq.encoder_decoder import EncoderDecoder, masked_cross_entropy
from seq2seq_fit import Seq2SeqConfig
from seq2seq_fit.vocab import PAD_ID


class Seq2Seq(EncoderDecoder):
    """RNN encoder-decoder with a bridge from the encoder summary to the decoder's initial state.

    Args:
        config: architecture (a :class:`seq2seq_fit.Seq2SeqConfig` or a mapping of its fields).
        src_vocab_size: source vocabulary size.
        tgt_vocab_size: target vocabulary size.

    Example:
        >>> model = Seq2Seq(Seq2SeqConfig(embedding_dim=8, hidden_size=16), 10, 12)
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
        self.encoder = Encoder(
            src_vocab_size, c.embedding_dim, c.hidden_size, c.num_layers, c.cell, c.bidirectional, c.dropout
        )
        self.bridge = nn.Linear(c.hidden_size, c.num_layers * c.hidden_size)
        self.decoder = Decoder(
            tgt_vocab_size,
            c.embedding_dim,
            c.hidden_size,
            c.num_layers,
            c.cell,
            c.dropout,
            c.attention,
            c.luong_score,
            c.tie_embeddings,
        )

    def encode(self, source: torch.Tensor, source_lengths: torch.Tensor | None = None) -> tuple[Memory, State]:
        """Encode ``source`` (B, S); returns the decoder's memory and initial state."""
        enc, summary = self.encoder(source, source_lengths)  # (B, S, H), (B, H)
        b, h = summary.shape
        layers = self.config.num_layers
        h0 = torch.tanh(self.bridge(summary)).view(b, layers, h).transpose(0, 1).contiguous()  # (L, B, H)
        state: State = (h0, torch.zeros_like(h0)) if self.config.cell == "lstm" else h0
        return Memory(enc, source != PAD_ID, self.decoder.keys(enc)), state


__all__ = ["Seq2Seq", "masked_cross_entropy"]
