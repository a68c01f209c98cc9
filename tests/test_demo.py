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
    assert 0.0 <= result["wer"] <= 100.0 and result["per"] >= 0.0
    assert (tmp_path / "checkpoints" / "last.ckpt").stat().st_size > 10_000
    assert (tmp_path / "attention.png").stat().st_size > 2_000
    assert list((tmp_path / "logs").rglob("metrics.csv"))
