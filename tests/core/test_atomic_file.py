"""Atomic replacement: the old file survives a failed write, and no temporary file is left."""

import os

import pytest

from seq2seq_fit.atomic_file import atomic_write_path, temp_prefix
from tests.helpers import file_modes, umask

__all__ = ["umask"]


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


def test_the_written_file_gets_the_umask_mode_even_when_the_writer_replaces_it(tmp_path, umask):
    target = tmp_path / "model.safetensors"
    with atomic_write_path(target) as tmp:
        # What safetensors' save_file does: write its own 0600 file and rename it over the prepared one.
        own = tmp_path / "own"
        own.write_bytes(b"weights")
        own.chmod(0o600)
        os.replace(own, tmp)
    assert target.read_bytes() == b"weights"
    assert file_modes(tmp_path) == {"model.safetensors": 0o666 & ~umask}


def test_a_plain_write_gets_the_umask_mode(tmp_path, umask):
    with atomic_write_path(tmp_path / "config.json") as tmp:
        tmp.write_text("{}")
    assert file_modes(tmp_path) == {"config.json": 0o666 & ~umask}
