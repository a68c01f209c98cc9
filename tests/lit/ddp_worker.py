"""Run by ``test_lit_distributed.py``: one epoch under ``strategy="ddp"`` on 2 CPU processes (gloo).

Two launches share this worker:

- ``python -m tests.lit.ddp_worker OUT_DIR``: one node, ``devices=2``; Lightning starts the second process.
- ``python -m tests.lit.ddp_worker OUT_DIR --num-nodes 2``: one process per node, ``num_nodes=2, devices=1``,
  started once per node by the caller with Lightning's plain-environment launch (``MASTER_ADDR``,
  ``MASTER_PORT``, ``WORLD_SIZE``, ``NODE_RANK``; see Lightning's "Run on an on-prem cluster" guide).

Each rank writes ``rank<N>.json`` to the output folder (the sources it trained on, its final loss, a
checksum of its parameters) and ``rank<N>.pt``, its final state dict.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from datamodules import Seq2SeqDataModule
from lit_seq2seq import LitSeq2Seq


class SeenSources(pl.Callback):
    def __init__(self) -> None:
        self.sources: list[list[int]] = []

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, *args: Any) -> None:
        for row, n in zip(batch["source"].tolist(), batch["source_lengths"].tolist(), strict=True):
            self.sources.append(row[:n])


def main(out_dir: str, num_nodes: int = 1) -> None:
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    dm = Seq2SeqDataModule("reverse", batch_size=16, corpus_options={"n_train": 200, "n_val": 16, "n_test": 16})
    model = LitSeq2Seq(dm.src_vocab, dm.tgt_vocab, {"embedding_dim": 12, "hidden_size": 16}, {"start": 0.5})
    seen = SeenSources()
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2 // num_nodes,
        num_nodes=num_nodes,
        strategy="ddp",
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[seen],
    )
    trainer.fit(model, dm)
    result = {
        "world_size": trainer.world_size,
        "node_rank": trainer.node_rank,
        "backend": torch.distributed.get_backend() if torch.distributed.is_initialized() else None,
        "sources": seen.sources,
        "loss": float(trainer.callback_metrics["train/loss"]),
        "val_exact_match": float(trainer.callback_metrics["val/exact_match"]),
        "checksum": float(sum(p.double().sum() for p in model.parameters())),
    }
    Path(out_dir, f"rank{trainer.global_rank}.json").write_text(json.dumps(result))
    torch.save(model.state_dict(), Path(out_dir, f"rank{trainer.global_rank}.pt"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir")
    parser.add_argument("--num-nodes", type=int, default=1, choices=(1, 2))
    args = parser.parse_args()
    main(args.out_dir, args.num_nodes)
