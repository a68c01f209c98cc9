"""Vocabulary integrity: a model and data with different vocabularies never run together.

A trained model's ids mean its own vocabulary; data encoded with another one would train on, or
score, garbage without any error. ``LitSeq2Seq.setup`` compares them before the first batch.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from datamodules import Seq2SeqDataModule
from lit_seq2seq import LitSeq2Seq
from tests.helpers.lightning import assert_same_weights, quiet_trainer, small_data, train_and_save, weights


def run_stage(stage: str, model: LitSeq2Seq, dm: Seq2SeqDataModule) -> None:
    trainer = quiet_trainer(max_steps=2)
    if stage == "fit":
        trainer.fit(model, dm)
    else:
        getattr(trainer, stage)(model, dm)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_and_save(tmp_path_factory.mktemp("vocab"))


@pytest.mark.parametrize("stage", ["fit", "validate", "test", "predict"])
def test_a_loaded_model_refuses_data_with_another_vocabulary(trained: Path, stage: str) -> None:
    model = LitSeq2Seq.load_from_checkpoint(trained)
    before = weights(model)
    other = Seq2SeqDataModule("toy", batch_size=2)  # English words, not the model's symbols
    with pytest.raises(ValueError, match="source vocabulary mismatch") as err:
        run_stage(stage, model, other)
    assert "pass the model's vocabularies to the data (src_vocab=..., tgt_vocab=...)" in str(err.value)
    assert_same_weights(before, weights(model))


def test_same_size_but_reordered_vocabulary_is_caught(trained: Path) -> None:
    model = LitSeq2Seq.load_from_checkpoint(trained)
    tokens = model.tgt_vocab.tokens
    tokens[4], tokens[5] = tokens[5], tokens[4]  # same tokens, two ids swapped: silent garbage if unchecked
    dm = small_data(src_vocab=model.src_vocab.tokens, tgt_vocab=tokens)
    with pytest.raises(ValueError, match=rf"target vocabulary mismatch \(id 4 is {tokens[5]!r} vs {tokens[4]!r}\)"):
        run_stage("validate", model, dm)


def test_a_different_size_names_both_sizes(trained: Path) -> None:
    model = LitSeq2Seq.load_from_checkpoint(trained)
    dm = small_data(src_vocab=model.src_vocab.tokens, tgt_vocab=[*model.tgt_vocab.tokens, "new"])
    n = len(model.tgt_vocab)
    with pytest.raises(ValueError, match=rf"target vocabulary mismatch \(sizes {n} vs {n + 1}\)"):
        run_stage("test", model, dm)


@pytest.mark.parametrize("stage", ["fit", "validate", "test", "predict"])
def test_the_fix_the_error_suggests_works(trained: Path, stage: str) -> None:
    model = LitSeq2Seq.load_from_checkpoint(trained)
    dm = small_data(src_vocab=model.src_vocab.tokens, tgt_vocab=model.tgt_vocab.tokens)
    run_stage(stage, model, dm)
    assert all(torch.isfinite(p).all() for p in model.parameters())
