"""Per-step training throughput (REFERENCE.md section 5): trainer overhead and decoder modes.

Lightning rows: ``Trainer.fit`` with ``LitSeq2Seq`` vs a hand-written PyTorch loop over the same
``nn.Module`` and batches (alternating rounds), and the teacher-forcing / scheduled-sampling modes
for GRU and LSTM with each attention. Writes ``results/throughput_<device>.json`` and ``.md``.

    python benchmarks/throughput.py --device cpu            # make bench
    python benchmarks/throughput.py --device cuda --precision fp32 bf16 fp16
    python benchmarks/throughput.py --quick                 # a smoke run of every code path
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import BenchData, gnmt_like_corpus, markdown_table, write_results
from seq2seq_fit import Seq2SeqConfig, TeacherForcing

MODES = {
    "teacher forcing": TeacherForcing(),
    "sequential SS": TeacherForcing(start=0.75, mode="sequential"),
    "parallel SS K=1": TeacherForcing(start=0.75, mode="parallel", passes=1),
    "parallel SS K=2": TeacherForcing(start=0.75, mode="parallel", passes=2),
}
G2P = Seq2SeqConfig(cell="gru", embedding_dim=64, hidden_size=256, bidirectional=True, attention="luong")
GNMT = Seq2SeqConfig(cell="lstm", embedding_dim=512, hidden_size=512, num_layers=2, attention="luong")

COLUMNS = [
    ("variant", "variant", ""),
    ("precision", "precision", ""),
    ("hand_step_ms", "hand loop ms/step", ".1f"),
    ("trainer_step_ms", "Trainer.fit ms/step", ".1f"),
    ("trainer_overhead", "trainer overhead", "+.1%"),
    ("cost_vs_tf", "x teacher forcing", ".2f"),
    ("target_tokens_per_s", "target tok/s", ",.0f"),
    ("pad_ratio", "pad ratio", ".3f"),
    ("model_tflops_per_s", "model TFLOP/s", ".4f"),
    ("peak_memory_mb", "peak MB", ",.0f"),
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (results written with a -quick tag)")
    args = parser.parse_args(argv)

    import torch

    from benchmarks.throughput_lightning import Variant, measure, versions

    if args.threads:
        torch.set_num_threads(args.threads)
    steps, warmup, rounds = (3, 1, 1) if args.quick else (args.steps, args.warmup, args.rounds)
    g2p_data = BenchData.build("cmudict", 128, warmup + steps + 2)
    rows: list[dict[str, Any]] = []

    # 1. Trainer overhead on the G2P model (teacher forcing, fused decoder), every precision asked.
    for precision in args.precision:
        variant = Variant(f"g2p overhead {precision}", G2P, MODES["teacher forcing"], precision=precision)
        rows.append(measure(variant, g2p_data, args.device, warmup, steps, rounds, trainer_too=True))
        print(rows[-1]["variant"], f"{rows[-1]['trainer_overhead']:+.1%}", flush=True)

    # 2. Decoder modes: cell x attention x teacher-forcing mode, hand loop only.
    for cell in ("gru", "lstm"):
        for attention in ("none", "luong", "bahdanau"):
            config = Seq2SeqConfig(**{**G2P.to_dict(), "cell": cell, "attention": attention})
            base = None
            for mode, tf in MODES.items():
                if attention == "bahdanau" and tf.mode == "parallel":
                    continue  # refused by design: the recurrence consumes the attention context
                variant = Variant(f"g2p {cell} {attention} {mode}", config, tf)
                row = measure(variant, g2p_data, args.device, warmup, max(3, steps // 2), 1, trainer_too=False)
                base = base or row["hand_step_ms"]
                row["cost_vs_tf"] = row["hand_step_ms"] / base
                rows.append(row)
                print(row["variant"], f"{row['hand_step_ms']:.1f} ms", flush=True)

    # 3. GNMT-like size (2+2 LSTM 512, vocab 8k, lengths 20-50).
    gnmt_batch = 128 if args.device == "cuda" else 16
    gnmt_data = BenchData.build(gnmt_like_corpus(n=gnmt_batch * 40), gnmt_batch, warmup + steps + 2)
    base = None
    for mode in ("teacher forcing", "parallel SS K=1"):
        variant = Variant(f"gnmt-like {mode}", GNMT, MODES[mode])
        row = measure(
            variant, gnmt_data, args.device, warmup, max(3, steps // 3), 1, trainer_too=mode == "teacher forcing"
        )
        base = base or row["hand_step_ms"]
        row["cost_vs_tf"] = row["hand_step_ms"] / base
        rows.append(row)
        print(row["variant"], f"{row['hand_step_ms']:.1f} ms", flush=True)

    tag = f"{args.device}{'-quick' if args.quick else ''}"
    meta = {"versions": versions(), "args": vars(args), "g2p_batch": 128, "gnmt_batch": gnmt_batch, "compile": False}
    title = f"# Training throughput, Lightning side, {args.device}\n\n{meta['versions']}\n\n"
    json_path, md_path = write_results(f"throughput_{tag}", rows, meta, title + markdown_table(rows, COLUMNS))
    print(f"wrote {json_path} and {md_path}")


if __name__ == "__main__":
    main()
