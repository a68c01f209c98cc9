"""Callbacks of ``model.fit``: training throughput in the epoch ``logs``, and the training recipes of
``keras-seq2seq fit`` (a wall-clock budget, early stopping, the best epoch's weights) that survive a
restart with :class:`ResumableBackup`.

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

import json
import os
import time
from typing import Any

import keras
from keras_seq2seq.atomic_model_checkpoint import atomic_save
from seq2seq_fit.atomic_file import atomic_write_path
from seq2seq_fit.cli.recipes import EarlyStoppingRule, max_time_seconds, monitored_metric


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


class TimeBudget(keras.callbacks.Callback):  # type: ignore[misc]
    """Stops training once ``max_time`` of training has passed (Lightning's ``Trainer(max_time=...)``).

    The clock runs from the start of ``fit``; ``spent`` (seconds of earlier sessions, restored from
    :class:`ResumableBackup`'s state) counts too, so a resumed run keeps the budget of the whole run.
    Checked after each training batch; the epoch in progress is still validated.

    Args:
        max_time: ``DD:HH:MM:SS`` (``00:02:00:00``: two hours) or seconds.
    """

    def __init__(self, max_time: str | float) -> None:
        super().__init__()
        self.seconds = max_time_seconds(max_time) if isinstance(max_time, str) else float(max_time)
        self.spent = 0.0
        self._start: float | None = None

    def elapsed(self) -> float:
        """Seconds of training so far, earlier sessions included."""
        return self.spent + (0.0 if self._start is None else time.perf_counter() - self._start)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.elapsed() >= self.seconds:
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.on_train_batch_end(0)

    def get_state(self) -> dict[str, Any]:
        return {"spent": self.elapsed()}

    def set_state(self, state: dict[str, Any]) -> None:
        self.spent = float(state["spent"])


class EarlyStopping(keras.callbacks.Callback):  # type: ignore[misc]
    """Stops training when the validation metric ``monitor`` stops improving; resumable.

    The rule is :class:`seq2seq_fit.cli.recipes.EarlyStoppingRule`, the one of Lightning's
    ``EarlyStopping`` (``lit_seq2seq.callbacks.EarlyStopping``), so both stop at the same epoch. Its
    count and best value are plain data (:meth:`get_state`) that :class:`ResumableBackup` saves with
    the backup, so a run killed and started again stops where an uninterrupted run would.

    Args:
        monitor: the validation metric, ``val_wer`` (``val/wer`` is read the same); ``None``: never stops.
        min_delta: smallest change that counts as an improvement.
        patience: validations in a row without improvement that stop training.
        mode: ``min`` (lower is better) or ``max``.
    """

    def __init__(
        self, monitor: str | None = None, min_delta: float = 0.0, patience: int = 3, mode: str = "min"
    ) -> None:
        super().__init__()
        self.monitor = None if monitor is None else monitored_metric(monitor, "keras")
        self.rule = EarlyStoppingRule(patience=patience, mode=mode, min_delta=min_delta)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.monitor is None:
            return
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise ValueError(
                f"EarlyStopping: no {self.monitor!r} in the epoch logs ({', '.join(sorted(logs or {}))}); "
                "give validation data"
            )
        if self.rule.update(float(value), epoch):
            self.model.stop_training = True

    def get_state(self) -> dict[str, Any]:
        return self.rule.state_dict()

    def set_state(self, state: dict[str, Any]) -> None:
        self.rule.load_state_dict(state)


class BestWeights(keras.callbacks.Callback):  # type: ignore[misc]
    """Keeps the weights of the best validation epoch in ``path`` and loads them when training ends.

    Best by the rule of :class:`EarlyStopping` (``monitor``, ``mode``, ``min_delta``); the file is
    written atomically, and the best value travels with :class:`ResumableBackup`'s state, so a
    resumed run compares with the best of the whole run.
    """

    def __init__(self, path: str, monitor: str, mode: str = "min", min_delta: float = 0.0) -> None:
        super().__init__()
        self.path = path
        self.monitor = monitored_metric(monitor, "keras")
        self.rule = EarlyStoppingRule(patience=1, mode=mode, min_delta=min_delta)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is not None and self.rule.improves(float(value)):
            self.rule.update(float(value), epoch)
            atomic_save(self.model, self.path, weights_only=True)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if os.path.exists(self.path):
            self.model.load_weights(self.path)

    def get_state(self) -> dict[str, Any]:
        return self.rule.state_dict()

    def set_state(self, state: dict[str, Any]) -> None:
        self.rule.load_state_dict(state)


class ResumableBackup(keras.callbacks.BackupAndRestore):  # type: ignore[misc]
    """``BackupAndRestore`` that also saves the state of ``callbacks`` (``get_state`` / ``set_state``).

    ``BackupAndRestore`` keeps the weights, the optimizer and the finished epochs; Keras callbacks
    start afresh in each ``fit``, so an early-stopping count, a best value or a spent budget would be
    lost in a restart. This one writes their states to ``backup_dir/callbacks.json`` at each epoch
    end, *before* the backup of that epoch, keyed by the epochs finished (the last two kept, so a kill
    between the two files finds the state of the backup it restores), and gives them back when the
    backup is restored. A run that a callback stopped (early stopping, the budget) stays stopped: the
    same ``fit`` again restores the weights and trains no more. List it after ``callbacks``.
    """

    STATE_FILE = "callbacks.json"

    def __init__(self, backup_dir: str, callbacks: list[Any], **kwargs: Any) -> None:
        super().__init__(backup_dir, **kwargs)
        self.stateful = {f"{i}:{type(cb).__name__}": cb for i, cb in enumerate(callbacks)}

    @property
    def state_path(self) -> str:
        return os.path.join(self.backup_dir, self.STATE_FILE)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        super().on_train_begin(logs)  # sets model._initial_epoch to the epochs finished
        finished = self.model._initial_epoch or 0
        if not finished or not os.path.exists(self.state_path):
            return
        with open(self.state_path, encoding="utf-8") as f:
            saved = json.load(f).get(str(finished))
        if saved is None:
            return
        for key, callback in self.stateful.items():
            if key in saved["callbacks"]:
                callback.set_state(saved["callbacks"][key])
        if saved["stopped"]:  # a callback ended the run: train no more
            self.model._initial_epoch = max(finished, self.params.get("epochs") or finished)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        entry = {
            "stopped": bool(self.model.stop_training),
            "callbacks": {key: callback.get_state() for key, callback in self.stateful.items()},
        }
        history: dict[str, Any] = {}
        if os.path.exists(self.state_path):
            with open(self.state_path, encoding="utf-8") as f:
                history = json.load(f)
        history = {k: v for k, v in history.items() if int(k) == epoch}  # the previous epoch's, kept
        history[str(epoch + 1)] = entry
        os.makedirs(self.backup_dir, exist_ok=True)
        with atomic_write_path(self.state_path, suffix=".json") as tmp:
            tmp.write_text(json.dumps(history), encoding="utf-8")
        super().on_epoch_end(epoch, logs)


__all__ = ["BestWeights", "EarlyStopping", "ResumableBackup", "TimeBudget", "TrainingThroughput"]
