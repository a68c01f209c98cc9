"""``keras-seq2seq`` command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keras_seq2seq.cli import build_parser, corpus_options, dataclass_kwargs
from seq2seq_fit import Seq2SeqConfig, TeacherForcing, lr_factor
from tests.helpers.keras import BACKEND, run_in_subprocess


def test_option_names_follow_the_lightning_cli() -> None:
    flat_args = "fit --corpus cmudict --attention bahdanau --hidden_size 96 --schedule linear --epochs 3"
    flat = build_parser().parse_args([*flat_args.split(), "--mixed-precision", "bf16", "--lr_decay_steps", "100"])
    dotted = build_parser().parse_args(["fit", "--data.corpus", "cmudict", "--model.config.attention", "bahdanau",
                                        "--model.config.hidden_size", "96", "--model.teacher_forcing.schedule",
                                        "linear", "--trainer.max_epochs", "3", "--precision", "bf16",
                                        "--model.lr_decay_steps", "100"])  # fmt: skip
    assert vars(flat) == vars(dotted)
    assert dataclass_kwargs(flat, Seq2SeqConfig) == {"attention": "bahdanau", "hidden_size": 96}
    assert dataclass_kwargs(flat, TeacherForcing) == {"schedule": "linear"}
    assert flat.epochs == 3 and flat.precision == "bf16" and flat.corpus == "cmudict" and flat.lr_decay_steps == 100
    assert build_parser().parse_args(["fit", "--data.corpus_options.on_error", "skip"]).on_error == "skip"
    lightning_spelling = ["fit", "--data.corpus_options.tokenizer", "chars", "--data.corpus_options.on_error", "skip"]
    assert corpus_options(build_parser().parse_args(lightning_spelling)) == {"tokenizer": "chars", "on_error": "skip"}
    assert corpus_options(build_parser().parse_args(["fit", "--tokenizer", "char"])) == {"tokenizer": "char"}
    assert corpus_options(build_parser().parse_args(["fit"])) is None, "the data layer's defaults"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["fit", "--mixed-precision", "fp8"])


@pytest.mark.slow
def test_fit_then_translate(tmp_path: Path) -> None:
    out = run_in_subprocess(f"""
        from keras_seq2seq.cli import main
        main(["fit", "--backend", {BACKEND!r}, "--corpus", "toy", "--batch_size", "4", "--epochs", "40",
              "--hidden_size", "32", "--embedding_dim", "16", "--lr", "0.01", "--schedule", "linear",
              "--decay_steps", "20", "--end", "0.5", "--output", {str(tmp_path)!r}, "--verbose", "0",
              "--warmup_steps", "4", "--lr_decay_steps", "200", "--min_lr_ratio", "0.1"])
        main(["translate", "--model", {str(tmp_path / "model.keras")!r}, "I feel hungry",
              "--show-attention", {str(tmp_path / "attention.png")!r}])
        import contextlib, io, json
        model, stderr = {str(tmp_path / "model.keras")!r}, io.StringIO()
        with contextlib.redirect_stderr(stderr):
            print("empty:", main(["translate", "--model", model, "--tokenizer", "char", ""]))
            main(["translate", "--model", model, "12345 hungry", "I feel hungry", "12345"])
        print("stderr:", json.dumps(stderr.getvalue().splitlines()))
        import keras
        saved = keras.models.load_model({str(tmp_path / "model.keras")!r})
        print(int(saved.optimizer.iterations), float(saved.optimizer.learning_rate))
    """)
    lines = out.strip().splitlines()
    # An empty source prints an empty line; unseen tokens decode and print one warning line.
    (warning,) = json.loads(lines.pop(-2).removeprefix("stderr: "))
    assert warning.startswith("keras-seq2seq translate: warning: ") and "2 of 3 sources" in warning
    assert "12345" in warning
    assert lines[-6:-4] == ["", "empty: 0"] and lines[-3] == "나는 배가 고프다"
    del lines[-6:-1]
    # The saved optimizer carries LitSeq2Seq's schedule: AdamW at 0.01 * lr_factor(step).
    steps, lr = lines[-1].split()
    assert int(steps) == 40 and float(lr) == pytest.approx(0.01 * lr_factor(40, 4, 200, 0.1), rel=1e-6)
    lines = lines[:-1]
    summary = json.loads(lines[-2])
    assert summary["backend"] == BACKEND and summary["test_exact_match"] == 100.0
    assert lines[-1] == "나는 배가 고프다"
    assert (tmp_path / "history.csv").exists()
    assert (tmp_path / "attention.png").stat().st_size > 2000  # the --show-attention heat map


def test_the_package_loads_keras_on_first_use_or_at_once_after_keras() -> None:
    """``import keras_seq2seq`` starts no framework (the CLI's ``--help``), yet ``import keras; import
    keras_seq2seq`` registers every class, so ``keras.models.load_model`` finds them."""
    out = run_in_subprocess("""
        import sys
        import keras_seq2seq
        print("keras" in sys.modules)
        import keras
        print(keras.saving.get_registered_object("keras_seq2seq>WarmupCosineDecay") is None)
        from keras_seq2seq import WarmupCosineDecay
        print(keras.saving.get_registered_object("keras_seq2seq>WarmupCosineDecay") is WarmupCosineDecay)
    """)
    assert out.split() == ["False", "True", "True"]
    out = run_in_subprocess("""
        import keras
        import keras_seq2seq
        print(keras.saving.get_registered_object("keras_seq2seq>WarmupCosineDecay") is not None)
    """)
    assert out.split() == ["True"]


def test_load_model_finds_the_classes_in_both_documented_orders(tmp_path: Path) -> None:
    """The README's rule: ``import keras`` before ``import keras_seq2seq``, or use a name of
    ``keras_seq2seq`` (``from keras_seq2seq import Seq2SeqModel``), before ``keras.models.load_model``."""
    path = tmp_path / "model.keras"
    run_in_subprocess(f"""
        from keras_seq2seq import Seq2SeqModel
        from seq2seq_fit import Vocab
        vocab = Vocab.build([list("abc")])
        model = Seq2SeqModel(vocab, vocab, {{"embedding_dim": 8, "hidden_size": 8}}, seed=0)
        model.translate(["a b"])
        model.save({str(path)!r})
    """)
    orders = {
        "keras first": "import keras\nimport keras_seq2seq\n",
        "a name first": "import keras_seq2seq\nfrom keras_seq2seq import Seq2SeqModel\nimport keras\n",
    }
    for order, imports in orders.items():
        out = run_in_subprocess(imports + f"print(type(keras.models.load_model({str(path)!r})).__name__)\n")
        assert out.split()[-1] == "Seq2SeqModel", order


@pytest.mark.parametrize(
    ("name", "content"), [("pairs.tsv", b"a\tb\n"), ("empty.keras", b""), ("random.keras", bytes(range(256)))]
)
def test_translate_refuses_a_file_that_is_not_a_model_before_keras_starts(
    name: str, content: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from keras_seq2seq.cli import main

    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SystemExit) as exit_info:
        main(["translate", "--model", str(path), "hello"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        f"keras-seq2seq translate: error: --model {path}: not a .keras file (not a zip archive) or a model directory\n"
    )
