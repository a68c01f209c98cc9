"""``SafeCheckpointIO``: checkpoints written atomically and read without unpickling objects.

Lightning's ``TorchCheckpointIO`` (2.6) serialises to memory, then writes through an ``fsspec``
transaction whose local temporary file lives in the system temp directory (``tempfile.mkstemp()``)
and is moved into place with ``shutil.move``. When the temp directory and the checkpoint directory
are on different filesystems (a tmpfs ``/tmp``, a mounted volume), the move degrades to copying
into the destination in place, so a crash during the copy truncates the previous checkpoint; the
file is never ``fsync``-ed either. Loading passes ``weights_only=None`` down to ``torch.load``,
whose default can be flipped by an environment variable.

``SafeCheckpointIO`` writes to a temporary file next to the destination, ``fsync``-s it and
``os.replace``-s it over the destination, so a reader sees the old file or the new one, never a
mix. It loads with ``weights_only=True`` unless told otherwise, and a checkpoint that holds
pickled Python objects is refused with :class:`~seq2seq_fit.errors.UnsafeFileError`. ``LitSeq2Seq`` installs it
on the trainer's strategy when the trainer uses Lightning's plain ``TorchCheckpointIO``.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from typing import IO, Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.fabric.utilities.cloud_io import _is_local_file_protocol
from lightning.fabric.utilities.types import _PATH

from seq2seq_fit.atomic_file import atomic_write_path
from seq2seq_fit.errors import ModelFormatError, UnsafeFileError


def atomic_torch_save(obj: Any, path: _PATH) -> None:
    """``torch.save(obj, path)`` that leaves either the old file or the complete new one.

    Writes to a hidden temporary file in the same directory, flushes and ``fsync``-s it, then
    ``os.replace``-s it over ``path`` and ``fsync``-s the directory. On any error the temporary
    file is removed and the error re-raised. Temporary files of earlier writers of ``path`` that
    were killed (``SIGKILL`` leaves no chance to clean up) are removed first.
    """
    with atomic_write_path(path) as temp, open(temp, "wb") as f:
        torch.save(obj, f)
        f.flush()


def safe_torch_load(
    path: _PATH | IO[bytes],
    map_location: Any = None,
    weights_only: bool | None = True,
) -> Any:
    """``torch.load`` with ``weights_only=True`` unless the caller opts out explicitly.

    ``weights_only=None`` means ``True`` here (``torch.load`` would read an environment variable).

    Raises:
        UnsafeFileError: the file holds pickled objects and ``weights_only`` is not ``False``.
        ModelFormatError: the file is not a checkpoint (its unpickling failed without naming an object).
    """
    strict = weights_only is not False
    try:
        return torch.load(path, map_location=map_location, weights_only=strict)
    except pickle.UnpicklingError as err:
        if not strict:
            raise
        raise refusal(path, err) from err


def refusal(path: Any, err: BaseException) -> UnsafeFileError | ModelFormatError:
    """The error for a file that ``torch.load(weights_only=True)`` would not unpickle.

    Only a file whose unpickler met a Python global (a class or function it does not allow) holds
    pickled objects, and only then does opting in with ``weights_only=False`` help; any other
    unpickling failure (random bytes, a text file) means the file is not a checkpoint.
    """
    text = str(err).strip()
    rejected = [line.strip() for line in text.splitlines() if "GLOBAL" in line]
    if not rejected:
        boilerplate = ("Weights only load failed", "Please file an issue", "Check the documentation")
        reasons = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith(boilerplate)]
        reason = reasons[0] if reasons else type(err).__name__
        return ModelFormatError(f"{path}: not a LitSeq2Seq checkpoint ({reason})")
    return UnsafeFileError(
        f"{path}: refused to load: the checkpoint holds pickled Python objects, and unpickling them could "
        f"run arbitrary code ({rejected[0]}). Checkpoints written by LitSeq2Seq hold only tensors and plain data",
        option="weights_only",
        value=False,
        purpose="(to LitSeq2Seq.load_from_checkpoint or Trainer.fit) if you trust this file",
    )


class SafeCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` with atomic local saves and ``weights_only=True`` loads.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> import lightning.pytorch as pl
        >>> from torch.utils.data import DataLoader
        >>> from lit_seq2seq import LitSeq2Seq
        >>> from seq2seq_fit import Vocab, collate_pairs
        >>> vocab = Vocab(["<pad>", "<bos>", "<eos>", "<unk>", "a", "b", "c"])
        >>> pairs = [([4, 5, 6], [6, 5, 4]), ([5, 4], [4, 5])] * 2  # (source ids, target ids)
        >>> model = LitSeq2Seq(vocab, vocab, {"hidden_size": 16, "embedding_dim": 8})
        >>> trainer = pl.Trainer(plugins=[SafeCheckpointIO()], max_steps=2, logger=False, enable_checkpointing=False,
        ...                      enable_progress_bar=False, enable_model_summary=False)
        >>> trainer.fit(model, DataLoader(pairs, batch_size=2, collate_fn=collate_pairs))
        >>> path = Path(tempfile.mkdtemp()) / "model.ckpt"
        >>> trainer.save_checkpoint(path)  # written to a temporary file, then renamed into place
        >>> [p.name for p in path.parent.iterdir()]
        ['model.ckpt']
        >>> SafeCheckpointIO().load_checkpoint(path)["global_step"]  # loaded with weights_only=True
        2
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None) -> None:
        if storage_options is not None or not _is_local_file_protocol(path):
            super().save_checkpoint(checkpoint, path, storage_options)  # remote: fsspec's transaction
            return
        atomic_torch_save(checkpoint, path)

    def load_checkpoint(
        self,
        path: _PATH,
        map_location: Callable[..., Any] | None = lambda storage, loc: storage,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        if not _is_local_file_protocol(path):
            return super().load_checkpoint(path, map_location, True if weights_only is None else weights_only)
        if not os.path.exists(path):
            raise FileNotFoundError(f"Checkpoint file not found: {path}")
        return safe_torch_load(path, map_location, weights_only)  # type: ignore[no-any-return]


__all__ = ["SafeCheckpointIO", "atomic_torch_save", "refusal", "safe_torch_load"]
