"""Framework-free core of seq2seq-fit: config, teacher-forcing and learning-rate schedules, metrics,
decoding maths, source tokenizers, the model format both trainers save and load.

Imports neither torch nor TensorFlow, so both ``lit_seq2seq`` and ``keras_seq2seq`` build on it.
"""

from seq2seq_fit.batch import Batch, check_batch, collate, collate_pairs, from_hugging_face
from seq2seq_fit.config import Seq2SeqConfig, as_config
from seq2seq_fit.decoding import length_penalty
from seq2seq_fit.errors import InputError, ModelFormatError, UnsafeFileError
from seq2seq_fit.generation_config import GenerationConfig, as_generation_config
from seq2seq_fit.learning_rate import check_lr_schedule, cosine_decay, lr_factor
from seq2seq_fit.model_format import PretrainedModel, load_pretrained, save_pretrained
from seq2seq_fit.scores import (
    EVAL_METRICS,
    TRAIN_METRICS,
    G2PScores,
    edit_distance,
    exact_match,
    g2p_scores,
    metric_name,
    phone_error_rate,
    word_error_rate,
)
from seq2seq_fit.teacher_forcing import TeacherForcing, as_teacher_forcing, check_compatible
from seq2seq_fit.tokenizer import Tokenizer, as_tokenizer, check_tokenizer, split_tokens, train_tokenizer
from seq2seq_fit.translate import UnknownTokensWarning
from seq2seq_fit.vocab import Vocab

__all__ = [
    "EVAL_METRICS",
    "TRAIN_METRICS",
    "Batch",
    "G2PScores",
    "GenerationConfig",
    "InputError",
    "ModelFormatError",
    "PretrainedModel",
    "Seq2SeqConfig",
    "TeacherForcing",
    "Tokenizer",
    "UnknownTokensWarning",
    "UnsafeFileError",
    "Vocab",
    "as_config",
    "as_generation_config",
    "as_teacher_forcing",
    "as_tokenizer",
    "check_batch",
    "check_compatible",
    "check_lr_schedule",
    "check_tokenizer",
    "collate",
    "collate_pairs",
    "cosine_decay",
    "edit_distance",
    "exact_match",
    "from_hugging_face",
    "g2p_scores",
    "length_penalty",
    "load_pretrained",
    "lr_factor",
    "metric_name",
    "phone_error_rate",
    "save_pretrained",
    "split_tokens",
    "train_tokenizer",
    "word_error_rate",
]

__version__ = "0.1.0"
