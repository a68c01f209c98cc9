"""Every file ``Seq2SeqModel`` and ``AtomicModelCheckpoint`` write gets the mode ``open()`` gives (``0o666``
less the umask), so a shared model directory or checkpoint folder is readable as the umask allows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from keras_seq2seq import AtomicModelCheckpoint, Seq2SeqModel, make_optimizer
from seq2seq_fit import Vocab
from tests.helpers import file_modes, umask

__all__ = ["umask"]

VOCAB = Vocab(["<pad>", "<bos>", "<eos>", "<unk>", *"abcdef"])


def model() -> Seq2SeqModel:
    return Seq2SeqModel(VOCAB, VOCAB, {"embedding_dim": 8, "hidden_size": 8})


def test_save_pretrained_and_export_onnx_files_get_the_umask_mode(tmp_path: Path, umask: int) -> None:
    pytest.importorskip("onnx")
    m = model()
    m.save_pretrained(tmp_path / "pretrained")
    m.export_onnx(tmp_path / "onnx")
    modes = file_modes(tmp_path)
    assert {"pretrained/model.safetensors", "pretrained/config.json", "onnx/encoder.onnx"} <= modes.keys()
    assert modes == dict.fromkeys(modes, 0o666 & ~umask)


def test_atomic_model_checkpoint_files_get_the_umask_mode(tmp_path: Path, umask: int) -> None:
    inputs = {"source": np.array([[4, 5, 6], [7, 8, 0]]), "target_in": np.array([[1, 4, 5, 6], [1, 7, 8, 0]])}
    target_out = np.array([[4, 5, 6, 2], [7, 8, 2, 0]])  # (B, T)
    m = model()
    m.compile(optimizer=make_optimizer(1e-2))
    callbacks = [
        AtomicModelCheckpoint(str(tmp_path / "last.keras")),
        AtomicModelCheckpoint(str(tmp_path / "last.weights.h5"), save_weights_only=True),
    ]
    m.fit(inputs, target_out, epochs=1, batch_size=2, callbacks=callbacks, verbose=0)
    modes = file_modes(tmp_path)
    assert modes == dict.fromkeys(["last.keras", "last.weights.h5"], 0o666 & ~umask)
