"""Per-step CPU time of one training step: teacher forcing vs sequential vs parallel scheduled sampling.

Same model, same batch, same optimiser for every row; the median over ``--steps`` steps after
``--warmup`` steps. Run: ``python -m benchmarks.lit_step_times [--threads 1] [--hidden 64]`` (on a shared machine,
more threads than free cores makes OpenMP spin and the numbers meaningless).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from datamodules import Seq2SeqDataModule
from lit_seq2seq.system import LitSeq2Seq
from seq2seq_fit import TeacherForcing

ROWS = [
    ("teacher forcing (ratio 1)", {"mode": "sequential", "start": 1.0}),
    ("sequential SS (ratio 0.5)", {"mode": "sequential", "start": 0.5}),
    ("parallel SS K=1 (ratio 0.5)", {"mode": "parallel", "passes": 1, "start": 0.5}),
    ("parallel SS K=2 (ratio 0.5)", {"mode": "parallel", "passes": 2, "start": 0.5}),
]


def step_times(
    model: LitSeq2Seq, batch: dict[str, torch.Tensor], tf: TeacherForcing, warmup: int, steps: int
) -> list[float]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        ratio = float(tf.ratio(i))
        loss, _ = model.model.loss(
            batch["source"], batch["source_lengths"], batch["target_in"], batch["target_out"], tf, ratio, generator
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", default="reverse")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--attention", default="luong", choices=["luong", "none"])
    parser.add_argument("--cell", default="gru", choices=["gru", "lstm"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dm = Seq2SeqDataModule(args.corpus, batch_size=args.batch_size, bucket=False)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    b, t = batch["target_in"].shape
    config = {
        "cell": args.cell,
        "hidden_size": args.hidden,
        "embedding_dim": args.hidden // 2,
        "attention": args.attention,
    }
    print(
        f"torch {torch.__version__}, {args.threads} CPU threads, {args.cell}/{args.attention} hidden {args.hidden}, "
        f"batch {b} x target length {t} ({args.corpus}); median of {args.steps} steps after {args.warmup}"
    )
    print(f"{'training step':30s} {'median ms':>10s} {'vs TF':>7s}")
    base = None
    for name, tf_kwargs in ROWS:
        torch.manual_seed(0)
        model = LitSeq2Seq(dm.src_vocab, dm.tgt_vocab, config)
        tf = TeacherForcing(schedule="constant", **tf_kwargs)  # type: ignore[arg-type]
        median = statistics.median(step_times(model, batch, tf, args.warmup, args.steps)) * 1000
        base = base or median
        print(f"{name:30s} {median:10.1f} {median / base:6.2f}x")


if __name__ == "__main__":
    main()
