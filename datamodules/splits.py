"""Deterministic hash-based train/dev/test assignment: sha256 of a salted key, modulo 100 (10% test, 5% dev)."""

from __future__ import annotations

import hashlib


def hash_bucket(key: str, salt: str = "cmudict-g2p-v1") -> int:
    """``int(sha256(salt + TAB + key)) % 100``: stable across machines, runs and frameworks."""
    digest = hashlib.sha256((salt + "\t" + key).encode("utf-8")).hexdigest()
    return int(digest, 16) % 100


def split_of(key: str, salt: str = "cmudict-g2p-v1", test_percent: int = 10, val_percent: int = 5) -> str:
    """``test`` if bucket < test_percent, ``val`` if below test+val, else ``train``."""
    b = hash_bucket(key, salt)
    if b < test_percent:
        return "test"
    if b < test_percent + val_percent:
        return "val"
    return "train"
