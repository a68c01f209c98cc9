"""``Seq2SeqModel.fit`` refuses data encoded with other vocabularies."""

from __future__ import annotations

import numpy as np
import pytest

from datamodules.keras import KerasData
from keras_seq2seq import Seq2SeqModel
from seq2seq_fit import Seq2SeqConfig

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


def reverse(num_symbols: int) -> KerasData:
    options = {"n_train": 8, "n_val": 4, "n_test": 4, "num_symbols": num_symbols}
    return KerasData("reverse", batch_size=4, corpus_options=options)


def test_fit_refuses_data_with_another_vocabulary_before_training() -> None:
    data, other = reverse(8), reverse(6)
    model = Seq2SeqModel(data.src_vocab, data.tgt_vocab, Seq2SeqConfig(hidden_size=16, embedding_dim=8))
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"source vocabulary mismatch \(.*\).*src_vocab=") as error:
        model.fit(other.train(), epochs=1, verbose=0)
    assert "pass the model's vocabularies" in str(error.value)
    with pytest.raises(ValueError, match=r"source vocabulary mismatch"):
        model.fit(data.train(), validation_data=other.val(), epochs=1, verbose=0)
    assert model.optimizer.iterations.numpy() == 0  # refused before any step
    with pytest.raises(ValueError, match=r"source vocabulary mismatch"):
        model.check_data(other)


def test_data_built_with_the_models_vocabularies_is_accepted() -> None:
    data = reverse(8)
    model = Seq2SeqModel(data.src_vocab, data.tgt_vocab, Seq2SeqConfig(hidden_size=16, embedding_dim=8))
    same = KerasData(
        "reverse",
        batch_size=4,
        corpus_options={"n_train": 8, "n_val": 4, "n_test": 4, "num_symbols": 6},
        src_vocab=model.src_vocab.tokens,
        tgt_vocab=model.tgt_vocab.tokens,
    )
    assert same.src_vocab.tokens == model.src_vocab.tokens and same.tgt_vocab.tokens == model.tgt_vocab.tokens
    model.check_data(same)
    model.check_data(same.train())
    model.compile(optimizer="adam", run_eagerly=True)  # eager: one small step, no graph to compile
    history = model.fit(same.train(), epochs=1, steps_per_epoch=1, verbose=0)
    assert model.optimizer.iterations.numpy() == 1  # trained, not refused
    assert np.isfinite(history.history["loss"][0])
