"""DDP on two CPU processes (gloo): training runs, the ranks see disjoint data that covers the epoch, and
the replicas end equal. Once on one node (Lightning starts the second process) and once as two nodes on
loopback, each node started by hand with Lightning's plain-environment launch."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import torch

from datamodules import load_corpus
from seq2seq_fit.vocab import Vocab
from tests.helpers import REPO, child_env

#: Seconds a two-process run may take before the test fails (and kills what is left).
TIME_LIMIT = 300


def _ranks(out: Path) -> list[dict[str, Any]]:
    return [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]


def _assert_disjoint_shards_covering_the_epoch(ranks: list[dict[str, Any]]) -> None:
    corpus = load_corpus("reverse", n_train=200, n_val=16, n_test=16)
    vocab = Vocab.build(s for s, _ in corpus.train)
    expected = Counter(tuple(vocab.encode(s)) for s, _ in corpus.train)
    seen = [Counter(tuple(s) for s in r["sources"]) for r in ranks]
    assert sum(seen[0].values()) > 0 and sum(seen[1].values()) > 0
    # multiset equality: every example occurrence went to exactly one rank, so the shards are disjoint
    assert seen[0] + seen[1] == expected, "together the ranks cover the epoch exactly once"


def _assert_equal_replicas(out: Path) -> None:
    states = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert states[0].keys() == states[1].keys()
    different = [k for k in states[0] if not torch.equal(states[0][k], states[1][k])]
    assert not different, f"DDP keeps the replicas equal; these tensors differ: {different}"


@pytest.mark.slow
def test_ddp_two_cpu_processes_train_on_disjoint_shards(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "tests.lit.ddp_worker", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=TIME_LIMIT,
        cwd=REPO,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    ranks = _ranks(tmp_path)
    assert all(r["world_size"] == 2 and r["backend"] == "gloo" for r in ranks)
    assert all(r["loss"] == r["loss"] for r in ranks)
    assert ranks[0]["val_exact_match"] == ranks[1]["val_exact_match"], "scored over both ranks' gathered records"
    assert ranks[0]["checksum"] == pytest.approx(ranks[1]["checksum"], rel=1e-6), "DDP keeps the replicas equal"
    _assert_disjoint_shards_covering_the_epoch(ranks)
    _assert_equal_replicas(tmp_path)


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_ddp_two_nodes_on_loopback_train_on_disjoint_shards_to_equal_weights(tmp_path: Path) -> None:
    # Lightning's launch on a general-purpose cluster: the same script on every node, told where node 0
    # listens and which node it is; LightningEnvironment reads these (no torchrun, no LOCAL_RANK).
    inherited = ("LOCAL_RANK", "RANK", "GROUP_RANK", "LOCAL_WORLD_SIZE", "SLURM_JOB_ID", "SLURM_NTASKS")
    base = {k: v for k, v in child_env().items() if k not in inherited}
    base.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_loopback_port()), WORLD_SIZE="2")
    if sys.platform == "linux":
        base.update(GLOO_SOCKET_IFNAME="lo")  # gloo's own connections stay on loopback too
    command = [sys.executable, "-m", "tests.lit.ddp_worker", str(tmp_path), "--num-nodes", "2"]
    nodes = [
        subprocess.Popen(
            command,
            cwd=REPO,
            env={**base, "NODE_RANK": str(node)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for node in (0, 1)
    ]
    deadline = time.monotonic() + TIME_LIMIT
    logs: list[str] = []
    try:
        for node in nodes:
            logs.append(node.communicate(timeout=max(1.0, deadline - time.monotonic()))[0])
    finally:
        for node in nodes:
            if node.poll() is None:
                node.kill()
                node.wait()
    for rank, (node, log) in enumerate(zip(nodes, logs, strict=True)):
        assert node.returncode == 0, f"node {rank} exited {node.returncode}:\n{log[-3000:]}"
    ranks = _ranks(tmp_path)
    assert [r["node_rank"] for r in ranks] == [0, 1], "global rank r runs on node r"
    assert all(r["world_size"] == 2 and r["backend"] == "gloo" for r in ranks)
    assert ranks[0]["val_exact_match"] == ranks[1]["val_exact_match"], "scored over both ranks' gathered records"
    _assert_disjoint_shards_covering_the_epoch(ranks)
    _assert_equal_replicas(tmp_path)
