"""Vocabularies, corpora and batching shared by the Lightning and Keras sides.

Importing this package imports neither torch nor TensorFlow: ``Seq2SeqDataModule`` (torch +
lightning) and ``KerasData`` (keras) load their framework only when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from datamodules.batching import BucketBatchSampler, EncodedPairs, collate, encode_pairs, pad_ratio
from datamodules.corpus import Corpus, load_corpus
from datamodules.errors import DataError
from datamodules.prepared import PreparedData
from seq2seq_fit.vocab import BOS, BOS_ID, EOS, EOS_ID, PAD, PAD_ID, SPECIALS, UNK, UNK_ID, Vocab

if TYPE_CHECKING:
    from datamodules.keras import KerasData
    from datamodules.lightning import Seq2SeqDataModule

#: Marks this package as seq2seq-fit's data layer (``seq2seq_fit.data_layer.require_data_layer`` checks it), so
#: the command lines can tell it from a project's own package named ``datamodules``.
__seq2seq_fit_data_layer__ = True

__all__ = [
    "BOS",
    "BOS_ID",
    "EOS",
    "EOS_ID",
    "PAD",
    "PAD_ID",
    "SPECIALS",
    "UNK",
    "UNK_ID",
    "BucketBatchSampler",
    "Corpus",
    "DataError",
    "EncodedPairs",
    "KerasData",
    "PreparedData",
    "Seq2SeqDataModule",
    "Vocab",
    "collate",
    "encode_pairs",
    "load_corpus",
    "pad_ratio",
]


def __getattr__(name: str) -> Any:
    if name == "Seq2SeqDataModule":
        from datamodules.lightning import Seq2SeqDataModule

        return Seq2SeqDataModule
    if name == "KerasData":
        from datamodules.keras import KerasData

        return KerasData
    raise AttributeError(f"module 'datamodules' has no attribute {name!r}")
