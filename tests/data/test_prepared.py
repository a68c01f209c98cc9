"""PreparedData: vocabularies from the train split, unknown tokens, vocabulary checks."""

import pytest

from datamodules import UNK_ID, PreparedData
from datamodules.corpus import Corpus


def test_vocab_comes_from_train_and_unknowns_are_handled(caplog):
    corpus = Corpus("c", train=[(["a", "b"], ["x"])], val=[(["a", "z"], ["x", "y"])], test=[])
    data = PreparedData(corpus, batch_size=2)
    data.setup()
    assert "z" not in data.src_vocab and "y" not in data.tgt_vocab
    assert data.encoded["val"].sources[0].tolist() == [data.src_vocab.id("a"), UNK_ID]
    assert data.encoded["val"].unknown_target_tokens == 1
    assert "1 target token(s) not in the target vocabulary" in caplog.text


def test_given_vocabularies_are_reused_and_checked():
    data = PreparedData("toy", batch_size=2)
    data.setup()
    again = PreparedData("toy", src_vocab=data.src_vocab.tokens, tgt_vocab=data.tgt_vocab.tokens)
    again.setup()
    assert again.src_vocab == data.src_vocab
    data.check_vocabs(again.src_vocab, again.tgt_vocab)
    other = PreparedData("reverse", batch_size=2)
    other.setup()
    with pytest.raises(ValueError, match="source vocabulary mismatch"):
        data.check_vocabs(other.src_vocab, data.tgt_vocab)


def test_bad_arguments():
    with pytest.raises(ValueError, match="batch_size: got 0"):
        PreparedData("toy", batch_size=0)
    with pytest.raises(ValueError, match="pad_to_multiple"):
        PreparedData("toy", pad_to_multiple=0)
