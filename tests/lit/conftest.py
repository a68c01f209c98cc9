"""Fixtures of the Lightning tests (helpers live in ``tests.helpers.lightning``)."""

from __future__ import annotations

import pytest

from datamodules import Seq2SeqDataModule
from tests.helpers.lightning import one_thread

__all__ = ["one_thread", "toy_data"]


@pytest.fixture
def toy_data() -> Seq2SeqDataModule:
    return Seq2SeqDataModule("toy", batch_size=4)
