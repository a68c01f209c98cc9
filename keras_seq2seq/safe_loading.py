"""``load_model``: open a ``.keras`` archive from an untrusted source without running its code."""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator
from typing import Any

import keras
from seq2seq_fit.errors import UnsafeFileError

ALLOWED_PACKAGES = ("keras", "keras_seq2seq")


def object_configs(config: Any) -> Iterator[dict[str, Any]]:
    """Every serialised object (a dict with ``class_name``) in ``config``, depth first."""
    if isinstance(config, dict):
        if "class_name" in config:
            yield config
        for value in config.values():
            yield from object_configs(value)
    elif isinstance(config, list):
        for value in config:
            yield from object_configs(value)


def check_config(config: Any, path: str) -> None:
    """Refuse any object whose ``module`` or ``registered_name`` points outside :data:`ALLOWED_PACKAGES`."""
    for obj in object_configs(config):
        module = obj.get("module")
        registered = obj.get("registered_name")
        package = str(module).split(".", maxsplit=1)[0] if module is not None else None
        if package is not None and package not in ALLOWED_PACKAGES:
            raise UnsafeFileError(
                f"{path}: refusing class {obj['class_name']!r} from module {module!r}; only classes of "
                f"{' and '.join(ALLOWED_PACKAGES)} are loaded (nothing from the file was imported or run)"
            )
        if registered is not None and ">" in str(registered) and not str(registered).startswith("keras_seq2seq>"):
            raise UnsafeFileError(
                f"{path}: refusing registered class {registered!r}; only 'keras_seq2seq>...' custom classes "
                "are loaded (nothing from the file was imported or run)"
            )


def load_model(path: str | os.PathLike[str], compile: bool = True) -> keras.Model:
    """Load a ``.keras`` archive with ``safe_mode=True`` after checking every class it names.

    Keras itself refuses Python lambdas in safe mode; this also refuses, before Keras reads the
    file, any object whose config names a module outside ``keras`` and ``keras_seq2seq`` or a
    custom class registered by another package, and legacy HDF5 (``.h5``) files, whose loader has
    no safe mode.

    Args:
        path: a ``.keras`` file written by ``model.save`` or :class:`AtomicModelCheckpoint`.
        compile: restore the optimizer and compiled state (as ``keras.models.load_model``).

    Raises:
        ValueError: the path is not a ``.keras`` zip archive.
        UnsafeFileError: the file names a class outside Keras and ``keras_seq2seq``.

    Example:
        >>> import os, tempfile
        >>> from keras_seq2seq import Seq2SeqModel
        >>> tokens = ["<pad>", "<bos>", "<eos>", "<unk>", "a", "b"]
        >>> path = os.path.join(tempfile.mkdtemp(), "model.keras")
        >>> Seq2SeqModel(tokens, tokens, {"hidden_size": 8, "embedding_dim": 4}).save(path)
        >>> load_model(path).tgt_vocab.tokens == tokens
        True
        >>> load_model("model.h5")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: load_model: 'model.h5' is a legacy HDF5 model file, which Keras 3 loads without a safe mode; ...
    """
    name = os.fspath(path)
    if name.endswith((".h5", ".hdf5")):
        raise ValueError(
            f"load_model: {name!r} is a legacy HDF5 model file, which Keras 3 loads without a safe mode; "
            "only .keras archives are loaded. Re-save it in a trusted environment with model.save('model.keras')"
        )
    if not name.endswith(".keras") or not zipfile.is_zipfile(name):
        raise ValueError(f"load_model: {name!r} is not a .keras archive (a zip file written by model.save)")
    with zipfile.ZipFile(name) as archive:
        try:
            config = json.loads(archive.read("config.json"))
        except (KeyError, json.JSONDecodeError) as e:
            raise ValueError(f"load_model: {name!r} has no readable config.json ({e})") from e
    check_config(config, name)
    return keras.saving.load_model(name, compile=compile, safe_mode=True)
