"""Train the Lightning model on the `reverse` task with scheduled sampling, then translate.

python examples/lightning_quickstart.py            # about a minute on a laptop CPU
"""

import lightning.pytorch as pl

from datamodules import Seq2SeqDataModule
from lit_seq2seq import LitSeq2Seq
from seq2seq_fit import Seq2SeqConfig, TeacherForcing

pl.seed_everything(0)
dm = Seq2SeqDataModule("reverse", batch_size=64, corpus_options={"n_train": 4000})
model = LitSeq2Seq(
    dm.src_vocab,
    dm.tgt_vocab,
    Seq2SeqConfig(
        cell="gru", embedding_dim=32, hidden_size=64, bidirectional=True, attention="luong", luong_score="dot"
    ),
    TeacherForcing(schedule="linear", start=1.0, end=0.7, decay_steps=500, mode="parallel"),
    lr=1e-2,
)
trainer = pl.Trainer(max_epochs=8, gradient_clip_val=1.0, logger=False, enable_checkpointing=False)
trainer.fit(model, datamodule=dm)
print(trainer.validate(model, datamodule=dm, verbose=False)[0]["val/exact_match"])
print(model.translate(["a b c d e f"], strategy="beam", beam_width=3))  # -> [['f', 'e', 'd', 'c', 'b', 'a']]
