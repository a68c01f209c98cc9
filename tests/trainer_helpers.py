"""Helpers shared by the Lightning and reliability tests (``tests/conftest.py`` puts ``tests/`` on ``sys.path``)."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl


def quiet_trainer(validate: bool = True, **kwargs: Any) -> pl.Trainer:
    """A CPU ``Trainer`` without logger, progress bar, summary, sanity check or checkpoints unless asked,
    logging every step.

    ``validate=False`` also skips validation (``limit_val_batches=0``); ``kwargs`` override everything.
    """
    options: dict[str, Any] = {
        "accelerator": "cpu",
        "devices": 1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
        "log_every_n_steps": 1,  # per-step train/tf_ratio, train/fed_from_model in callback_metrics
    }
    if not validate:
        options["limit_val_batches"] = 0
    options.update(kwargs)
    return pl.Trainer(**options)
