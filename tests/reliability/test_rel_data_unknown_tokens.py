"""Bad data through the Lightning data module.

Line-level TSV problems are covered in tests/data/test_tsv.py; here they go end to end through
``Seq2SeqDataModule``, as do tokens the training split never saw: ``<unk>`` on the source side
(the model still sees a token there), counted and reported on the target side.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from datamodules import UNK_ID, Corpus, DataError, Seq2SeqDataModule


def corpus_with_unseen_tokens() -> Corpus:
    train = [(["a", "b"], ["A", "B"]), (["b", "c"], ["B", "C"]), (["c", "a"], ["C", "A"])]
    val = [(["a", "zebra", "b"], ["A", "ZEBRA", "B", "YAK"])]  # 1 unseen source, 2 unseen target tokens
    test = [(["quokka"], ["A"])]
    return Corpus("memory", train, val, test)


def test_unseen_source_tokens_become_unk_and_unseen_targets_are_counted(caplog: pytest.LogCaptureFixture) -> None:
    dm = Seq2SeqDataModule.from_corpus(corpus_with_unseen_tokens(), batch_size=4)
    with caplog.at_level(logging.WARNING, logger="datamodules"):
        dm.setup("fit")
    (batch,) = list(dm.val_dataloader())
    src, tgt = dm.src_vocab, dm.tgt_vocab
    assert batch["source"].tolist() == [[src.id("a"), UNK_ID, src.id("b")]]
    assert batch["source_lengths"].tolist() == [3], "an unknown token is kept as <unk>, not dropped"
    assert batch["target_out"].tolist() == [[tgt.id("A"), UNK_ID, tgt.id("B"), UNK_ID, 2]]
    assert dm.data.encoded["val"].unknown_target_tokens == 2
    assert dm.data.encoded["train"].unknown_target_tokens == 0
    assert "memory (val): 2 target token(s) not in the target vocabulary (encoded as <unk>)" in caplog.text
    (test_batch,) = list(dm.test_dataloader())
    assert test_batch["source"].tolist() == [[UNK_ID]]
    assert dm.data.encoded["test"].unknown_target_tokens == 0


def test_a_trained_models_vocabulary_applied_to_new_tsv_data(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "new.tsv"
    path.write_text("a b\tA B\nb new\tB NEW\n", encoding="utf-8")
    src_vocab = ["<pad>", "<bos>", "<eos>", "<unk>", "a", "b"]
    tgt_vocab = ["<pad>", "<bos>", "<eos>", "<unk>", "A", "B"]
    dm = Seq2SeqDataModule(
        str(path),
        batch_size=2,
        src_vocab=src_vocab,
        tgt_vocab=tgt_vocab,
        bucket=False,
        corpus_options={"val_percent": 0, "test_percent": 0},
    )
    with caplog.at_level(logging.WARNING, logger="datamodules"):
        dm.setup("fit")
    (batch,) = list(dm.train_dataloader())
    rows = {tuple(r) for r in batch["source"].tolist()}
    assert rows == {(4, 5), (5, UNK_ID)}
    assert (batch["target_out"] == UNK_ID).sum().item() == 1
    assert dm.data.encoded["train"].unknown_target_tokens == 1
    assert "(train): 1 target token(s) not in the target vocabulary" in caplog.text


def test_a_malformed_tsv_line_reaches_the_user_as_path_and_line(tmp_path: Path) -> None:
    path = tmp_path / "pairs.tsv"
    path.write_bytes(b"a\tb\nc\td\nno tab on this line\n")
    dm = Seq2SeqDataModule(str(path), batch_size=2)  # the file exists: construction succeeds
    with pytest.raises(DataError, match="expected 2 tab-separated fields, found 1") as err:
        dm.setup("fit")
    assert str(err.value).startswith(f"{path}:3: ")


def test_a_skipped_line_is_counted_and_training_data_stays_whole(tmp_path: Path) -> None:
    path = tmp_path / "pairs.tsv"
    path.write_bytes(b"a\tb\nbad \xff byte\tx\nc\td\n")
    dm = Seq2SeqDataModule(
        str(path), batch_size=8, corpus_options={"on_error": "skip", "val_percent": 0, "test_percent": 0}
    )
    dm.setup("fit")
    assert dm.corpus.stats["skipped_lines"] == 1
    (batch,) = list(dm.train_dataloader())
    assert batch["source"].shape[0] == 2 and torch.all(batch["source_lengths"] == 1)
