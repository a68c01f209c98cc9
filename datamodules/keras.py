"""``KerasData``: the shared data core as Keras inputs (``PyDataset`` or ``tf.data``).

Needs only ``keras`` (any backend); :meth:`KerasData.tf_dataset` additionally needs TensorFlow.
Keras batches are ``(x, y)`` with ``x = {"source": (B, S), "target_in": (B, T)}`` and
``y = target_out`` (B, T), int32.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

import keras
from datamodules.batching import BucketBatchSampler, EncodedPairs, collate
from datamodules.corpus import Corpus
from datamodules.prepared import PreparedData
from seq2seq_fit.tokenizer import Tokenizer
from seq2seq_fit.vocab import Vocab

Batch = tuple[dict[str, np.ndarray], np.ndarray]


def keras_batch(batch: Mapping[str, Any]) -> Batch:
    """``(x, y)`` for ``model.fit`` from a collated batch."""
    x = {"source": batch["source"].astype("int32"), "target_in": batch["target_in"].astype("int32")}
    return x, batch["target_out"].astype("int32")


class BatchSequence(keras.utils.PyDataset):  # type: ignore[misc]
    """One split as a ``keras.utils.PyDataset``; the batch order moves to the next epoch at each
    epoch end, exactly as the Lightning side's :class:`~datamodules.lightning.BatchDataset`.

    Training batches form one stream, batch ``k`` of it being batch ``k % len(self)`` of epoch
    ``k // len(self)``. :meth:`seek` moves to any point of that stream, which is how
    ``Seq2SeqModel.fit`` resumes mid-epoch: it seeks to ``optimizer.iterations`` (the steps really
    trained, not the batches a prefetching adapter handed out). After ``seek(k)`` with
    ``k % len(self) = b``, index ``i`` of a pass is stream batch ``epoch * len(self) + b + i``, so a
    pass ends ``b`` batches into the next epoch's order.
    """

    def __init__(
        self,
        encoded: EncodedPairs,
        sampler: BucketBatchSampler,
        pad_to_multiple: int = 1,
        src_vocab: Vocab | None = None,
        tgt_vocab: Vocab | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.encoded = encoded
        self.sampler = sampler
        self.pad_to_multiple = pad_to_multiple
        self.src_vocab = src_vocab
        self.tgt_vocab = tgt_vocab
        self.offset = 0  # stream batches of the current epoch already trained before this pass
        self._batches = sampler.batches()
        self._next: list[list[int]] | None = None  # the next epoch's order, once an index needs it

    def __len__(self) -> int:
        return len(self._batches)

    def __getitem__(self, index: int) -> Batch:
        position = self.offset + index
        if position < len(self._batches):
            ids = self._batches[position]
        else:
            if self._next is None:
                self._next = self.sampler.batches(self.sampler.epoch + 1)
            ids = self._next[position - len(self._batches)]
        batch = collate(
            [self.encoded.sources[i] for i in ids], [self.encoded.targets[i] for i in ids], self.pad_to_multiple
        )
        return keras_batch(batch)

    def set_epoch(self, epoch: int) -> None:
        """Select the batch order of ``epoch`` (keeping the :meth:`seek` offset)."""
        self.sampler.set_epoch(epoch)
        self._batches = self.sampler.batches()
        self._next = None

    def seek(self, step: int) -> None:
        """Start the next pass at batch ``step`` of the stream (epoch ``step // len``, offset ``step % len``)."""
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"BatchSequence.seek: step: got {step!r}, expected an integer >= 0")
        epoch, self.offset = divmod(step, len(self))
        self.set_epoch(epoch)

    def on_epoch_end(self) -> None:
        self.set_epoch(self.sampler.epoch + 1)


class KerasData:
    """Corpus, vocabularies, splits and batches for ``model.fit``, identical to the Lightning side.

    Args:
        corpus: built-in name or TSV path (see :func:`datamodules.load_corpus`).
        batch_size: global batch size (under a distribution strategy Keras splits it).
        pad_to_multiple: round padded lengths up (default 8: fewer distinct shapes, so fewer
            retraces of compiled steps).
        **kwargs: the other options of :class:`datamodules.prepared.PreparedData`.

    Example:
        >>> data = KerasData("toy", batch_size=2)
        >>> x, y = data.train()[0]
        >>> sorted(x)
        ['source', 'target_in']
    """

    def __init__(
        self,
        corpus: str | os.PathLike[str] | Corpus = "toy",
        batch_size: int = 64,
        pad_to_multiple: int = 8,
        **kwargs: Any,
    ) -> None:
        self.data = PreparedData(corpus, batch_size=batch_size, pad_to_multiple=pad_to_multiple, **kwargs)
        self.data.setup()

    @property
    def src_vocab(self) -> Vocab:
        assert self.data.src_vocab is not None
        return self.data.src_vocab

    @property
    def tgt_vocab(self) -> Vocab:
        assert self.data.tgt_vocab is not None
        return self.data.tgt_vocab

    @property
    def src_tokenizer(self) -> Tokenizer:
        """How the source text became tokens (the model keeps it: ``Seq2SeqModel(src_tokenizer=...)``)."""
        assert self.data.src_tokenizer is not None
        return self.data.src_tokenizer

    @property
    def tgt_tokenizer(self) -> Tokenizer:
        """How the target text became tokens (the model keeps it)."""
        assert self.data.tgt_tokenizer is not None
        return self.data.tgt_tokenizer

    @property
    def corpus(self) -> Corpus:
        assert self.data.corpus is not None
        return self.data.corpus

    def split(self, name: str, **pydataset_kwargs: Any) -> BatchSequence:
        """``PyDataset`` over split ``name`` (``train`` shuffled and bucketed)."""
        return BatchSequence(
            self.data.encoded[name],
            self.data.sampler(name),
            self.data.pad_to_multiple,
            self.src_vocab,
            self.tgt_vocab,
            **pydataset_kwargs,
        )

    def train(self, **kwargs: Any) -> BatchSequence:
        return self.split("train", **kwargs)

    def val(self, **kwargs: Any) -> BatchSequence:
        return self.split("val", **kwargs)

    def test(self, **kwargs: Any) -> BatchSequence:
        return self.split("test", **kwargs)

    def tf_dataset(self, name: str, epoch: int = 0) -> Any:
        """The batches of split ``name`` for ``epoch`` as a ``tf.data.Dataset`` (needs TensorFlow)."""
        try:
            import tensorflow as tf
        except ImportError as e:
            raise ImportError("KerasData.tf_dataset needs TensorFlow: pip install 'seq2seq-fit[tf]'") from e
        seq = self.split(name)
        seq.set_epoch(epoch)

        def gen() -> Any:
            for i in range(len(seq)):
                yield seq[i]

        spec = (
            {
                "source": tf.TensorSpec((None, None), tf.int32),
                "target_in": tf.TensorSpec((None, None), tf.int32),
            },
            tf.TensorSpec((None, None), tf.int32),
        )
        return tf.data.Dataset.from_generator(gen, output_signature=spec).prefetch(tf.data.AUTOTUNE)

    def references(self, split: str = "test") -> tuple[list[list[str]], list[list[list[str]]]]:
        """Unique sources of ``split`` with all their references."""
        return self.corpus.references(split)


__all__ = ["BatchSequence", "KerasData", "keras_batch"]
