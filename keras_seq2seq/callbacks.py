"""Callbacks that add training throughput to the epoch ``logs`` of ``model.fit``.

The validation scores (``val_ppl``, ``val_token_acc``, ``val_exact_match``, ``val_bleu``,
``val_wer``, ``val_per``) need no callback: ``Seq2SeqModel.evaluate`` computes them from the greedy
decode of its ``test_step``. Keras hands one ``logs`` dict to the callbacks of an epoch in list
order, so a value added here is seen by every callback after it. Put :class:`TrainingThroughput`
**before** ``CSVLogger`` and ``TensorBoard``::

    callbacks = [
        TrainingThroughput(),  # tokens_per_s
        keras.callbacks.CSVLogger("history.csv"),
        keras.callbacks.TensorBoard("logs"),
        keras.callbacks.EarlyStopping(monitor="val_wer", mode="min", patience=4),
    ]
    model.fit(data.train(), validation_data=data.val(), epochs=20, callbacks=callbacks)
"""

from __future__ import annotations

import time
from typing import Any

import keras


class TrainingThroughput(keras.callbacks.Callback):  # type: ignore[misc]
    """Adds ``tokens_per_s`` to ``logs``: target tokens trained per second of the epoch.

    Tokens: the non-pad target tokens of the epoch's training batches, counted inside
    ``Seq2SeqModel.train_step`` by its ``target_tokens`` tracker (so any input works: a
    ``KerasData`` sequence, a ``tf.data.Dataset``, arrays; on every backend and under
    ``tf.distribute``). Time: wall clock from the start of the epoch's first training batch to the
    end of its last one (read when validation starts, or at epoch end without validation), so
    validation and epoch-end callbacks are not counted; the first epoch includes tracing and
    compilation. Reading the tracker waits for the device, so the time covers the work done.

    Must come before ``CSVLogger`` / ``TensorBoard`` in the ``callbacks`` list. The last
    epoch's numbers stay in ``tokens`` and ``seconds``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.tokens: float | None = None
        self.seconds: float | None = None
        self._start: float | None = None
        self._measured = False

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if not hasattr(self.model, "target_tokens_tracker"):
            raise ValueError(
                f"TrainingThroughput: the model is a {type(self.model).__name__}; it needs a "
                "keras_seq2seq.Seq2SeqModel (whose train_step counts the target tokens)"
            )

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._start, self._measured = None, False

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._start is None:
            self._start = time.perf_counter()

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        # Validation inside fit: training is over for this epoch, the trackers not yet reset.
        if self._start is not None and not self._measured:
            self._measure()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._start is None:
            return  # no training batch ran
        if not self._measured:
            self._measure()
        assert self.tokens is not None and self.seconds is not None
        if logs is not None:
            logs["tokens_per_s"] = self.tokens / max(self.seconds, 1e-9)
        self._start = None

    def _measure(self) -> None:
        assert self._start is not None
        # Converting the tracker waits for the last training step to finish.
        self.tokens = float(keras.ops.convert_to_numpy(self.model.target_tokens_tracker.result()))
        self.seconds = time.perf_counter() - self._start
        self._measured = True


__all__ = ["TrainingThroughput"]
