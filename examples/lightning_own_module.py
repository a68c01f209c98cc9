"""Reuse the encoder-decoder and the teacher-forcing policy inside your own LightningModule.

The plain ``nn.Module`` (``Seq2Seq``) and the pure scheduled-sampling functions are independent of
``LitSeq2Seq``: here a custom system adds its own optimiser and an extra loss term.

    python examples/lightning_own_module.py
"""

import lightning.pytorch as pl
import torch

from datamodules import Seq2SeqDataModule
from lit_seq2seq import Seq2Seq, masked_cross_entropy
from lit_seq2seq.scheduled_sampling import draw_coins, fed_from_model
from seq2seq_fit import Seq2SeqConfig, TeacherForcing


class MySystem(pl.LightningModule):
    def __init__(self, src_size: int, tgt_size: int) -> None:
        super().__init__()
        self.model = Seq2Seq(Seq2SeqConfig(hidden_size=64, embedding_dim=32, attention="luong"), src_size, tgt_size)
        self.policy = TeacherForcing(schedule="exponential", k=0.995, end=0.5, mode="parallel", passes=2)
        self.coins = torch.Generator().manual_seed(0)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        ratio = self.policy.ratio(self.global_step)
        gold = draw_coins(batch["target_in"], ratio, self.policy.granularity, self.coins)  # (B, T)
        logits = self.model.scheduled_forward(
            batch["source"], batch["source_lengths"], batch["target_in"], gold, self.policy, ratio, self.coins
        )  # (B, T, V)
        loss = masked_cross_entropy(logits, batch["target_out"])
        entropy = -(logits.softmax(-1) * logits.log_softmax(-1)).sum(-1).mean()  # your own extra term
        self.log_dict({"loss": loss, "tf_ratio": ratio, "fed_from_model": fed_from_model(gold, batch["target_in"])})
        return loss - 0.01 * entropy

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=5e-3)


pl.seed_everything(0)
dm = Seq2SeqDataModule("copy", batch_size=64, corpus_options={"n_train": 2000})
system = MySystem(len(dm.src_vocab), len(dm.tgt_vocab))
trainer = pl.Trainer(max_epochs=3, logger=False, enable_checkpointing=False)
trainer.fit(system, datamodule=dm)
metrics = trainer.callback_metrics
print(f"trained {trainer.global_step} steps: loss {metrics['loss']:.3f}, tf_ratio {metrics['tf_ratio']:.3f}")
