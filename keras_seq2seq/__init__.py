"""Keras 3 side of seq2seq-fit: registered layers, the ``Seq2Seq`` and ``Transformer`` networks and the
``Seq2SeqModel`` system.

Works on the TensorFlow, JAX and torch backends (select with ``KERAS_BACKEND`` before importing
keras). Importing this package is light (``keras-seq2seq --help`` starts no framework): the public
names load Keras on first use, and the first use registers every class, so
``keras.models.load_model`` restores saved models with the default ``safe_mode=True``. When Keras is
already imported, ``import keras_seq2seq`` registers everything at once, so
``import keras; import keras_seq2seq; keras.models.load_model("model.keras")`` works.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from seq2seq_fit.lazy_package import make_lazy

if TYPE_CHECKING:
    from keras_seq2seq.atomic_model_checkpoint import AtomicModelCheckpoint
    from keras_seq2seq.bahdanau_attention import BahdanauAttention
    from keras_seq2seq.callbacks import TrainingThroughput
    from keras_seq2seq.decoder import Decoder, Memory
    from keras_seq2seq.encoder import Encoder
    from keras_seq2seq.learning_rate import WarmupCosineDecay, make_optimizer
    from keras_seq2seq.luong_attention import LuongAttention
    from keras_seq2seq.masked_softmax import masked_softmax
    from keras_seq2seq.safe_loading import load_model
    from keras_seq2seq.seq2seq import Seq2Seq, masked_cross_entropy
    from keras_seq2seq.stream_position import StreamPosition
    from keras_seq2seq.system import Seq2SeqModel
    from keras_seq2seq.transformer import Transformer
    from seq2seq_fit.errors import UnsafeFileError

#: Public name -> the module that defines it.
_EXPORTS = {
    "AtomicModelCheckpoint": "keras_seq2seq.atomic_model_checkpoint",
    "BahdanauAttention": "keras_seq2seq.bahdanau_attention",
    "Decoder": "keras_seq2seq.decoder",
    "Encoder": "keras_seq2seq.encoder",
    "LuongAttention": "keras_seq2seq.luong_attention",
    "Memory": "keras_seq2seq.decoder",
    "Seq2Seq": "keras_seq2seq.seq2seq",
    "Seq2SeqModel": "keras_seq2seq.system",
    "StreamPosition": "keras_seq2seq.stream_position",
    "TrainingThroughput": "keras_seq2seq.callbacks",
    "Transformer": "keras_seq2seq.transformer",
    "UnsafeFileError": "seq2seq_fit.errors",
    "WarmupCosineDecay": "keras_seq2seq.learning_rate",
    "make_optimizer": "keras_seq2seq.learning_rate",
    "load_model": "keras_seq2seq.safe_loading",
    "masked_cross_entropy": "keras_seq2seq.seq2seq",
    "masked_softmax": "keras_seq2seq.masked_softmax",
}

__all__ = [
    "AtomicModelCheckpoint",
    "BahdanauAttention",
    "Decoder",
    "Encoder",
    "LuongAttention",
    "Memory",
    "Seq2Seq",
    "Seq2SeqModel",
    "StreamPosition",
    "TrainingThroughput",
    "Transformer",
    "UnsafeFileError",
    "WarmupCosineDecay",
    "load_model",
    "make_optimizer",
    "masked_cross_entropy",
    "masked_softmax",
]


make_lazy(__name__, _EXPORTS, eager="keras" in sys.modules)
