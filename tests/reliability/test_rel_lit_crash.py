"""Crash and recover: a run killed with SIGKILL, restarted with ``ckpt_path="last"``,
finishes and loses at most one checkpoint interval. Subprocesses, so marked slow."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.helpers import REPO

MAX_STEPS = 24
INTERVAL = 4


def start(out: Path, *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tests.reliability.crash_worker", str(out), str(MAX_STEPS), str(INTERVAL), *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)


def step_file(out: Path, name: str) -> int:
    return int((out / name).read_text())


def resume_to_the_end(out: Path) -> None:
    resumed = start(out, "--resume")
    log, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, log[-3000:]
    assert step_file(out, "done") == MAX_STEPS


def assert_clean_checkpoint_folder(out: Path) -> None:
    names = sorted(p.name for p in (out / "ckpts").iterdir())
    assert not [n for n in names if ".tmp-" in n], f"temporary files left: {names}"
    last = torch.load(out / "ckpts" / "last.ckpt", weights_only=True)
    assert last["global_step"] == MAX_STEPS


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_from_last_loses_at_most_one_interval(tmp_path: Path) -> None:
    run = start(tmp_path, "--step-sleep", "0.1")
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and run.poll() is None:
        progress = tmp_path / "progress"
        if progress.exists() and progress.read_text() and int(progress.read_text()) >= 10:
            break
        time.sleep(0.02)
    assert run.poll() is None, "the run must still be going when it is killed"
    os.kill(run.pid, signal.SIGKILL)
    run.wait(timeout=60)
    assert run.returncode == -signal.SIGKILL
    killed_at = step_file(tmp_path, "progress")
    assert 10 <= killed_at < MAX_STEPS and not (tmp_path / "done").exists()

    resume_to_the_end(tmp_path)
    resumed_from = step_file(tmp_path, "resumed_from")
    assert resumed_from % INTERVAL == 0 and resumed_from > 0
    assert killed_at - resumed_from <= INTERVAL, "at most one checkpoint interval lost"
    assert_clean_checkpoint_folder(tmp_path)


@pytest.mark.slow
def test_sigkill_while_writing_last_ckpt_keeps_the_previous_one(tmp_path: Path) -> None:
    # saves: 1 step=4 file, 2 last (4), 3 step=8 file, 4 last (8): killed halfway through writing it
    run = start(tmp_path, "--die-in-save", "4")
    log, _ = run.communicate(timeout=300)
    assert run.returncode == -signal.SIGKILL, log[-3000:]
    assert step_file(tmp_path, "progress") == 8
    folder = sorted(p.name for p in (tmp_path / "ckpts").iterdir())
    assert "last.ckpt" in folder and any(n.startswith(".last.ckpt.tmp-") for n in folder), folder
    assert torch.load(tmp_path / "ckpts" / "last.ckpt", weights_only=True)["global_step"] == 4

    resume_to_the_end(tmp_path)
    assert step_file(tmp_path, "resumed_from") == 4
    assert_clean_checkpoint_folder(tmp_path)
