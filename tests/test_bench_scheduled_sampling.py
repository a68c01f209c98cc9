"""``benchmarks/scheduled_sampling.py``: the study's schedules decay within the run to a ratio well
below 1, the table compares each variant with teacher forcing, and
the smoke study writes its JSON / Markdown / PNG and skips finished runs when run again."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from benchmarks import common
from benchmarks import scheduled_sampling as ss
from seq2seq_fit import TeacherForcing


@pytest.mark.parametrize("total", [300, 1000, 5000])
def test_every_scheduled_sampling_variant_ends_its_decay_inside_the_run_at_the_floor(total: int) -> None:
    variants = ss.variants(total, end=0.5, decay_fraction=0.75)
    assert list(variants) == list(ss.VARIANT_LABELS)
    assert all(variants["teacher-forcing"].ratio(s) == 1.0 for s in (0, total // 2, total))
    decay_end = round(0.75 * total)
    for name, tf in variants.items():
        if name == "teacher-forcing":
            continue
        assert tf.ratio(0) > 0.9, name
        # by the end of the decay at most 5% of the range (inverse sigmoid) is left, none for linear
        assert tf.ratio(decay_end) <= 0.5 + 0.05 * 0.5 + 1e-9, name
        assert tf.ratio(total) == pytest.approx(0.5, abs=0.02), name


def test_the_variants_differ_in_the_one_setting_their_name_says() -> None:
    v = ss.variants(1000)
    linear = v["ss-linear"]
    assert (linear.schedule, linear.feed, linear.granularity, linear.mode) == (
        "linear",
        "argmax",
        "token",
        "sequential",
    )
    assert v["ss-inverse-sigmoid"].schedule == "inverse_sigmoid"
    assert v["ss-sample"] == TeacherForcing(**{**linear.to_dict(), "feed": "sample"})
    assert v["ss-sequence"] == TeacherForcing(**{**linear.to_dict(), "granularity": "sequence"})
    assert v["ss-parallel-k1"] == TeacherForcing(**{**linear.to_dict(), "mode": "parallel", "passes": 1})
    assert v["ss-parallel-k2"] == TeacherForcing(**{**linear.to_dict(), "mode": "parallel", "passes": 2})


@pytest.mark.parametrize("decay", [3, 750, 10_000])
def test_inverse_sigmoid_k_leaves_five_percent_of_the_range_at_the_end_of_the_decay(decay: int) -> None:
    k = ss.inverse_sigmoid_k(decay)
    tf = TeacherForcing(schedule="inverse_sigmoid", start=1.0, end=0.0, k=k)
    assert k >= 1.0
    if k > 1.0:
        assert tf.ratio(decay) == pytest.approx(0.05, rel=1e-6)
    else:  # too short a decay for any k >= 1: even k = 1 is below 5% there
        assert tf.ratio(decay) < 0.05


def test_schedule_options_out_of_range_are_refused_with_the_option_named() -> None:
    with pytest.raises(ValueError, match=r"--ss-end: got 1\.0"):
        ss.variants(100, end=1.0)
    with pytest.raises(ValueError, match="--decay-fraction: got 0"):
        ss.variants(100, decay_fraction=0)


def row(task: str, variant: str, seed: int, exact: float, wer: float) -> dict:
    return {"task": task, "variant": variant, "seed": seed, "final_ratio": 0.5, "exact_match": exact,
            "token_acc": 90.0, "wer": wer, "per": wer / 4, "tf_token_acc": 95.0, "tf_loss": 0.2, "gap": 5.0,
            "train_minutes": 1.0, "steps": 100}  # fmt: skip


def test_summary_gives_the_difference_from_teacher_forcing_and_whether_the_seeds_overlap() -> None:
    runs = [row("sort", "teacher-forcing", s, e, 0.0) for s, e in enumerate([10.0, 11.0, 12.0])]
    runs += [row("sort", "ss-linear", s, e, 0.0) for s, e in enumerate([13.0, 14.0, 15.0])]
    runs += [row("sort", "ss-sample", s, e, 0.0) for s, e in enumerate([9.0, 10.5, 12.0])]
    runs += [row("g2p", "teacher-forcing", 0, 0.0, 30.0), row("g2p", "ss-linear", 0, 0.0, 31.0)]
    tasks = {"sort": {"metric": "exact_match"}, "g2p": {"metric": "wer"}}
    summary = {(r["task"], r["variant"]): r for r in ss.summarise(runs, tasks)}
    linear = summary[("sort", "ss-linear")]
    assert linear["exact_match"] == 14.0 and linear["exact_match_sd"] == 1.0 and linear["seeds"] == 3
    assert linear["delta"] == 3.0 and linear["beyond_spread"] is True
    assert linear["delta_text"] == "+3.00 (better, beyond spread)"
    assert summary[("sort", "ss-sample")]["delta_text"] == "-0.50 (worse, within spread)"
    assert "delta" not in summary[("sort", "teacher-forcing")]
    g2p = summary[("g2p", "ss-linear")]  # WER: higher is worse; one seed has no spread
    assert g2p["delta_text"] == "+1.00 (worse)" and g2p["beyond_spread"] is None and g2p["wer_sd"] is None


def test_a_run_file_written_with_other_settings_is_refused(tmp_path: Path) -> None:
    args = argparse.Namespace(smoke=True, steps=6, g2p_preset="cpu", g2p_epochs=1, tasks=["sort"])
    task = ss.make_tasks(args)["sort"]
    tf = ss.variants(6)["ss-linear"]
    path = tmp_path / "sort" / "ss-linear_s0.json"
    path.parent.mkdir(parents=True)
    other = ss.run_settings(task, ss.variants(6, end=0.25)["ss-linear"], 0, 6)
    path.write_text(json.dumps({"settings": other, "run": row("sort", "ss-linear", 0, 1.0, 0.0)}))
    job = {"name": "sort/ss-linear_s0", "settings": ss.run_settings(task, tf, 0, 6)}
    with pytest.raises(SystemExit, match=r"ss-linear_s0\.json was written with other settings; pass --fresh"):
        common.run_jobs(["false"], [job], tmp_path)
    path.write_text(json.dumps({"settings": job["settings"], "run": row("sort", "ss-linear", 0, 1, 0)}))
    assert common.run_jobs(["false"], [job], tmp_path)[0]["exact_match"] == 1  # read, not trained


@pytest.mark.slow
def test_smoke_study_writes_json_md_png_and_a_rerun_skips_finished_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ss.main(["--smoke", "--results", str(tmp_path)])
    data = json.loads((tmp_path / "ss_smoke.json").read_text())
    runs = [r for r in data["rows"] if "seed" in r]
    summary = [r for r in data["rows"] if "seeds" in r]
    assert [(r["task"], r["variant"], r["seed"]) for r in runs] == [
        ("sort", "teacher-forcing", 0), ("sort", "ss-linear", 0),
        ("addition", "teacher-forcing", 0), ("addition", "ss-linear", 0),
    ]  # fmt: skip
    for r in runs:
        assert r["steps"] == 6 and r["train_minutes"] > 0
        assert 0 <= r["exact_match"] <= 100 and 0 <= r["token_acc"] <= 100 and 0 <= r["tf_token_acc"] <= 100
        assert r["gap"] == pytest.approx(r["tf_token_acc"] - r["token_acc"]) and r["tf_loss"] > 0
        assert TeacherForcing.from_dict(r["teacher_forcing"]).ratio(6) == r["final_ratio"]
    assert {r["variant"]: r["final_ratio"] for r in runs} == {"teacher-forcing": 1.0, "ss-linear": 0.5}
    assert [(r["task"], r["variant"], r["seeds"]) for r in summary] == [(r["task"], r["variant"], 1) for r in runs]
    assert set(data["meta"]["tasks"]) == {"sort", "addition"}
    assert data["meta"]["tasks"]["sort"]["variants"]["ss-linear"] == runs[1]["teacher_forcing"]
    table = (tmp_path / "ss_smoke.md").read_text()
    assert "## sort: sort 20-40 letters" in table and "## addition: a+b, operands of 20-30 digits" in table
    assert (
        table.count("| SS sequential, linear | 1 |") == 2
        and "Schedules: SS sequential, linear: linear 1 -> 0.5" in table
    )
    assert (tmp_path / "ss_smoke.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    run_files = sorted((tmp_path / "ss_smoke_runs").glob("*/*.json"))
    assert len(run_files) == 4
    stamps = {p: p.stat().st_mtime_ns for p in run_files}
    capsys.readouterr()

    ss.main(["--smoke", "--results", str(tmp_path)])
    assert "4 of 4 runs finished (trained now or before)" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in run_files} == stamps
    assert json.loads((tmp_path / "ss_smoke.json").read_text())["rows"] == data["rows"]
