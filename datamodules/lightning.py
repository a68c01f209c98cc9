"""``Seq2SeqDataModule``: the shared data core as a ``LightningDataModule`` (needs torch)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from datamodules.batching import BucketBatchSampler, EncodedPairs, collate
from datamodules.corpus import Corpus
from datamodules.prepared import PreparedData, check_bool_arg, check_int_arg
from seq2seq_fit.tokenizer import Tokenizer
from seq2seq_fit.vocab import Vocab


class BatchDataset(Dataset[dict[str, torch.Tensor]]):
    """Map-style dataset whose items are whole batches, keyed by ``(epoch, batch_index)``."""

    def __init__(self, encoded: EncodedPairs, sampler: BucketBatchSampler, pad_to_multiple: int = 1) -> None:
        self.encoded = encoded
        self.sampler = sampler
        self.pad_to_multiple = pad_to_multiple
        self._epoch: int | None = None
        self._batches: list[list[int]] = []

    def __len__(self) -> int:
        return len(self.sampler)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor]:
        epoch, index = key
        if epoch != self._epoch:
            self._batches = self.sampler.batches(epoch)
            self._epoch = epoch
        ids = self._batches[index]
        batch = collate(
            [self.encoded.sources[i] for i in ids], [self.encoded.targets[i] for i in ids], self.pad_to_multiple
        )
        return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in batch.items()}


class EpochBatchSampler(DistributedSampler):  # type: ignore[type-arg]
    """Yields ``(epoch, batch_index)`` keys for :class:`BatchDataset`, resumable mid-epoch.

    It subclasses ``DistributedSampler`` only so that Lightning keeps it under DDP instead of
    injecting its own: the sharding across ranks is already done by :class:`BucketBatchSampler`.
    Lightning calls :meth:`set_epoch` at the start of every epoch.
    """

    def __init__(self, sampler: BucketBatchSampler) -> None:  # no super().__init__: no process group needed
        self.inner = sampler
        self.num_replicas = sampler.num_replicas
        self.rank = sampler.rank
        self.shuffle = sampler.shuffle
        self.seed = sampler.seed
        self.drop_last = False

    @property
    def epoch(self) -> int:  # type: ignore[override]
        return self.inner.epoch

    @epoch.setter
    def epoch(self, value: int) -> None:
        self.inner.set_epoch(value)

    def set_epoch(self, epoch: int) -> None:
        self.inner.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[int, int]]:  # type: ignore[override]
        n = len(self.inner)
        epoch = self.inner.epoch
        for i in range(self.inner.start_index(), n):
            self.inner.batches_done = i + 1
            yield (epoch, i)
        self.inner.batches_done = 0

    def __len__(self) -> int:
        return len(self.inner)

    def state_dict(self) -> dict[str, Any]:
        return self.inner.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.inner.load_state_dict(state)


class Seq2SeqDataModule(pl.LightningDataModule):
    """Parallel text for ``Trainer.fit``: built-in corpora or a TSV file, bucketed and sharded.

    Vocabularies are built from the train split in :meth:`setup` (or taken from ``src_vocab`` /
    ``tgt_vocab``) and exposed as ``src_vocab`` / ``tgt_vocab``; the corpus's tokenizers as
    ``src_tokenizer`` / ``tgt_tokenizer`` (a ``bpe`` / ``unigram`` tokenizer of a TSV corpus is
    trained on its train split: ``corpus_options={"tokenizer": "bpe", "vocab_size": 1000}``). Under DDP each rank draws
    disjoint batches that together cover the epoch.

    Batches are dicts of int64 tensors: ``source`` (B, S), ``source_lengths`` (B,),
    ``target_in`` (B, T), ``target_out`` (B, T).

    Args:
        corpus: ``toy``, ``cmudict``, ``cmudict-phrases``, ``reverse``, ``copy``, ``sort``, ``addition`` or a TSV path.
        batch_size: examples per batch and rank.
        max_length: longest sequence kept (``None``: no limit).
        length_policy: ``filter``, ``truncate`` or ``error`` for longer pairs.
        bucket: length-bucketed training batches (less padding).
        pad_to_multiple: round padded lengths up to a multiple of this (1: to the longest row; ``KerasData``
            uses 8 so compiled steps see few shapes; give 8 here too for batches of identical shapes).
        seed: batch order is a function of ``(seed, epoch)``.
        num_workers, pin_memory: ``DataLoader`` options.
        min_freq, max_vocab: vocabulary options.
        src_vocab, tgt_vocab: reuse a trained model's vocabularies (token lists).
        corpus_options: extra options for the corpus loader (e.g. ``{"stress": True}``; for a TSV
            file ``tokenizer``, ``vocab_size``, ``src_tokenizer``, ``tgt_tokenizer``, ``on_error``:
            see :func:`datamodules.tsv.read_tsv_corpus`).

    Example:
        >>> dm = Seq2SeqDataModule("toy", batch_size=2)
        >>> dm.setup("fit")
        >>> len(dm.tgt_vocab) > 4
        True
    """

    def __init__(
        self,
        corpus: str = "toy",
        batch_size: int = 64,
        max_length: int | None = None,
        length_policy: str = "filter",
        bucket: bool = True,
        pad_to_multiple: int = 1,
        seed: int = 0,
        num_workers: int = 0,
        pin_memory: bool = False,
        min_freq: int = 1,
        max_vocab: int | None = None,
        src_vocab: list[str] | None = None,
        tgt_vocab: list[str] | None = None,
        corpus_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        check_int_arg("num_workers", num_workers, 0)
        check_bool_arg("pin_memory", pin_memory)
        # Kept in checkpoints, not sent to the loggers: Lightning refuses a fit whose module and data module log
        # the same name with different values, and both have a ``seed`` (the coins' and the shuffling's).
        self.save_hyperparameters(ignore=["src_vocab", "tgt_vocab"], logger=False)
        self.data = PreparedData(
            corpus,
            batch_size=batch_size,
            max_length=max_length,
            length_policy=length_policy,
            bucket=bucket,
            pad_to_multiple=pad_to_multiple,
            seed=seed,
            min_freq=min_freq,
            max_vocab=max_vocab,
            src_vocab=src_vocab,
            tgt_vocab=tgt_vocab,
            corpus_options=corpus_options,
        )
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self._train_sampler: EpochBatchSampler | None = None

    @classmethod
    def from_corpus(cls, corpus: Corpus, **kwargs: Any) -> Seq2SeqDataModule:
        """A data module over an already loaded :class:`Corpus`."""
        dm = cls(corpus="toy", **kwargs)  # a valid name for the argument checks; replaced before any loading
        dm.data.corpus_spec = corpus
        dm.hparams["corpus"] = corpus.name
        return dm

    def prepare_data(self) -> None:
        """Nothing to download: every corpus ships in a package or is generated."""

    def setup(self, stage: str | None = None) -> None:
        self.data.setup()

    @property
    def src_vocab(self) -> Vocab:
        self.data.setup()
        assert self.data.src_vocab is not None
        return self.data.src_vocab

    @property
    def tgt_vocab(self) -> Vocab:
        self.data.setup()
        assert self.data.tgt_vocab is not None
        return self.data.tgt_vocab

    @property
    def src_tokenizer(self) -> Tokenizer:
        """How the source text became tokens (the corpus's; the model keeps it: ``LitSeq2Seq(src_tokenizer=...)``)."""
        self.data.setup()
        assert self.data.src_tokenizer is not None
        return self.data.src_tokenizer

    @property
    def tgt_tokenizer(self) -> Tokenizer:
        """How the target text became tokens (the corpus's; the model keeps it)."""
        self.data.setup()
        assert self.data.tgt_tokenizer is not None
        return self.data.tgt_tokenizer

    @property
    def corpus(self) -> Corpus:
        self.data.setup()
        assert self.data.corpus is not None
        return self.data.corpus

    def _world(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 1, 0
        return int(trainer.world_size), int(trainer.global_rank)

    def _loader(self, split: str) -> DataLoader[dict[str, torch.Tensor]]:
        world, rank = self._world()
        inner = self.data.sampler(split, num_replicas=world, rank=rank)
        sampler = EpochBatchSampler(inner)
        if split == "train":
            if self._train_sampler is not None:
                inner.load_state_dict(self._train_sampler.state_dict())
            self._train_sampler = sampler
        return DataLoader(
            BatchDataset(self.data.encoded[split], inner, self.data.pad_to_multiple),
            batch_size=None,
            sampler=sampler,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader[dict[str, torch.Tensor]]:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader[dict[str, torch.Tensor]]:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader[dict[str, torch.Tensor]]:
        return self._loader("test")

    def predict_dataloader(self) -> DataLoader[dict[str, torch.Tensor]]:
        return self._loader("test")

    def references(self, split: str = "test") -> tuple[list[list[str]], list[list[list[str]]]]:
        """Unique sources of ``split`` with all their references (multi-reference scoring)."""
        return self.corpus.references(split)

    def state_dict(self) -> dict[str, Any]:
        """Position in the training epoch, so a mid-epoch resume continues the same batch order.

        The position is the number of batches the training loop has *trained on* this epoch, read
        from the trainer's progress counters. The sampler's own count of batches handed out can be
        ahead: ``DataLoader`` workers fetch ``prefetch_factor * num_workers`` batches in advance
        (and Lightning prefetches one batch for loaders without a length), so resuming from it would
        skip the batches that were fetched but never trained on. Without a trainer (plain
        iteration, ``num_workers=0``) the sampler's count is exact and is used.
        """
        if self._train_sampler is None:
            return {}
        state = self._train_sampler.state_dict()
        trained = self._batches_trained()
        if trained is not None:
            state["batches_done"] = trained
            total = getattr(self.trainer, "num_training_batches", None)
            if isinstance(total, int) and trained >= total:
                # A finished epoch is saved as the start of the next one. With workers, Lightning
                # creates the resumed run's first iterator before it calls ``set_epoch``, so a
                # position "end of epoch e" would make that iterator's epoch empty.
                state["epoch"], state["batches_done"] = state["epoch"] + 1, 0
        return {"train_sampler": state}

    def _batches_trained(self) -> int | None:
        """Training batches processed in the current epoch, per the fitting trainer (else ``None``)."""
        trainer = getattr(self, "trainer", None)
        try:
            progress = trainer.fit_loop.epoch_loop.batch_progress.current  # type: ignore[union-attr]
        except AttributeError:
            return None
        if not isinstance(progress.processed, int):
            return None
        return int(progress.processed)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if "train_sampler" in state_dict:
            sampler = EpochBatchSampler(self.data.sampler("train", *self._world()))
            sampler.load_state_dict(state_dict["train_sampler"])
            self._train_sampler = sampler


__all__ = ["BatchDataset", "EpochBatchSampler", "Seq2SeqDataModule"]
