"""Fixtures of the reliability tests: one intra-op thread, quiet Lightning warnings (``one_thread``)."""

from __future__ import annotations

from tests.helpers.lightning import one_thread

__all__ = ["one_thread"]
