"""``keras-seq2seq fit``'s training recipes, as ``lit-seq2seq fit``'s: a wall-clock budget and early stopping
that survive a restart (the same command run again), the best epoch's weights at the end, presets."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from keras_seq2seq.cli import main

#: A tiny model that does not learn (learning rate 1e-9): val_wer stays 100, so early stopping counts one
#: validation without improvement per epoch after the first, whatever the machine.
TINY = [
    "--corpus", "toy", "--batch_size", "8", "--hidden_size", "8", "--embedding_dim", "8", "--lr", "1e-9",
    "--steps_per_epoch", "1", "--trainer.limit_val_batches", "1", "--jit_compile", "false", "--log-dir", "none",
    "--verbose", "0",
]  # fmt: skip
STOPPING = ["--early_stopping.monitor", "val/wer", "--early_stopping.patience", "2"]


def fit(output: Path, *args: str) -> list[dict[str, str]]:
    """Run ``keras-seq2seq fit`` into ``output``; the rows of its ``history.csv`` (all sessions)."""
    assert main(["fit", *TINY, "--output", str(output), *args]) == 0
    with open(output / "history.csv", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow  # four (one, two) short fits with a test-split evaluation each
def test_early_stopping_continues_its_count_after_a_restart(tmp_path: Path) -> None:
    whole = fit(tmp_path / "whole", *STOPPING, "--epochs", "10")
    assert len(whole) == 3, "epoch 0 sets the best, epochs 1 and 2 do not improve: stopped"
    # The same run cut off after epoch 2 (its backup written), then the command run again.
    fit(tmp_path / "cut", *STOPPING, "--epochs", "2")
    resumed = fit(tmp_path / "cut", *STOPPING, "--epochs", "10")
    assert [row["epoch"] for row in resumed] == [row["epoch"] for row in whole], "the count went on from the backup"
    assert fit(tmp_path / "cut", *STOPPING, "--epochs", "10") == resumed, "a stopped run stays stopped"


@pytest.mark.slow
def test_the_budget_stops_training_and_stays_spent(tmp_path: Path) -> None:
    rows = fit(tmp_path, "--epochs", "1000", "--max_time", "00:00:00:01")
    assert 0 < len(rows) < 1000
    assert fit(tmp_path, "--epochs", "1000", "--trainer.max_time", "00:00:00:01") == rows, "no time left"
    state = json.loads((tmp_path / "backup" / "callbacks.json").read_text())
    assert state[str(len(rows))]["callbacks"]["0:TimeBudget"]["spent"] >= 1.0


@pytest.mark.slow
def test_restore_best_weights_keeps_the_best_epoch(tmp_path: Path) -> None:
    from keras_seq2seq.safe_loading import load_model

    # "best" by the highest validation loss: the first epoch, since training lowers it
    rows = fit(
        tmp_path, "--early_stopping.monitor", "val_loss", "--early_stopping.mode", "max", "--lr", "0.05",
        "--epochs", "3", "--restore_best_weights", "true",
    )  # fmt: skip
    assert max(range(3), key=lambda i: float(rows[i]["val_loss"])) == 0
    saved = load_model(str(tmp_path / "model.keras"))
    best, last = load_model(str(tmp_path / "model.keras")), load_model(str(tmp_path / "model.keras"))
    best.load_weights(str(tmp_path / "best.weights.h5"))
    last.load_weights(str(tmp_path / "backup" / "latest.weights.h5"))
    pairs = list(zip(saved.get_weights(), best.get_weights(), last.get_weights(), strict=True))
    assert all(np.array_equal(s, b) for s, b, _ in pairs)
    assert any(not np.array_equal(s, x) for s, _, x in pairs), "two more epochs trained on after the best"


def test_restore_best_weights_needs_a_metric(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--restore_best_weights", "true", "--output", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "--restore_best_weights: needs --early_stopping.monitor" in capsys.readouterr().err


def test_a_preset_sets_the_config_and_flags_override_it() -> None:
    from keras_seq2seq.cli import build_parser, model_settings

    args = build_parser().parse_args(["fit", "--preset", "cpu-bahdanau-384", "--model.config.hidden_size", "8"])
    config, _ = model_settings(args)
    assert (config.attention, config.dropout, config.hidden_size, config.embedding_dim) == ("bahdanau", 0.2, 8, 128)
