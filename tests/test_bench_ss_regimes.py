"""benchmarks.ss_regimes: the intervals, the position profile and the smoke run of the whole study."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks import ss_regimes as ssr

REPO = Path(__file__).resolve().parent.parent


def test_t_quantile_table_matches_the_published_values_and_scipy() -> None:
    assert ssr.t_quantile(2, use_scipy=False) == 4.303 and ssr.t_quantile(4, use_scipy=False) == 2.776
    assert ssr.t_quantile(2.6, use_scipy=False) == 4.303  # between two rows: the wider one
    pytest.importorskip("scipy")
    for df in (1, 2, 3, 5, 10, 30):
        assert ssr.t_quantile(df) == pytest.approx(ssr.T_975[df], abs=1e-3)
    assert ssr.T_975[3] > ssr.t_quantile(3.5) > ssr.T_975[4]
    with pytest.raises(ValueError, match="df=0"):
        ssr.t_quantile(0)


def test_paired_interval_on_known_numbers() -> None:
    # per-seed differences -0.5, +0.2, -0.7: mean -1/3, sd 0.47258, t(2) = 4.303
    d = ssr.paired_difference({0: 30.0, 1: 31.0, 2: 29.5, 7: 1.0}, {0: 30.5, 1: 30.8, 2: 30.2}, use_scipy=False)
    half = 4.303 * 0.472582 / math.sqrt(3)
    assert (d.n, d.paired, d.df) == (3, True, 2.0)
    assert d.mean == pytest.approx(-1 / 3) and d.low == pytest.approx(-1 / 3 - half, abs=1e-4)
    assert d.high == pytest.approx(-1 / 3 + half, abs=1e-4) and d.excludes_zero is False
    assert d.text() == "-0.33 [-1.51, +0.84]"
    clear = ssr.paired_difference({0: 1.0, 1: 2.1, 2: 3.0}, {0: 0.0, 1: 1.0, 2: 2.0}, use_scipy=False)
    assert clear.excludes_zero is True and clear.low > 0  # type: ignore[operator]
    one = ssr.paired_difference({0: 1.0}, {0: 0.5})
    assert (one.mean, one.low, one.text()) == (0.5, None, "+0.50")
    with pytest.raises(ValueError, match="no seed"):
        ssr.paired_difference({0: 1.0}, {1: 1.0})


def test_welch_interval_on_known_numbers() -> None:
    # variances of the means 0.19444 and 0.03; Welch-Satterthwaite df 2.603 -> the table's row 2
    d = ssr.welch_difference([30.0, 31.0, 29.5], [30.5, 30.8, 30.2], use_scipy=False)
    assert d.paired is False and d.df == pytest.approx(2.603, abs=1e-3)
    half = 4.303 * math.sqrt(0.194444 + 0.03)
    assert d.low == pytest.approx(-1 / 3 - half, abs=1e-4) and d.high == pytest.approx(-1 / 3 + half, abs=1e-4)
    pytest.importorskip("scipy")
    narrower = ssr.welch_difference([30.0, 31.0, 29.5], [30.5, 30.8, 30.2])
    assert narrower.low > d.low  # type: ignore[operator]  # t(2.6) < t(2)


def test_position_errors_charge_each_reference_position() -> None:
    ref = ["a", "b", "c", "d"]
    assert ssr.position_errors(ref, ref) == [0, 0, 0, 0]
    assert ssr.position_errors(["a", "b", "x", "d"], ref) == [0, 0, 1, 0]  # substitution
    assert ssr.position_errors(["a", "b", "c"], ref) == [0, 0, 0, 1]  # deletion at the end
    assert ssr.position_errors(["a", "b", "c", "d", "e"], ref) == [0, 0, 0, 1]  # insertion after the last
    assert ssr.position_errors([], ref) == [1, 1, 1, 1]
    profile = ssr.position_profile([["a", "x"], ["a", "b", "c"], ["q"]], [["a", "b"], ["a", "b", "c"], ["a"]])
    assert profile == {"error_rate": [100 / 3, 50.0, 0.0], "count": [3, 2, 1]}
    starts, rates = ssr.binned_profile([{"positions": profile}], width=2)
    assert starts == [0, 2] and rates == pytest.approx([40.0, 0.0])  # 2 errors in 5 tokens, then 0 in 1


def runs_of(regime: str, wers: dict[str, list[float]]) -> list[dict[str, object]]:
    return [{"regime": regime, "arm": arm, "seed": s, "greedy_wer": w, "train_minutes": 1.0}
            for arm, ws in wers.items() for s, w in enumerate(ws)]  # fmt: skip


def test_summary_pairs_fine_tunes_and_not_runs_from_scratch() -> None:
    wers = {"teacher-forcing": [30.0, 31.0, 29.0], "ss-token": [29.0, 30.5, 28.0]}
    runs = runs_of("finetune", wers) + runs_of("long-scratch", wers)
    rows = {(r["regime"], r["arm"]): r for r in ssr.summarise(runs, use_scipy=False)}
    paired = rows["finetune", "ss-token"]["greedy_wer_delta"]
    welch = rows["long-scratch", "ss-token"]["greedy_wer_delta"]
    assert paired.paired and not welch.paired
    assert paired.mean == pytest.approx(-2.5 / 3) and welch.mean == pytest.approx(-2.5 / 3)
    assert paired.excludes_zero and not welch.excludes_zero  # the seeds' shared base removes their spread
    assert "greedy_wer_delta" not in rows["finetune", "teacher-forcing"]
    assert rows["finetune", "ss-token"]["greedy_wer_delta_text"].endswith(" *")


def test_the_arms_and_their_fit_commands() -> None:
    arms = ssr.arms(1000)
    assert list(arms) == list(ssr.ARM_LABELS) and arms["ss-parallel-k1"].mode == "parallel"
    assert arms["ss-sample"].feed == "sample" and arms["ss-position"].position_schedule == "sigmoid"
    assert [round(float(tf.ratio(500)), 2) for tf in arms.values()] == [1.0, 0.75, 0.75, 0.0, 0.75]
    recipe = ssr.Recipe("long-scratch", "benchmarks/configs/ss-phrases.yaml", {"trainer.max_epochs": 1})
    command = ssr.fit_command(recipe, arms["ss-parallel-k1"], 2, Path("out"), None)
    assert command[:5] == ["-m", "lit_seq2seq.cli", "fit", "--config", "benchmarks/configs/ss-phrases.yaml"]
    assert "--init_from" not in command and command[command.index("--model.teacher_forcing.mode") + 1] == "parallel"
    assert command[command.index("--trainer.max_epochs") + 1] == "1" and command[-2:] == ["--ckpt_path", "last"]


def test_long_epochs_end_the_decay_with_the_last_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    recipe = ssr.recipes(smoke=True, long_epochs=2)["long-scratch"]
    assert recipe.total_steps() == 6  # 2 epochs of the smoke's 3 batches
    assert recipe.overrides["trainer.max_epochs"] == 2 and recipe.overrides["model.lr_decay_steps"] == 5  # 1 warm-up
    assert "--trainer.max_epochs" in recipe.override_args() and ssr.recipes(smoke=True)["long-scratch"] != recipe
    with pytest.raises(SystemExit, match="--long-epochs: got 0"):
        ssr.recipes(smoke=False, long_epochs=0)


@pytest.mark.parametrize("config", ["ss-finetune.yaml", "ss-phrases.yaml", "ss-phrases-finetune.yaml"])
def test_the_recipes_are_fit_config_files(config: str) -> None:
    options = ssr.Recipe("x", str(REPO / "benchmarks" / "configs" / config)).options()
    assert options["data.corpus"] in ("cmudict", "cmudict-phrases") and options["trainer.max_epochs"] >= 1
    assert options["ckpt_path"] == "last" and "restore_best_weights" not in options  # fixed budget, final weights


@pytest.mark.slow
def test_smoke_trains_scores_reports_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    ssr.main(["--smoke", "--results", str(tmp_path)])
    data = json.loads((tmp_path / "ss_regimes.json").read_text())
    runs = [r for r in data["rows"] if "seed" in r and "label" not in r]
    assert {(r["regime"], r["arm"]) for r in runs} == {
        (regime, arm) for regime in ssr.RECIPES for arm in ("teacher-forcing", "ss-token")
    }
    for run in runs:
        assert 0 <= run["greedy_wer"] <= 100 and run["beam5_per"] >= 0 and run["test_words"] == ssr.SMOKE_TEST_WORDS
        if run["regime"].startswith("long"):
            assert run["positions"]["count"][0] == ssr.SMOKE_TEST_WORDS and "greedy_word_er" in run
    fine = next(r for r in runs if r["regime"] == "finetune" and r["arm"] == "ss-token")
    settings = json.loads((tmp_path / "ss_regimes_runs" / "finetune" / "ss-token_s0.json").read_text())["settings"]
    assert settings["fit"][settings["fit"].index("--init_from") + 1] == settings["init_from"]
    assert settings["init_from"].endswith("smoke-base/teacher-forcing_s0/model") and fine["steps"] == 3
    table = (tmp_path / "ss_regimes.md").read_text()
    assert "Δ WER greedy" in table and "greedy error rate % at output position" in table
    assert (tmp_path / "ss_regimes.png").stat().st_size > 0
    written = {p: p.stat().st_mtime_ns for p in (tmp_path / "ss_regimes_runs").rglob("*_s0.json")}
    ssr.main(["--smoke", "--results", str(tmp_path)])  # a rerun reads every finished run
    assert {p: p.stat().st_mtime_ns for p in written} == written
