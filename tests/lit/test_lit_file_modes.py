"""Every file ``LitSeq2Seq`` writes gets the mode ``open()`` gives (``0o666`` less the umask), so a shared
model directory or checkpoint folder is readable by the server's other users as the umask allows."""

from __future__ import annotations

from pathlib import Path

import pytest
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader

from lit_seq2seq import LitSeq2Seq
from seq2seq_fit import Vocab
from tests.helpers import file_modes, umask
from tests.helpers.lightning import quiet_trainer, random_batch

__all__ = ["umask"]

pytestmark = pytest.mark.filterwarnings("ignore:You defined a `validation_step` but have no `val_dataloader`")

VOCAB = Vocab(["<pad>", "<bos>", "<eos>", "<unk>", *"abcdefghi"])  # 13 ids, random_batch's default


def model() -> LitSeq2Seq:
    return LitSeq2Seq(VOCAB, VOCAB, {"embedding_dim": 8, "hidden_size": 8}, lr=1e-2)


def test_save_pretrained_and_export_onnx_files_get_the_umask_mode(tmp_path: Path, umask: int) -> None:
    pytest.importorskip("onnx")
    lit = model()
    lit.save_pretrained(tmp_path / "pretrained")
    lit.export_onnx(tmp_path / "onnx")
    modes = file_modes(tmp_path)
    assert {"pretrained/model.safetensors", "pretrained/config.json", "onnx/encoder.onnx"} <= modes.keys()
    assert modes == dict.fromkeys(modes, 0o666 & ~umask)


def test_checkpoint_callbacks_files_get_the_umask_mode(tmp_path: Path, umask: int) -> None:
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=1, save_top_k=-1, save_last=True)
    trainer = quiet_trainer(validate=False, max_steps=2, enable_checkpointing=True, callbacks=[checkpoints])
    trainer.fit(model(), train_dataloaders=DataLoader([random_batch()] * 2, batch_size=None))
    trainer.save_checkpoint(tmp_path / "ckpt" / "manual.ckpt")
    modes = file_modes(tmp_path)
    assert {"ckpt/last.ckpt", "ckpt/manual.ckpt", "ckpt/epoch=0-step=2.ckpt"} <= modes.keys()
    assert modes == dict.fromkeys(modes, 0o666 & ~umask)
