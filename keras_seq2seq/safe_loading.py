"""``load_model``: open a ``.keras`` archive from an untrusted source without running its code."""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Iterator
from typing import Any

import numpy as np

import keras
from seq2seq_fit import limits
from seq2seq_fit.errors import ModelFormatError, UnsafeFileError, shown
from seq2seq_fit.untrusted import check_finite, check_regular_file, check_stored_model, one_line, parse_json
from seq2seq_fit.weight_layout import canonical_shapes

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
                f"{path}: refusing class {shown(obj['class_name'], 60)} from module {shown(module, 60)}; only "
                f"classes of {' and '.join(ALLOWED_PACKAGES)} are loaded (nothing from the file was imported or run)"
            )
        if registered is not None and ">" in str(registered) and not str(registered).startswith("keras_seq2seq>"):
            raise UnsafeFileError(
                f"{path}: refusing registered class {shown(registered, 60)}; only 'keras_seq2seq>...' custom classes "
                "are loaded (nothing from the file was imported or run)"
            )


#: The members of a ``.keras`` archive that are JSON, read within :data:`seq2seq_fit.limits.MAX_JSON_BYTES`.
JSON_MEMBERS = ("config.json", "metadata.json")
#: The member holding the weights.
WEIGHTS_MEMBER = "model.weights.h5"


def read_archive_config(name: str) -> tuple[Any, dict[str, zipfile.ZipInfo]]:
    """The parsed ``config.json`` of the ``.keras`` archive ``name`` and its members by name, after checking
    the members' count, sizes and compression ratios against :mod:`seq2seq_fit.limits` (from the zip
    directory alone, before inflating anything).

    Raises:
        ModelFormatError: not a zip archive (or truncated), too many members, a zip bomb, ``config.json``
            missing, too large or not JSON; naming the file.
    """
    try:
        with zipfile.ZipFile(name) as archive:
            members = {info.filename: info for info in archive.infolist()}
            if len(members) > limits.MAX_ZIP_MEMBERS:
                raise ModelFormatError(
                    f"{name}: {len(members)} zip members, more than seq2seq_fit.limits.MAX_ZIP_MEMBERS = "
                    f"{limits.MAX_ZIP_MEMBERS}"
                )
            for info in members.values():
                ratio = info.file_size / max(info.compress_size, 1)
                if info.file_size > 2**20 and ratio > limits.MAX_COMPRESSION_RATIO:
                    raise ModelFormatError(
                        f"{name}: member {one_line(info.filename, 60)} inflates {info.compress_size} bytes to "
                        f"{info.file_size} (more than seq2seq_fit.limits.MAX_COMPRESSION_RATIO = "
                        f"{limits.MAX_COMPRESSION_RATIO}); refused unread"
                    )
                if info.filename in JSON_MEMBERS and info.file_size > limits.MAX_JSON_BYTES:
                    raise ModelFormatError(
                        f"{name}: {info.filename} of {info.file_size} bytes, more than "
                        f"seq2seq_fit.limits.MAX_JSON_BYTES = {limits.MAX_JSON_BYTES}; raise it if you trust this file"
                    )
            if "config.json" not in members:
                raise ModelFormatError(f"{name}: not a .keras archive (no config.json)")
            with archive.open("config.json") as f:
                data = f.read(limits.MAX_JSON_BYTES + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        if isinstance(err, ModelFormatError):
            raise
        raise ModelFormatError(f"{name}: not a readable .keras archive ({one_line(str(err), 200)})") from None
    return parse_json(data, f"{name} (config.json)"), members


def check_archive_weights(config: Any, members: dict[str, zipfile.ZipInfo], name: str) -> None:
    """Refuse a ``Seq2SeqModel`` archive whose config asks for a model over
    :data:`seq2seq_fit.limits.MAX_PARAMETERS`, or bigger than its weights member can hold, before it is built."""
    model = next((obj for obj in object_configs(config) if obj.get("class_name") == "Seq2SeqModel"), None)
    arguments = model.get("config") if model is not None else None
    if not isinstance(arguments, dict):
        return  # another Keras model: Keras checks its own weights
    settings, *sizes = check_stored_model(arguments, f"{name}: config.json")
    stored = sum(  # what the Keras layers hold: one LSTM bias per layer, no output matrix when tied
        math.prod(shape)
        for key, shape in canonical_shapes(settings, *sizes).items()
        if not (settings.cell == "lstm" and ".bias_hh_" in key)
        and not (settings.tie_embeddings and key == "decoder.out.weight")
    )
    itemsize = 2 if "16" in str(arguments.get("dtype")) else 4
    weights = members.get(WEIGHTS_MEMBER)
    held = weights.file_size if weights is not None else 0
    if held < stored * itemsize:
        raise ModelFormatError(
            f"{name}: its config asks for a model of {stored} parameters ({stored * itemsize} bytes), but "
            f"{WEIGHTS_MEMBER} holds {held} bytes; the file is not what its config says"
        )


def check_finite_weights(model: keras.Model, name: str) -> None:
    """Refuse a loaded model with a NaN or infinite weight, naming the variable."""
    for variable in model.weights:
        array = np.asarray(keras.ops.convert_to_numpy(variable))
        check_finite(variable.path, array, name)


def load_model(path: str | os.PathLike[str], compile: bool = True) -> keras.Model:
    """Load a ``.keras`` archive with ``safe_mode=True`` after checking every class it names.

    Keras itself refuses Python lambdas in safe mode; this also refuses, before Keras reads the
    file, any object whose config names a module outside ``keras`` and ``keras_seq2seq`` or a
    custom class registered by another package, and legacy HDF5 (``.h5``) files, whose loader has
    no safe mode.

    Args:
        path: a ``.keras`` file written by ``model.save`` or :class:`AtomicModelCheckpoint`.
        compile: restore the optimizer and compiled state (as ``keras.models.load_model``).

    Before Keras builds anything, the zip directory is checked (member count, sizes, compression ratios:
    :mod:`seq2seq_fit.limits`), and a ``Seq2SeqModel``'s config must ask for a model under
    ``seq2seq_fit.limits.MAX_PARAMETERS`` that its weights member can hold; after loading, every weight
    must be finite.

    Raises:
        ValueError: a legacy HDF5 file.
        ModelFormatError: not a ``.keras`` zip archive (or truncated), a zip bomb, a config too large,
            too deep or asking for a model its weights do not fit, or NaN/inf weights; naming the file.
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
    check_regular_file(name)  # a FIFO would block the open forever
    if not name.endswith(".keras") or not zipfile.is_zipfile(name):
        raise ModelFormatError(f"load_model: {name!r} is not a .keras archive (a zip file written by model.save)")
    config, members = read_archive_config(name)
    check_config(config, name)
    check_archive_weights(config, members, name)
    try:
        model = keras.saving.load_model(name, compile=compile, safe_mode=True)
    except (zipfile.BadZipFile, EOFError) as err:
        raise ModelFormatError(f"{name}: not a readable .keras archive ({one_line(str(err), 200)})") from None
    check_finite_weights(model, name)
    return model
