"""``benchmarks/gpu.py`` (``make bench-gpu``) cannot rot between lent GPUs: its ``--smoke`` mode runs
every part at tiny sizes on the CPU, and these tests read what it wrote."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from benchmarks import gpu, throughput

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, float, dict[str, Any]]:
    out = tmp_path_factory.mktemp("gpu-smoke")
    started = time.perf_counter()
    cmd = [sys.executable, "-m", "benchmarks.gpu", "--smoke", "--out", str(out)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=560)
    seconds = time.perf_counter() - started
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["gpu.json", "gpu.md", "log.txt", "throughput"]
    rows = json.loads((out / "throughput" / "throughput_gpu-quick.json").read_text())
    return json.loads((out / "gpu.json").read_text()), (out / "gpu.md").read_text(), seconds, rows


@pytest.mark.slow  # the --smoke run of every part: about a minute on 2 cores
def test_every_part_finishes_within_its_budget(smoke: tuple[dict[str, Any], str, float, dict[str, Any]]) -> None:
    data, _, seconds, _ = smoke
    assert data["meta"]["smoke"] is True
    assert list(data["parts"]) == list(gpu.PARTS)
    for name, part in data["parts"].items():
        assert part["status"] == "finished", (name, part)
        assert 0 < part["planned"] == part["done"], (name, part)
        assert part["seconds"] <= part["budget_s"]
    assert seconds < 540  # every part at once on a 2-core CPU, shared with other work


@pytest.mark.slow  # the --smoke run of every part: about a minute on 2 cores
def test_the_environment_names_versions_and_no_gpu(smoke: tuple[dict[str, Any], str, float, dict[str, Any]]) -> None:
    env = smoke[0]["environment"]
    assert env["python"] and env["packages"]["torch"] and env["packages"]["lightning"]
    assert env["torch"]["cuda_available"] is False and env["gpu"] is None


@pytest.mark.slow  # the --smoke run of every part: about a minute on 2 cores
def test_pytest_collects_the_gpu_tests_and_skips_each_without_cuda(
    smoke: tuple[dict[str, Any], str, float, dict[str, Any]],
) -> None:
    pt = smoke[0]["pytest"]
    assert {"tests/lit/test_lit_gpu.py", "tests/lit/test_lit_precision.py"} <= set(pt["files"])
    assert pt["exit_code"] == 0
    names = {t["test"] for t in pt["tests"]}
    assert any("test_every_tensor_a_training_step_creates_is_on_the_gpu" in n for n in names)
    assert any("test_16_mixed_on_gpu_runs_float16" in n for n in names)
    assert len(names) >= 20
    assert {t["outcome"] for t in pt["tests"]} == {"skipped"}
    assert all("CUDA" in t["message"] for t in pt["tests"])
    assert pt["counts"]["deselected"] > 0, "the CPU tests of the same files are deselected, not run"


@pytest.mark.parametrize("label", ["lightning", "keras/jax", "keras/torch"])
@pytest.mark.slow  # the --smoke run of every part: about a minute on 2 cores
def test_each_throughput_child_ran_every_quick_row_of_the_gpu_config(
    smoke: tuple[dict[str, Any], str, float, dict[str, Any]], label: str
) -> None:
    data, _, _, measured = smoke
    config = throughput.load_config(gpu.THROUGHPUT_CONFIG) | {"device": "cpu"}
    planned, skipped = throughput.expand(config, gpu.THROUGHPUT_CONFIG, quick=True)
    rows = [r for r in measured["rows"] if r["label"] == label]
    assert sorted(r["variant"] for r in rows) == sorted(j["name"] for j in planned if j["label"] == label)
    assert any(r["compiled"] in ("torch.compile", "XLA") for r in rows), "a compiled row (torch.compile or XLA)"
    assert any("trainer_step_ms" in r for r in rows), "a row timed fit() too"
    for r in rows:
        assert "error" not in r, r
        hand_s = r["hand_step_ms"] / 1000
        assert hand_s > 0 and r["n_steps"] >= 2
        assert r["tokens_per_s"] == pytest.approx((r["src_tokens_per_batch"] + r["tgt_tokens_per_batch"]) / hand_s)
        assert r["src_tokens_per_batch"] > 0 and r["tgt_tokens_per_batch"] > 0
        assert r["data"].endswith("-smoke") and r["config"]["hidden_size"] == 16, "tiny models and corpora"
        if r["section"] == "modes":
            assert r["cost_vs_tf"] > 0, "step time against the teacher-forced row of the same setting"
        if "trainer_step_ms" in r:
            assert r["trainer_tokens_per_s"] > 0
    if label == "lightning":
        assert {r["mode"] for r in rows} == {"teacher forcing", "sequential SS", "parallel SS K=1", "parallel SS K=2"}
        assert {r["size"] for r in rows} == set(config["sizes"]) and {"bf16", "tf32"} <= {r["precision"] for r in rows}
    assert skipped and all("fp16 needs CUDA" in x for x in skipped) and set(skipped) <= set(data["not_run"])


@pytest.mark.slow  # the --smoke run of every part: about a minute on 2 cores
def test_g2p_trains_and_scores_lightning_and_keras_jax(
    smoke: tuple[dict[str, Any], str, float, dict[str, Any]],
) -> None:
    runs = {r["framework"]: r for r in smoke[0]["g2p"]}
    assert set(runs) == {"lightning", "keras-jax"}
    for r in runs.values():
        assert r["status"] == "finished" and 0 < r["test_words"] <= 8 and r["train_minutes"] > 0
        for key in ("greedy_wer", "beam5_wer", "greedy_per", "beam5_per"):
            assert 0 <= r[key] < float("inf")  # above 100 when an untrained model babbles
        assert r["argv"][r["argv"].index("--corpus") + 1] == "toy"


@pytest.mark.slow  # the --smoke run of every part: about a minute on 2 cores
def test_the_report_has_a_table_per_part(smoke: tuple[dict[str, Any], str, float, dict[str, Any]]) -> None:
    md = smoke[1]
    for heading in (
        "SMOKE",
        "## Parts",
        "## pytest -m gpu",
        "## Training throughput",
        "### Trainer overhead",
        "## G2P",
    ):
        assert heading in md


def test_wheels_are_installed_only_when_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))  # install_wheels puts its target on it
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / "gpu_smoke_probe-1.0-py3-none-any.whl", "w") as z:
        z.writestr("gpu_smoke_probe/__init__.py", "VALUE = 7\n")
        info = "gpu_smoke_probe-1.0.dist-info"
        z.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: gpu_smoke_probe\nVersion: 1.0\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{info}/RECORD", "")
    (wheels / "numpy-0.0-py3-none-any.whl").write_bytes(b"not read: numpy is installed")
    got = gpu.install_wheels(wheels, tmp_path / "site")
    assert got["installed"] == ["gpu_smoke_probe-1.0-py3-none-any.whl"]
    assert set(got["already_present"]) == {"numpy"}
    assert (tmp_path / "site" / "gpu_smoke_probe" / "__init__.py").exists()


@pytest.mark.parametrize(
    "name,match",
    [("NVIDIA H200", "H200"), ("NVIDIA H200 NVL", "H200 NVL"), ("NVIDIA H100 80GB HBM3", "H100"),
     ("NVIDIA H100 PCIe", "H100 PCIe"), ("NVIDIA A100-SXM4-80GB", "A100"), ("NVIDIA L4", None), (None, None)],
)  # fmt: skip
def test_the_peak_table_matches_nvidia_smi_names(name: str | None, match: str | None) -> None:
    peak = throughput.peak_of(name)
    assert peak["match"] == match
    if match:
        assert peak["bf16"] == peak["fp16"] >= peak["tf32"] >= peak["fp32"] > 0


def gpu_row(label: str, size: str, precision: str, mode: str, hand_ms: float, **extra: Any) -> dict[str, Any]:
    """A throughput row as the parent holds it after :func:`throughput.finish` (the fields ``add_costs`` reads)."""
    section = "overhead" if mode == "teacher forcing" else "modes"
    row = {"variant": f"{label} {size} {precision} {mode}", "label": label, "size": size, "precision": precision,
           "section": section, "mode": mode, "compiled": "no", "cell": "lstm", "attention": "luong",
           "hand_step_ms": hand_ms, "model_tflops_per_s": 100.0 * 10 / hand_ms, **extra}  # fmt: skip
    if "trainer_step_ms" in extra:
        row["trainer_overhead"] = extra["trainer_step_ms"] / hand_ms - 1
    return row


def test_mfu_and_cost_of_a_gpu_run_are_judged_against_the_h200_peak() -> None:
    tf = "teacher forcing"
    rows = [
        gpu_row("lightning", "gnmt-like", "bf16", tf, 10.0, trainer_step_ms=10.3),
        gpu_row("lightning", "gnmt-like", "fp32", tf, 20.0, trainer_step_ms=20.2),
        gpu_row("lightning", "gnmt-like", "fp16", tf, 11.0, trainer_step_ms=11.2),
        gpu_row("lightning", "gnmt-like", "bf16", "parallel SS K=1", 13.0),
        gpu_row("lightning", "gnmt-v2", "bf16", tf, 2.9, trainer_step_ms=3.0),
        gpu_row("keras/jax", "gnmt-like", "fp32", tf, 25.0),
    ]
    throughput.add_costs(rows, throughput.peak_of("NVIDIA H200"))
    by_name = {r["variant"]: r for r in rows}
    bf16 = by_name["lightning gnmt-like bf16 teacher forcing"]
    assert bf16["mfu"] == pytest.approx(100.0 / 989.4) and bf16["peak_kind"] == "bf16"
    assert by_name["lightning gnmt-like fp32 teacher forcing"]["peak_tflops"] == 66.9
    assert by_name["keras/jax gnmt-like fp32 teacher forcing"]["peak_kind"] == "tf32", "XLA allows TF32 by default"
    assert by_name["lightning gnmt-like bf16 parallel SS K=1"]["cost_vs_tf"] == pytest.approx(1.3)
    assert bf16["trainer_mfu"] == pytest.approx(bf16["mfu"] * 10.0 / 10.3) and bf16["overhead_goal_met"] == "yes"
    settings = {"batch_size": 128, "n_batches": 1}
    for r in rows:
        r |= {"settings": settings, "config": throughput.PRESETS["gnmt"].to_dict()}
    meta = {"argv": [], "device": "cuda", "versions": {}, "not_measured": [], "peak": throughput.peak_of("H200")}
    md = throughput.report(rows, meta)
    assert "| lightning | bf16 | no | gnmt-like | 10.0 | 10.3 | +3.0% | yes |" in md and "H200: bf16/fp16 989.4" in md
