"""``lit-seq2seq fit``'s training recipes: a wall-clock budget, early stopping that survives a restart
(``--ckpt_path last``), the best epoch's weights at the end, presets."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lit_seq2seq.cli import main
from lit_seq2seq.system import LitSeq2Seq

#: A tiny model that does not learn (learning rate 1e-9): val/wer stays 100, so early stopping counts one
#: validation without improvement per epoch after the first, whatever the machine.
TINY = [
    "--data.corpus=toy", "--data.batch_size=8", "--model.config.hidden_size=8", "--model.config.embedding_dim=8",
    "--model.lr=1e-9", "--trainer.limit_train_batches=1", "--trainer.limit_val_batches=1",
    "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false", "--trainer.logger=false",
    "--trainer.accelerator=cpu", "--trainer.num_sanity_val_steps=0",
]  # fmt: skip
STOPPING = ["--early_stopping.monitor=val/wer", "--early_stopping.patience=2"]


def fit(root: Path, *args: str) -> object:
    return main(["fit", *TINY, f"--trainer.default_root_dir={root}", *args])


def test_early_stopping_continues_its_count_after_a_restart(tmp_path: Path) -> None:
    whole = fit(tmp_path / "whole", *STOPPING, "--trainer.max_epochs=10")
    assert whole.trainer.current_epoch == 3, "epoch 0 sets the best, epochs 1 and 2 do not improve: stopped"
    # The same command cut off after epoch 1 (its last.ckpt written), then run again with --ckpt_path last.
    fit(tmp_path / "cut", *STOPPING, "--trainer.max_epochs=2", "--ckpt_path=last")
    resumed = fit(tmp_path / "cut", *STOPPING, "--trainer.max_epochs=10", "--ckpt_path=last")
    assert resumed.trainer.current_epoch == whole.trainer.current_epoch, "the count went on from the checkpoint"
    names = [p.name for p in (tmp_path / "cut" / "checkpoints").iterdir()]
    assert names == ["last.ckpt"], "one checkpoint, overwritten each epoch, no epoch=N copy or last-v1 beside it"


def test_the_budget_stops_training(tmp_path: Path) -> None:
    cli = fit(tmp_path, "--trainer.max_epochs=100000", "--trainer.max_time=00:00:00:01")
    assert 0 < cli.trainer.current_epoch < 100000


def test_restore_best_weights_keeps_the_best_epoch(tmp_path: Path) -> None:
    cli = fit(
        # "best" by the highest validation loss: the first epoch, since training lowers it
        tmp_path, "--early_stopping.monitor=val_loss", "--early_stopping.mode=max", "--trainer.max_epochs=3",
        "--model.lr=0.05", "--restore_best_weights=true", f"--save_pretrained={tmp_path / 'model'}",
    )  # fmt: skip
    checkpoints = tmp_path / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["best.ckpt", "last.ckpt"]
    best = torch.load(checkpoints / "best.ckpt", weights_only=True)["state_dict"]
    last = torch.load(checkpoints / "last.ckpt", weights_only=True)["state_dict"]
    saved = LitSeq2Seq.from_pretrained(tmp_path / "model").state_dict()
    differs = [name for name in best if not torch.equal(best[name], last[name])]
    assert differs, "two more epochs trained on, so the last weights differ from the best (the first) epoch's"
    for name in differs:
        assert torch.equal(saved[name], best[name]) and torch.equal(cli.model.state_dict()[name], best[name])


def test_restore_best_weights_needs_a_metric(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--restore_best_weights=true"])
    assert exit_info.value.code == 2
    assert "--restore_best_weights: needs --early_stopping.monitor" in capsys.readouterr().err


def test_a_preset_sets_the_config_and_flags_override_it(tmp_path: Path) -> None:
    cli = main(
        ["fit", "--preset=cpu-bahdanau-384", "--model.config.hidden_size=8", "--model.config.embedding_dim=8",
         *TINY[:1], "--trainer.max_steps=1", *TINY[5:], f"--trainer.default_root_dir={tmp_path}"]
    )  # fmt: skip
    config = cli.model.config
    assert (config.attention, config.dropout, config.label_smoothing) == ("bahdanau", 0.2, 0.1), "the preset's"
    assert (config.hidden_size, config.embedding_dim) == (8, 8), "the flags'"
