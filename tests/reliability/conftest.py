"""Fixtures of the reliability tests: one intra-op thread, quiet Lightning warnings."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models on a shared 2-core box: one OpenMP thread is many times faster than two."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*smaller than the logging interval.*")
        warnings.filterwarnings("ignore", ".*LeafSpec.*")
        warnings.filterwarnings("ignore", ".*callbacks used to create the checkpoint need to be provided.*")
        warnings.filterwarnings("ignore", ".*dataloader is not resumable.*")
        yield
    torch.set_num_threads(threads)
