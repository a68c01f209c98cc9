"""Fuzz: random corpora through ``Seq2SeqDataModule``'s real loaders, two simulated
ranks, stopped and resumed mid-epoch: every sequence decodes back to its tokens and is trained on
exactly once per epoch, with the same batches as an uninterrupted epoch."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from datamodules import Corpus, Seq2SeqDataModule

ALPHABET = [chr(c) for c in range(ord("a"), ord("a") + 12)]


class FakeTrainer:
    """What the data module reads from a trainer to shard: world size and rank."""

    def __init__(self, world_size: int, rank: int) -> None:
        self.world_size = world_size
        self.global_rank = rank


def data_module(corpus: Corpus, rank: int, **options: Any) -> Seq2SeqDataModule:
    dm = Seq2SeqDataModule.from_corpus(corpus, **options)
    dm.trainer = FakeTrainer(2, rank)  # type: ignore[assignment]
    dm.setup("fit")
    return dm


def decoded(dm: Seq2SeqDataModule, batch: dict) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """(source tokens, target tokens) of every row of a batch, read back through the vocabularies."""
    rows = []
    for src, n, out in zip(
        batch["source"].tolist(), batch["source_lengths"].tolist(), batch["target_out"].tolist(), strict=True
    ):
        assert all(t == 0 for t in src[n:]), "right padding only"
        rows.append((tuple(dm.src_vocab.decode(src[:n])), tuple(dm.tgt_vocab.decode(out))))
    return rows


pairs = st.lists(
    st.tuples(
        st.lists(st.sampled_from(ALPHABET), min_size=0, max_size=7),
        st.lists(st.sampled_from(ALPHABET), min_size=0, max_size=7),
    ),
    min_size=2,
    max_size=40,
)


@settings(max_examples=40, deadline=None)
@given(
    pairs=pairs,
    batch_size=st.integers(1, 9),
    epoch=st.integers(0, 3),
    seed=st.integers(0, 2**16),
    bucket=st.booleans(),
    stop=st.integers(0, 100),
)
def test_two_ranks_resumed_mid_epoch_see_every_sequence_exactly_once(
    pairs: list[tuple[list[str], list[str]]], batch_size: int, epoch: int, seed: int, bucket: bool, stop: int
) -> None:
    # a unique first token per pair identifies it; the rest is random (possibly empty: length 1)
    examples = [([f"#{i}", *src], [f"#{i}", *tgt]) for i, (src, tgt) in enumerate(pairs)]
    corpus = Corpus("fuzz", examples, [], [])
    options = {"batch_size": batch_size, "seed": seed, "bucket": bucket}
    seen: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
    steps = []
    for rank in (0, 1):
        straight = data_module(corpus, rank, **options).train_dataloader()
        straight.sampler.set_epoch(epoch)
        expected = [b["source"].tolist() for b in straight]

        dm = data_module(corpus, rank, **options)
        loader = dm.train_dataloader()
        loader.sampler.set_epoch(epoch)  # what Lightning does at the start of each epoch
        k = stop % (len(loader) + 1)  # 0 .. all batches of this rank
        iterator = iter(loader)
        first = [next(iterator) for _ in range(k)]
        state = dm.state_dict()

        resumed_dm = data_module(corpus, rank, **options)
        resumed_dm.load_state_dict(state)
        resumed = resumed_dm.train_dataloader()
        resumed.sampler.set_epoch(epoch)
        rest = list(resumed)

        batches = first + rest
        assert [b["source"].tolist() for b in batches] == expected, "the resumed epoch continues the same order"
        steps.append(len(batches))
        for batch in batches:
            seen.extend(decoded(dm, batch))
    assert steps[0] == steps[1], "every rank takes the same number of steps"
    assert sorted(seen) == sorted((tuple(s), tuple(t)) for s, t in examples), "nothing lost or duplicated"
