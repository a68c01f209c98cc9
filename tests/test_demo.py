"""The README's main job runs end to end (with a tiny budget) and writes what it promises."""

import pytest

pytest.importorskip("lightning")


def test_demo_trains_scores_and_writes_outputs(tmp_path, capsys):
    import torch

    from lit_seq2seq.demo import main

    threads = torch.get_num_threads()
    try:
        result = main(["--minutes", "0.05", "--out", str(tmp_path), "--test-words", "40", "--batch-size", "64"])
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert "test WER" in out and "PER" in out
    # the 40 test words are scored (WER in steps of 100 / 40) and the summary prints the returned scores
    assert f"test WER {result['wer']:.2f}%  PER {result['per']:.2f}%  over 40 words" in out
    assert result["wer"] * 40 / 100 == pytest.approx(round(result["wer"] * 40 / 100))
    assert (tmp_path / "checkpoints" / "last.ckpt").stat().st_size > 10_000
    assert (tmp_path / "attention.png").stat().st_size > 2_000
    assert list((tmp_path / "logs").rglob("metrics.csv"))


def test_wall_clock_cosine_decays_over_the_budget_not_the_steps(monkeypatch):
    """The demo's learning rate warms up over 100 steps, then follows a cosine from ``lr`` to 2% of
    it as the elapsed wall-clock time goes from 0 to the budget, whatever the step count."""
    from types import SimpleNamespace

    import torch

    from lit_seq2seq import demo

    now = [1000.0]
    monkeypatch.setattr(demo.time, "perf_counter", lambda: now[0])
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=3e-3)
    trainer = SimpleNamespace(optimizers=[optimizer], global_step=0)
    callback = demo.WallClockCosine(seconds=300.0)
    callback.on_train_start(trainer, None)  # type: ignore[arg-type]

    def lr_at(seconds: float, step: int) -> float:
        now[0], trainer.global_step = 1000.0 + seconds, step
        callback.on_train_batch_start(trainer, None, None, 0)  # type: ignore[arg-type]
        return optimizer.param_groups[0]["lr"]

    assert lr_at(0.0, 0) == pytest.approx(3e-5)  # warm-up: step 1 of 100
    assert lr_at(1.0, 49) == pytest.approx(1.5e-3, rel=1e-4)
    assert lr_at(1.0, 500) == pytest.approx(3e-3, rel=1e-4)
    assert lr_at(150.0, 500) == pytest.approx(3e-3 * (0.02 + 0.98 * 0.5))  # half the budget: half way down
    assert lr_at(150.0, 5000) == pytest.approx(3e-3 * (0.02 + 0.98 * 0.5))  # the same time, 10x the steps
    assert lr_at(300.0, 900) == pytest.approx(3e-3 * 0.02)
    assert lr_at(400.0, 900) == pytest.approx(3e-3 * 0.02)  # past the budget (validation, scoring): the floor
