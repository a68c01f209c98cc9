"""Helpers of the Keras and parity tests, so a component's test is a short config plus helper calls
(keras-hub style). The backend is whatever ``KERAS_BACKEND`` says (TensorFlow by default)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import keras
from datamodules.keras import KerasData
from keras_seq2seq import Seq2SeqModel
from seq2seq_fit import Seq2SeqConfig, TeacherForcing
from tests.helpers import REPO

BACKEND = keras.backend.backend()


def limit_torch_threads() -> None:
    """One torch thread (``KERAS_SEQ2SEQ_TORCH_THREADS`` to change it): two spinning against each other
    on a busy 2-core machine are tens of times slower."""
    import torch

    torch.set_num_threads(int(os.environ.get("KERAS_SEQ2SEQ_TORCH_THREADS", "1")))


@pytest.fixture(autouse=True)
def fresh_keras_state() -> Iterator[None]:
    """Float32 policy and a fixed seed for every test. Autouse where a ``conftest.py`` imports it."""
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(0)
    yield
    keras.config.set_dtype_policy("float32")


def to_numpy(x: Any) -> np.ndarray:
    """A Keras variable or backend tensor as a numpy array."""
    if isinstance(x, keras.Variable):
        x = x.value
    return np.asarray(keras.ops.convert_to_numpy(x))


def toy_data(batch_size: int = 4) -> KerasData:
    return KerasData("toy", batch_size=batch_size)


def reverse_data(n_train: int = 256, batch_size: int = 32, **options: Any) -> KerasData:
    corpus_options = {"n_train": n_train, "n_val": 64, "n_test": 64, "min_len": 3, "max_len": 8, "num_symbols": 8}
    corpus_options.update(options)
    return KerasData("reverse", batch_size=batch_size, corpus_options=corpus_options)


def tiny_model(
    data: KerasData,
    teacher_forcing: TeacherForcing | None = None,
    seed: int = 0,
    **config: Any,
) -> Seq2SeqModel:
    """A small model over ``data``'s vocabularies (hidden 32 unless ``config`` says otherwise)."""
    options = {"hidden_size": 32, "embedding_dim": 16}
    options.update(config)
    return Seq2SeqModel(data.src_vocab, data.tgt_vocab, Seq2SeqConfig(**options), teacher_forcing, seed=seed)


def first_batch(data: KerasData, split: str = "train") -> tuple[dict[str, np.ndarray], np.ndarray]:
    return data.split(split)[0]  # type: ignore[no-any-return]


def run_serialization_test(layer_cls: type, init_kwargs: dict[str, Any]) -> keras.layers.Layer:
    """``get_config`` -> ``from_config`` -> ``get_config`` is the identity and survives JSON."""
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    assert json.loads(json.dumps(config)) == config
    for key, value in init_kwargs.items():
        assert config[key] == value, key
    revived = layer_cls.from_config(config)
    assert revived.get_config() == config
    return layer


def run_precision_test(make_layer: Any, call: Any, policy: str) -> None:
    """Under ``policy``: variables stay float32, outputs come in the compute dtype and are finite."""
    keras.config.set_dtype_policy(policy)
    try:
        layer = make_layer()
        layer.build()
        outputs = keras.tree.flatten(call(layer))
        compute = keras.mixed_precision.DTypePolicy(policy).compute_dtype
        assert all(v.dtype == "float32" for v in layer.weights if v.trainable)
        floats = [o for o in outputs if "float" in keras.backend.standardize_dtype(o.dtype)]
        assert floats and all(keras.backend.standardize_dtype(o.dtype) == compute for o in floats)
        assert all(np.isfinite(to_numpy(keras.ops.cast(o, "float32"))).all() for o in floats)
    finally:
        keras.config.set_dtype_policy("float32")


def run_in_subprocess(code: str, env: dict[str, str] | None = None, timeout: int = 300) -> str:
    """Run ``code`` in a fresh interpreter (same backend unless ``env`` says otherwise); return stdout.

    Fails with the child's output when it exits non-zero.
    """
    full_env = {**os.environ, "KERAS_BACKEND": BACKEND, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=REPO,
        timeout=timeout,
    )
    assert result.returncode == 0, f"subprocess failed ({result.returncode}):\n{result.stdout}\n{result.stderr[-6000:]}"
    return result.stdout


def run_model_saving_test(model: Seq2SeqModel, path: Path, sources: list[str]) -> dict[str, Any]:
    """Save ``model`` to ``path`` (.keras), load it in a fresh process that imports only
    ``keras_seq2seq``, and return what that process saw (predictions, config, optimizer step)."""
    model.save(path)
    code = f"""
        import json, warnings
        import keras
        import keras_seq2seq
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = keras.models.load_model({str(path)!r})
        print(json.dumps({{
            "translations": model.translate({sources!r}),
            "config": model.config.to_dict(),
            "teacher_forcing": model.teacher_forcing.to_dict(),
            "src_vocab": model.src_vocab.tokens,
            "tgt_vocab": model.tgt_vocab.tokens,
            "iterations": int(keras.ops.convert_to_numpy(model.optimizer.iterations.value)),
            "seed_states": [keras.ops.convert_to_numpy(v.value).tolist() for v in model.seed_states()],
            "warnings": [str(w.message) for w in caught if not issubclass(w.category, DeprecationWarning)],
        }}))
    """
    out = run_in_subprocess(code)
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]
