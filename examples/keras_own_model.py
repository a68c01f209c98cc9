"""Reuse the encoder-decoder and the teacher-forcing policy inside your own Keras model.

The registered layers (``Encoder``; ``Decoder``, which holds the ``LuongAttention`` layer) and the
scheduled-sampling functions of ``keras_seq2seq.scheduled_sampling`` do not need ``Seq2SeqModel``:
here a ``keras.Model`` of your own writes its ``train_step`` (parallel scheduled sampling plus an
extra loss term of its own), trains with plain ``model.fit`` and is scored by greedy decoding.
A custom ``train_step`` is backend-specific in Keras 3; this one is TensorFlow's.

    python examples/keras_own_model.py
"""

import os

os.environ["KERAS_BACKEND"] = "tensorflow"  # before keras is imported: the train_step below uses tf.GradientTape

import tensorflow as tf

import keras
from datamodules import KerasData
from keras import ops
from keras_seq2seq import Decoder, Encoder, Memory, masked_cross_entropy
from keras_seq2seq.dynamic_dataset import dynamic_dataset
from keras_seq2seq.scheduled_sampling import draw_coins, fed_from_model, mix_inputs, model_tokens
from seq2seq_fit import TeacherForcing
from seq2seq_fit.vocab import BOS_ID


class MyTranslator(keras.Model):
    def __init__(self, src_size: int, tgt_size: int) -> None:
        super().__init__()
        self.encoder = Encoder(src_size, embedding_dim=32, hidden_size=64, bidirectional=True)
        self.bridge = keras.layers.Dense(64, activation="tanh")  # encoder summary -> decoder initial state
        self.decoder = Decoder(tgt_size, embedding_dim=32, hidden_size=64, attention="luong", luong_score="dot")
        self.policy = TeacherForcing(schedule="linear", start=1.0, end=0.7, decay_steps=150, mode="parallel")
        self.coins = keras.random.SeedGenerator(0)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("loss", "tf_ratio", "fed_from_model")}

    @property
    def metrics(self) -> list:
        return list(self.trackers.values())  # reset by fit at each epoch

    def encode(self, source, training=False):
        outputs, summary = self.encoder(source, training=training)  # (B, S, H), (B, H)
        mask = ops.not_equal(source, 0)  # (B, S): True at real tokens
        return Memory(outputs, mask, self.decoder.keys(outputs)), [[self.bridge(summary)]]  # one GRU layer: [h0]

    def call(self, inputs, training=False):
        """Teacher-forced logits.  # (B, T, V)"""
        memory, states = self.encode(inputs["source"], training)
        return self.decoder(inputs["target_in"], states, memory, training=training)

    def train_step(self, data):
        x, target_out = data
        target_in = ops.cast(x["target_in"], "int32")  # (B, T)
        step = ops.cast(self.optimizer.iterations, "float32")
        ratio = self.policy.ratio(step, exp=ops.exp, maximum=ops.maximum)
        gold = draw_coins(target_in, ratio, self.policy.granularity, self.coins)  # (B, T)
        with tf.GradientTape() as tape:
            memory, states = self.encode(x["source"], training=True)
            inputs = target_in
            for _ in range(self.policy.passes):  # parallel scheduled sampling: passes without gradient
                logits = ops.stop_gradient(self.decoder(inputs, states, memory, training=True))  # (B, T, V)
                inputs = mix_inputs(gold, target_in, model_tokens(logits, "argmax"))
            logits = self.decoder(inputs, states, memory, training=True)  # (B, T, V)
            loss = masked_cross_entropy(logits, target_out)
            entropy = -ops.mean(ops.sum(ops.softmax(logits) * ops.log_softmax(logits), axis=-1))  # your own term
            total = loss - 0.01 * entropy
        grads = tape.gradient(total, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        for name, value in (("loss", loss), ("tf_ratio", ratio), ("fed_from_model", fed_from_model(gold, target_in))):
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def greedy(self, source, length):
        """Free-running greedy decoding: only ``<bos>`` is given.  # (B, length)"""
        memory, states = self.encode(source)
        batch = ops.shape(source)[0]
        target_in = ops.full((batch, length), BOS_ID, "int32")  # only position 0 is read
        first = ops.expand_dims(ops.equal(ops.arange(length), 0), 0)  # (1, T)
        gold = ops.logical_and(first, ops.ones((batch, length), "bool"))  # (B, T)
        return self.decoder.loop(target_in, gold, states, memory)[1]


keras.utils.set_random_seed(0)
data = KerasData("reverse", batch_size=64, corpus_options={"n_train": 3000})
model = MyTranslator(len(data.src_vocab), len(data.tgt_vocab))
model.compile(optimizer=keras.optimizers.Adam(1e-2, clipnorm=1.0))
# Batches differ in length: dynamic_dataset gives TensorFlow an all-dynamic signature (Seq2SeqModel.fit does it itself).
history = model.fit(dynamic_dataset(data.train()), epochs=4, verbose=2)

right = total = 0
for x, y in data.test():
    predicted = ops.convert_to_numpy(model.greedy(x["source"], y.shape[1]))
    for row_in, row_out, row_ref in zip(x["source"], predicted, y, strict=True):
        hypothesis, reference = data.tgt_vocab.decode(row_out), data.tgt_vocab.decode(row_ref)
        right += hypothesis == reference
        total += 1
        if total <= 3:
            print(f"{' '.join(data.src_vocab.decode(row_in))} -> {' '.join(hypothesis)}")
print("tf_ratio per epoch:", [round(r, 3) for r in history.history["tf_ratio"]])
print(f"test exact match (greedy): {right / total:.3f} over {total} sequences")
assert right / total > 0.5, "the model did not learn to reverse"
