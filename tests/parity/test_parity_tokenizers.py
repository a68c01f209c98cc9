"""The tokenizer is part of the model: both frameworks, every container and every ``translate`` keep it.

A tiny model with a trained BPE tokenizer per side is saved as a model directory, a Lightning
checkpoint, a ``.keras`` file and an ONNX export; each load holds the same tokenizers, and
``translate`` splits text with the model's source tokenizer and returns text through its target
tokenizer, the same in Lightning, Keras and onnxruntime. The three command lines print that text
without ``--tokenizer``; ``keras-seq2seq fit`` trains a tokenizer on a TSV's train split (the
Lightning side's command lines: ``tests/lit/test_lit_tokenizers.py``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import lightning
import pytest
import torch

pytest.importorskip("tokenizers")
pytest.importorskip("sentencepiece")

import keras
from keras_seq2seq.cli import main as keras_main
from keras_seq2seq.system import Seq2SeqModel
from lit_seq2seq import LitSeq2Seq
from lit_seq2seq.cli import main as lit_main
from seq2seq_fit import InputError
from seq2seq_fit.cli import main as serve_main
from seq2seq_fit.serving import OnnxTranslator
from seq2seq_fit.tokenizer import WHITESPACE, Tokenizer, train_tokenizer
from tests.helpers import REPO, child_env

WORDS = ["the", "cat", "sat", "on", "mat", "a", "big", "red", "dog", "ran"]
WORDS += ["fast", "slow", "house", "garden", "under", "over", "blue", "green", "tree", "river"]
TEXTS = [" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(3 + i % 4)) for i in range(120)]
SOURCES = ["the cat sat on the mat", "a big red dog", "blue tree", ""]
CONFIG = {"embedding_dim": 8, "hidden_size": 16, "attention": "luong"}
FRAMEWORKS = ("torch", "lightning", "tensorflow", "keras", "jax")
#: The tokenizers are the core's, the same whatever the Keras backend (the network's outputs on each backend:
#: test_parity_search.py): these tests run once.
pytestmark = pytest.mark.backend_independent


@pytest.fixture(scope="module")
def tokenizers() -> tuple[Tokenizer, Tokenizer]:
    return train_tokenizer(TEXTS, "bpe", vocab_size=60), train_tokenizer([t[::-1] for t in TEXTS], "unigram", 40)


@pytest.fixture(scope="module")
def lit(tokenizers: tuple[Tokenizer, Tokenizer]) -> LitSeq2Seq:
    """An untrained model whose outputs still vary with the source (the ``<eos>`` bias lowered)."""
    src, tgt = tokenizers
    torch.manual_seed(0)
    model = LitSeq2Seq(src.vocab_tokens(), tgt.vocab_tokens(), CONFIG, src_tokenizer=src, tgt_tokenizer=tgt)
    with torch.no_grad():
        model.model.decoder.out.bias[2] -= 2.0  # type: ignore[index, operator]
    return model.eval()


@pytest.fixture(scope="module")
def model_dir(lit: LitSeq2Seq, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("bpe") / "model"
    lit.save_pretrained(directory)
    return directory


def test_translate_splits_with_the_source_tokenizer_and_detokenizes_with_the_target_one(
    lit: LitSeq2Seq, tokenizers: tuple[Tokenizer, Tokenizer]
) -> None:
    src, tgt = tokenizers
    pieces = lit.translate(SOURCES, max_length=6)
    assert pieces == lit.translate([src.tokenize(s) for s in SOURCES], max_length=6), "strings split by src"
    texts = lit.translate(SOURCES, max_length=6, detokenize=True)
    assert texts == [tgt.detokenize(p) for p in pieces] and all(isinstance(t, str) for t in texts)
    assert any(texts), "the model says something"
    assert lit.translate(SOURCES, max_length=6, tokenizer="chars") != pieces, "tokenizer= still overrides"


def test_every_container_keeps_both_tokenizers(
    lit: LitSeq2Seq, model_dir: Path, tokenizers: tuple[Tokenizer, Tokenizer], tmp_path: Path
) -> None:
    src, tgt = tokenizers
    assert sorted(p.name for p in model_dir.iterdir()) == [
        "config.json", "model.safetensors", "source_tokenizer.json", "target.model", "tokenizer_config.json",
        "vocab.json",
    ]  # fmt: skip
    checkpoint = tmp_path / "model.ckpt"
    torch.save(
        {"state_dict": lit.state_dict(), "hyper_parameters": dict(lit.hparams),
         "pytorch-lightning_version": lightning.__version__},
        checkpoint,
    )  # fmt: skip
    keras_model = Seq2SeqModel.from_pretrained(model_dir)
    keras_model.save(tmp_path / "model.keras")
    loaded = [
        LitSeq2Seq.from_pretrained(model_dir),
        LitSeq2Seq.load_from_checkpoint(checkpoint, map_location="cpu", weights_only=True),
        keras_model,
        keras.saving.load_model(tmp_path / "model.keras", safe_mode=True),
        OnnxTranslator(lit.export_onnx(tmp_path / "onnx")),
    ]
    for model in loaded:
        assert (model.src_tokenizer, model.tgt_tokenizer) == (src, tgt), type(model).__name__


def test_lightning_keras_and_onnx_give_the_same_text(lit: LitSeq2Seq, model_dir: Path, tmp_path: Path) -> None:
    expected = lit.translate(SOURCES, max_length=6, detokenize=True)
    keras_model = Seq2SeqModel.from_pretrained(model_dir)
    onnx = OnnxTranslator(lit.export_onnx(tmp_path / "onnx"))
    assert keras_model.translate(SOURCES, max_length=6, detokenize=True) == expected
    assert onnx.translate(SOURCES, max_length=6, detokenize=True) == expected
    beam = {"strategy": "beam", "beam_width": 3, "max_length": 6, "detokenize": True}
    assert onnx.translate(SOURCES, **beam) == keras_model.translate(SOURCES, **beam) == lit.translate(SOURCES, **beam)


def test_the_three_command_lines_print_the_models_text_without_tokenizer(
    lit: LitSeq2Seq, model_dir: Path, tmp_path: Path
) -> None:
    sources = SOURCES[:3]
    expected = lit.translate(sources, detokenize=True)
    export = lit.export_onnx(tmp_path / "onnx")
    assert lit_main(["translate", "--model", str(model_dir), *sources]) == expected
    assert serve_main(["translate", "--model", str(export), *sources]) == expected
    keras_main(["translate", "--model", str(model_dir), *sources])  # prints, returns the exit status


def test_a_subword_tokenizer_that_is_not_the_vocabulary_is_refused(
    tokenizers: tuple[Tokenizer, Tokenizer],
) -> None:
    src, tgt = tokenizers
    tokens = src.vocab_tokens()
    for cls in (LitSeq2Seq, Seq2SeqModel):
        with pytest.raises(InputError, match=r"src_tokenizer: its pieces are not the source vocabulary \(sizes"):
            cls(tokens[:-1], tokens, CONFIG, src_tokenizer=src)
        with pytest.raises(InputError, match="tgt_tokenizer: its pieces are not the target vocabulary"):
            cls(tokens, tokens, CONFIG, tgt_tokenizer=tgt)


@pytest.fixture(scope="module")
def tsv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tsv") / "pairs.tsv"
    path.write_text("".join(f"{t}\t{t[::-1]}\n" for t in TEXTS), encoding="utf-8")
    return path


@pytest.mark.slow  # a Keras fit: ~8 s (the data side of the options: tests/data/test_tsv_tokenizers.py)
def test_keras_fit_trains_a_unigram_tokenizer_from_the_same_options(
    tsv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keras_main([
        "fit", "--corpus", str(tsv), "--tokenizer", "unigram", "--vocab_size", "40", "--batch_size", "16",
        "--hidden_size", "8", "--embedding_dim", "8", "--epochs", "1", "--steps_per_epoch", "2",
        "--jit_compile", "false", "--output", str(tmp_path), "--log-dir", "none", "--verbose", "0",
    ])  # fmt: skip
    model = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert model.src_tokenizer.kind == model.tgt_tokenizer.kind == "sentencepiece"
    assert model.src_vocab.tokens == model.src_tokenizer.vocab_tokens() and len(model.src_vocab) <= 40
    capsys.readouterr()
    keras_main(["translate", "--model", str(tmp_path / "model.keras"), "the cat sat"])
    assert capsys.readouterr().out.splitlines() == model.translate(["the cat sat"], detokenize=True)


def test_serving_a_subword_model_imports_no_framework(lit: LitSeq2Seq, tmp_path: Path) -> None:
    export = lit.export_onnx(tmp_path / "onnx")
    code = f"""
        import json, sys
        from seq2seq_fit.cli import main
        lines = main(["translate", "--model", {str(export)!r}, *{SOURCES[:3]!r}])
        print(json.dumps([lines, sorted(m for m in {FRAMEWORKS!r} if m in sys.modules), "tokenizers" in sys.modules]))
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=REPO, env=child_env(),
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines, frameworks, used_tokenizers = json.loads(result.stdout.splitlines()[-1])
    assert frameworks == [] and used_tokenizers
    assert lines == lit.translate(SOURCES[:3], detokenize=True)


def test_a_model_directory_from_before_tokenizers_loads_with_whitespace(model_dir: Path, tmp_path: Path) -> None:
    import shutil

    old = tmp_path / "old"
    shutil.copytree(model_dir, old)
    for name in ("tokenizer_config.json", "source_tokenizer.json", "target.model"):
        (old / name).unlink()
    header = json.loads((old / "config.json").read_text())
    del header["files"]  # written before the file list too
    (old / "config.json").write_text(json.dumps(header))
    model = LitSeq2Seq.from_pretrained(old)
    assert (model.src_tokenizer, model.tgt_tokenizer) == (WHITESPACE, WHITESPACE)
    assert len(model.translate(["▁the"], max_length=2)) == 1
