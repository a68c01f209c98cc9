"""``PreparedData``: one corpus, its vocabularies and encoded splits, shared by both adapters."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from datamodules.batching import BucketBatchSampler, EncodedPairs, encode_pairs
from datamodules.corpus import BUILTIN, LENGTH_POLICIES, Corpus, load_corpus
from seq2seq_fit.tokenizer import Tokenizer
from seq2seq_fit.vocab import Vocab, as_vocab, check_same_vocab

logger = logging.getLogger("datamodules")

SPLITS = ("train", "val", "test")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_int_arg(name: str, value: Any, minimum: int, *, optional: bool = False) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is an integer ``>= minimum`` (or ``None``)."""
    if optional and value is None:
        return
    if not _is_int(value) or value < minimum:
        allowed = f"an integer >= {minimum}" + (" or None" if optional else "")
        raise ValueError(f"{name}: got {value!r}, expected {allowed}")


def check_bool_arg(name: str, value: Any) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is a bool."""
    if not isinstance(value, bool):
        raise ValueError(f"{name}: got {value!r}, expected True or False")


def check_corpus_arg(corpus: Any) -> None:
    """Refuse, at construction, a corpus that is neither built in, a :class:`Corpus`, nor a path."""
    if isinstance(corpus, Corpus):
        return
    if not isinstance(corpus, (str, os.PathLike)):
        raise ValueError(
            f"corpus: got {corpus!r}, expected a built-in name ({', '.join(BUILTIN)}), a TSV path or a Corpus"
        )
    name = os.fspath(corpus)
    if name not in BUILTIN and not os.path.exists(name) and os.sep not in name and "." not in name:
        raise ValueError(
            f"corpus: got {name!r}, which is neither a built-in corpus ({', '.join(BUILTIN)}) nor an existing file"
        )


class PreparedData:
    """Load a corpus, build (or reuse) vocabularies from its train split, encode all splits.

    After :meth:`setup`, ``src_tokenizer`` and ``tgt_tokenizer`` are the corpus's tokenizers (what a
    model trained on it must keep); a subword tokenizer's pieces are the vocabulary, so no
    vocabulary is built for its side.

    Args:
        corpus: built-in name (``toy``, ``cmudict``, ``reverse``, ...), a TSV path, or a
            :class:`Corpus`.
        batch_size: examples per batch.
        max_length, length_policy: see :func:`load_corpus`.
        bucket: length bucketing of training batches.
        seed: order of batches is a function of ``(seed, epoch)``.
        min_freq, max_vocab: vocabulary building options.
        src_vocab, tgt_vocab: reuse these vocabularies (e.g. a trained model's) instead of
            building them.
        pad_to_multiple: round padded lengths up to this multiple.
        corpus_options: extra keyword arguments for :func:`load_corpus`.
    """

    def __init__(
        self,
        corpus: str | os.PathLike[str] | Corpus = "toy",
        batch_size: int = 64,
        max_length: int | None = None,
        length_policy: str = "filter",
        bucket: bool = True,
        seed: int = 0,
        min_freq: int = 1,
        max_vocab: int | None = None,
        src_vocab: Vocab | Sequence[str] | None = None,
        tgt_vocab: Vocab | Sequence[str] | None = None,
        pad_to_multiple: int = 1,
        corpus_options: dict[str, Any] | None = None,
    ) -> None:
        check_corpus_arg(corpus)
        check_int_arg("batch_size", batch_size, 1)
        check_int_arg("max_length", max_length, 1, optional=True)
        if length_policy not in LENGTH_POLICIES:
            raise ValueError(
                f"length_policy: got {length_policy!r}, expected one of {', '.join(map(repr, LENGTH_POLICIES))}"
            )
        check_bool_arg("bucket", bucket)
        check_int_arg("seed", seed, 0)
        check_int_arg("min_freq", min_freq, 1)
        check_int_arg("max_vocab", max_vocab, 4, optional=True)
        check_int_arg("pad_to_multiple", pad_to_multiple, 1)
        if corpus_options is not None and not isinstance(corpus_options, dict):
            raise ValueError(f"corpus_options: got {corpus_options!r}, expected a dict or None")
        self.corpus_spec = corpus
        self.batch_size = batch_size
        self.max_length = max_length
        self.length_policy = length_policy
        self.bucket = bucket
        self.seed = seed
        self.min_freq = min_freq
        self.max_vocab = max_vocab
        self.pad_to_multiple = pad_to_multiple
        self.corpus_options = dict(corpus_options or {})
        self._given_src = as_vocab(src_vocab) if src_vocab is not None else None
        self._given_tgt = as_vocab(tgt_vocab) if tgt_vocab is not None else None
        self.corpus: Corpus | None = None
        self.src_vocab: Vocab | None = None
        self.tgt_vocab: Vocab | None = None
        self.src_tokenizer: Tokenizer | None = None
        self.tgt_tokenizer: Tokenizer | None = None
        self.encoded: dict[str, EncodedPairs] = {}

    def setup(self) -> None:
        """Load and encode everything (idempotent)."""
        if self.corpus is not None:
            return
        if isinstance(self.corpus_spec, Corpus):
            corpus = self.corpus_spec
        else:
            corpus = load_corpus(
                self.corpus_spec, max_length=self.max_length, length_policy=self.length_policy, **self.corpus_options
            )
        if not corpus.train:
            raise ValueError(f"{corpus.name}: the train split is empty")
        src_pieces, tgt_pieces = corpus.src_tokenizer.vocab_tokens(), corpus.tgt_tokenizer.vocab_tokens()
        self.src_tokenizer, self.tgt_tokenizer = corpus.src_tokenizer, corpus.tgt_tokenizer
        self.src_vocab = self._given_src or (
            Vocab(src_pieces)
            if src_pieces is not None
            else Vocab.build((s for s, _ in corpus.train), self.min_freq, self.max_vocab)
        )
        self.tgt_vocab = self._given_tgt or (
            Vocab(tgt_pieces)
            if tgt_pieces is not None
            else Vocab.build((t for _, t in corpus.train), self.min_freq, self.max_vocab)
        )
        for split in SPLITS:
            self.encoded[split] = encode_pairs(
                corpus.split(split), self.src_vocab, self.tgt_vocab, where=f"{corpus.name} ({split})"
            )
        self.corpus = corpus

    def check_vocabs(self, src_vocab: Vocab | Sequence[str], tgt_vocab: Vocab | Sequence[str]) -> None:
        """Raise ``ValueError`` if a model's vocabularies differ from this data's."""
        self.setup()
        assert self.src_vocab is not None and self.tgt_vocab is not None
        check_same_vocab("source", as_vocab(src_vocab), self.src_vocab)
        check_same_vocab("target", as_vocab(tgt_vocab), self.tgt_vocab)

    def sampler(self, split: str, num_replicas: int = 1, rank: int = 0) -> BucketBatchSampler:
        """Batch sampler for ``split``: shuffled and bucketed for train, file order otherwise."""
        self.setup()
        enc = self.encoded[split]
        train = split == "train"
        return BucketBatchSampler(
            enc.source_lengths,
            enc.target_lengths,
            self.batch_size,
            shuffle=train,
            bucket=self.bucket and train,
            seed=self.seed,
            num_replicas=num_replicas,
            rank=rank,
        )
