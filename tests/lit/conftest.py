"""Fixtures of the Lightning tests (helpers live in ``lit_helpers.py``)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
import torch

from datamodules import Seq2SeqDataModule


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models gain nothing from intra-op threads, and on a shared 2-core box two OpenMP threads
    competing with another process slow a step down many times over; the setting is restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*smaller than the logging interval.*")
        warnings.filterwarnings("ignore", ".*LeafSpec.*")
        yield
    torch.set_num_threads(threads)


@pytest.fixture
def toy_data() -> Seq2SeqDataModule:
    return Seq2SeqDataModule("toy", batch_size=4)
