"""Callbacks: ``TrainingThroughput`` logs the training throughput in target tokens per second
(``train/tokens_per_s``); ``EarlyStopping`` is Lightning's with the signature of Keras' (``lit-seq2seq fit
--early_stopping.*``)."""

from __future__ import annotations

import time
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.trainer.states import TrainerFn

from seq2seq_fit.cli.recipes import monitored_metric
from seq2seq_fit.config import check_int
from seq2seq_fit.vocab import PAD_ID


def is_logging_step(trainer: pl.Trainer) -> bool:
    """Whether the loggers write the current training step (every ``log_every_n_steps``).

    Lightning's own test (``LearningRateMonitor`` uses it too); ``True`` when it is not there.
    Values logged on the other steps would only be overwritten before a logger sees them, and each
    ``self.log`` call costs the trainer about a millisecond of CPU time on a small model.
    """
    return bool(getattr(getattr(trainer, "_logger_connector", None), "should_update_logs", True))


class TrainingThroughput(pl.Callback):
    """Logs ``train/tokens_per_s``: non-pad target tokens trained per second of wall-clock time.

    The value logged is the rate since the previous logged value: tokens of those batches
    (``batch["target_out"] != <pad>``) over the time from the end of the step before them to the
    end of this one, so data loading, the optimiser step and logging count, while validation and
    the work between epochs do not (the clock restarts at each training epoch and after each
    validation run). It is logged on the steps the loggers write (every ``log_every_n_steps``), or
    every ``window`` steps when given. Tokens are summed on the device and read only when a value
    is logged, so the callback adds no per-step host synchronisation; reading them waits for the
    step to finish, so the time covers the work. It is measured on this device: under DDP each rank
    counts its own batches and rank 0's value is logged.

    :class:`~lit_seq2seq.LitSeq2Seq` adds this callback itself (``configure_callbacks``) unless
    the trainer already has one, so ``Trainer.fit``, ``lit-seq2seq fit`` and the demo log it; it
    works for any module whose batches hold ``target_out``. ``keras_seq2seq.callbacks.TrainingThroughput``
    logs the same quantity per epoch for ``model.fit``.

    Args:
        window: log every ``window`` training steps; ``None``: on the trainer's logging steps.
        prog_bar: also show the value in the progress bar.

    Example:
        >>> import tempfile
        >>> from lightning.pytorch.loggers import CSVLogger
        >>> from torch.utils.data import DataLoader
        >>> from lit_seq2seq import LitSeq2Seq
        >>> from seq2seq_fit import Vocab, collate_pairs
        >>> vocab = Vocab(["<pad>", "<bos>", "<eos>", "<unk>", "a", "b", "c"])
        >>> pairs = [([4, 5, 6], [6, 5, 4]), ([5, 4], [4, 5])] * 2  # (source ids, target ids)
        >>> model = LitSeq2Seq(vocab, vocab, {"hidden_size": 16, "embedding_dim": 8})
        >>> trainer = pl.Trainer(callbacks=[TrainingThroughput(window=1)], logger=CSVLogger(tempfile.mkdtemp()),
        ...                      max_steps=2, enable_checkpointing=False, enable_progress_bar=False,
        ...                      enable_model_summary=False)
        >>> trainer.fit(model, DataLoader(pairs, batch_size=2, collate_fn=collate_pairs))
        >>> float(trainer.callback_metrics["train/tokens_per_s"]) > 0  # also a column of the CSV file
        True
    """

    def __init__(self, window: int | None = None, prog_bar: bool = False) -> None:
        super().__init__()
        if window is not None:
            check_int("TrainingThroughput", "window", window, 1)
        self.window = window
        self.prog_bar = prog_bar
        self._counted = 0  # tokens already read back to the host
        self._pending: Any = 0  # tokens of the steps since the last read (a device tensor once counting)
        self._mark: tuple[float, int] | None = None  # (time, tokens) at the start of the current interval
        self._steps = 0  # steps since the clock restarted

    @property
    def tokens(self) -> int:
        """Target tokens trained so far (reads the device count)."""
        self._counted += int(self._pending)
        self._pending = 0
        return self._counted

    def restart_clock(self, trainer: pl.Trainer) -> None:
        """Measure from now on (after validation, at an epoch start): pauses do not count."""
        self._mark = (time.perf_counter(), self.tokens)
        self._steps = 0

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
        self._pending = self._pending + (target_out != PAD_ID).sum()  # stays on the device
        if self._mark is None:  # no epoch start seen: start measuring after this step
            self.restart_clock(trainer)
            return
        self._steps += 1
        due = self._steps % self.window == 0 if self.window is not None else is_logging_step(trainer)
        if not due:
            return
        tokens = self.tokens  # waits for the device: the steps are done
        now = time.perf_counter()
        (t0, n0), self._mark = self._mark, (now, tokens)
        rate = (tokens - n0) / max(now - t0, 1e-9)
        pl_module.log(
            "train/tokens_per_s", rate, on_step=True, on_epoch=False, prog_bar=self.prog_bar, batch_size=len(target_out)
        )


class EarlyStopping(pl.callbacks.EarlyStopping):
    """Lightning's ``EarlyStopping`` with the signature of ``keras_seq2seq.callbacks.EarlyStopping``.

    Stops when the validation metric ``monitor`` has not improved by more than ``min_delta`` for
    ``patience`` validations in a row; its count and best score are in the checkpoint, so a run
    resumed from ``last.ckpt`` stops where an uninterrupted run would. ``monitor`` is read in either
    spelling (``val/wer`` or Keras' ``val_wer``); ``None`` (the default of ``lit-seq2seq fit``, which
    adds this callback as ``--early_stopping.*``) never stops.

    Args:
        monitor: the validation metric, ``val/wer``; ``None``: off.
        min_delta: smallest change that counts as an improvement.
        patience: validations in a row without improvement that stop training.
        mode: ``min`` (lower is better) or ``max``.
    """

    def __init__(
        self, monitor: str | None = None, min_delta: float = 0.0, patience: int = 3, mode: str = "min"
    ) -> None:
        metric = "" if monitor is None else monitored_metric(monitor, "lightning")
        super().__init__(monitor=metric, min_delta=min_delta, patience=patience, mode=mode)
        self.enabled = monitor is not None

    def _run_early_stopping_check(self, trainer: pl.Trainer) -> None:
        if self.enabled:
            super()._run_early_stopping_check(trainer)


__all__ = ["EarlyStopping", "TrainingThroughput", "is_logging_step"]
