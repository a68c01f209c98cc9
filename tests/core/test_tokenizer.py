"""How ``translate`` splits string sources, the same way for Lightning and Keras."""

import pytest

from seq2seq_fit import check_tokenizer, split_tokens
from seq2seq_fit.tokenizer import ALIASES, TOKENIZERS


def test_whitespace_splits_on_any_run_of_whitespace():
    assert split_tokens("  I feel\thungry \n") == ["I", "feel", "hungry"]
    assert split_tokens("", "whitespace") == []


@pytest.mark.parametrize("name", ["chars", *ALIASES])
def test_every_spelling_of_chars_splits_into_characters(name):
    assert split_tokens("a b", name) == ["a", " ", "b"]


def test_token_lists_pass_through_whatever_the_tokenizer():
    tokens = ("ab", "c")
    assert split_tokens(tokens, "chars") == ["ab", "c"]
    assert split_tokens(["x"], "bpe") == ["x"], "a token list needs no tokenizer"


def test_a_callable_tokenizer_is_used_as_is():
    assert split_tokens("a-b-c", lambda s: s.split("-")) == ["a", "b", "c"]
    check_tokenizer(str.split)


def test_unknown_tokenizer_names_the_value_and_the_choices():
    with pytest.raises(ValueError) as error:
        split_tokens("abc", "bpe")
    message = str(error.value)
    assert message.startswith("translate.tokenizer: got 'bpe'")
    for name in (*TOKENIZERS, *ALIASES):
        assert repr(name) in message
    with pytest.raises(ValueError, match=r"^cli\.tokenizer: got 'space'"):
        check_tokenizer("space", owner="cli")


# -- the Tokenizer protocol, the adapters and training ---------------------------------------------

import base64  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from seq2seq_fit import InputError, ModelFormatError, Vocab  # noqa: E402
from seq2seq_fit.scores import EvalRecord, free_running_scores  # noqa: E402
from seq2seq_fit.tokenizer import (  # noqa: E402
    CHARS,
    TOKENIZER_CONFIG_FILE,
    WHITESPACE,
    Tokenizer,
    as_tokenizer,
    read_tokenizer_files,
    tokenizer_files,
    train_tokenizer,
)
from seq2seq_fit.vocab import SPECIALS  # noqa: E402

WORDS = "the cat sat on mat a big red dog ran fast slow house garden under over blue green tree river".split()  # noqa: SIM905
#: 120 short sentences over 20 words: enough text for a unigram model to learn whole words.
TEXTS = [" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(3 + i % 4)) for i in range(120)]


@pytest.fixture(scope="module")
def bpe() -> Tokenizer:
    pytest.importorskip("tokenizers")
    return train_tokenizer(TEXTS, "bpe", vocab_size=60)


@pytest.fixture(scope="module")
def unigram() -> Tokenizer:
    pytest.importorskip("sentencepiece")
    return train_tokenizer(TEXTS, "unigram", vocab_size=40)


@pytest.mark.parametrize("tokenizer, text", [(WHITESPACE, "I feel hungry"), (CHARS, "a b!")])
def test_builtins_give_the_text_back_and_fix_no_vocabulary(tokenizer: Tokenizer, text: str) -> None:
    assert tokenizer.detokenize(tokenizer.tokenize(text)) == text
    assert tokenizer.vocab_tokens() is None, "a built-in's ids come from a Vocab built on the data"
    assert as_tokenizer(tokenizer.to_dict()) == tokenizer
    assert isinstance(tokenizer, Tokenizer)


@pytest.mark.parametrize("name", ["bpe", "unigram"])
def test_trained_subword_tokenizers_round_trip_text_and_hold_the_specials_at_0_to_3(name: str, request) -> None:
    tokenizer = request.getfixturevalue(name)
    pieces = tokenizer.vocab_tokens()
    assert pieces[:4] == list(SPECIALS) and len(set(pieces)) == len(pieces)
    for text in ("the cat sat on the mat", "a big dog"):
        tokens = tokenizer.tokenize(text)
        assert all(token in pieces for token in tokens)
        assert tokenizer.detokenize(tokens) == text
    assert len(tokenizer.tokenize("the mat")) < len("the mat"), "pieces, not characters"
    assert tokenizer.detokenize(["<bos>", *tokenizer.tokenize("the cat"), "<eos>", "<pad>"]) == "the cat"
    Vocab(pieces)  # the model's vocabulary as is


@pytest.mark.parametrize("name", ["bpe", "unigram"])
def test_training_is_deterministic_and_the_dict_is_plain_json(name: str, request) -> None:
    tokenizer = request.getfixturevalue(name)
    data = tokenizer.to_dict()
    assert json.loads(json.dumps(data)) == data
    again = train_tokenizer(TEXTS, name, vocab_size=60 if name == "bpe" else 40)
    assert again.to_dict() == data, "the same texts give the same tokenizer"
    assert as_tokenizer(data).vocab_tokens() == tokenizer.vocab_tokens()


def test_a_tokenizer_json_and_a_model_file_load_by_path(bpe: Tokenizer, unigram: Tokenizer, tmp_path: Path) -> None:
    hf_path, spm_path = tmp_path / "tokenizer.json", tmp_path / "spm.model"
    bpe.tokenizer.save(str(hf_path))  # type: ignore[attr-defined]
    spm_path.write_bytes(base64.b64decode(unigram.to_dict()["model"]))
    assert as_tokenizer(str(hf_path)).kind == "huggingface"
    assert as_tokenizer(spm_path).tokenize("the cat") == unigram.tokenize("the cat")
    with pytest.raises(InputError, match=r"missing\.json: no such file"):
        as_tokenizer(str(tmp_path / "missing.json"))


def test_the_library_objects_are_accepted_as_they_are(bpe: Tokenizer, unigram: Tokenizer) -> None:
    assert as_tokenizer(bpe.tokenizer).tokenize("the dog") == bpe.tokenize("the dog")  # type: ignore[attr-defined]
    assert as_tokenizer(unigram.processor).kind == "sentencepiece"  # type: ignore[attr-defined]


def test_a_hugging_face_tokenizer_with_other_specials_at_0_to_3_is_refused_saying_which() -> None:
    pytest.importorskip("tokenizers")
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import models, pre_tokenizers, trainers

    hf = HFTokenizer(models.WordLevel(unk_token="[UNK]"))
    hf.pre_tokenizer = pre_tokenizers.Whitespace()
    hf.train_from_iterator(TEXTS, trainers.WordLevelTrainer(special_tokens=["[UNK]", "[CLS]", "[SEP]", "[PAD]"]))
    with pytest.raises(InputError) as error:
        as_tokenizer(hf)
    message = str(error.value)
    assert "id 0 is '[UNK]' (unk)" in message and "id 3 is '[PAD]' (pad)" in message
    assert 'special_tokens=["<pad>", "<bos>", "<eos>", "<unk>"]' in message
    ok = HFTokenizer(models.WordLevel(unk_token="[UNK]"))
    ok.pre_tokenizer = pre_tokenizers.Whitespace()
    ok.train_from_iterator(TEXTS, trainers.WordLevelTrainer(special_tokens=["[PAD]", "[CLS]", "[SEP]", "[UNK]"]))
    assert as_tokenizer(ok).vocab_tokens()[:4] == list(SPECIALS), "BERT's spellings map onto the model's"


def test_a_sentencepiece_model_with_default_ids_is_refused_naming_them() -> None:
    spm = pytest.importorskip("sentencepiece")
    import io

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(TEXTS), model_writer=model, vocab_size=30, hard_vocab_limit=False, minloglevel=2
    )
    with pytest.raises(InputError) as error:
        as_tokenizer(spm.SentencePieceProcessor(model_proto=model.getvalue()))
    message = str(error.value)
    assert "pad_id=-1, bos_id=1, eos_id=2, unk_id=0" in message and "--pad_id=0 --bos_id=1" in message


@pytest.mark.parametrize("module, kind", [("tokenizers", "bpe"), ("sentencepiece", "unigram")])
def test_a_missing_extra_is_one_line_naming_it(module: str, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    with pytest.raises(InputError, match=rf"needs the {module} package.*pip install 'seq2seq-fit\[{module}\]'"):
        train_tokenizer(TEXTS, kind, vocab_size=30)


def test_training_arguments_are_checked() -> None:
    with pytest.raises(InputError, match=r"train_tokenizer\.kind: got 'wordpiece'"):
        train_tokenizer(TEXTS, "wordpiece")
    with pytest.raises(InputError, match=r"train_tokenizer\.vocab_size: got 2"):
        train_tokenizer(TEXTS, "bpe", vocab_size=2)
    with pytest.raises(InputError, match="no non-empty text"):
        train_tokenizer(["", " "], "bpe")


def test_model_directory_files_round_trip(bpe: Tokenizer, unigram: Tokenizer, tmp_path: Path) -> None:
    for name, content in tokenizer_files(bpe, unigram).items():
        (tmp_path / name).write_bytes(content)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "source_tokenizer.json",
        "target.model",
        TOKENIZER_CONFIG_FILE,
    ]
    src, tgt = read_tokenizer_files(tmp_path)
    assert src == bpe and tgt == unigram
    (tmp_path / "target.model").unlink()
    with pytest.raises(ModelFormatError, match=r"target\.model: missing"):
        read_tokenizer_files(tmp_path)


def test_a_directory_without_tokenizer_files_reads_as_whitespace(tmp_path: Path) -> None:
    assert read_tokenizer_files(tmp_path) == (WHITESPACE, WHITESPACE)


def test_scores_of_a_subword_model_count_words_not_pieces(bpe: Tokenizer) -> None:
    vocab = Vocab(bpe.vocab_tokens())
    reference = vocab.encode(bpe.tokenize("the cat sat"), add_eos=True)
    wrong_piece = vocab.encode(bpe.tokenize("the cat sa"), add_eos=True)
    records = [
        EvalRecord((5,), tuple(reference), tuple(reference)),
        EvalRecord((6,), tuple(wrong_piece), tuple(reference)),
    ]
    words = free_running_scores(records, vocab, bpe)
    pieces = free_running_scores(records, vocab)
    assert words["exact_match"] == pieces["exact_match"] == 50.0
    assert words["per"] == pytest.approx(100 * 1 / 6), "one word of the 3 + 3 reference words is wrong"
    assert free_running_scores(records, vocab, WHITESPACE) == pieces, "built-ins score their tokens as before"
