"""``TrainingThroughput``: logs the training throughput in target tokens per second (``train/tokens_per_s``)."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.trainer.states import TrainerFn

from datamodules.vocab import PAD_ID
from seq2seq_fit.config import check_int


class TrainingThroughput(pl.Callback):
    """Logs ``train/tokens_per_s``: non-pad target tokens trained per second of wall-clock time.

    The value logged after a training step is the rate over the last ``window`` steps (fewer at the
    start of an epoch): tokens of those batches (``batch["target_out"] != <pad>``) over the time
    from the end of the step before them to the end of this one, so data loading, the optimiser
    step and logging count, while validation and the work between epochs do not (the clock
    restarts at each training epoch and after each validation run). It is measured on this
    device: under DDP each rank counts its own batches and rank 0's value is logged. Reading the
    token count waits for the step to finish on the accelerator, so the time covers the work.

    :class:`~lit_seq2seq.LitSeq2Seq` adds this callback itself (``configure_callbacks``) unless
    the trainer already has one, so ``Trainer.fit``, ``lit-seq2seq fit`` and the demo log it; it
    works for any module whose batches hold ``target_out``. ``keras_seq2seq.callbacks.TrainingThroughput``
    logs the same quantity per epoch for ``model.fit``.

    Args:
        window: steps averaged over; ``None``: the trainer's ``log_every_n_steps``, so each logged
            value covers the steps since the previous one.
        prog_bar: also show the value in the progress bar.

    Example:
        >>> trainer = pl.Trainer(callbacks=[TrainingThroughput(window=20)], logger=CSVLogger("runs"))  # doctest: +SKIP
    """

    def __init__(self, window: int | None = None, prog_bar: bool = False) -> None:
        super().__init__()
        if window is not None:
            check_int("TrainingThroughput", "window", window, 1)
        self.window = window
        self.prog_bar = prog_bar
        self.tokens = 0
        self._marks: deque[tuple[float, int]] = deque()  # (time, tokens so far) after recent steps

    def restart_clock(self, trainer: pl.Trainer) -> None:
        """Measure from now on (after validation, at an epoch start): pauses do not count."""
        window = self.window if self.window is not None else max(1, int(getattr(trainer, "log_every_n_steps", 50)))
        self._marks = deque([(time.perf_counter(), self.tokens)], maxlen=window + 1)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.restart_clock(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.state.fn == TrainerFn.FITTING:
            self.restart_clock(trainer)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if not isinstance(batch, dict) or "target_out" not in batch:
            raise ValueError(
                "TrainingThroughput: expected dict batches with a 'target_out' tensor (the layout of "
                f"datamodules.Seq2SeqDataModule), got {type(batch).__name__}"
            )
        target_out = batch["target_out"]  # (B, T)
        self.tokens += int((target_out != PAD_ID).sum())  # waits for the device: the step is done
        if not self._marks:  # no epoch start seen: start measuring from here
            self.restart_clock(trainer)
            return
        self._marks.append((time.perf_counter(), self.tokens))
        (t0, n0), (t1, n1) = self._marks[0], self._marks[-1]
        rate = (n1 - n0) / max(t1 - t0, 1e-9)
        pl_module.log(
            "train/tokens_per_s", rate, on_step=True, on_epoch=False, prog_bar=self.prog_bar, batch_size=len(target_out)
        )


__all__ = ["TrainingThroughput"]
