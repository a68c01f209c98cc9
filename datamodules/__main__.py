"""``python -m datamodules [CORPUS]``: summary of a corpus and its batching (pad ratios, timing)."""

from __future__ import annotations

import argparse
import time

from datamodules.batching import BucketBatchSampler, make_batches, pad_ratio
from datamodules.prepared import PreparedData


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m datamodules", description=__doc__)
    parser.add_argument("corpus", nargs="?", default="cmudict", help="built-in name or TSV path")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    data = PreparedData(args.corpus, batch_size=args.batch_size)
    data.setup()
    elapsed = time.perf_counter() - start
    assert data.corpus is not None and data.src_vocab is not None and data.tgt_vocab is not None
    print(data.corpus.summary())
    print(f"  vocabularies: source {len(data.src_vocab)}, target {len(data.tgt_vocab)} tokens")
    print(f"  loaded and encoded in {elapsed:.2f} s")
    enc = data.encoded["train"]
    for bucket in (False, True):
        sampler = BucketBatchSampler(enc.source_lengths, enc.target_lengths, args.batch_size, bucket=bucket)
        ratio = pad_ratio(make_batches(enc, sampler))
        print(f"  train pad ratio, batch {args.batch_size}, bucketing {'on ' if bucket else 'off'}: {ratio:.3f}")


if __name__ == "__main__":
    main()
