"""The one job runner of the benchmarks (``benchmarks.common.run_jobs``): each job's result file is
written by a child process as soon as it is done, a rerun skips the jobs that have one, a child past
its timeout is stopped with the results it wrote kept, and a result written for other settings is
refused. Also the G2P driver (``benchmarks.g2p``) on a few steps of the shipped ``fit`` commands."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from benchmarks import common, g2p

#: A child that answers each job with its ``x`` doubled, sleeping ``sleep`` seconds first.
CHILD = [sys.executable, "-c", "import time\nfrom benchmarks.common import serve_jobs\n"
         "def run(job):\n    time.sleep(job.get('sleep', 0))\n    if job.get('fail'): raise ValueError('bad')\n"
         "    return {'y': 2 * job['settings']['x']}\nserve_jobs(run)"]  # fmt: skip


def jobs(*xs: int, **extra: object) -> list[dict]:
    return [{"name": f"sub/j{x}", "settings": {"x": x}, **extra} for x in xs]


def test_results_are_files_and_a_rerun_runs_only_the_jobs_without_one(tmp_path: Path) -> None:
    seen: list[str] = []
    got = common.run_jobs(CHILD, jobs(1, 2), tmp_path, on_result=lambda job, run: seen.append(job["name"]))
    assert got == [{"y": 2}, {"y": 4}] and seen == ["sub/j1", "sub/j2"]
    assert json.loads((tmp_path / "sub" / "j1.json").read_text()) == {"settings": {"x": 1}, "run": {"y": 2}}
    stamp = (tmp_path / "sub" / "j1.json").stat().st_mtime_ns
    assert common.run_jobs(["false"], jobs(1, 2), tmp_path) == [{"y": 2}, {"y": 4}]  # no child needed
    assert common.run_jobs(CHILD, jobs(1, 3), tmp_path) == [{"y": 2}, {"y": 6}]
    assert (tmp_path / "sub" / "j1.json").stat().st_mtime_ns == stamp
    common.run_jobs(CHILD, jobs(1), tmp_path, fresh=True)
    assert (tmp_path / "sub" / "j1.json").stat().st_mtime_ns != stamp


def test_a_result_of_other_settings_is_refused_and_a_failed_job_is_run_again(tmp_path: Path) -> None:
    common.run_jobs(CHILD, jobs(1), tmp_path)
    with pytest.raises(SystemExit, match=r"sub/j1\.json was written with other settings; pass --fresh"):
        common.run_jobs(CHILD, [{"name": "sub/j1", "settings": {"x": 5}}], tmp_path)
    (failed,) = common.run_jobs(CHILD, jobs(7, fail=True), tmp_path)
    assert failed == {"error": "ValueError: bad"}
    assert common.run_jobs(CHILD, jobs(7), tmp_path) == [{"y": 14}]


def test_a_child_past_its_timeout_is_stopped_and_keeps_the_results_it_wrote(tmp_path: Path) -> None:
    started = time.time()
    got = common.run_jobs(CHILD, [*jobs(1), *jobs(2, sleep=60)], tmp_path, timeout=3)
    assert got == [{"y": 2}, None] and time.time() - started < 15
    assert not (tmp_path / "sub" / "j2.json").exists()


def test_job_names_stay_inside_the_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected a relative path"):
        common.run_jobs(CHILD, [{"name": "../x", "settings": {}}], tmp_path)


#: A few steps of a tiny model on the built-in ``toy`` corpus.
TINY = ["--corpus", "toy", "--test-words", "20", "--threads", "1", "--tag", "t"]
LIGHTNING_FIT = ["--model.config.hidden_size", "16", "--model.config.embedding_dim", "8", "--data.batch_size", "16",
                 "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.enable_progress_bar",
                 "false"]  # fmt: skip


@pytest.mark.slow  # the default suite runs the driver through tests/test_bench_gpu_smoke.py
def test_the_g2p_driver_runs_lightning_fit_scores_the_saved_model_and_reads_it_on_a_rerun(tmp_path: Path) -> None:
    argv = ["--framework", "lightning", *TINY, "--results", str(tmp_path)]
    g2p.main([*argv, "--", *LIGHTNING_FIT])
    run_dir = tmp_path / "g2p_t_runs" / "teacher-forcing_s0"
    assert "lit_seq2seq.cli fit" in " ".join(json.loads((run_dir.with_suffix(".json")).read_text())["settings"]["fit"])
    assert list(run_dir.rglob("*.ckpt")), "the fit command's own checkpoint"
    data = json.loads((tmp_path / "g2p_t.json").read_text())
    (run,) = [r for r in data["rows"] if "seed" in r]
    assert (run["framework"], run["seed"]) == ("lightning", 0) and 0 < run["test_words"] <= 20
    assert 0 <= run["greedy_wer"] <= 100 and run["beam5_per"] >= 0 and run["config"]["hidden_size"] == 16
    assert run["epochs"] == 1 and run["curve"][0]["val_wer"] >= 0  # the dev curve of the fit command's CSV log
    assert "| lightning | teacher-forcing | 1 |" in (tmp_path / "g2p_t.md").read_text()
    log = (run_dir / "fit.log").stat().st_size
    g2p.main([*argv, "--", *LIGHTNING_FIT])  # read, not trained again
    assert (run_dir / "fit.log").stat().st_size == log
    with pytest.raises(SystemExit, match="written with other settings; pass --fresh"):
        g2p.main([*argv, "--", *LIGHTNING_FIT, "--trainer.max_epochs", "2"])


@pytest.mark.slow
def test_the_g2p_driver_runs_keras_fit_and_reads_its_curve(tmp_path: Path) -> None:
    fit = ["--model.config.hidden_size", "16", "--model.config.embedding_dim", "8", "--data.batch_size", "16",
           "--epochs", "2", "--steps_per_epoch", "2", "--log_dir", "none"]  # fmt: skip
    g2p.main(["--framework", "keras", "--backend", "torch", *TINY, "--results", str(tmp_path), "--", *fit])
    (run,) = [r for r in json.loads((tmp_path / "g2p_t.json").read_text())["rows"] if "seed" in r]
    assert run["framework"] == "keras-torch" and run["epochs"] == 2 and len(run["curve"]) == 2
    assert (tmp_path / "g2p_t_runs" / "teacher-forcing_s0" / "model.keras").exists()
