"""End-to-end learning: the model memorises the toy corpus and learns to reverse sequences."""

from __future__ import annotations

import lightning.pytorch as pl

from datamodules import Seq2SeqDataModule
from lit_seq2seq import LitSeq2Seq
from tests.helpers.lightning import quiet_trainer


def test_memorises_the_toy_corpus() -> None:
    dm = Seq2SeqDataModule("toy", batch_size=4)
    model = LitSeq2Seq(dm.src_vocab, dm.tgt_vocab, {"embedding_dim": 32, "hidden_size": 32}, lr=0.02)
    quiet_trainer(max_steps=60, limit_val_batches=0).fit(model, dm)
    sources = [" ".join(s) for s, _ in dm.corpus.train]
    assert model.translate(sources) == [t for _, t in dm.corpus.train]
    assert model.translate(sources, strategy="beam", beam_width=3) == [t for _, t in dm.corpus.train]


def test_learns_reverse_to_095_exact_match() -> None:
    """Sequences of 5-10 symbols out of 10, 5000 training pairs, 12 epochs (about 20 s of one CPU core)."""
    pl.seed_everything(0)
    dm = Seq2SeqDataModule("reverse", batch_size=64)
    config = {"hidden_size": 64, "embedding_dim": 32, "attention": "luong", "luong_score": "dot", "bidirectional": True}
    model = LitSeq2Seq(dm.src_vocab, dm.tgt_vocab, config, lr=0.01)
    trainer = quiet_trainer(max_epochs=12, gradient_clip_val=1.0, limit_val_batches=0)
    trainer.fit(model, dm)
    metrics = trainer.test(model, dm, verbose=False)[0]
    assert metrics["test/exact_match"] >= 95.0, metrics
    words = ["".join(s) for s, _ in dm.corpus.test[:100]]
    reversed_ok = [
        out == list(w[::-1]) for out, w in zip(model.translate(words, tokenizer="chars"), words, strict=True)
    ]
    assert sum(reversed_ok) >= 90, "translate on strings agrees with the test metric"
