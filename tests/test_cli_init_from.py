"""``lit-seq2seq fit --init_from DIR`` and ``keras-seq2seq fit --init_from DIR``: a fine-tune starts from the
weights of a model directory saved by either framework, with fresh training state; a config that
disagrees with the directory is refused in one line; a rerun resumes from its own checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from datamodules.prepared import PreparedData
from seq2seq_fit.model_format import load_pretrained

CONFIG = {"hidden_size": 8, "embedding_dim": 8, "attention": "bahdanau"}
#: lit-seq2seq fit on the toy corpus, one batch per epoch, no logs or progress bar.
LIT = [
    "--data.corpus=toy", "--data.batch_size=8", "--trainer.limit_train_batches=1", "--trainer.limit_val_batches=1",
    "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false", "--trainer.logger=false",
    "--trainer.accelerator=cpu", "--trainer.num_sanity_val_steps=0",
]  # fmt: skip
KERAS = [
    "--corpus", "toy", "--batch_size", "8", "--steps_per_epoch", "1", "--trainer.limit_val_batches", "1",
    "--jit_compile", "false", "--log-dir", "none", "--verbose", "0", "--epochs", "1",
]  # fmt: skip


def saved_by(framework: str, directory: Path) -> Path:
    """A tiny toy-corpus model with random weights, saved by ``framework``'s ``save_pretrained``."""
    data = PreparedData("toy")
    data.setup()
    assert data.src_vocab is not None and data.tgt_vocab is not None
    if framework == "lightning":
        from lit_seq2seq import LitSeq2Seq

        torch.manual_seed(3)
        LitSeq2Seq(data.src_vocab, data.tgt_vocab, CONFIG, seed=3).save_pretrained(directory)
    else:
        from keras_seq2seq import Seq2SeqModel

        Seq2SeqModel(data.src_vocab, data.tgt_vocab, CONFIG, seed=3).save_pretrained(directory)
    return directory


def assert_same_weights(a: Path, b: Path, atol: float) -> None:
    start, end = load_pretrained(a).weights, load_pretrained(b).weights
    assert sorted(start) == sorted(end)
    for name in start:
        np.testing.assert_allclose(end[name], start[name], rtol=0, atol=atol, err_msg=name)


#: The other framework's directory runs by default; the same framework's with -m slow (each fit is 20-40 s here).
OTHER_FIRST = {
    "lightning": ["keras", pytest.param("lightning", marks=pytest.mark.slow)],
    "keras": ["lightning", pytest.param("keras", marks=pytest.mark.slow)],
}


@pytest.mark.parametrize("saved_with", OTHER_FIRST["lightning"])
def test_lightning_fit_starts_from_the_directorys_weights_with_fresh_training_state(
    saved_with: str, tmp_path: Path
) -> None:
    from lit_seq2seq.cli import main

    directory = saved_by(saved_with, tmp_path / "base")
    cli = main([
        "fit", *LIT, f"--init_from={directory}", "--model.lr=1e-9", "--trainer.max_epochs=1",
        "--model.teacher_forcing.start=0.5", f"--trainer.default_root_dir={tmp_path / 'run'}",
        f"--save_pretrained={tmp_path / 'tuned'}",
    ])  # fmt: skip
    assert cli.model.config == load_pretrained(directory).config, "the directory's config"
    assert cli.model.teacher_forcing.start == 0.5, "the command line's teacher forcing"
    assert cli.trainer.global_step == 1 and cli.trainer.current_epoch == 1, "step and epoch started at 0"
    # one AdamW step at a learning rate of 1e-9 moves no weight by more than ~1e-9: the start was the directory's
    assert_same_weights(directory, tmp_path / "tuned", atol=1e-6)


@pytest.mark.parametrize("saved_with", OTHER_FIRST["keras"])
def test_keras_fit_starts_from_the_directorys_weights(saved_with: str, tmp_path: Path) -> None:
    from keras_seq2seq.cli import main

    directory = saved_by(saved_with, tmp_path / "base")
    args = ["--init_from", str(directory), "--lr", "1e-9", "--start", "0.5", "--output", str(tmp_path / "run")]
    assert main(["fit", *KERAS, *args, "--save_pretrained", str(tmp_path / "tuned")]) == 0
    tuned = load_pretrained(tmp_path / "tuned")
    assert tuned.config == load_pretrained(directory).config and tuned.teacher_forcing.start == 0.5
    assert_same_weights(directory, tmp_path / "tuned", atol=1e-6)


@pytest.mark.parametrize(
    ("framework", "option", "flag"),
    [
        ("lightning", ["--model.config.hidden_size=16"], "--model.config.hidden_size"),
        ("lightning", ["--preset=cpu"], "--model.config.embedding_dim"),
        ("keras", ["--hidden_size", "16"], "--hidden_size"),
        ("keras", ["--preset", "cpu"], "--embedding_dim"),
    ],
)
def test_a_config_that_differs_from_the_directory_is_refused_in_one_line(
    framework: str, option: list[str], flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = saved_by("lightning", tmp_path / "base")
    if framework == "lightning":
        from lit_seq2seq.cli import main

        argv = ["fit", *LIT, f"--init_from={directory}", *option, f"--trainer.default_root_dir={tmp_path}"]
    else:
        from keras_seq2seq.cli import main

        argv = ["fit", *KERAS, "--init_from", str(directory), *option, "--output", str(tmp_path / "run")]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    source = "--preset cpu" if "preset" in option[0] else "the command line"
    assert f"--init_from {directory}: {flag}: got 16 from {source}, but the model has 8" in err or (
        f"--init_from {directory}: {flag}: got 64 from {source}, but the model has 8" in err
    ), err


def test_a_lightning_rerun_resumes_from_its_own_checkpoint_not_from_the_directory(tmp_path: Path) -> None:
    """Cut after epoch 1 and run again with ``--ckpt_path last``: the weights of an uninterrupted run."""
    from lit_seq2seq.cli import main

    directory = saved_by("lightning", tmp_path / "base")

    def fit(root: str, epochs: int) -> dict[str, torch.Tensor]:
        cli = main([
            "fit", *LIT, f"--init_from={directory}", "--model.lr=0.05", f"--trainer.max_epochs={epochs}",
            "--ckpt_path=last", f"--trainer.default_root_dir={tmp_path / root}",
        ])  # fmt: skip
        return {k: v.detach().clone() for k, v in cli.model.state_dict().items()}

    whole = fit("whole", 2)
    cut = fit("cut", 1)
    resumed = fit("cut", 2)
    assert any(not torch.allclose(cut[k], whole[k]) for k in whole), "the second epoch moved the weights"
    for name in whole:
        torch.testing.assert_close(resumed[name], whole[name], rtol=0, atol=1e-6, msg=name)


@pytest.mark.slow  # three Keras fits with a test-split evaluation each
def test_a_keras_rerun_resumes_from_its_own_backup_not_from_the_directory(tmp_path: Path) -> None:
    """``OUTPUT/backup`` loads over the directory's weights: cut after epoch 1 and rerun, as uninterrupted."""
    from keras_seq2seq.cli import main

    directory = saved_by("lightning", tmp_path / "base")

    def fit(output: str, epochs: int) -> Path:
        tuned = tmp_path / f"{output}-{epochs}"
        argv = ["fit", *KERAS, "--init_from", str(directory), "--lr", "0.05", "--output", str(tmp_path / output)]
        assert main([*argv, "--epochs", str(epochs), "--save_pretrained", str(tuned)]) == 0
        return tuned

    whole, cut, resumed = fit("whole", 2), fit("cut", 1), fit("cut", 2)
    start = load_pretrained(cut).weights
    assert any(not np.allclose(start[k], v) for k, v in load_pretrained(whole).weights.items()), "epoch 2 trained"
    assert_same_weights(whole, resumed, atol=1e-5)
