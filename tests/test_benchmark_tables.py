"""The benchmarks' bookkeeping: G2P runs summarised as mean ± sd over seeds and merged across result files
(``g2p.py --combine``), and the committed results reproduced by the scripts: the throughput tables are the jobs of
their config files, the inference and scheduled-sampling tables what the scripts write from the committed rows."""

from __future__ import annotations

import dataclasses
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import common, g2p, inference, ss_study, throughput
from seq2seq_fit.presets import PRESETS


def run(framework: str, variant: str, seed: int, wer: float) -> dict:
    curve = [{"step": 444.0 * (e + 1), "epoch": float(e), "val_wer": 60.0 - 5 * e - seed} for e in range(3)]
    return {"framework": framework, "variant": variant, "seed": seed, "train_minutes": 10.0 + seed, "epochs": 3,
            "steps": 1332, "curve": curve, "greedy_wer": wer, "greedy_per": wer / 4, "beam5_wer": wer - 0.5,
            "beam5_per": wer / 4 - 0.1, "test_words": 12533}  # fmt: skip


def write(
    tmp: Path, tag: str, runs: list[dict], hidden_size: int = 256, test_words: int = 0, max_epochs: int = 7
) -> None:
    args = {"test_words": test_words, "max_epochs": max_epochs, "lr": 2e-3, "lr_schedule": "cosine"}
    meta = {"device": "cpu", "config": {**PRESETS["cpu"].to_dict(), "hidden_size": hidden_size}, "args": args}
    (tmp / f"g2p_{tag}.json").write_text(json.dumps({"meta": meta, "rows": runs}))


@pytest.fixture
def results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(common, "RESULTS", tmp_path)
    return tmp_path


def test_summary_is_the_mean_and_sample_sd_over_seeds_per_framework_and_variant() -> None:
    wers = [32.4, 32.3, 33.0]
    runs = [run("lightning", "ss-parallel", s, w) for s, w in enumerate(wers)] + [
        run("keras-torch", "ss-parallel", 0, 34.0)
    ]
    lit, keras = g2p.summarise(runs)
    assert (lit["framework"], lit["seeds"], keras["seeds"]) == ("lightning", 3, 1)
    assert lit["greedy_wer"] == pytest.approx(statistics.mean(wers))
    assert lit["greedy_wer_sd"] == pytest.approx(statistics.stdev(wers))
    assert lit["greedy_wer_text"] == f"{statistics.mean(wers):.2f} ± {statistics.stdev(wers):.2f}"
    # one seed has no spread: no sd, and the text is the value alone (not a "± 0.00" that looks measured)
    assert keras["greedy_wer_sd"] is None and keras["greedy_wer_text"] == "34.00" and keras["epochs"] == 3


def test_combine_merges_result_files_into_one_table(results: Path) -> None:
    write(results, "a", [run("lightning", "teacher-forcing", s, 32.0 + s / 10) for s in range(3)])
    write(results, "b", [run("keras-torch", "teacher-forcing", 0, 33.0)])
    g2p.main(["--combine", "a", "b", "--tag", "both"])
    table = (results / "g2p_both.md").read_text()
    assert "| lightning | teacher-forcing | 3 | 32.10 ± 0.10 |" in table
    assert "| keras-torch | teacher-forcing | 1 | 33.00 |" in table
    assert "`g2p_a.json`, `g2p_b.json`" in table and "Sequitur" in table  # sources and published numbers
    rows = json.loads((results / "g2p_both.json").read_text())["rows"]
    assert len([r for r in rows if "seed" in r]) == 4


def test_combine_refuses_files_of_different_models(results: Path) -> None:
    write(results, "a", [run("lightning", "teacher-forcing", 0, 32.0)])
    write(results, "b", [run("lightning", "teacher-forcing", 1, 32.0)], hidden_size=512)
    with pytest.raises(SystemExit, match="different model configs"):
        g2p.main(["--combine", "a", "b", "--tag", "both"])
    write(results, "c", [run("lightning", "teacher-forcing", 2, 32.0)], test_words=500)
    with pytest.raises(SystemExit, match="different --test-words"):
        g2p.main(["--combine", "a", "c", "--tag", "both"])
    write(results, "d", [run("lightning", "teacher-forcing", 1, 29.0)], max_epochs=20)  # a longer budget
    with pytest.raises(SystemExit, match="different training budgets or protocols"):
        g2p.main(["--combine", "a", "d", "--tag", "both"])
    with pytest.raises(SystemExit, match=r"g2p_missing\.json does not exist"):
        g2p.main(["--combine", "a", "missing", "--tag", "both"])


def test_keras_rows_show_compile_counts_and_the_peer_is_printed_beside_ours(results: Path) -> None:
    keras_runs = [run("keras-jax", "teacher-forcing", s, 33.0) for s in range(2)]
    for r, train, seconds in zip(keras_runs, (9, 11), (30.0, 40.0), strict=True):
        r["compiles"] = {"backend": "jax", "train": train, "test": 4, "predict": 0, "other": 20, "seconds": seconds}
    write(results, "a", [run("lightning", "teacher-forcing", 0, 32.0), *keras_runs])
    g2p.main(["--combine", "a", "--tag", "both"])
    table = (results / "g2p_both.md").read_text()
    assert "| lightning | teacher-forcing | 1 | 32.00 | 8.00 | 31.50 | 7.90 | 3.0 | 10.0 |  |  |" in table
    assert "| 3.0 | 10.5 | 10/4/0 | 35.0 |" in table  # keras: mean compiles train/test/predict and seconds
    assert "`g2p_en` 2.1.0" in table and "WER 27.08 %, PER 8.01 %" in table and "same split" in table


def test_cpu_lists_use_the_taskset_syntax_and_bad_ones_name_the_value() -> None:
    assert sorted(common.parse_cpus("0-2,5")) == [0, 1, 2, 5]
    assert common.parse_cpus("1") == {1}
    with pytest.raises(SystemExit, match="'0-x'"):
        common.parse_cpus("0-x")


@pytest.mark.skipif(len(common.allowed_cpus() or []) < 2, reason="needs a machine with 2 or more CPUs")
def test_a_jax_run_asked_for_one_thread_runs_one_xla_thread_on_one_cpu() -> None:
    """XLA ignores its thread flags and sizes its pool from the CPUs it may use: two runs side by side,
    each at --threads 1, took 3 CPUs' worth of time on 2 cores until the JAX one was pinned."""
    pytest.importorskip("jax")
    code = (
        "import os\n"
        "from benchmarks.common import keras_env, set_backend_threads\n"
        "os.environ.update(keras_env('jax', True, 1))\n"
        "set_backend_threads('jax', 1)\n"
        "import jax.numpy as jnp\n"
        "(jnp.ones((256, 256)) @ jnp.ones((256, 256))).block_until_ready()\n"
        "names = [open(f'/proc/self/task/{t}/comm').read().strip() for t in os.listdir('/proc/self/task')]\n"
        "print(len(os.sched_getaffinity(0)), names.count('tf_XLAEigen'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    cpus, xla_threads = map(int, out.stdout.split()[-2:])
    assert cpus == 1
    assert xla_threads <= 1


def test_committed_results_are_read_by_the_table_code(tmp_path: Path) -> None:
    for tag in ("lightning-cpu-bahdanau-384", "keras-cpu-bahdanau-384"):
        (tmp_path / f"g2p_{tag}.json").write_text((common.RESULTS / f"g2p_{tag}.json").read_text())
    g2p.main(["--combine", "lightning-cpu-bahdanau-384", "keras-cpu-bahdanau-384", "--tag", "both",
              "--results", str(tmp_path)])  # fmt: skip
    table = (tmp_path / "g2p_both.md").read_text()
    assert "| lightning | teacher-forcing | 1 | 25.32 | 6.04 | 24.87 | 5.95 |" in table
    assert "| keras-jax | teacher-forcing | 1 | 25.36 |" in table and "16/3/0" in table  # its compile counts


@pytest.mark.parametrize(
    "config,results",
    [("throughput.yaml", "throughput_cpu"), ("throughput-keras-overhead.yaml", "throughput_cpu-keras-overhead")],
)
def test_the_committed_throughput_tables_are_the_jobs_of_their_config_files(config: str, results: str) -> None:
    """Every committed row, in order, is a job of the config file that ``make bench`` reads: the same name, model,
    decoder mode, precision, compile setting, timing and trainer timing (fields added to the configs since are new).
    The only jobs without a committed row are the Transformer's, added after the table was measured."""
    path = throughput.CONFIG.parent / config
    loaded = throughput.load_config(path)
    every, skipped = throughput.expand(loaded, path)
    rows = json.loads((common.RESULTS / f"{results}.json").read_text())["rows"]
    measured = {r["variant"] for r in rows}
    unmeasured = [j for j in every if j["name"] not in measured]
    assert all(j["config"]["architecture"] == "transformer" for j in unmeasured), [j["name"] for j in unmeasured]
    jobs = [j for j in every if j["name"] in measured]
    assert not skipped and [j["name"] for j in jobs] == [r["variant"] for r in rows]
    assert loaded["tag"] == results.removeprefix("throughput_")
    for job, row in zip(jobs, rows, strict=True):
        for key in ("config", "teacher_forcing"):
            assert {k: job[key][k] for k in row[key]} == row[key], (job["name"], key)
        assert (job["section"], job["mode"], job["precision"], job["jit"]) == (
            row["section"], row["mode"], row["precision"], row["compile"],
        )  # fmt: skip
        assert {k: job[k] for k in row["settings"]} == row["settings"]
        assert job["trainer_too"] == ("trainer_step_ms" in row)


@pytest.mark.parametrize("config", ["throughput.yaml", "throughput-gpu.yaml"])
def test_make_bench_and_bench_gpu_time_the_transformer_in_both_trainers_and_its_quick_mode_runs_it(config: str) -> None:
    path = throughput.CONFIG.parent / config
    loaded = throughput.load_config(path)
    jobs = [j for j in throughput.expand(loaded, path)[0] if j["config"]["architecture"] == "transformer"]
    assert {j["label"] for j in jobs if j["trainer_too"]} >= {"lightning", "keras/jax", "keras/torch"}
    assert {"parallel SS K=1", "parallel SS K=2"} <= {j["mode"] for j in jobs if j["label"] == "lightning"}
    quick = [j for j in throughput.expand(loaded, path, quick=True)[0] if j["config"]["architecture"] == "transformer"]
    assert quick and all(j["config"]["hidden_size"] == 16 and j["config"]["ffn_size"] == 32 for j in quick)


def test_a_transformers_model_flops_grow_with_its_feed_forward_width() -> None:
    data = throughput.size_data("g2p-transformer", 8, 1, smoke=True)
    small = throughput.PRESETS["cpu-transformer"]
    wide = dataclasses.replace(small, ffn_size=2 * small.feed_forward_size)
    base = common.flops_per_target_token(small, data)
    src_len, tgt_len = data.mean_lengths
    per_block = 4 * small.hidden_size * small.feed_forward_size  # one more feed-forward width per block and token
    assert common.flops_per_target_token(wide, data) - base == pytest.approx(
        small.num_layers * per_block * (1 + src_len / tgt_len)
    )


def test_a_throughput_config_with_an_unknown_job_key_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("device: cpu\ntag: t\ntiming: {}\nsizes: {}\njobs:\n  - {section: overhead, framwork: lightning}\n")
    with pytest.raises(SystemExit, match=r"t\.yaml: jobs\[0\]: unknown key\(s\) \['framwork'\]"):
        throughput.expand(throughput.load_config(path), path)


@pytest.mark.parametrize("tag", ["g2p-cpu-t1", "g2p-cpu-t1-keras-all"])
def test_the_committed_inference_tables_are_what_the_script_writes_from_their_rows(tag: str) -> None:
    data = json.loads((common.RESULTS / f"inference_{tag}.json").read_text())
    rows = [r for r in data["rows"] if r.get("phase") != "keras-pick"]
    pick = [r for r in data["rows"] if r.get("phase") == "keras-pick"]
    assert inference.results_table(rows, pick, data["meta"]) == (common.RESULTS / f"inference_{tag}.md").read_text()


def test_the_scheduled_sampling_tables_regenerate_byte_for_byte_from_the_committed_runs(tmp_path: Path) -> None:
    shutil.copytree(common.RESULTS / "ss_cpu_runs", tmp_path / "ss_cpu_runs")
    committed = json.loads((common.RESULTS / "ss_cpu.json").read_text())
    meta = {k: v for k, v in committed["meta"].items() if k not in ("written", "cpu_count")}
    ss_study.write_report(tmp_path, "cpu", meta)
    assert (tmp_path / "ss_cpu.md").read_text() == (common.RESULTS / "ss_cpu.md").read_text()
    assert json.loads((tmp_path / "ss_cpu.json").read_text())["rows"] == committed["rows"]
