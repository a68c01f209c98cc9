"""Keras 3 side of seq2seq-fit: registered layers and ``Seq2SeqModel`` with a custom ``train_step``.

Works on the TensorFlow, JAX and torch backends (select with ``KERAS_BACKEND`` before importing
keras). Importing this package registers every class, so ``keras.models.load_model`` restores
saved models with the default ``safe_mode=True``.
"""

from keras_seq2seq.atomic_model_checkpoint import AtomicModelCheckpoint
from keras_seq2seq.bahdanau_attention import BahdanauAttention
from keras_seq2seq.callbacks import TrainingThroughput, ValidationScores
from keras_seq2seq.decoder import Decoder
from keras_seq2seq.encoder import Encoder
from keras_seq2seq.from_lightning import from_lightning
from keras_seq2seq.learning_rate import WarmupCosineDecay
from keras_seq2seq.luong_attention import LuongAttention
from keras_seq2seq.safe_loading import UnsafeModelFileError, load_model
from keras_seq2seq.seq2seq_model import Seq2SeqModel
from keras_seq2seq.stream_position import StreamPosition

__all__ = [
    "AtomicModelCheckpoint",
    "BahdanauAttention",
    "Decoder",
    "Encoder",
    "LuongAttention",
    "Seq2SeqModel",
    "StreamPosition",
    "TrainingThroughput",
    "UnsafeModelFileError",
    "ValidationScores",
    "WarmupCosineDecay",
    "from_lightning",
    "load_model",
]
