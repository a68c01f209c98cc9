"""Checkpoints are written atomically and read without unpickling objects.

Lightning 2.6's ``TorchCheckpointIO`` moves a temp file from the system temp directory into place
(``shutil.move``), which degrades to an in-place copy across filesystems, and leaves
``weights_only`` to ``torch.load``'s environment-dependent default. ``LitSeq2Seq`` installs
``SafeCheckpointIO`` instead; these tests pin down what that buys.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint

from lit_seq2seq import LitSeq2Seq, SafeCheckpointIO, UnsafeFileError
from lit_seq2seq.checkpoint_io import atomic_torch_save
from seq2seq_fit.errors import ModelFormatError
from tests.helpers.lightning import quiet_trainer, small_data, small_model, train_and_save


class InjectedFailure(OSError):
    pass


class FailsWhenPickled:
    """Raises while ``torch.save`` is writing, after the weights were already serialised."""

    def __reduce__(self) -> Any:
        raise InjectedFailure(28, "No space left on device (injected)")


class FailOnSave(pl.Callback):
    """Puts a :class:`FailsWhenPickled` at the end of the ``n``-th checkpoint (1-based)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.saves = 0

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        self.saves += 1
        if self.saves == self.n:
            checkpoint["zz_injected"] = FailsWhenPickled()  # after state_dict, optimizer, loops...


def test_lit_seq2seq_gives_the_trainer_the_safe_checkpoint_io_unless_one_was_chosen() -> None:
    dm = small_data()
    trainer = quiet_trainer(validate=False, max_steps=1)
    assert type(trainer.strategy.checkpoint_io) is TorchCheckpointIO
    trainer.fit(small_model(dm), dm)
    assert isinstance(trainer.strategy.checkpoint_io, SafeCheckpointIO)

    class MyIO(TorchCheckpointIO):
        pass

    chosen = MyIO()
    trainer = quiet_trainer(validate=False, max_steps=1, plugins=[chosen])
    trainer.fit(small_model(dm), dm)
    assert trainer.strategy.checkpoint_io is chosen


def test_a_failure_in_the_middle_of_save_checkpoint_keeps_the_previous_file(tmp_path: Path) -> None:
    dm = small_data()
    model = small_model(dm)
    failing = FailOnSave(n=2)
    trainer = quiet_trainer(validate=False, max_steps=2, callbacks=[failing], default_root_dir=tmp_path)
    trainer.fit(model, dm)
    path = tmp_path / "ckpts" / "model.ckpt"
    trainer.save_checkpoint(path)
    before = path.read_bytes()
    with torch.no_grad():
        next(model.parameters()).add_(1.0)  # the next save would differ
    with pytest.raises(InjectedFailure):
        trainer.save_checkpoint(path)
    assert path.read_bytes() == before, "the previous checkpoint is untouched"
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.ckpt"], "no partial or temporary file"
    assert torch.load(path, weights_only=True)["global_step"] == 2
    trainer.save_checkpoint(path)  # the failure was one-off: the next save works and replaces the file
    assert path.read_bytes() != before


def test_a_failure_while_model_checkpoint_saves_keeps_last_ckpt(tmp_path: Path) -> None:
    dm = small_data()
    saver = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=2, save_top_k=-1, save_last=True)
    trainer = quiet_trainer(validate=False, max_steps=6, callbacks=[saver, FailOnSave(n=3)], enable_checkpointing=True)
    with pytest.raises(InjectedFailure):
        trainer.fit(small_model(dm), dm)
    # saves so far: step=2 (1st), last (2nd), step=4 (3rd: fails)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch=0-step=2.ckpt", "last.ckpt"]
    last = torch.load(tmp_path / "last.ckpt", weights_only=True)
    assert last["global_step"] == 2
    saver = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    resumed = quiet_trainer(validate=False, max_steps=6, callbacks=[saver], enable_checkpointing=True)
    resumed.fit(small_model(dm), dm, ckpt_path="last")
    assert resumed.global_step == 6


def test_temporary_files_of_a_killed_writer_are_removed_by_the_next_save(tmp_path: Path) -> None:
    path = tmp_path / "last.ckpt"
    stale = tmp_path / ".last.ckpt.tmp-k1lled"  # what SIGKILL during a save leaves behind
    stale.write_bytes(b"PK\x03\x04 half a zip")
    other = tmp_path / ".other.ckpt.tmp-k1lled"  # another file's writer may still be running
    other.write_bytes(b"")
    atomic_torch_save({"x": torch.arange(3)}, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.ckpt.tmp-k1lled", "last.ckpt"]
    assert torch.equal(torch.load(path, weights_only=True)["x"], torch.arange(3))


# -- safe loading (item 5) -----------------------------------------------------------------------


def test_model_checkpoint_files_with_all_training_state_load_with_weights_only(tmp_path: Path) -> None:
    dm = small_data()
    saver = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=3, save_top_k=-1, save_last=True)
    quiet_trainer(validate=False, max_steps=9, callbacks=[saver], enable_checkpointing=True).fit(
        small_model(dm, warmup_steps=2), dm
    )
    files = sorted(tmp_path.glob("*.ckpt"))
    assert len(files) == 4
    for path in files:
        raw = torch.load(path, weights_only=True)  # optimizer, scheduler, loops, callbacks, data position
        assert {"optimizer_states", "lr_schedulers", "loops", "callbacks", "Seq2SeqDataModule"} <= raw.keys()
        LitSeq2Seq.load_from_checkpoint(path)


class CreatesMarker:
    """A pickled payload: unpickling it calls ``Path.touch(marker)``, i.e. runs code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (Path.touch, (self.marker,))


@pytest.fixture
def poisoned(tmp_path: Path) -> tuple[Path, Path]:
    """A genuine checkpoint with a code-running payload added, and the payload's marker file."""
    path = train_and_save(tmp_path)
    raw = torch.load(path, weights_only=True)
    marker = tmp_path / "payload-ran"
    raw["extra"] = CreatesMarker(marker)
    poisoned = tmp_path / "poisoned.ckpt"
    torch.save(raw, poisoned)
    return poisoned, marker


@pytest.mark.parametrize("weights_only", [True, None])
def test_load_from_checkpoint_refuses_pickled_objects_and_says_how_to_opt_in(
    poisoned: tuple[Path, Path], weights_only: bool | None
) -> None:
    path, marker = poisoned
    with pytest.raises(UnsafeFileError) as err:
        LitSeq2Seq.load_from_checkpoint(path, weights_only=weights_only)
    message = str(err.value)
    assert str(path) in message and "pickled Python objects" in message and "arbitrary code" in message
    assert "weights_only=False" in message, "says how to opt in"
    assert isinstance(err.value, ValueError) and isinstance(err.value.__cause__, pickle.UnpicklingError)
    assert not marker.exists(), "no code from the file ran"


def test_a_pickle_that_is_not_a_checkpoint_is_not_called_unsafe(tmp_path: Path) -> None:
    """Only a rejected Python global makes a file unsafe; other unpickling failures mean "not a checkpoint",
    and the advice to opt in with ``weights_only=False`` would be wrong there."""
    path = tmp_path / "random.ckpt"
    path.write_bytes(b"\x80\x02" + bytes(range(190, 256)))
    with pytest.raises(
        ModelFormatError, match=r"random\.ckpt: not a LitSeq2Seq checkpoint \(Unsupported operand"
    ) as err:
        LitSeq2Seq.load_from_checkpoint(path)
    assert not isinstance(err.value, UnsafeFileError) and "weights_only" not in str(err.value)
    with pytest.raises(ModelFormatError):
        SafeCheckpointIO().load_checkpoint(path)


def test_resuming_training_refuses_pickled_objects(poisoned: tuple[Path, Path]) -> None:
    path, marker = poisoned
    dm = small_data()
    with pytest.raises(UnsafeFileError, match="weights_only=False"):
        quiet_trainer(validate=False, max_steps=4).fit(small_model(dm), dm, ckpt_path=path)
    assert not marker.exists()


def test_the_payload_is_live_so_the_refusals_above_mean_something(poisoned: tuple[Path, Path]) -> None:
    path, marker = poisoned
    model = LitSeq2Seq.load_from_checkpoint(path, weights_only=False)  # explicit opt-in: unpickles
    assert marker.exists()
    assert isinstance(model, LitSeq2Seq)


def test_resuming_from_a_trusted_file_opts_in_with_weights_only_false(poisoned: tuple[Path, Path]) -> None:
    path, marker = poisoned
    dm = small_data()
    trainer = quiet_trainer(validate=False, max_steps=4)
    trainer.fit(small_model(dm), dm, ckpt_path=path, weights_only=False)
    assert marker.exists() and trainer.global_step == 4
