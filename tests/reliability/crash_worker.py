"""Run by ``test_rel_lit_crash.py``: trains with periodic checkpoints; the test kills it and restarts it.

Usage, from the repository root::

    python -m tests.reliability.crash_worker OUT_DIR MAX_STEPS INTERVAL [--resume] [--step-sleep S] [--die-in-save N]

Writes ``OUT_DIR/progress`` (the last finished global step) after every step,
``OUT_DIR/resumed_from`` (the global step training restarted at) and, when the run completes,
``OUT_DIR/done`` (the final global step). ``--die-in-save N`` sends itself ``SIGKILL`` in the
middle of writing its ``N``-th checkpoint file, after part of it is on disk.
"""

from __future__ import annotations

import argparse
import os
import signal
import time
import warnings
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from tests.helpers.lightning import quiet_trainer, small_data, small_model


class KillsWhenPickled:
    def __reduce__(self) -> Any:
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(60)  # never reached


class Progress(pl.Callback):
    def __init__(self, out: Path, step_sleep: float, die_in_save: int) -> None:
        self.out = out
        self.step_sleep = step_sleep
        self.die_in_save = die_in_save
        self.saves = 0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        (self.out / "resumed_from").write_text(str(trainer.global_step))

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        (self.out / "progress").write_text(str(trainer.global_step))
        time.sleep(self.step_sleep)

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        self.saves += 1
        if self.saves == self.die_in_save:
            checkpoint["zz_kill"] = KillsWhenPickled()  # serialised after the weights


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("max_steps", type=int)
    parser.add_argument("interval", type=int)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--step-sleep", type=float, default=0.0)
    parser.add_argument("--die-in-save", type=int, default=0)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    dm = small_data(n_train=40)  # 10 steps per epoch
    saver = ModelCheckpoint(dirpath=args.out / "ckpts", every_n_train_steps=args.interval, save_last=True)
    trainer = quiet_trainer(
        validate=False,
        max_steps=args.max_steps,
        callbacks=[Progress(args.out, args.step_sleep, args.die_in_save), saver],
        enable_checkpointing=True,
    )
    trainer.fit(small_model(dm), dm, ckpt_path="last" if args.resume else None)
    (args.out / "done").write_text(str(trainer.global_step))


if __name__ == "__main__":
    main()
