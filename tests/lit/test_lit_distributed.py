"""DDP on two CPU processes: training runs and the ranks see disjoint data that covers the epoch."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from datamodules import load_corpus
from seq2seq_fit.vocab import Vocab
from tests.helpers import REPO


@pytest.mark.slow
def test_ddp_two_cpu_processes_train_on_disjoint_shards(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "tests.lit.ddp_worker", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world_size"] == 2 and r["backend"] == "gloo" for r in ranks)
    assert all(r["loss"] == r["loss"] for r in ranks)
    assert ranks[0]["val_exact_match"] == ranks[1]["val_exact_match"], "scored over both ranks' gathered records"
    assert ranks[0]["checksum"] == pytest.approx(ranks[1]["checksum"], rel=1e-6), "DDP keeps the replicas equal"
    corpus = load_corpus("reverse", n_train=200, n_val=16, n_test=16)
    vocab = Vocab.build(s for s, _ in corpus.train)
    expected = Counter(tuple(vocab.encode(s)) for s, _ in corpus.train)
    seen = [Counter(tuple(s) for s in r["sources"]) for r in ranks]
    assert sum(seen[0].values()) > 0 and sum(seen[1].values()) > 0
    # multiset equality: every example occurrence went to exactly one rank, so the shards are disjoint
    assert seen[0] + seen[1] == expected, "together the ranks cover the epoch exactly once"
