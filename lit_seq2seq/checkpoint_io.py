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
import re
import zipfile
import zlib
from collections.abc import Callable, Mapping
from typing import IO, Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.fabric.utilities.cloud_io import _is_local_file_protocol
from lightning.fabric.utilities.types import _PATH
from packaging.version import InvalidVersion, Version

from seq2seq_fit.atomic_file import atomic_write_path
from seq2seq_fit.errors import ModelFormatError, UnsafeFileError, shown
from seq2seq_fit.limits import MAX_COMPRESSION_RATIO
from seq2seq_fit.untrusted import check_regular_file, check_stored_model, listed, one_line, shape_problems
from seq2seq_fit.weight_layout import canonical_shapes


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
    name = file_name(path)
    rejected = re.search(r"(?:Unsupported global: )?GLOBAL (\S+)", text)
    if rejected is None:
        boilerplate = ("Weights only load failed", "Please file an issue", "Check the documentation")
        reasons = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith(boilerplate)]
        reason = one_line(reasons[0], 120) if reasons else type(err).__name__
        return ModelFormatError(f"{name}: not a LitSeq2Seq checkpoint ({reason})")
    return UnsafeFileError(
        f"{name}: refused to load: the checkpoint holds pickled Python objects (GLOBAL "
        f"{shown(rejected.group(1), 80)}), and unpickling them could run arbitrary code",
        option="weights_only",
        value=False,
        purpose="(to LitSeq2Seq.load_from_checkpoint or Trainer.fit) if you trust this file",
    )


def check_checkpoint(
    path: _PATH | IO[bytes], *, weights_only: bool = True, strict: bool | None = True, overrides: Mapping[str, Any] = {}
) -> None:
    """Check a LitSeq2Seq checkpoint before a model is built from it.

    The file is opened memory-mapped (its tensors are not read into memory), then its hyper-parameters
    (with ``overrides``, the keyword arguments of ``load_from_checkpoint``) give the model's size, checked
    against :data:`seq2seq_fit.limits.MAX_PARAMETERS` and against the shapes of the ``state_dict``
    tensors in the file; every weight must be finite. So a checkpoint whose config asks for a bigger
    model than its weights is refused before anything of that size is allocated.

    Args:
        path: the checkpoint (a path, or a seekable file object, read from and rewound).
        weights_only: as ``torch.load`` (``False`` only for files you trust).
        strict: ``False``: tensors missing from the file are not refused (``load_state_dict(strict=False)``).
        overrides: hyper-parameters given to ``load_from_checkpoint``, which replace the stored ones.

    Raises:
        ModelFormatError: naming the file: not readable (truncated, not a checkpoint), no LitSeq2Seq
            hyper-parameters, a model over the limit, tensors that do not fit, or NaN/inf weights.
        UnsafeFileError: the file holds pickled objects and ``weights_only`` is true.
    """
    check_regular_file(path)  # a FIFO would block the open forever
    name = file_name(path)
    checkpoint = read_checkpoint(path, name, weights_only)
    hparams = checkpoint.get("hyper_parameters") if isinstance(checkpoint, dict) else None
    state = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
    if not isinstance(hparams, Mapping) or not isinstance(state, Mapping):
        raise ModelFormatError(f"{name}: not a LitSeq2Seq checkpoint (no hyper_parameters and state_dict)")
    config, *sizes = check_stored_model({**hparams, **overrides}, f"{name}: hyper_parameters")
    found = {
        key.removeprefix("model."): ("float32", tuple(tensor.shape))
        for key, tensor in state.items()
        if isinstance(key, str) and key.startswith("model.") and isinstance(tensor, torch.Tensor)
    }
    expected = canonical_shapes(config, *sizes)
    problems = [p for p in shape_problems(found, expected) if strict is not False or " is missing " not in p]
    if problems:
        raise ModelFormatError(f"{name}: {listed(problems)} for its hyper-parameters (state_dict model.*)")
    for key, tensor in state.items():
        if isinstance(tensor, torch.Tensor) and not tensor.is_floating_point():
            raise ModelFormatError(
                f"{name}: tensor {shown(key)} is {str(tensor.dtype).removeprefix('torch.')}, expected a floating "
                "point type (state_dict)"
            )
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
            bad = int(tensor.numel() - torch.isfinite(tensor).sum())
            if bad:
                raise ModelFormatError(
                    f"{name}: tensor {one_line(str(key), 80)} holds {bad} NaN or infinite value(s) of "
                    f"{tensor.numel()}; a model with them translates to nothing"
                )

    check_rng_state(checkpoint, name)
    version = checkpoint.get("pytorch-lightning_version")
    try:
        Version(version)
    except (InvalidVersion, TypeError):
        raise ModelFormatError(
            f"{name}: pytorch-lightning_version: got {shown(version)}, expected a version such as '2.6.0'"
        ) from None


def file_name(path: Any) -> str:
    """How an error names a checkpoint: its path, or a file object's name."""
    if isinstance(path, (str, os.PathLike)):
        return os.fspath(path)
    return str(getattr(path, "name", "<file object>"))


def check_rng_state(checkpoint: Mapping[str, Any], name: str) -> None:
    """Refuse a ``coin_rng_state`` that is not a generator state (a ``uint8`` tensor a CPU generator takes).

    Raises:
        ModelFormatError: naming ``name`` and the value.
    """
    state = checkpoint.get("coin_rng_state")
    if state is None:
        return
    device = checkpoint.get("coin_rng_device", "cpu")
    ok = isinstance(state, torch.Tensor) and state.dtype == torch.uint8 and state.dim() == 1 and isinstance(device, str)
    if ok and device == "cpu":
        try:
            torch.Generator().set_state(state.cpu())
        except RuntimeError:
            ok = False
    if not ok:
        what = (
            f"a {state.dtype} tensor of shape {tuple(state.shape)}" if isinstance(state, torch.Tensor) else shown(state)
        )
        raise ModelFormatError(
            f"{name}: coin_rng_state: got {what} (coin_rng_device {shown(device, 20)}), expected the uint8 state "
            "of a torch.Generator; delete the entry to start from the seed"
        )


def load_error(path: Any, err: BaseException, overrides: Mapping[str, Any]) -> ModelFormatError | None:
    """The error for ``err``, raised by Lightning while it built a model from the checkpoint ``path``, or
    ``None`` for one to raise as it is (the caller's own: a bad keyword argument, a package error).

    A ``RuntimeError`` of torch's zip reader (a corrupt member) or of ``load_state_dict`` means the file is not
    a LitSeq2Seq checkpoint (but one about a device is the caller's); a ``ValueError`` or ``TypeError`` of the
    constructor, a hyper-parameter it refused.
    """
    if isinstance(err, (ModelFormatError, UnsafeFileError)):
        return None
    name, text = file_name(path), str(err)
    if isinstance(err, RuntimeError):
        if any(word in text for word in ("CUDA", "device", "out of memory")):
            return None  # where the caller maps the tensors to
        return ModelFormatError(f"{name}: not a LitSeq2Seq checkpoint ({one_line(text, 150)})")
    if not isinstance(err, (ValueError, TypeError)):
        return None
    owner = re.match(r"LitSeq2Seq\.(\w+)", text)
    key = {"src": "src_tokenizer", "tgt": "tgt_tokenizer"}.get(owner.group(1), owner.group(1)) if owner else None
    if key is not None and key in overrides:
        return None  # the caller's keyword argument
    where = f"hyper-parameter {key}" if key else "hyper-parameters"
    return ModelFormatError(f"{name}: {where}: {one_line(text, 200)}")


def check_member_checksums(path: _PATH | IO[bytes], name: str) -> None:
    """Refuse a zip checkpoint (what ``torch.save`` writes) whose members do not match the CRC-32 stored
    for them: a file changed or damaged after it was written would otherwise load as another model.

    Members are stored uncompressed by ``torch.save``; a compressed member inflating past
    :data:`seq2seq_fit.limits.MAX_COMPRESSION_RATIO` is refused before it is read.
    """
    source: Any = os.fspath(path) if isinstance(path, (str, os.PathLike)) else path
    position = source.tell() if hasattr(source, "tell") else None
    try:
        if not zipfile.is_zipfile(source):
            return  # a legacy (not zip) checkpoint: torch.load reads or refuses it
        if position is not None:
            source.seek(position)
        with zipfile.ZipFile(source) as archive:
            for info in archive.infolist():
                if (
                    info.compress_size
                    and info.file_size > 1 << 20
                    and info.file_size > MAX_COMPRESSION_RATIO * info.compress_size
                ):
                    raise ModelFormatError(
                        f"{name}: member {shown(info.filename)} inflates {info.compress_size} bytes to "
                        f"{info.file_size} (more than seq2seq_fit.limits.MAX_COMPRESSION_RATIO); "
                        "not a checkpoint torch.save wrote"
                    )
            bad = archive.testzip()  # reads each member in chunks, checking its CRC-32
    except ModelFormatError:
        raise
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, NotImplementedError) as err:
        raise ModelFormatError(f"{name}: not a LitSeq2Seq checkpoint ({one_line(str(err), 200)})") from None
    finally:
        if position is not None:
            source.seek(position)
    if bad is not None:
        raise ModelFormatError(
            f"{name}: member {shown(bad)} does not match its CRC-32: the file was changed or damaged after it was "
            "written; save the checkpoint again"
        )


def read_checkpoint(path: _PATH | IO[bytes], name: str, weights_only: bool) -> Any:
    """``torch.load`` of ``path`` onto the CPU, memory-mapped where it can be; every failure a one-line error."""
    check_member_checksums(path, name)
    position = path.tell() if hasattr(path, "tell") else None
    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=weights_only, mmap=position is None)
        except RuntimeError as err:
            if position is not None or "mmap" not in str(err):
                raise
            return torch.load(path, map_location="cpu", weights_only=weights_only)  # a legacy (not zip) file
    except pickle.UnpicklingError as err:
        if not weights_only:
            raise
        raise refusal(name, err) from err
    except (RuntimeError, OSError, EOFError, ValueError, TypeError, AttributeError, KeyError, IndexError,
            zipfile.BadZipFile) as err:  # fmt: skip
        reason = one_line(str(err), 200) or type(err).__name__
        raise ModelFormatError(f"{name}: not a LitSeq2Seq checkpoint ({reason})") from None
    finally:
        if position is not None:
            path.seek(position)  # type: ignore[union-attr]


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


__all__ = [
    "SafeCheckpointIO",
    "atomic_torch_save",
    "check_checkpoint",
    "check_rng_state",
    "load_error",
    "refusal",
    "safe_torch_load",
]
