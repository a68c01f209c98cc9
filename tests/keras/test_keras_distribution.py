"""Distributed training: tf.distribute.MirroredStrategy (2 logical CPUs) and JAX DataParallel."""

from __future__ import annotations

import json
import math
from textwrap import dedent

import pytest

from tests.helpers.keras import BACKEND, run_in_subprocess

TRAIN = """
    from datamodules.keras import KerasData
    from keras_seq2seq import Seq2SeqModel
    from seq2seq_fit import Seq2SeqConfig, TeacherForcing
    def train(epochs=3):
        data = KerasData("reverse", batch_size=32, corpus_options={"n_train": 256, "n_val": 32, "n_test": 32,
                                                                  "min_len": 3, "max_len": 6, "num_symbols": 6})
        model = Seq2SeqModel(data.src_vocab, data.tgt_vocab, Seq2SeqConfig(hidden_size=32, embedding_dim=16),
                             TeacherForcing(start=0.75), seed=0)
        model.compile(optimizer=keras.optimizers.Adam(5e-3))
        history = model.fit(data.train(), epochs=epochs, verbose=0, validation_data=data.val()).history
        return model, history
"""


@pytest.mark.slow
@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.distribute needs the TensorFlow backend")
def test_mirrored_strategy_on_two_logical_cpus() -> None:
    out = run_in_subprocess(
        dedent("""
        import json
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import keras
        """)
        + dedent(TRAIN)
        + dedent("""
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():
            model, history = train()
        from seq2seq_fit.decoding import length_budget
        from seq2seq_fit.scores import word_error_rate
        sources, references = KerasData("reverse", corpus_options={"n_train": 256, "n_val": 32, "n_test": 32,
                                        "min_len": 3, "max_len": 6, "num_symbols": 6}).references("val")
        outputs = [model.translate([s], max_length=length_budget(len(s)))[0] for s in sources]
        _, single = train(epochs=1)  # the same model and data on one device
        print(json.dumps({"replicas": strategy.num_replicas_in_sync, "loss": history["loss"],
                          "val_loss": history["val_loss"], "fed": history["fed_from_model"],
                          "single_device_loss": single["loss"][0], "val_wer": history["val_wer"][-1],
                          "translate_wer": word_error_rate(outputs, references)}))
        """)
    )
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["replicas"] == 2
    assert seen["loss"][-1] < 0.8 * seen["loss"][0], seen
    assert seen["val_loss"][-1] < seen["val_loss"][0]
    # The logged loss is on the one-device scale: the first epoch matches one-device training of
    # the same model and data (a loss summed over the replicas would be about twice as large).
    assert seen["loss"][0] == pytest.approx(seen["single_device_loss"], rel=0.15), seen
    assert abs(seen["fed"][0] - 0.25) < 0.1
    # the greedy ids of both replicas reach the scores: those of translating every validation source
    assert seen["val_wer"] == pytest.approx(seen["translate_wer"]), seen


@pytest.mark.slow
def test_jax_data_parallel_on_two_host_devices() -> None:
    out = run_in_subprocess(
        dedent("""
        import json
        import jax, keras
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices()))
        """)
        + dedent(TRAIN)
        + dedent("""
        model, history = train()
        print(json.dumps({"devices": len(jax.devices()), "loss": history["loss"]}))
        """),
        env={"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
    )
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["devices"] == 2
    assert all(math.isfinite(v) for v in seen["loss"]), seen
    assert seen["loss"][-1] < 0.9 * seen["loss"][0], seen  # seen: 2.19 -> 1.79 in 3 epochs
