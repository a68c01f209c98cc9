"""Train the Keras model on the `reverse` task with scheduled sampling, then translate.

KERAS_BACKEND=jax python examples/keras_quickstart.py     # or tensorflow, torch
"""

import keras
from datamodules import KerasData
from keras_seq2seq import Seq2SeqModel
from seq2seq_fit import Seq2SeqConfig, TeacherForcing

keras.utils.set_random_seed(0)
data = KerasData("reverse", batch_size=64, corpus_options={"n_train": 3000})
model = Seq2SeqModel(
    data.src_vocab,
    data.tgt_vocab,
    Seq2SeqConfig(
        cell="gru", embedding_dim=32, hidden_size=64, bidirectional=True, attention="luong", luong_score="dot"
    ),
    TeacherForcing(schedule="linear", start=1.0, end=0.7, decay_steps=300, mode="parallel"),
    seed=0,
)
model.compile(optimizer=keras.optimizers.Adam(1e-2, global_clipnorm=1.0))
history = model.fit(data.train(), validation_data=data.val(), epochs=6, verbose=2)
print("tf_ratio per epoch:", [round(r, 3) for r in history.history["tf_ratio"]])
print(f"val exact match: {history.history['val_exact_match'][-1]:.1f}%")
print(model.translate(["a b c d e f"], strategy="beam", beam_width=3))  # -> [['f', 'e', 'd', 'c', 'b', 'a']]
