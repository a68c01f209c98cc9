"""The command lines take the same options for what they share: ``translate``, ``export`` and the training
options of ``fit``.

``lit-seq2seq``, ``keras-seq2seq`` and ``seq2seq-fit`` (the ONNX runtime's) are built from
``seq2seq_fit.cli``; these tests fail when one adds, renames or re-defaults an option the
others do not.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from typing import Any

import pytest
import yaml

from keras_seq2seq.cli import build_parser
from lit_seq2seq.cli import build_export_parser, build_translate_parser
from seq2seq_fit.cli import build_parser as build_serving_parser
from seq2seq_fit.cli.options import DATA_OPTIONS, RECIPE_OPTIONS, TRAINING_OPTIONS, TRANSLATE_OPTIONS

#: Options of one command line only: how each loads its model and where it runs.
LIT_ONLY = {"device", "weights_only"}
KERAS_ONLY = {"backend"}
SERVING_ONLY = {"threads"}
FRAMEWORKS = ("keras", "tensorflow", "jax", "torch", "lightning")


def subcommand(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return action.choices[name]  # type: ignore[no-any-return]


def options(parser: argparse.ArgumentParser) -> dict[str, dict[str, Any]]:
    """Every argument of ``parser`` but ``--help``, by ``dest``: its flags, default, choices and nargs."""
    return {
        a.dest: {"flags": sorted(a.option_strings), "default": a.default, "choices": a.choices, "nargs": a.nargs}
        for a in parser._actions
        if a.dest != "help"
    }


def test_translate_takes_the_same_options_in_both_command_lines() -> None:
    lit = options(build_translate_parser())
    keras = options(subcommand(build_parser(), "translate"))
    assert set(lit) - LIT_ONLY == set(keras) - KERAS_ONLY
    for dest in set(lit) - LIT_ONLY - {"model"}:
        assert lit[dest] == keras[dest], f"translate {dest}: lit-seq2seq {lit[dest]} != keras-seq2seq {keras[dest]}"
    assert "--model" in lit["model"]["flags"] and "--model" in keras["model"]["flags"]
    # The table's defaults are those of the core driver, seq2seq_fit.translate.translate.
    assert keras["batch_size"]["default"] == 64
    assert keras["tokenizer"]["default"] is None, "no --tokenizer: the model's own tokenizer"
    for option in TRANSLATE_OPTIONS:
        assert {f"--{option.name}", f"--{option.name.replace('_', '-')}"} <= set(keras[option.name]["flags"])


def test_serving_translate_takes_the_options_of_the_framework_translates() -> None:
    serving = options(subcommand(build_serving_parser(), "translate"))
    keras = options(subcommand(build_parser(), "translate"))
    assert set(serving) - SERVING_ONLY == set(keras) - KERAS_ONLY
    for dest in set(serving) - SERVING_ONLY - {"model"}:
        assert serving[dest] == keras[dest], f"translate {dest}: seq2seq-fit {serving[dest]} != keras {keras[dest]}"
    assert serving["model"]["flags"] == ["--model"] and serving["threads"]["default"] is None


def test_export_takes_the_same_options_in_the_three_command_lines() -> None:
    lit = options(build_export_parser())
    keras = options(subcommand(build_parser(), "export"))
    serving = options(subcommand(build_serving_parser(), "export"))
    assert set(lit) - LIT_ONLY == set(keras) - KERAS_ONLY == set(serving) == {"model", "out", "debug"}
    for dest in ("out", "debug"):
        assert lit[dest] == keras[dest] == serving[dest], dest
    assert lit["out"]["flags"] == ["--out"] and "--model" in keras["model"]["flags"] + serving["model"]["flags"]
    assert "--ckpt_path" in lit["model"]["flags"], "lit-seq2seq export reads --ckpt_path as translate does"
    assert lit["weights_only"] == options(build_translate_parser())["weights_only"]


def test_translate_options_and_defaults_are_those_of_the_generation_config() -> None:
    from seq2seq_fit import GenerationConfig

    keras = options(subcommand(build_parser(), "translate"))
    defaults = GenerationConfig().to_dict()
    # --show-attention asks for the attention; the printed lines are always text
    assert keras.keys() & defaults.keys() == defaults.keys() - {"return_attention", "detokenize"}
    for name in keras.keys() & defaults.keys():
        assert keras[name]["default"] == defaults[name], name


def test_building_both_parsers_imports_no_framework() -> None:
    code = (
        "import sys\n"
        "from keras_seq2seq.cli import build_parser\n"
        "from lit_seq2seq.cli import build_export_parser, build_translate_parser\n"
        "from seq2seq_fit.cli import build_parser as build_serving_parser\n"
        "build_parser(), build_translate_parser(), build_export_parser(), build_serving_parser()\n"
        f"print(' '.join(m for m in {(*FRAMEWORKS, 'onnx', 'onnxruntime')!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


def lightning_value(config: dict[str, Any], key: str) -> Any:
    """The value of the dotted LightningCLI ``key`` in a printed config; ``None`` inside a section that is ``None``
    (``data.corpus_options.tokenizer`` when ``data.corpus_options`` is not given)."""
    for part in key.split("."):
        if config is None:
            return None
        config = config[part]
    return config


@pytest.mark.parametrize("table", ["TRAINING_OPTIONS", "DATA_OPTIONS", "RECIPE_OPTIONS"])
def test_fit_shares_the_training_and_data_options_with_the_same_defaults(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from lit_seq2seq.cli import main

    keras = options(subcommand(build_parser(), "fit"))
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--print_config"])
    assert exit_info.value.code == 0
    lightning = yaml.safe_load(capsys.readouterr().out)
    tables = {"TRAINING_OPTIONS": TRAINING_OPTIONS, "DATA_OPTIONS": DATA_OPTIONS, "RECIPE_OPTIONS": RECIPE_OPTIONS}
    for option in tables[table]:
        assert option.lightning is not None
        value = lightning_value(lightning, option.lightning)
        assert str(value) == str(option.default), f"lit-seq2seq fit --{option.lightning}"
        assert keras[option.name]["default"] == option.default, f"keras-seq2seq fit --{option.name}"
        assert f"--{option.lightning}" in keras[option.name]["flags"], "the Lightning spelling works in Keras too"


def test_both_fits_accept_exactly_the_same_precision_names(capsys: pytest.CaptureFixture[str]) -> None:
    from lit_seq2seq.cli import lightning_argv, main
    from seq2seq_fit.cli.errors import CLIError
    from seq2seq_fit.precision import PRECISIONS

    keras = options(subcommand(build_parser(), "fit"))
    assert set(keras["precision"]["choices"]) == set(PRECISIONS)
    for name, precision in PRECISIONS.items():  # lit-seq2seq translates each name before LightningCLI parses
        assert lightning_argv(["fit", "--trainer.precision", name]) == [
            "fit",
            "--trainer.precision",
            precision.lightning,
        ]
        assert lightning_argv([f"--trainer.precision={name}"]) == [f"--trainer.precision={precision.lightning}"]
    with pytest.raises(CLIError, match=r"^--trainer\.precision: got '64-true', expected one of 32, 32-true, fp32"):
        lightning_argv(["fit", "--trainer.precision", "64-true"])  # Lightning's, not keras-seq2seq's
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--trainer.precision", "bf16", "--print_config"])
    assert exit_info.value.code == 0
    assert yaml.safe_load(capsys.readouterr().out)["trainer"]["precision"] == "bf16-mixed"


def test_both_early_stoppings_take_the_same_arguments() -> None:
    """``--early_stopping.*`` builds ``lit_seq2seq.callbacks.EarlyStopping`` (LightningCLI) and
    ``keras_seq2seq.callbacks.EarlyStopping`` (keras-seq2seq fit): one signature, the table's defaults."""
    import ast
    import inspect

    code = (
        "import inspect, json\n"
        "from keras_seq2seq.callbacks import EarlyStopping\n"
        "parameters = inspect.signature(EarlyStopping).parameters.items()\n"
        "print(json.dumps({k: [p.kind, repr(p.default)] for k, p in parameters}))"
    )
    keras_side = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    from lit_seq2seq.callbacks import EarlyStopping

    lit_side = {k: [p.kind, repr(p.default)] for k, p in inspect.signature(EarlyStopping).parameters.items()}
    assert yaml.safe_load(keras_side) == lit_side
    table = {o.lightning.removeprefix("early_stopping."): o.default for o in RECIPE_OPTIONS if "early_st" in o.name}
    assert {k: ast.literal_eval(v[1]) for k, v in lit_side.items()} == table
