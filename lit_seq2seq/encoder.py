"""The encoder: embedding and one (optionally bidirectional) stacked GRU/LSTM over packed input."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seq2seq_fit.config import CELLS, check_choice
from seq2seq_fit.vocab import PAD_ID


def make_rnn(
    cell: str, input_size: int, hidden_size: int, num_layers: int, dropout: float, **kwargs: bool
) -> nn.RNNBase:
    """A batch-first ``nn.GRU`` or ``nn.LSTM`` (dropout only between layers, as PyTorch applies it)."""
    rnn_cls = {"gru": nn.GRU, "lstm": nn.LSTM}[cell]
    return rnn_cls(
        input_size, hidden_size, num_layers, batch_first=True, dropout=dropout if num_layers > 1 else 0.0, **kwargs
    )


class Encoder(nn.Module):
    """Reads right-padded source ids into per-position features and a summary vector.

    A bidirectional encoder runs ``hidden_size // 2`` units per direction over the valid part of
    each row only (packed sequences), so the backward direction starts at ``len - 1``.

    Args:
        vocab_size: source vocabulary size.
        embedding_dim: token embedding size.
        hidden_size: output feature size ``H`` (both directions together).
        num_layers: stacked recurrent layers.
        cell: ``"gru"`` or ``"lstm"``.
        bidirectional: read the source in both directions.
        dropout: on the embeddings and between recurrent layers.

    Example:
        >>> enc = Encoder(10, embedding_dim=8, hidden_size=16, bidirectional=True)
        >>> out, summary = enc(torch.tensor([[4, 5, 0]]), torch.tensor([2]))
        >>> out.shape, summary.shape
        (torch.Size([1, 3, 16]), torch.Size([1, 16]))
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int = 64,
        hidden_size: int = 128,
        num_layers: int = 1,
        cell: str = "gru",
        bidirectional: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_choice("Encoder", "cell", cell, CELLS)
        if bidirectional and hidden_size % 2:
            raise ValueError(f"Encoder.hidden_size: got {hidden_size} with bidirectional=True; it must be even")
        self.bidirectional = bidirectional
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.dropout = nn.Dropout(dropout)
        units = hidden_size // 2 if bidirectional else hidden_size
        self.rnn = make_rnn(cell, embedding_dim, units, num_layers, dropout, bidirectional=bidirectional)

    def forward(self, source: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode ``source`` (B, S) with non-pad ``lengths`` (B,).

        Returns:
            ``(outputs, summary)``: outputs (B, S, H), exactly zero at padding; summary (B, H),
            the top layer's final state (both directions' final states when bidirectional).
        """
        mask = source != PAD_ID  # (B, S)
        if lengths is None:
            lengths = mask.sum(1)
        s = source.size(1)
        emb = self.dropout(self.embedding(source))  # (B, S, E)
        device = emb.device.type
        if torch.is_autocast_enabled(device):
            # CPU bf16 autocast: oneDNN's LSTM fails on float32 input when every row of the packed batch
            # has the same length (then the packed data is one dense block); the decoder's ``run_rnn``
            # makes the same cast. On CUDA this is the cast autocast would do anyway.
            emb = emb.to(torch.get_autocast_dtype(device))  # (B, S, E)
        packed = pack_padded_sequence(emb, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        out_packed, final = self.rnn(packed)
        out, _ = pad_packed_sequence(out_packed, batch_first=True, total_length=s)  # (B, S, H)
        h_n = final[0] if isinstance(final, tuple) else final  # (L * dirs, B, H')
        summary = torch.cat([h_n[-2], h_n[-1]], dim=-1) if self.bidirectional else h_n[-1]  # (B, H)
        out = out * mask.unsqueeze(-1).to(out.dtype)  # (B, S, H)
        return out, summary
