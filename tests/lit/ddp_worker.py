"""Run by ``test_lit_distributed.py``: one epoch under ``strategy="ddp"`` on 2 CPU processes (gloo).

Each rank writes ``rank<N>.json`` to the output folder: the sources it trained on, its final loss,
and a checksum of its parameters. Usage, from the repository root: ``python -m tests.lit.ddp_worker OUT_DIR``.
"""

from __future__ import annotations

import json
import sys
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


def main(out_dir: str) -> None:
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    dm = Seq2SeqDataModule("reverse", batch_size=16, corpus_options={"n_train": 200, "n_val": 16, "n_test": 16})
    model = LitSeq2Seq(dm.src_vocab, dm.tgt_vocab, {"embedding_dim": 12, "hidden_size": 16}, {"start": 0.5})
    seen = SeenSources()
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2,
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
        "backend": torch.distributed.get_backend() if torch.distributed.is_initialized() else None,
        "sources": seen.sources,
        "loss": float(trainer.callback_metrics["train/loss"]),
        "val_exact_match": float(trainer.callback_metrics["val/exact_match"]),
        "checksum": float(sum(p.double().sum() for p in model.parameters())),
    }
    Path(out_dir, f"rank{trainer.global_rank}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1])
