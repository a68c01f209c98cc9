"""The Lightning side of tokenizers: ``lit-seq2seq fit`` trains one per side on a TSV's train split and
the checkpoint keeps it; ``lit-seq2seq translate`` splits and joins text with the model's own tokenizers."""

from __future__ import annotations

from pathlib import Path

import lightning
import pytest
import torch

from lit_seq2seq import LitSeq2Seq
from lit_seq2seq.cli import main as lit_main
from seq2seq_fit.tokenizer import CHARS, WHITESPACE

pytest.importorskip("tokenizers")

CONFIG = {"embedding_dim": 8, "hidden_size": 16, "attention": "luong"}
WORDS = ["the", "cat", "sat", "on", "mat", "a", "big", "red", "dog", "ran"]
WORDS += ["fast", "slow", "house", "garden", "under", "over", "blue", "green", "tree", "river"]
TEXTS = [" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(3 + i % 4)) for i in range(120)]


@pytest.fixture(scope="module")
def tsv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tsv") / "pairs.tsv"
    path.write_text("".join(f"{t}\t{t[::-1]}\n" for t in TEXTS), encoding="utf-8")
    return path


def test_a_chars_model_translates_words_without_tokenizer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    letters = ["<pad>", "<bos>", "<eos>", "<unk>", *"abcdefghijklmnopqrstuvwxyz"]
    phones = ["<pad>", "<bos>", "<eos>", "<unk>", "AH", "B", "K", "T"]
    torch.manual_seed(0)
    model = LitSeq2Seq(letters, phones, CONFIG, src_tokenizer="chars")
    checkpoint = tmp_path / "g2p.ckpt"
    torch.save(
        {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
         "pytorch-lightning_version": lightning.__version__},
        checkpoint,
    )  # fmt: skip
    capsys.readouterr()
    lines = lit_main(["translate", "--model", str(checkpoint), "python", "keras"])
    assert lines == [" ".join(tokens) for tokens in model.translate([list("python"), list("keras")])]
    assert "warning" not in capsys.readouterr().err, "no word read as one unknown token"
    assert model.src_tokenizer == CHARS and model.tgt_tokenizer == WHITESPACE


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_fit_trains_a_tokenizer_per_side_and_translate_needs_no_flag(tsv: Path, tmp_path: Path) -> None:
    lit_main([
        "fit", "--data.corpus", str(tsv), "--data.corpus_options.tokenizer", "bpe",
        "--data.corpus_options.vocab_size", "50", "--data.batch_size", "16", "--model.config.hidden_size", "8",
        "--model.config.embedding_dim", "8", "--trainer.max_steps", "2", "--trainer.limit_val_batches", "1",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        "--trainer.logger", "false", "--trainer.default_root_dir", str(tmp_path),
    ])  # fmt: skip
    checkpoint = tmp_path / "checkpoints" / "last.ckpt"
    model = LitSeq2Seq.load_from_checkpoint(checkpoint, map_location="cpu")
    assert model.src_tokenizer.kind == model.tgt_tokenizer.kind == "huggingface"
    assert model.src_tokenizer != model.tgt_tokenizer, "each side trained on its own texts"
    assert model.src_vocab.tokens == model.src_tokenizer.vocab_tokens() and len(model.src_vocab) <= 50
    lines = lit_main(["translate", "--model", str(checkpoint), "the cat sat"])
    assert lines == model.translate(["the cat sat"], detokenize=True)
