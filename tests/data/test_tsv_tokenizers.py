"""A TSV corpus with a tokenizer per side: trained on the train split (``bpe``, ``unigram``) or read
from a file, exposed by the data layer for the model to keep, all without a framework."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from datamodules import PreparedData, load_corpus
from datamodules.splits import split_of
from keras_seq2seq.cli import build_parser, corpus_options
from seq2seq_fit.tokenizer import CHARS, WHITESPACE
from tests.helpers import REPO, child_env

pytest.importorskip("tokenizers")
pytest.importorskip("sentencepiece")

WORDS = ["the", "cat", "sat", "on", "mat", "a", "big", "red", "dog", "ran"]
WORDS += ["fast", "slow", "house", "garden", "under", "over", "blue", "green", "tree", "river"]
TEXTS = [" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(3 + i % 4)) for i in range(120)]


@pytest.fixture
def tsv(tmp_path: Path) -> Path:
    path = tmp_path / "pairs.tsv"
    path.write_text("".join(f"{t}\t{t.upper()}\n" for t in TEXTS), encoding="utf-8")
    return path


@pytest.mark.parametrize("kind, library", [("bpe", "huggingface"), ("unigram", "sentencepiece")])
def test_each_side_gets_a_tokenizer_trained_on_its_train_texts(tsv: Path, kind: str, library: str) -> None:
    corpus = load_corpus(tsv, tokenizer=kind, vocab_size=40)
    src, tgt = corpus.src_tokenizer, corpus.tgt_tokenizer
    assert src.kind == tgt.kind == library
    src_letters = {c for piece in src.vocab_tokens()[4:] for c in piece if c.isalpha()}
    tgt_letters = {c for piece in tgt.vocab_tokens()[4:] for c in piece if c.isalpha()}
    assert src_letters == set("".join(WORDS)) and tgt_letters == set("".join(WORDS).upper()), "each its own text"
    train = [t for t in TEXTS if split_of(t, "seq2seq-fit-tsv-v1", 10, 5) == "train"]
    assert [src.detokenize(s) for s, _ in corpus.train] == train, "the text comes back, in file order"


def test_the_split_does_not_depend_on_the_tokenizer(tsv: Path) -> None:
    words = load_corpus(tsv)
    pieces = load_corpus(tsv, tokenizer="bpe", vocab_size=40)
    for split in ("train", "val", "test"):
        assert [" ".join(s) for s, _ in words.split(split)] == [
            pieces.src_tokenizer.detokenize(s) for s, _ in pieces.split(split)
        ]


def test_prepared_data_takes_the_subword_vocabulary_and_exposes_the_tokenizers(tsv: Path) -> None:
    data = PreparedData(tsv, batch_size=8, corpus_options={"tokenizer": "bpe", "src_tokenizer": "chars"})
    data.setup()
    assert data.src_tokenizer == CHARS and data.tgt_tokenizer.kind == "huggingface"
    assert data.tgt_vocab.tokens == data.tgt_tokenizer.vocab_tokens()
    assert "t" in data.src_vocab and "▁the" not in data.src_vocab
    builtin = PreparedData("toy", batch_size=2)
    builtin.setup()
    assert (builtin.src_tokenizer, builtin.tgt_tokenizer) == (WHITESPACE, WHITESPACE)


def test_a_tokenizer_file_is_used_for_both_sides(tsv: Path, tmp_path: Path) -> None:
    trained = load_corpus(tsv, tokenizer="bpe", vocab_size=40).src_tokenizer
    path = tmp_path / "tokenizer.json"
    trained.tokenizer.save(str(path))  # type: ignore[attr-defined]
    corpus = load_corpus(tsv, tokenizer=str(path))
    assert corpus.src_tokenizer == corpus.tgt_tokenizer == trained


def test_vocab_size_without_training_is_refused(tsv: Path) -> None:
    with pytest.raises(ValueError, match="vocab_size: got 40, but no tokenizer is trained here"):
        load_corpus(tsv, vocab_size=40)


def test_keras_fit_options_become_the_corpus_options() -> None:
    args = build_parser().parse_args(["fit", "--tokenizer", "unigram", "--vocab_size", "500"])
    assert corpus_options(args) == {"tokenizer": "unigram", "vocab_size": 500}
    args = build_parser().parse_args(["fit", "--data.corpus_options.tokenizer", "bpe"])
    assert corpus_options(args) == {"tokenizer": "bpe"}


def test_cmudict_reads_characters_in_and_phones_out() -> None:
    from datamodules.cmudict_g2p import cmudict_corpus

    corpus = cmudict_corpus()
    assert (corpus.src_tokenizer, corpus.tgt_tokenizer) == (CHARS, WHITESPACE)


def test_training_a_tokenizer_while_loading_imports_no_framework(tsv: Path) -> None:
    code = (
        "import sys\nfrom datamodules import load_corpus\n"
        f"load_corpus({str(tsv)!r}, tokenizer='bpe', vocab_size=40)\n"
        "print(sorted(m for m in ('torch', 'lightning', 'tensorflow', 'keras', 'jax') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=child_env(), timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"
