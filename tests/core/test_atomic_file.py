"""Atomic replacement: the old file survives a failed write, and no temporary file is left."""

import os

import pytest

from seq2seq_fit.atomic_file import atomic_write_path, temp_prefix


def test_success_replaces_the_file(tmp_path):
    target = tmp_path / "sub" / "model.ckpt"
    with atomic_write_path(target, suffix=".ckpt") as tmp:
        assert tmp.parent == target.parent and tmp.name.endswith(".ckpt")
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert os.listdir(target.parent) == ["model.ckpt"]


def test_failure_mid_write_keeps_the_previous_file_and_leaves_nothing(tmp_path):
    target = tmp_path / "model.ckpt"
    target.write_bytes(b"previous")
    with pytest.raises(RuntimeError, match="disk full"), atomic_write_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["model.ckpt"]


def test_stale_temporary_files_of_killed_writers_are_removed(tmp_path):
    target = tmp_path / "last.ckpt"
    stale = tmp_path / f"{temp_prefix(target)}abc"
    stale.write_bytes(b"partial")
    with atomic_write_path(target) as tmp:
        tmp.write_bytes(b"ok")
    assert not stale.exists() and target.read_bytes() == b"ok"
