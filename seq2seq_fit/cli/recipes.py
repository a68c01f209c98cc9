"""The framework-free parts of the training recipes both ``fit`` commands offer.

A wall-clock budget (``--trainer.max_time DD:HH:MM:SS``), early stopping on a validation metric
(``--early_stopping.monitor val/wer``) whose state survives a restart, the best epoch's weights
kept at the end (``--restore_best_weights true``) and named model sizes (``--preset``). Each
framework side supplies only its callbacks; the rules (what counts as an improvement, when to
stop, how a metric is spelled, what a budget is) are here once, so both stop at the same epoch.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

#: ``DD:HH:MM:SS`` (Lightning's ``Trainer(max_time=...)`` string).
MAX_TIME_FORMAT = re.compile(r"^(\d+):(\d{1,2}):(\d{1,2}):(\d{1,2})$")


def max_time_seconds(text: str) -> float:
    """The seconds of a ``DD:HH:MM:SS`` budget.

    Raises:
        ValueError: another format, or a zero budget.

    Example:
        >>> max_time_seconds("00:02:00:00")
        7200.0
    """
    match = MAX_TIME_FORMAT.match(str(text).strip())
    if match is None:
        raise ValueError(f"max_time: got {text!r}, expected DD:HH:MM:SS (00:02:00:00 is two hours)")
    days, hours, minutes, seconds = (int(g) for g in match.groups())
    total = float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)
    if total <= 0:
        raise ValueError(f"max_time: got {text!r}, expected a budget longer than 00:00:00:00")
    return total


def max_time(text: str) -> str:
    """An argparse ``type``: a ``DD:HH:MM:SS`` budget, kept as the text (as Lightning takes it)."""
    try:
        max_time_seconds(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("max_time: ")) from None
    return text


max_time.__name__ = "DD:HH:MM:SS"


def monitored_metric(text: str, side: str) -> str:
    """A validation metric as ``side`` logs it, from either spelling: ``val/wer`` or ``val_wer``.

    Raises:
        ValueError: not a validation metric of :data:`seq2seq_fit.scores.EVAL_METRICS`.

    Example:
        >>> monitored_metric("val/wer", "keras"), monitored_metric("val_wer", "lightning")
        ('val_wer', 'val/wer')
    """
    from seq2seq_fit.scores import EVAL_METRICS, metric_name

    match = re.match(r"^val[/_](\w+)$", str(text))
    if match is None or match.group(1) not in EVAL_METRICS:
        names = ", ".join(f"val/{name}" for name in EVAL_METRICS)
        raise ValueError(f"early_stopping.monitor: got {text!r}, expected a validation metric: {names}")
    return metric_name(match.group(1), "val", side)  # type: ignore[arg-type]


@dataclass
class EarlyStoppingRule:
    """When to stop: ``patience`` validations in a row without an improvement of more than ``min_delta``.

    Lightning's ``EarlyStopping`` rule (``mode`` min: better means ``value < best - min_delta``;
    max: ``value > best + min_delta``; a NaN is never better), kept as plain data so that a
    checkpoint can hold it and a resumed run continues the count (:meth:`state_dict`).

    Example:
        >>> rule = EarlyStoppingRule(patience=2)
        >>> [rule.update(v, epoch) for epoch, v in enumerate([30.0, 25.0, 26.0, 27.0])]
        [False, False, False, True]
        >>> rule.best, rule.best_epoch
        (25.0, 1)
    """

    patience: int = 3
    mode: str = "min"
    min_delta: float = 0.0
    wait: int = 0
    best: float | None = None
    best_epoch: int | None = None
    stopped_epoch: int | None = field(default=None)

    def __post_init__(self) -> None:
        if self.mode not in ("min", "max"):
            raise ValueError(f"early_stopping.mode: got {self.mode!r}, expected 'min' or 'max'")

    def improves(self, value: float) -> bool:
        """Whether ``value`` is better than the best so far by more than ``min_delta``."""
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - abs(self.min_delta)
        return value > self.best + abs(self.min_delta)

    def update(self, value: float, epoch: int) -> bool:
        """Record the validation ``value`` of ``epoch``; whether training should stop now."""
        if self.improves(value):
            self.best, self.best_epoch, self.wait = float(value), epoch, 0
        else:
            self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        """The count and the best value, plain data (JSON)."""
        return {
            "wait": self.wait,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "stopped_epoch": self.stopped_epoch,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from :meth:`state_dict`'s data."""
        self.wait = int(state["wait"])
        self.best = None if state["best"] is None else float(state["best"])
        self.best_epoch = state["best_epoch"]
        self.stopped_epoch = state.get("stopped_epoch")


def batch_limit(text: str) -> float:
    """An argparse ``type``: Lightning's ``limit_*_batches``, a fraction in (0, 1] (``0.25``) or a count (``40``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"got {text!r}, expected a fraction in (0, 1] or a batch count") from None
    if "." not in str(text) and "e" not in str(text).lower() and value >= 0:
        return int(value)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"got {text}, expected a fraction in (0, 1] or a batch count")
    return value


batch_limit.__name__ = "fraction or count"


def limited_batches(total: int, limit: float | None) -> int:
    """Batches used of ``total`` under Lightning's ``limit_*_batches`` rule: a float in (0, 1] is a fraction
    (``int(total * limit)``, at least 1), an int a count (at most ``total``); ``None``: all.

    Example:
        >>> limited_batches(40, 0.25), limited_batches(40, 3), limited_batches(40, None), limited_batches(40, 1.0)
        (10, 3, 40, 40)
    """
    if limit is None:
        return total
    if isinstance(limit, int) and not isinstance(limit, bool):
        return min(limit, total)
    return max(1, int(total * limit))


def preset_config(name: str, overrides: Mapping[str, Any] | None = None) -> Any:
    """The :class:`~seq2seq_fit.config.Seq2SeqConfig` of the preset ``name``, with ``overrides`` of its fields.

    Raises:
        ValueError: an unknown preset (naming the known ones) or field.

    Example:
        >>> preset_config("cpu-bahdanau-384", {"dropout": 0.0}).hidden_size
        384
    """
    from seq2seq_fit.presets import PRESETS

    if name not in PRESETS:
        raise ValueError(f"preset: got {name!r}, expected one of {', '.join(PRESETS)}")
    return replace(PRESETS[name], **dict(overrides or {}))
