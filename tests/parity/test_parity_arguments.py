"""Both systems take their arguments the same way: the same inputs build the same config and schedule,
and the same wrong inputs are refused with the same message (each naming its own class)."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from keras_seq2seq.system import Seq2SeqModel
from lit_seq2seq import LitSeq2Seq
from seq2seq_fit import Seq2SeqConfig, TeacherForcing
from tests.helpers.parity import TOKENS

pytestmark = pytest.mark.backend_independent  # argument handling, before any backend arithmetic

SMALL = {"hidden_size": 8, "embedding_dim": 8, "cell": "lstm"}
SCHEDULE = {"schedule": "linear", "start": 0.9, "decay_steps": 40}
#: config and teacher_forcing in every form a user (or a checkpoint's read-only hparams view) passes.
FORMS = {
    "none": (None, None),
    "objects": (Seq2SeqConfig(**SMALL), TeacherForcing(**SCHEDULE)),
    "dicts": (SMALL, SCHEDULE),
    "read-only mappings": (MappingProxyType(SMALL), MappingProxyType(SCHEDULE)),
}


@pytest.mark.parametrize("form", list(FORMS))
def test_both_models_coerce_config_and_schedule_the_same_way(form: str) -> None:
    config, schedule = FORMS[form]
    lit, model = LitSeq2Seq(TOKENS, TOKENS, config, schedule), Seq2SeqModel(TOKENS, TOKENS, config, schedule)
    assert isinstance(lit.config, Seq2SeqConfig) and isinstance(lit.teacher_forcing, TeacherForcing)
    assert model.config == lit.config and model.teacher_forcing == lit.teacher_forcing
    expected = (
        (Seq2SeqConfig(), TeacherForcing()) if form == "none" else (Seq2SeqConfig(**SMALL), TeacherForcing(**SCHEDULE))
    )
    assert (lit.config, lit.teacher_forcing) == expected


@pytest.mark.parametrize(
    ("argument", "value", "named"),
    [
        ("config", "big", "<system>.config: got 'big'"),
        ("teacher_forcing", 3, "<system>.teacher_forcing: got 3"),
        ("config", {"bogus": 1}, "unknown key(s) 'bogus'"),
        ("teacher_forcing", {"start": 2.0}, "TeacherForcing.start: got 2.0"),
    ],
)
def test_both_models_refuse_the_same_arguments_with_the_same_message(argument: str, value: object, named: str) -> None:
    messages = []
    for cls in (LitSeq2Seq, Seq2SeqModel):
        with pytest.raises(ValueError) as error:
            cls(TOKENS, TOKENS, **{argument: value})
        messages.append(str(error.value).replace(cls.__name__, "<system>"))
    assert messages[0] == messages[1]
    assert named in messages[0]
