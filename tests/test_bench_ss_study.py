"""``benchmarks/ss_study.py``: the arms' schedules, the intervals against teacher forcing, the error rate by output
position, the recipes and fit commands, the report, and that a rerun reads the committed runs instead of training."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest

from benchmarks import common
from benchmarks import ss_study as ss
from seq2seq_fit import TeacherForcing

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("study", list(ss.STUDIES))
@pytest.mark.parametrize("total", [300, 1000, 5000])
def test_every_arm_decays_inside_the_run_and_teacher_forcing_never(study: str, total: int) -> None:
    spec = ss.STUDIES[study]
    decay_end = round(spec.decay_fraction * total)
    for name in spec.arms:
        tf = ss.arm(name, spec, total)
        if name == ss.CONTROL:
            assert [tf.ratio(s) for s in (0, total // 2, total)] == [1.0, 1.0, 1.0]
        elif name == "ss-position":  # the step schedule falls to 0; the position schedule keeps early tokens gold
            assert tf.ratio(total) == 0.0 and tf.position_ratio(total, 0) > 0.9 > 0.3 > tf.position_ratio(total, 80)
        else:  # at most 5% of the range (inverse sigmoid) left at the end of the decay, none for linear
            assert tf.ratio(0) > 0.9 and tf.ratio(decay_end) <= spec.end + 0.05 * (1 - spec.end) + 1e-9, name
            assert tf.ratio(total) == pytest.approx(spec.end, abs=0.02), name


def test_the_arms_differ_from_the_linear_arm_in_the_one_setting_their_name_says() -> None:
    study = ss.STUDIES["cpu"]
    linear = ss.arm("ss-linear", study, 1000).to_dict()
    assert (linear["schedule"], linear["feed"], linear["granularity"], linear["mode"]) == (
        "linear", "argmax", "token", "sequential"
    )  # fmt: skip
    assert ss.arm("ss-token", study, 1000).to_dict() == linear
    assert ss.arm("ss-inverse-sigmoid", study, 1000).schedule == "inverse_sigmoid"
    changes: dict[str, dict[str, Any]] = {"ss-sample": {"feed": "sample"}, "ss-sequence": {"granularity": "sequence"},
               "ss-parallel-k1": {"mode": "parallel"}, "ss-parallel-k2": {"mode": "parallel", "passes": 2}}  # fmt: skip
    for name, change in changes.items():
        assert ss.arm(name, study, 1000) == TeacherForcing(**(linear | change)), name


@pytest.mark.parametrize("decay", [3, 750, 10_000])
def test_inverse_sigmoid_k_leaves_five_percent_of_the_range_at_the_end_of_the_decay(decay: int) -> None:
    k = ss.inverse_sigmoid_k(decay)
    tf = TeacherForcing(schedule="inverse_sigmoid", start=1.0, end=0.0, k=k)
    assert k >= 1.0
    if k > 1.0:
        assert tf.ratio(decay) == pytest.approx(0.05, rel=1e-6)
    else:  # too short a decay for any k >= 1: even k = 1 is below 5% there
        assert tf.ratio(decay) < 0.05


def test_t_quantile_table_matches_the_published_values_and_scipy() -> None:
    assert ss.t_quantile(2, use_scipy=False) == 4.303 and ss.t_quantile(4, use_scipy=False) == 2.776
    assert ss.t_quantile(2.6, use_scipy=False) == 4.303  # between two rows: the wider one
    pytest.importorskip("scipy")
    for df in (1, 2, 3, 5, 10, 30):
        assert ss.t_quantile(df) == pytest.approx(ss.T_975[df], abs=1e-3)
    assert ss.T_975[3] > ss.t_quantile(3.5) > ss.T_975[4]
    with pytest.raises(ValueError, match="df=0"):
        ss.t_quantile(0)


def test_paired_interval_on_known_numbers() -> None:
    # per-seed differences -0.5, +0.2, -0.7: mean -1/3, sd 0.47258, t(2) = 4.303
    d = ss.paired_difference({0: 30.0, 1: 31.0, 2: 29.5, 7: 1.0}, {0: 30.5, 1: 30.8, 2: 30.2}, use_scipy=False)
    half = 4.303 * 0.472582 / math.sqrt(3)
    assert (d.n, d.paired, d.df) == (3, True, 2.0)
    assert d.mean == pytest.approx(-1 / 3) and d.low == pytest.approx(-1 / 3 - half, abs=1e-4)
    assert d.high == pytest.approx(-1 / 3 + half, abs=1e-4) and d.excludes_zero is False
    assert d.text() == "-0.33 [-1.51, +0.84]"
    clear = ss.paired_difference({0: 1.0, 1: 2.1, 2: 3.0}, {0: 0.0, 1: 1.0, 2: 2.0}, use_scipy=False)
    assert clear.excludes_zero is True and clear.low > 0  # type: ignore[operator]
    one = ss.paired_difference({0: 1.0}, {0: 0.5})
    assert (one.mean, one.low, one.text()) == (0.5, None, "+0.50")
    with pytest.raises(ValueError, match="no seed"):
        ss.paired_difference({0: 1.0}, {1: 1.0})


def test_welch_interval_on_known_numbers() -> None:
    # variances of the means 0.19444 and 0.03; Welch-Satterthwaite df 2.603 -> the table's row 2
    d = ss.welch_difference([30.0, 31.0, 29.5], [30.5, 30.8, 30.2], use_scipy=False)
    assert d.paired is False and d.df == pytest.approx(2.603, abs=1e-3)
    half = 4.303 * math.sqrt(0.194444 + 0.03)
    assert d.low == pytest.approx(-1 / 3 - half, abs=1e-4) and d.high == pytest.approx(-1 / 3 + half, abs=1e-4)
    pytest.importorskip("scipy")
    narrower = ss.welch_difference([30.0, 31.0, 29.5], [30.5, 30.8, 30.2])
    assert narrower.low > d.low  # type: ignore[operator]  # t(2.6) < t(2)


def test_position_errors_charge_each_reference_position() -> None:
    ref = ["a", "b", "c", "d"]
    assert ss.position_errors(ref, ref) == [0, 0, 0, 0]
    assert ss.position_errors(["a", "b", "x", "d"], ref) == [0, 0, 1, 0]  # substitution
    assert ss.position_errors(["a", "b", "c"], ref) == [0, 0, 0, 1]  # deletion at the end
    assert ss.position_errors(["a", "b", "c", "d", "e"], ref) == [0, 0, 0, 1]  # insertion after the last
    assert ss.position_errors([], ref) == [1, 1, 1, 1]
    profile = ss.position_profile([["a", "x"], ["a", "b", "c"], ["q"]], [["a", "b"], ["a", "b", "c"], ["a"]])
    assert profile == {"error_rate": [100 / 3, 50.0, 0.0], "count": [3, 2, 1]}
    starts, rates = ss.binned_profile([{"positions": profile}], width=2)
    assert starts == [0, 2] and rates == pytest.approx([40.0, 0.0])  # 2 errors in 5 tokens, then 0 in 1


def runs_of(regime: str, scores: dict[str, list[float]], key: str = "greedy_wer") -> list[dict[str, object]]:
    return [{"regime": regime, "arm": arm, "seed": s, key: v, "train_minutes": 1.0, "steps": 100}
            for arm, vs in scores.items() for s, v in enumerate(vs)]  # fmt: skip


def test_summary_pairs_fine_tunes_by_seed_and_not_runs_from_scratch() -> None:
    wers = {"teacher-forcing": [30.0, 31.0, 29.0], "ss-token": [29.0, 30.5, 28.0]}
    runs = (
        runs_of("finetune", wers)
        + runs_of("long-scratch", wers)
        + runs_of("sort", {"teacher-forcing": [60.0]}, "exact_match")
    )
    rows = {(r["regime"], r["arm"]): r for r in ss.summarise(runs, use_scipy=False)}
    paired = rows["finetune", "ss-token"]["greedy_wer_delta"]
    welch = rows["long-scratch", "ss-token"]["greedy_wer_delta"]
    assert paired.paired and not welch.paired
    assert paired.mean == pytest.approx(-2.5 / 3) and welch.mean == pytest.approx(-2.5 / 3)
    assert paired.excludes_zero and not welch.excludes_zero  # the seeds' shared base removes their spread
    assert "greedy_wer_delta" not in rows["finetune", "teacher-forcing"]
    assert rows["finetune", "ss-token"]["greedy_wer_delta_text"].endswith(" *")
    assert rows["sort", "teacher-forcing"]["seeds"] == 1 and rows["sort", "teacher-forcing"]["exact_match_sd"] is None


def test_the_report_has_per_regime_tables_intervals_and_the_error_rate_by_position(tmp_path: Path) -> None:
    profile = ss.position_profile([list("abcdefgx")], [list("abcdefgh")])  # one error, at position 8
    for run in runs_of("finetune", {"teacher-forcing": [30.0, 31.0], "ss-position": [29.0, 30.5]}) + runs_of(
        "long-scratch", {"teacher-forcing": [80.0, 82.0], "ss-token": [81.0, 81.5]}
    ):
        run |= {"positions": profile} if run["regime"] == "long-scratch" else {}
        path = tmp_path / "ss_regimes_runs" / f"{run['regime']}" / f"{run['arm']}_s{run['seed']}.json"
        common.write_json(path, {"settings": {}, "run": run})
    common.write_json(tmp_path / "ss_regimes_runs" / "finetune" / "ss-sample_s0.json", {"run": {"error": "x"}})
    table = ss.write_report(tmp_path, "regimes", {"init_from": {"finetune": "base/model"}})
    assert "`lit-seq2seq fit --config benchmarks/configs/ss-finetune.yaml --init_from base/model`" in table
    assert "| SS sequential, decoding-position schedule (sigmoid) | 2 | 29.75 ± 1.06 | -0.75 [-3.93, +2.43] |" in table
    assert "by position sigmoid k=20" in table and "ss-sample" not in table and "SS sequential, sample" not in table
    assert "| teacher forcing (control) | 0.0 | 33.3 |" in table  # bins 1-5 and 6-10 of the long regime
    data = json.loads((tmp_path / "ss_regimes.json").read_text())
    delta = next(r for r in data["rows"] if r.get("label") and r["arm"] == "ss-position")["greedy_wer_delta"]
    assert delta["paired"] and delta["n"] == 2
    assert (tmp_path / "ss_regimes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_rerun_of_the_regimes_study_reads_its_committed_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """make bench-ss-regimes resumes: a finished run file is read when the rerun's job has its settings."""
    monkeypatch.chdir(REPO)
    files = sorted((common.RESULTS / "ss_regimes_runs" / "finetune").glob("*.json"))
    assert len(files) >= 3
    for path in files:
        done = common.read_json(path)["settings"]
        runs_dir = Path(done["fit"][done["fit"].index("--trainer.default_root_dir") + 1]).parent.parent
        steps, recipe = done["total_steps"], ss.Recipe("benchmarks/configs/ss-finetune.yaml")
        tf = ss.arm(done["arm"], ss.STUDIES["regimes"], steps)
        job = ss.make_job(runs_dir, "finetune", done["arm"], done["seed"], tf, recipe, steps, ss.DEFAULT_BASE, 0)
        assert job["settings"] == done
        assert common.finished(path.parent.parent, job) == common.read_json(path)["run"]


def test_a_rerun_of_the_cpu_study_reads_its_committed_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """make bench-ss on a finished regime trains nothing: the committed runs, of the earlier run-file layout, are
    read and reported."""
    monkeypatch.chdir(REPO)
    shutil.copytree(common.RESULTS / "ss_cpu_runs", tmp_path / "ss_cpu_runs")
    handed: list[dict] = []

    def run_jobs(command: list[str], jobs: list[dict], *args: Any, **kwargs: Any) -> list[dict | None]:
        handed.extend(jobs)
        return [None] * len(jobs)

    monkeypatch.setattr(common, "run_jobs", run_jobs)
    ss.main(["cpu", "--regimes", "sort", "--results", str(tmp_path)])
    assert handed == []
    table = (tmp_path / "ss_cpu.md").read_text()
    assert "| teacher forcing (control) | 3 | 69.97 ± 5.23 |  |" in table
    assert "| SS parallel K=2 | 3 | 48.33 ± 10.46 | -21.63 [" in table


def test_options_after_the_double_dash_reach_fit_and_the_decay_ends_with_the_last_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(REPO)
    recipe, steps = ss.make_recipe("sort", {"trainer.max_epochs": 1, "trainer.max_time": "00:01:00:00"}, False)
    assert steps == 250 and recipe.options()["model.lr_decay_steps"] == 150  # 100 warm-up steps
    command = ss.fit_command(recipe, ss.arm("ss-parallel-k1", ss.STUDIES["cpu"], steps), 2, Path("out"), None)
    assert command[:5] == ["-m", "lit_seq2seq.cli", "fit", "--config", "benchmarks/configs/ss-sort.yaml"]
    assert "--init_from" not in command and command[command.index("--model.teacher_forcing.mode") + 1] == "parallel"
    assert command[command.index("--trainer.max_time") + 1] == "00:01:00:00" and command[-2:] == ["--ckpt_path", "last"]
    corpus = json.loads(command[command.index("--data.corpus_options") + 1])
    assert corpus["min_len"] == 20 and corpus["n_train"] == 20000
    smoke, smoke_steps = ss.make_recipe("sort", {}, True)  # the corpus shrunk, its kind kept
    assert smoke_steps == 3 and smoke.options()["data.corpus_options"]["min_len"] == 20
    assert smoke.options()["data.corpus_options"]["n_train"] == 96 and smoke.options()["model.lr_decay_steps"] == 2


@pytest.mark.parametrize("regime", list(ss.REGIMES))
def test_every_regime_is_a_fit_config_with_a_fixed_budget_and_final_weights(regime: str) -> None:
    options = ss.Recipe(str(REPO / "benchmarks" / "configs" / ss.REGIMES[regime].config)).options()
    assert options["data.corpus"] in ("sort", "addition", "cmudict", "cmudict-phrases")
    assert (
        options["ckpt_path"] == "last"
        and "restore_best_weights" not in options
        and "early_stopping" not in str(options)
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("regime", "steps"),
    [
        ("sort", 1000),
        ("addition", 1000),
        ("g2p", 4440),
        ("finetune", 888),
        ("long-scratch", 939),
        ("long-finetune", 313),
    ],
)
def test_the_config_files_cosine_decay_ends_with_the_last_step(
    regime: str, steps: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    recipe, total = ss.make_recipe(regime, {}, False)
    assert total == steps and recipe.overrides == ss.REGIMES[regime].options  # no decay override needed


@pytest.mark.slow
def test_cpu_smoke_trains_scores_reports_and_a_rerun_trains_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)
    ss.main(["cpu", "--regimes", "sort", "--smoke", "--results", str(tmp_path)])
    data = json.loads((tmp_path / "ss_cpu-smoke.json").read_text())
    runs = [r for r in data["rows"] if "label" not in r]
    assert [(r["regime"], r["arm"], r["seed"], r["steps"]) for r in runs] == [
        ("sort", "teacher-forcing", 0, 3), ("sort", "ss-linear", 0, 3)
    ]  # fmt: skip
    for r in runs:
        assert 0 <= r["exact_match"] <= 100 and 0 <= r["token_acc"] <= 100 and 0 <= r["tf_token_acc"] <= 100
        assert r["gap"] == pytest.approx(r["tf_token_acc"] - r["token_acc"]) and r["tf_loss"] > 0
    table = (tmp_path / "ss_cpu-smoke.md").read_text()
    assert "## sort: 20-40 letters" in table and "| SS sequential, linear | 1 |" in table
    assert "Schedules: SS sequential, linear: linear 1 -> 0.5 (decay 2 steps), 0.50 at step 3" in table
    assert (tmp_path / "ss_cpu-smoke.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    files = sorted((tmp_path / "ss_cpu-smoke_runs").glob("*/*.json"))
    stamps = {p: p.stat().st_mtime_ns for p in files}
    capsys.readouterr()
    ss.main(["cpu", "--regimes", "sort", "--smoke", "--results", str(tmp_path)])
    assert "2 of 2 runs finished before" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in files} == stamps and len(files) == 2


@pytest.mark.slow
def test_regimes_smoke_trains_scores_reports_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    ss.main(["regimes", "--smoke", "--results", str(tmp_path)])
    data = json.loads((tmp_path / "ss_regimes-smoke.json").read_text())
    runs = [r for r in data["rows"] if "label" not in r]
    assert {(r["regime"], r["arm"]) for r in runs} == {
        (regime, arm) for regime in ss.STUDIES["regimes"].regimes for arm in ("teacher-forcing", "ss-token")
    }
    for run in runs:
        assert 0 <= run["greedy_wer"] <= 100 and run["beam5_per"] >= 0 and run["test_words"] == 16
        if run["regime"].startswith("long"):
            assert run["positions"]["count"][0] == 16 and "greedy_word_er" in run
    settings = json.loads((tmp_path / "ss_regimes-smoke_runs" / "finetune" / "ss-token_s0.json").read_text())[
        "settings"
    ]
    assert settings["fit"][settings["fit"].index("--init_from") + 1] == settings["init_from"]
    assert settings["init_from"].endswith("smoke-base/teacher-forcing_s0/model") and settings["total_steps"] == 3
    table = (tmp_path / "ss_regimes-smoke.md").read_text()
    assert "Δ WER greedy" in table and "greedy error rate % at output position" in table
    written = {p: p.stat().st_mtime_ns for p in (tmp_path / "ss_regimes-smoke_runs").rglob("*_s0.json")}
    ss.main(["regimes", "--smoke", "--results", str(tmp_path)])  # a rerun reads every finished run
    assert {p: p.stat().st_mtime_ns for p in written} == written
