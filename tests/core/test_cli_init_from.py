"""``--init_from DIR``'s framework-free part: the directory's config against the options given beside it,
and the data arguments that encode a corpus with the model's vocabularies and tokenizers."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from seq2seq_fit.cli.errors import CLIError
from seq2seq_fit.cli.init_from import init_data_options, read_init_from
from seq2seq_fit.config import Seq2SeqConfig
from seq2seq_fit.errors import ModelFormatError
from seq2seq_fit.model_format import save_pretrained
from seq2seq_fit.teacher_forcing import TeacherForcing
from seq2seq_fit.weight_layout import canonical_shapes

TOKENS = ["<pad>", "<bos>", "<eos>", "<unk>", "a", "b"]
CONFIG = Seq2SeqConfig(hidden_size=8, embedding_dim=4, attention="bahdanau")


def saved_model(directory: Path, tokenizer: str | None = None) -> Path:
    weights = {k: np.full(s, 0.5, np.float32) for k, s in canonical_shapes(CONFIG, 6, 6).items()}
    save_pretrained(
        directory, config=CONFIG, teacher_forcing=TeacherForcing(), src_vocab=TOKENS, tgt_vocab=TOKENS,
        weights=weights, src_tokenizer=tokenizer, tgt_tokenizer=tokenizer,
    )  # fmt: skip
    return directory


def test_the_directory_gives_config_vocabularies_and_weights(tmp_path: Path) -> None:
    saved = read_init_from(saved_model(tmp_path / "m"), given={"hidden_size": 8, "attention": "bahdanau"})
    assert saved.config == CONFIG, "options equal to the model's are accepted"
    assert saved.src_vocab.tokens == TOKENS and float(saved.weights["bridge.weight"][0, 0]) == 0.5


@pytest.mark.parametrize(
    ("preset", "given", "message"),
    [
        (None, {"hidden_size": 16}, "Seq2SeqConfig.hidden_size: got 16 from the command line, but the model has 8"),
        (None, {"attention": "luong"}, "Seq2SeqConfig.attention: got 'luong' from the command line, but the model has"),
        ("cpu", {}, "Seq2SeqConfig.embedding_dim: got 64 from --preset cpu, but the model has 4"),
    ],
)
def test_a_config_that_differs_from_the_directorys_is_refused_naming_both_values(
    tmp_path: Path, preset: str | None, given: dict[str, object], message: str
) -> None:
    directory = saved_model(tmp_path / "m")
    with pytest.raises(CLIError, match=f"^--init_from {re.escape(str(directory))}: {re.escape(message)}"):
        read_init_from(directory, preset, given)


def test_a_directory_that_is_not_a_model_is_a_one_line_model_format_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFormatError, match=r"config\.json"):
        read_init_from(tmp_path / "empty")


def test_a_tsv_corpus_is_split_with_the_models_tokenizers_unless_one_is_given(tmp_path: Path) -> None:
    saved = read_init_from(saved_model(tmp_path / "m", tokenizer="chars"))
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("ab\tba\n", encoding="utf-8")
    options = init_data_options(saved, str(tsv), {"on_error": "skip"})
    assert options["src_vocab"] == TOKENS and options["tgt_vocab"] == TOKENS
    assert options["corpus_options"] == {"on_error": "skip", "src_tokenizer": {"kind": "chars"},
                                         "tgt_tokenizer": {"kind": "chars"}}  # fmt: skip
    given = init_data_options(saved, str(tsv), {"tokenizer": "whitespace"})["corpus_options"]
    assert given == {"tokenizer": "whitespace"}, "the user's choice is kept (and checked against the model's later)"
    assert init_data_options(saved, "cmudict", None)["corpus_options"] is None, "a built-in corpus splits as it does"
