"""Framework-free core of seq2seq-fit: config, teacher-forcing and learning-rate schedules, metrics,
decoding maths, source tokenizers.

Imports neither torch nor TensorFlow, so both ``lit_seq2seq`` and ``keras_seq2seq`` build on it.
"""

from seq2seq_fit.config import Seq2SeqConfig
from seq2seq_fit.decoding import check_decoding_args, check_translate_args, length_penalty
from seq2seq_fit.learning_rate import check_lr_schedule, lr_factor
from seq2seq_fit.metrics import (
    G2PScores,
    edit_distance,
    exact_match,
    g2p_scores,
    phone_error_rate,
    word_error_rate,
)
from seq2seq_fit.teacher_forcing import TeacherForcing, check_compatible
from seq2seq_fit.tokenizer import check_tokenizer, split_tokens

__all__ = [
    "G2PScores",
    "Seq2SeqConfig",
    "TeacherForcing",
    "check_compatible",
    "check_decoding_args",
    "check_lr_schedule",
    "check_tokenizer",
    "check_translate_args",
    "edit_distance",
    "exact_match",
    "g2p_scores",
    "length_penalty",
    "lr_factor",
    "phone_error_rate",
    "split_tokens",
    "word_error_rate",
]

__version__ = "0.1.0"
