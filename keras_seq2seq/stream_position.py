"""``StreamPosition``: keep a ``BatchSequence``'s batch order in step with ``optimizer.iterations``."""

from __future__ import annotations

from typing import Any

import keras


class StreamPosition(keras.callbacks.Callback):  # type: ignore[misc]
    """Added by ``Seq2SeqModel.fit`` for a :class:`~datamodules.keras.BatchSequence`; makes a run
    resumed by ``keras.callbacks.BackupAndRestore`` see the batches an uninterrupted run would.

    ``BackupAndRestore`` (Keras 3.15) restores the weights, the optimizer (so
    ``optimizer.iterations``) and the number of finished epochs, but not the position inside an
    epoch: its metadata records ``batch`` and never reads it back, so the resumed ``fit`` starts
    that epoch over from its first batch and runs past the planned number of steps. At
    ``on_train_begin``, after ``BackupAndRestore`` has loaded its backup, this callback seeks the
    sequence to stream batch ``optimizer.iterations`` (steps trained, not batches a prefetching
    adapter fetched ahead), and when a backup was restored it stops the run at step
    ``epochs * steps_per_epoch``, where the uninterrupted run ends.

    Assumptions, which hold for a run trained from scratch with ``model.fit(data.train(), epochs=E)``:
    the interrupted ``fit`` started at step 0 and trained one batch per step (any
    ``steps_per_execution`` that divides the save frequency). Epoch-level callbacks and the
    epoch-averaged logs of the resumed run are shifted by the mid-epoch offset; weights, optimizer
    state, batches and teacher-forcing draws are not.
    """

    def __init__(self, sequence: Any) -> None:
        super().__init__()
        self.sequence = sequence
        self.stop_at: int | None = None

    def trained_steps(self) -> int:
        return int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.sequence.seek(self.trained_steps())
        restored = getattr(self.model, "_initial_epoch", None) is not None  # set only by BackupAndRestore
        steps_per_epoch = int(self.params.get("steps") or len(self.sequence))  # fit's steps_per_epoch
        self.stop_at = int(self.params.get("epochs", 1)) * steps_per_epoch if restored else None

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.stop_at is not None and self.trained_steps() >= self.stop_at:
            self.model.stop_training = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        # Keras never clears it: a later fit of the same model would skip epochs again.
        self.model._initial_epoch = None
