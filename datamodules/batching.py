"""Framework-free batching: encoding, right padding, length bucketing, sharding across ranks.

Both the Lightning DataModule and the Keras pipeline draw their batches from here, so the two
frameworks see the same batches in the same order for the same ``(seed, epoch)``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from datamodules.corpus import Pair
from seq2seq_fit.batch import Batch, collate
from seq2seq_fit.vocab import PAD_ID, Vocab

logger = logging.getLogger("datamodules")


@dataclass
class EncodedPairs:
    """Id sequences of a split, without ``<bos>``/``<eos>`` (added by :func:`collate`)."""

    sources: list[np.ndarray]
    targets: list[np.ndarray]
    unknown_target_tokens: int = 0

    def __len__(self) -> int:
        return len(self.sources)

    @property
    def source_lengths(self) -> np.ndarray:
        return np.array([len(s) for s in self.sources], dtype=np.int64)

    @property
    def target_lengths(self) -> np.ndarray:
        """Lengths of the decoder sequences (target + ``<eos>``)."""
        return np.array([len(t) + 1 for t in self.targets], dtype=np.int64)


def encode_pairs(pairs: Sequence[Pair], src_vocab: Vocab, tgt_vocab: Vocab, where: str = "data") -> EncodedPairs:
    """Encode ``pairs``; unseen source tokens become ``<unk>``, unseen target tokens are counted."""
    sources = [np.asarray(src_vocab.encode(s), dtype=np.int64) for s, _ in pairs]
    targets = [np.asarray(tgt_vocab.encode(t), dtype=np.int64) for _, t in pairs]
    unknown = sum(tgt_vocab.count_unknown(t) for _, t in pairs)
    if unknown:
        logger.warning("%s: %d target token(s) not in the target vocabulary (encoded as <unk>)", where, unknown)
    return EncodedPairs(sources, targets, unknown)


def pad_ratio(batches: Sequence[Mapping[str, Any]]) -> float:
    """Fraction of padding among all source and target-output positions of ``batches``.

    Example:
        >>> import numpy as np
        >>> pad_ratio([collate([np.array([5, 6, 7]), np.array([8])], [np.array([9]), np.array([9])])])
        0.2
    """
    total = pad = 0
    for batch in batches:
        for key in ("source", "target_out"):
            total += batch[key].size
            pad += int((batch[key] == PAD_ID).sum())
    return pad / total if total else 0.0


class BucketBatchSampler:
    """Deterministic, resumable, rank-aware batches of example indices.

    Each epoch: shuffle the indices with ``(seed, epoch)``; with ``bucket=True`` cut them into
    chunks of ``batch_size * chunk_batches`` and sort each chunk by length so a batch holds
    similar lengths (less padding); cut into batches; shuffle the batch order. With several ranks,
    batch ``i`` goes to rank ``i % num_replicas``; when the batch count does not divide evenly, the
    largest batches are split (or, for tiny data, the smallest merged) so every rank gets the same
    number of steps and every example is seen exactly once per epoch.

    Args:
        source_lengths, target_lengths: per-example lengths.
        batch_size: examples per batch (before any split for even sharding).
        shuffle: shuffle examples and batches (training); ``False`` keeps file order.
        bucket: sort by length within chunks.
        seed: base seed; the order is a pure function of ``(seed, epoch)``.
        chunk_batches: batches per sorting chunk.
        num_replicas, rank: distributed sharding.
        drop_last: drop a final batch smaller than ``batch_size`` (before sharding).

    Example:
        >>> s = BucketBatchSampler([3, 1, 2, 5], [1, 1, 1, 1], batch_size=2, shuffle=False)
        >>> list(s)
        [[1, 2], [0, 3]]
    """

    def __init__(
        self,
        source_lengths: Sequence[int] | np.ndarray,
        target_lengths: Sequence[int] | np.ndarray,
        batch_size: int,
        *,
        shuffle: bool = True,
        bucket: bool = True,
        seed: int = 0,
        chunk_batches: int = 50,
        num_replicas: int = 1,
        rank: int = 0,
        drop_last: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size: got {batch_size!r}, expected an integer >= 1")
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"rank/num_replicas: got rank={rank}, num_replicas={num_replicas}")
        if chunk_batches < 1:
            raise ValueError(f"chunk_batches: got {chunk_batches!r}, expected an integer >= 1")
        self.source_lengths = np.asarray(source_lengths, dtype=np.int64)
        self.target_lengths = np.asarray(target_lengths, dtype=np.int64)
        if self.source_lengths.shape != self.target_lengths.shape:
            raise ValueError("source_lengths and target_lengths must have the same length")
        n = len(self.source_lengths)
        if n < num_replicas:
            raise ValueError(f"{n} example(s) cannot be shared by {num_replicas} ranks")
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.bucket = bucket
        self.seed = seed
        self.chunk_batches = chunk_batches
        self.num_replicas = num_replicas
        self.rank = rank
        self.drop_last = drop_last
        self.epoch = 0
        self.batches_done = 0  # batches of the current epoch already handed out (for resume)
        self._resume_at = 0  # set by load_state_dict: where the next iteration starts

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order to produce (restarts it from its first batch)."""
        if epoch != self.epoch:
            self.batches_done = 0
            self._resume_at = 0
        self.epoch = epoch

    def start_index(self) -> int:
        """Where a new pass over the epoch starts: 0, or the resume point loaded once."""
        start, self._resume_at = self._resume_at, 0
        self.batches_done = start
        return start

    def all_batches(self, epoch: int | None = None) -> list[list[int]]:
        """Every rank's batches for ``epoch`` in order (batch ``i`` belongs to rank ``i % N``)."""
        epoch = self.epoch if epoch is None else epoch
        n = len(self.source_lengths)
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        if self.bucket:
            chunk = self.batch_size * self.chunk_batches
            pieces = []
            for start in range(0, n, chunk):
                idx = order[start : start + chunk]
                key = np.lexsort((self.source_lengths[idx], self.target_lengths[idx]))
                pieces.append(idx[key])
            order = np.concatenate(pieces) if pieces else order
        batches = [order[i : i + self.batch_size].tolist() for i in range(0, n, self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size and len(batches) > 1:
            batches.pop()
        batches = self._even_out(batches)
        if self.shuffle:
            perm = rng.permutation(len(batches))
            batches = [batches[i] for i in perm]
        return batches

    def _even_out(self, batches: list[list[int]]) -> list[list[int]]:
        """Make the batch count a multiple of ``num_replicas`` without losing or repeating examples.

        Splits the largest batches in two; when there are too few examples for that (tiny data,
        tiny batches), merges the smallest batches instead.
        """
        r = self.num_replicas
        if len(batches) % r == 0:
            return batches
        n = sum(len(b) for b in batches)
        up = -(-len(batches) // r) * r
        if n >= up:
            while len(batches) < up:
                largest = max(range(len(batches)), key=lambda i: len(batches[i]))
                big = batches[largest]
                half = len(big) // 2
                batches[largest : largest + 1] = [big[:half], big[half:]]
        else:
            while len(batches) % r:
                batches.sort(key=len)
                batches[:2] = [batches[0] + batches[1]]
        return batches

    def batches(self, epoch: int | None = None) -> list[list[int]]:
        """This rank's batches for ``epoch``."""
        return self.all_batches(epoch)[self.rank :: self.num_replicas]

    def __iter__(self) -> Iterator[list[int]]:
        mine = self.batches()
        for i in range(self.start_index(), len(mine)):
            self.batches_done = i + 1
            yield mine[i]
        self.batches_done = 0

    def __len__(self) -> int:
        return len(self.batches())

    def state_dict(self) -> dict[str, Any]:
        """Plain-int state: the epoch and how many of its batches were consumed."""
        return {"epoch": int(self.epoch), "batches_done": int(self.batches_done), "seed": int(self.seed)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume mid-epoch from :meth:`state_dict`."""
        self.epoch = int(state["epoch"])
        self.batches_done = self._resume_at = int(state["batches_done"])
        self.seed = int(state.get("seed", self.seed))


def make_batches(encoded: EncodedPairs, sampler: BucketBatchSampler, pad_to_multiple: int = 1) -> list[Batch]:
    """Collate every batch of ``sampler``'s current epoch for this rank (for inspection)."""
    return [
        collate([encoded.sources[i] for i in b], [encoded.targets[i] for i in b], pad_to_multiple)
        for b in sampler.batches()
    ]
