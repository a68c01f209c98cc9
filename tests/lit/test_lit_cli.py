"""The ``lit-seq2seq`` command: LightningCLI with vocabularies linked from the data module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from lit_seq2seq import LitSeq2Seq
from lit_seq2seq.cli import main
from lit_seq2seq.lightning_cli import one_line_message

QUIET = [
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
    "--trainer.logger=false",
    "--trainer.accelerator=cpu",
]


def test_print_config_lists_model_and_data_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--model.config.attention", "bahdanau", "--print_config"])
    assert exit_info.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["config"]["attention"] == "bahdanau"
    assert printed["data"]["corpus"] == "toy"
    assert "src_vocab" not in printed["model"], "linked from the data module, not a command-line option"


def test_fit_from_the_command_line_and_a_config_file(tmp_path: Path) -> None:
    args = [
        "fit",
        "--data.corpus=toy",
        "--data.batch_size=4",
        "--model.config.attention=luong",
        "--model.config.hidden_size=16",
        "--model.config.embedding_dim=8",
        "--model.teacher_forcing.schedule=linear",
        "--model.teacher_forcing.decay_steps=4",
        "--model.teacher_forcing.mode=parallel",
        "--trainer.max_steps=3",
        f"--trainer.default_root_dir={tmp_path}",
        "--trainer.callbacks+=ModelCheckpoint",
        f"--trainer.callbacks.dirpath={tmp_path / 'ckpt'}",
        *QUIET,
    ]
    cli = main(args)
    model = cli.model
    assert isinstance(model, LitSeq2Seq)
    assert model.tgt_vocab == cli.datamodule.tgt_vocab
    assert model.teacher_forcing.mode == "parallel" and model.config.hidden_size == 16
    assert cli.trainer.global_step == 3
    (ckpt,) = (tmp_path / "ckpt").glob("*.ckpt")
    assert torch.load(ckpt, weights_only=True)["hyper_parameters"]["config"]["hidden_size"] == 16
    config_file = tmp_path / "run.yaml"
    config_file.write_text(
        yaml.safe_dump(
            {
                "model": {"config": {"hidden_size": 8, "embedding_dim": 8, "attention": "none"}, "lr": 0.01},
                "data": {"corpus": "toy", "batch_size": 2},
                "trainer": {"max_steps": 2},
            }
        )
    )
    cli = main(["fit", f"--config={config_file}", f"--trainer.default_root_dir={tmp_path}", *QUIET])
    assert cli.model.config.attention == "none" and cli.model.hparams["lr"] == 0.01
    assert cli.trainer.global_step == 2


def test_the_package_imports_torch_on_first_use() -> None:
    """``import lit_seq2seq`` (the console script's first step) starts no torch; the names load on use."""
    code = (
        "import sys\n"
        "import lit_seq2seq\n"
        "print('torch' in sys.modules)\n"
        "from lit_seq2seq import LitSeq2Seq\n"
        "print('torch' in sys.modules, LitSeq2Seq is sys.modules['lit_seq2seq.system'].LitSeq2Seq)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True", "True"]


def test_jsonargparse_messages_become_one_line_naming_the_flag() -> None:
    union = (
        "Does not validate against any of the Union subtypes\nSubtypes: [Seq2SeqConfig, dict, NoneType]\nErrors:\n"
        "  - Seq2SeqConfig.hidden_size: got 0, expected an integer >= 1\n  - Expected a <class 'dict'>\n"
        "  - Expected a <class 'NoneType'>\nGiven value type: <class 'Namespace'>\nGiven value: Namespace(...)"
    )
    assert one_line_message(union) == "Seq2SeqConfig.hidden_size: got 0, expected an integer >= 1"
    nested = "Parser key \"hidden_size\":\n  Expected a <class 'int'>. Got value: abc"
    assert one_line_message(nested, lambda key: f"--model.config.{key}") == (
        "--model.config.hidden_size: got 'abc', expected an integer"
    )
