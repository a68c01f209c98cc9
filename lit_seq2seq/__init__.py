"""PyTorch Lightning side of seq2seq-fit: RNN and Transformer encoder-decoders with scheduled teacher forcing.

Plain ``nn.Module``s (:class:`Encoder`, :class:`Decoder`, the attentions, :class:`Seq2Seq`, and
:class:`Transformer` for ``architecture="transformer"``) hold the model; :class:`LitSeq2Seq` is the
thin ``LightningModule`` that trains it under ``Trainer.fit``. The maths is docs/architecture.md, shared
with ``keras_seq2seq``.

Importing this package is light (``lit-seq2seq translate --help`` starts no torch): each public
name imports its module on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from seq2seq_fit.lazy_package import make_lazy

if TYPE_CHECKING:
    from lit_seq2seq.bahdanau_attention import BahdanauAttention
    from lit_seq2seq.callbacks import TrainingThroughput
    from lit_seq2seq.checkpoint_io import SafeCheckpointIO
    from lit_seq2seq.decoder import Decoder, Memory
    from lit_seq2seq.encoder import Encoder
    from lit_seq2seq.luong_attention import LuongAttention
    from lit_seq2seq.masked_softmax import masked_softmax
    from lit_seq2seq.seq2seq import Seq2Seq, masked_cross_entropy
    from lit_seq2seq.system import LitSeq2Seq
    from lit_seq2seq.transformer import Transformer
    from seq2seq_fit.errors import UnsafeFileError

#: Public name -> the module that defines it.
_EXPORTS = {
    "BahdanauAttention": "lit_seq2seq.bahdanau_attention",
    "Decoder": "lit_seq2seq.decoder",
    "Encoder": "lit_seq2seq.encoder",
    "LitSeq2Seq": "lit_seq2seq.system",
    "LuongAttention": "lit_seq2seq.luong_attention",
    "Memory": "lit_seq2seq.decoder",
    "SafeCheckpointIO": "lit_seq2seq.checkpoint_io",
    "Seq2Seq": "lit_seq2seq.seq2seq",
    "TrainingThroughput": "lit_seq2seq.callbacks",
    "Transformer": "lit_seq2seq.transformer",
    "UnsafeFileError": "seq2seq_fit.errors",
    "masked_cross_entropy": "lit_seq2seq.seq2seq",
    "masked_softmax": "lit_seq2seq.masked_softmax",
}

__all__ = [
    "BahdanauAttention",
    "Decoder",
    "Encoder",
    "LitSeq2Seq",
    "LuongAttention",
    "Memory",
    "SafeCheckpointIO",
    "Seq2Seq",
    "TrainingThroughput",
    "Transformer",
    "UnsafeFileError",
    "masked_cross_entropy",
    "masked_softmax",
]


make_lazy(__name__, _EXPORTS)
