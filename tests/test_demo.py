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
