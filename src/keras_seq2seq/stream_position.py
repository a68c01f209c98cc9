"""``StreamPosition``: keep a ``BatchSequence``'s batch order in step with ``optimizer.iterations``."""

from __future__ import annotations

from typing import Any

import keras


class StreamPosition(keras.callbacks.Callback):  # type: ignore[misc]
    """Added by ``Seq2SeqModel.fit`` for a :class:`~datamodules.keras.BatchSequence`; makes a
    resumed run see the batches a straight run would have.

    ``keras.callbacks.BackupAndRestore`` (Keras 3.15) restores the weights, the optimizer (so
    ``optimizer.iterations``) and the number of finished epochs, but not the position inside an
    epoch: its metadata records ``batch`` and never reads it back, and the resumed ``fit`` starts
    that epoch over from its first batch. At ``on_train_begin``, after ``BackupAndRestore`` has
    loaded its backup, this callback seeks the sequence to stream batch ``optimizer.iterations``
    (steps trained, not batches a prefetching adapter fetched ahead); when that is ``b`` batches
    into an epoch, every epoch of this ``fit`` runs ``b`` batches into the next epoch's order, and
    the last one stops after ``len - b`` steps, so the run ends on the same step and the same batch
    as one that was never interrupted. This assumes the sequence was trained from stream batch 0,
    one batch per step (the default ``steps_per_execution=1`` or any value dividing the epoch).
    """

    def __init__(self, sequence: Any) -> None:
        super().__init__()
        self.sequence = sequence
        self.epoch = 0
        self.stop_at: int | None = None

    def trained_steps(self) -> int:
        return int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.sequence.seek(self.trained_steps())
        self.stop_at = None
        if self.sequence.offset:
            epochs = int(self.params.get("epochs", 1))
            first = getattr(self.model, "_initial_epoch", None) or 0
            length = len(self.sequence)
            self.stop_at = self.trained_steps() + (epochs - first) * length - self.sequence.offset

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.stop_at is not None and self.trained_steps() >= self.stop_at:
            self.model.stop_training = True
