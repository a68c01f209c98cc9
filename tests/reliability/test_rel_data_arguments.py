"""Bad arguments (data side): ``Seq2SeqDataModule`` checks every argument when it is
constructed (some used to be checked only in ``setup``, or never), naming the argument, the value
and what is allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from datamodules import PreparedData, Seq2SeqDataModule


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("corpus", "cmu_dict", "neither a built-in corpus (toy, cmudict, cmudict-phrases, reverse, copy, sort"),
        ("corpus", 42, "expected a built-in name"),
        ("batch_size", 0, "an integer >= 1"),
        ("batch_size", 2.0, "an integer >= 1"),
        ("batch_size", True, "an integer >= 1"),
        ("max_length", 0, "an integer >= 1 or None"),
        ("max_length", "10", "an integer >= 1 or None"),
        ("length_policy", "drop", "'filter', 'truncate', 'error'"),
        ("bucket", "yes", "True or False"),
        ("seed", -1, "an integer >= 0"),
        ("num_workers", -1, "an integer >= 0"),
        ("num_workers", 1.5, "an integer >= 0"),
        ("pin_memory", 1, "True or False"),
        ("min_freq", 0, "an integer >= 1"),
        ("max_vocab", 3, "an integer >= 4 or None"),
        ("corpus_options", ["stress"], "a dict or None"),
    ],
)
def test_data_module_arguments_are_checked_at_construction(name: str, value: Any, allowed: str) -> None:
    with pytest.raises(ValueError) as err:
        Seq2SeqDataModule(**{name: value})
    message = str(err.value)
    assert message.startswith(f"{name}: got {value!r}"), message
    assert allowed in message, message


def test_length_policy_is_checked_even_without_max_length() -> None:
    """It used to be looked at only when ``max_length`` was set, so a typo passed silently."""
    with pytest.raises(ValueError, match="length_policy: got 'trunc'"):
        PreparedData("toy", length_policy="trunc")


def test_an_existing_path_without_a_suffix_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "pairs"
    path.write_text("a\tb\n" * 20, encoding="utf-8")
    dm = Seq2SeqDataModule(str(path), batch_size=2, corpus_options={"val_percent": 0, "test_percent": 0})
    assert len(dm.src_vocab) == 5


def test_valid_arguments_pass() -> None:
    dm = Seq2SeqDataModule(
        "toy", batch_size=1, max_length=None, length_policy="error", bucket=False, seed=3, max_vocab=None
    )
    assert len(dm.tgt_vocab) > 4
