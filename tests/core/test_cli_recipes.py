"""The framework-free training recipes of both ``fit`` commands, and ``--config`` for ``keras-seq2seq fit``."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from seq2seq_fit.cli.config_file import config_file_args, expand_config
from seq2seq_fit.cli.errors import CLIError
from seq2seq_fit.cli.recipes import (
    EarlyStoppingRule,
    batch_limit,
    limited_batches,
    max_time,
    max_time_seconds,
    monitored_metric,
    preset_config,
)
from seq2seq_fit.presets import PRESETS

WER = [40.0, 35.0, 36.0, 35.0, 34.0, 34.5, 34.2, 34.9, 33.0]


def decisions(rule: EarlyStoppingRule, values: list[float], first_epoch: int = 0) -> list[bool]:
    return [rule.update(value, epoch) for epoch, value in enumerate(values, start=first_epoch)]


@pytest.mark.parametrize("cut", range(1, len(WER)))
def test_a_restarted_rule_decides_as_an_uninterrupted_one(cut: int) -> None:
    whole = decisions(EarlyStoppingRule(patience=3), WER)
    before = EarlyStoppingRule(patience=3)
    first = decisions(before, WER[:cut])
    after = EarlyStoppingRule(patience=3)
    after.load_state_dict(before.state_dict())  # what the checkpoint carries across the restart
    assert first + decisions(after, WER[cut:], first_epoch=cut) == whole
    assert whole.index(True) == 7, "34.0 at epoch 4, then 3 epochs without improvement"


def test_the_rule_counts_like_lightning() -> None:
    rule = EarlyStoppingRule(patience=2, mode="max", min_delta=0.5)
    assert decisions(rule, [10.0, 10.4, float("nan"), 11.0]) == [False, False, True, False]
    assert (rule.best, rule.best_epoch, rule.wait) == (11.0, 3, 0)
    with pytest.raises(ValueError, match=r"early_stopping\.mode: got 'auto'"):
        EarlyStoppingRule(mode="auto")


def test_max_time_is_lightnings_format() -> None:
    assert max_time_seconds("00:02:00:00") == 7200.0 and max_time_seconds("1:00:00:30") == 86430.0
    assert max_time("00:00:01:00") == "00:00:01:00"
    for bad in ("2h", "120", "00:00:00:00", "00:02:00"):
        with pytest.raises(argparse.ArgumentTypeError, match=r"expected"):
            max_time(bad)


def test_a_metric_is_read_in_both_spellings() -> None:
    assert monitored_metric("val/wer", "keras") == monitored_metric("val_wer", "keras") == "val_wer"
    assert monitored_metric("val_bleu", "lightning") == "val/bleu"
    with pytest.raises(ValueError, match="got 'wer', expected a validation metric: val/loss"):
        monitored_metric("wer", "keras")


def test_batch_limits_follow_lightning() -> None:
    assert batch_limit("0.25") == 0.25 and batch_limit("3") == 3 and isinstance(batch_limit("3"), int)
    assert [limited_batches(40, limit) for limit in (0.25, 3, 100, None, 1.0)] == [10, 3, 40, 40, 40]
    with pytest.raises(argparse.ArgumentTypeError):
        batch_limit("1.5")


def test_a_preset_with_overrides() -> None:
    config = preset_config("cpu-bahdanau-384", {"dropout": 0.0})
    assert config.hidden_size == PRESETS["cpu-bahdanau-384"].hidden_size and config.dropout == 0.0
    with pytest.raises(ValueError, match="preset: got 'big', expected one of gpu, cpu"):
        preset_config("big")


def test_a_lightning_config_file_becomes_flags(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    config = {
        "trainer": {"max_epochs": 3, "accelerator": "cpu", "max_time": "00:01:00:00"},
        "model": {"config": {"hidden_size": 8}, "teacher_forcing": None},
        "restore_best_weights": True,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    flags = {"--trainer.max_epochs", "--trainer.max_time", "--model.config.hidden_size", "--restore_best_weights"}
    assert config_file_args(str(path), flags) == [
        "--trainer.max_epochs", "3", "--trainer.max_time", "00:01:00:00", "--model.config.hidden_size", "8",
        "--restore_best_weights", "true",
    ]  # fmt: skip
    assert expand_config(["--epochs", "2", f"--config={path}"], flags)[-2:] == ["--epochs", "2"], "the line wins"
    with pytest.raises(CLIError, match=r"run.yaml: trainer.max_time: not an option"):
        config_file_args(str(path), flags - {"--trainer.max_time"})
    with pytest.raises(CLIError, match=r"absent.yaml: No such file"):
        config_file_args(str(tmp_path / "absent.yaml"), flags)
