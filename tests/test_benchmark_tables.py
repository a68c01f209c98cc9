"""The G2P benchmark's bookkeeping: per-seed runs summarised as mean ± sd, and result files of
separate runs (one per variant, framework or machine) merged into one table (``g2p.py --combine``)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from benchmarks import common, g2p
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
    monkeypatch.setattr(g2p, "RESULTS", tmp_path)
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
