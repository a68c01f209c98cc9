"""Padding, bucketing, determinism, sharding across ranks and mid-epoch resume."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamodules import BOS_ID, EOS_ID, PAD_ID, BucketBatchSampler, PreparedData, collate, pad_ratio
from datamodules.batching import make_batches


def test_collate_pads_right_and_builds_decoder_sequences():
    b = collate([np.array([5, 6, 7]), np.array([8])], [np.array([9, 10]), np.array([11, 12, 13])])
    np.testing.assert_array_equal(b["source"], [[5, 6, 7], [8, PAD_ID, PAD_ID]])
    np.testing.assert_array_equal(b["source_lengths"], [3, 1])
    np.testing.assert_array_equal(b["target_in"], [[BOS_ID, 9, 10, PAD_ID], [BOS_ID, 11, 12, 13]])
    np.testing.assert_array_equal(b["target_out"], [[9, 10, EOS_ID, PAD_ID], [11, 12, 13, EOS_ID]])
    assert all(v.dtype == np.int64 for v in b.values())


def test_collate_pad_to_multiple():
    b = collate([np.array([5, 6, 7])], [np.array([9])], pad_to_multiple=8)
    assert b["source"].shape == (1, 8) and b["target_in"].shape == (1, 8)
    with pytest.raises(ValueError, match="empty batch"):
        collate([], [])


@pytest.fixture(scope="module")
def cmudict_data():
    data = PreparedData("cmudict", batch_size=64)
    data.setup()
    return data


def test_bucketing_cuts_padding_on_cmudict(cmudict_data):
    enc = cmudict_data.encoded["train"]
    bucketed = BucketBatchSampler(enc.source_lengths, enc.target_lengths, 64, bucket=True)
    random = BucketBatchSampler(enc.source_lengths, enc.target_lengths, 64, bucket=False)
    with_buckets = pad_ratio(make_batches(enc, bucketed))
    without = pad_ratio(make_batches(enc, random))
    assert with_buckets < 0.5 * without
    assert with_buckets < 0.15


def test_order_is_a_function_of_seed_and_epoch():
    lengths = np.arange(1, 101) % 17 + 1
    s = BucketBatchSampler(lengths, lengths, 8, seed=1)
    again = BucketBatchSampler(lengths, lengths, 8, seed=1)
    assert s.batches(0) == again.batches(0)
    assert s.batches(0) != s.batches(1)
    assert s.batches(0) != BucketBatchSampler(lengths, lengths, 8, seed=2).batches(0)
    s.set_epoch(3)
    assert list(s) == again.batches(3)


def test_eval_order_is_file_order():
    s = BucketBatchSampler([3, 1, 2, 5, 4], [1] * 5, 2, shuffle=False, bucket=False)
    assert list(s) == [[0, 1], [2, 3], [4]]


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=4, max_value=200),
    batch_size=st.integers(min_value=1, max_value=33),
    ranks=st.integers(min_value=1, max_value=4),
    epoch=st.integers(min_value=0, max_value=5),
    bucket=st.booleans(),
)
def test_ranks_get_disjoint_equal_shards_covering_the_epoch(n, batch_size, ranks, epoch, bucket):
    rng = np.random.default_rng(n)
    src, tgt = rng.integers(1, 30, n), rng.integers(1, 30, n)
    samplers = [
        BucketBatchSampler(src, tgt, batch_size, num_replicas=ranks, rank=r, bucket=bucket, seed=epoch)
        for r in range(ranks)
    ]
    shards = [s.batches(epoch) for s in samplers]
    assert len({len(sh) for sh in shards}) == 1  # same number of steps on every rank
    seen = [i for sh in shards for batch in sh for i in batch]
    assert sorted(seen) == list(range(n))  # nothing lost, nothing duplicated
    n_batches = -(-n // batch_size)
    can_split = n >= -(-n_batches // ranks) * ranks
    limit = batch_size if can_split else 2 * batch_size  # tiny data: the smallest batches merge
    assert all(0 < len(batch) <= limit for sh in shards for batch in sh)


def test_resume_mid_epoch_continues_the_same_batches():
    lengths = np.arange(50) % 9 + 1
    s = BucketBatchSampler(lengths, lengths, 4, seed=7)
    s.set_epoch(2)
    it = iter(s)
    first = [next(it) for _ in range(5)]
    state = s.state_dict()
    resumed = BucketBatchSampler(lengths, lengths, 4, seed=7)
    resumed.load_state_dict(state)
    assert first + list(resumed) == s.batches(2)


def test_bad_sampler_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        BucketBatchSampler([1], [1], 0)
    with pytest.raises(ValueError, match="rank"):
        BucketBatchSampler([1, 2], [1, 2], 1, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="cannot be shared by 3 ranks"):
        BucketBatchSampler([1, 2], [1, 2], 1, num_replicas=3, rank=0)
