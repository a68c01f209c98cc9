"""PyTorch Lightning side of seq2seq-fit: an RNN encoder-decoder with scheduled teacher forcing.

Plain ``nn.Module``s (:class:`Encoder`, :class:`Decoder`, the attentions, :class:`Seq2Seq`) hold
the model; :class:`LitSeq2Seq` is the thin ``LightningModule`` that trains it under
``Trainer.fit``. The maths is docs/architecture.md, shared with ``keras_seq2seq``.
"""

from lit_seq2seq.attention import BahdanauAttention, LuongAttention, masked_softmax
from lit_seq2seq.callbacks import TrainingThroughput
from lit_seq2seq.checkpoint_io import SafeCheckpointIO, UnsafeCheckpointError
from lit_seq2seq.decoder import Decoder, Memory
from lit_seq2seq.encoder import Encoder
from lit_seq2seq.from_keras import from_keras
from lit_seq2seq.model import Seq2Seq, masked_cross_entropy
from lit_seq2seq.module import LitSeq2Seq
from lit_seq2seq.search import beam_search
from lit_seq2seq.translate import tokenize, translate

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
    "UnsafeCheckpointError",
    "beam_search",
    "from_keras",
    "masked_cross_entropy",
    "masked_softmax",
    "tokenize",
    "translate",
]
