"""Per-step CPU time of Keras training: teacher forcing vs sequential vs parallel scheduled sampling.

Runs every backend in its own subprocess (a Keras backend is fixed at import), with and without
``jit_compile``, on the same data and model, and prints a table of median step times (ms) after
warm-up. Not collected by pytest.

Usage:
    python benchmarks/keras_step_times.py [--backends tensorflow jax torch] [--steps 30] [--hidden 128]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

WORKER = r"""
import json, sys, time
import numpy as np
import keras
from datamodules.keras import KerasData
from keras_seq2seq import Seq2SeqModel
from seq2seq_fit import Seq2SeqConfig, TeacherForcing

steps, hidden, jit, batch = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1", int(sys.argv[4])
if keras.backend.backend() == "torch":
    import torch
    torch.set_num_threads(int(sys.argv[5]))
data = KerasData("reverse", batch_size=batch, bucket=False,
                 corpus_options={"n_train": batch * 8, "min_len": 12, "max_len": 16, "num_symbols": 20})
x, y = data.train()[0]
modes = {
    "teacher_forcing": TeacherForcing(),
    "sequential_ss": TeacherForcing(start=0.75),
    "parallel_ss": TeacherForcing(start=0.75, mode="parallel", passes=1),
}
results = {}
for name, tf in modes.items():
    model = Seq2SeqModel(Seq2SeqConfig(hidden_size=hidden, embedding_dim=hidden // 2, attention="luong"), tf,
                         data.src_vocab, data.tgt_vocab, seed=0)
    model.compile(optimizer="adam", jit_compile=jit if keras.backend.backend() != "torch" else False)
    times = []
    for i in range(steps + 3):
        t = time.perf_counter()
        logs = model.train_on_batch(x, y, return_dict=True)
        float(logs["loss"])  # wait for the result
        times.append(time.perf_counter() - t)
    results[name] = 1000 * float(np.median(times[3:]))
print(json.dumps({"shape": [list(x["source"].shape), list(x["target_in"].shape)], "ms": results}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax", "torch"])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--torch_threads", type=int, default=1)
    args = parser.parse_args()
    rows = []
    for backend in args.backends:
        for jit in (False, True):
            label = "yes" if jit else ("no (eager op-by-op)" if backend == "jax" else "no")
            if backend == "torch" and jit:
                continue  # jit_compile=True on torch means torch.compile, not measured here
            env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
            steps = max(3, args.steps // 10) if (backend == "jax" and not jit) else args.steps
            cmd = [sys.executable, "-c", WORKER, str(steps), str(args.hidden), str(int(jit)), str(args.batch),
                   str(args.torch_threads)]  # fmt: skip
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                print(out.stderr[-3000:], file=sys.stderr)
                continue
            seen = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append((backend, label, seen["ms"], seen["shape"]))
            print(f"# {backend} jit={label} done: {seen}", file=sys.stderr)
    print(f"median ms per training step, batch {args.batch}, hidden {args.hidden}, luong attention, CPU")
    print(f"{'backend':<11} {'jit_compile':<20} {'teacher forcing':>16} {'sequential SS':>14} {'parallel SS':>12}")
    for backend, label, ms, _ in rows:
        print(
            f"{backend:<11} {label:<20} {ms['teacher_forcing']:>16.1f} {ms['sequential_ss']:>14.1f} "
            f"{ms['parallel_ss']:>12.1f}"
        )


if __name__ == "__main__":
    main()
