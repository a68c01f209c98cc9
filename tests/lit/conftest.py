"""Fixtures of the Lightning tests (helpers live in ``lit_helpers.py``)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
import torch

from datamodules import Seq2SeqDataModule


@pytest.fixture(autouse=True)
def two_threads() -> Iterator[None]:
    torch.set_num_threads(2)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*smaller than the logging interval.*")
        warnings.filterwarnings("ignore", ".*LeafSpec.*")
        yield


@pytest.fixture
def toy_data() -> Seq2SeqDataModule:
    return Seq2SeqDataModule("toy", batch_size=4)
