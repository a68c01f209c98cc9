"""Train with Lightning, serve and fine-tune the same model in Keras, bring it back.

python examples/convert_lightning_to_keras.py      # well under a minute on a laptop CPU

The Keras twin gives the same logits (differences around 1e-7) and the same greedy and beam
outputs; docs/parity.md has the measured figures.
"""

import lightning.pytorch as pl
import numpy as np
import torch

from datamodules import KerasData, Seq2SeqDataModule
from keras_seq2seq import from_lightning
from lit_seq2seq import LitSeq2Seq, from_keras
from seq2seq_fit import Seq2SeqConfig, TeacherForcing

torch.set_num_threads(1)
pl.seed_everything(0)
corpus = {"n_train": 2000, "n_val": 64, "n_test": 64, "max_len": 8, "num_symbols": 8}

# 1. Train in Lightning and save a checkpoint.
dm = Seq2SeqDataModule("reverse", batch_size=64, corpus_options=corpus)
config = Seq2SeqConfig(cell="lstm", embedding_dim=32, hidden_size=64, bidirectional=True, attention="luong")
lit = LitSeq2Seq(
    dm.src_vocab, dm.tgt_vocab, config, TeacherForcing(schedule="linear", end=0.8, decay_steps=300), lr=1e-2
)
trainer = pl.Trainer(
    max_epochs=4, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False
)
trainer.fit(lit, datamodule=dm)
trainer.save_checkpoint("reverse.ckpt", weights_only=False)  # full checkpoint, plain data only

# 2. Serve it in Keras: same config, schedule, vocabularies and weights (torch.load(weights_only=True)).
keras_model = from_lightning("reverse.ckpt")
sources = ["a b c d e", "h g f", "c a b e d f"]
print("lightning greedy:", lit.translate(sources))
print("keras greedy:    ", keras_model.translate(sources))
print("keras beam-3:    ", keras_model.translate(sources, strategy="beam", beam_width=3))
data = KerasData("reverse", batch_size=64, corpus_options=corpus)
x, _ = data.split("val")[0]
source = torch.from_numpy(x["source"]).long()
with torch.no_grad():
    lit_logits = lit.eval()(source, (source != 0).sum(1), torch.from_numpy(x["target_in"]).long()).numpy()
keras_logits = np.asarray(keras_model(x))
print(f"max |logit difference| on a validation batch: {np.abs(lit_logits - keras_logits).max():.2e}")

# 3. Fine-tune in Keras (the teacher-forcing schedule continues from optimizer.iterations), then
#    bring the weights back to Lightning; `reference` keeps PyTorch's LSTM bias split exact where
#    Keras did not change it.
keras_model.compile(optimizer="adam")
history = keras_model.fit(data.train(), epochs=1, verbose=0)
print(f"keras fine-tuning: loss {history.history['loss'][-1]:.3f}, tf_ratio {history.history['tf_ratio'][-1]:.3f}")
back = from_keras(keras_model, reference=lit)
print("back in lightning:", back.translate(sources))
print("keras after tuning:", keras_model.translate(sources))
