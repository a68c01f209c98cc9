"""The config files of ``benchmarks/configs/`` run with both shipped ``fit`` commands and mean the same in both."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from keras_seq2seq.cli import build_parser, subcommand_parser
from seq2seq_fit.cli.config_file import expand_config
from tests.helpers import REPO

#: The fit commands' config files (``throughput*.yaml`` are the job lists of ``benchmarks.throughput``).
CONFIGS = sorted(p for p in (REPO / "benchmarks" / "configs").glob("*.yaml") if not p.name.startswith("throughput"))


def test_there_are_configs() -> None:
    assert {"g2p-cpu-bahdanau-384.yaml", "g2p-smoke.yaml"} <= {path.name for path in CONFIGS}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.name)
def test_both_fits_read_the_config_alike(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lit_seq2seq.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(path), "--print_config"])
    assert exit_info.value.code == 0, capsys.readouterr().err
    lit = yaml.safe_load(capsys.readouterr().out)
    parser = build_parser()
    flags = {flag for action in subcommand_parser(parser, "fit")._actions for flag in action.option_strings}
    keras = parser.parse_args(["fit", *expand_config(["--config", str(path)], flags)])
    assert keras.preset == lit["preset"] and keras.restore_best_weights == lit["restore_best_weights"]
    assert (keras.epochs, keras.max_time) == (lit["trainer"]["max_epochs"], lit["trainer"]["max_time"])
    assert (keras.corpus, keras.batch_size) == (lit["data"]["corpus"], lit["data"]["batch_size"])
    assert (keras.learning_rate, keras.lr_decay_steps) == (lit["model"]["lr"], lit["model"]["lr_decay_steps"])
    assert keras.limit_val_batches == lit["trainer"]["limit_val_batches"]
    stopping = lit["early_stopping"]
    assert (keras.early_stopping_monitor, keras.early_stopping_patience) == (stopping["monitor"], stopping["patience"])
    assert keras.output == lit["trainer"]["default_root_dir"] and keras.seed == lit["seed_everything"]
