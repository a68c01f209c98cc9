"""``.keras`` files load with ``safe_mode=True``; files that would run code are refused.

Each refusal test plants a module or a lambda that would write a marker file if it ever ran, and
checks that the marker is absent afterwards: the refusal happens before any code of the file runs.
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import keras
from datamodules.keras import KerasData
from keras_seq2seq import Seq2SeqModel, UnsafeFileError, load_model
from seq2seq_fit import Seq2SeqConfig

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = KerasData("toy", batch_size=4)
    model = Seq2SeqModel(data.src_vocab, data.tgt_vocab, Seq2SeqConfig(hidden_size=16, embedding_dim=8), seed=0)
    model.compile(optimizer="adam")
    model.fit(data.train(), epochs=1, verbose=0)
    path = tmp_path_factory.mktemp("saved") / "model.keras"
    model.save(path)
    return path


def read_config(path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json"))  # type: ignore[no-any-return]


def rewrite(source: Path, target: Path, config: dict[str, Any]) -> Path:
    """A copy of ``source`` whose ``config.json`` is ``config`` (weights unchanged)."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, json.dumps(config) if name == "config.json" else src.read(name))
    return target


@pytest.fixture
def trap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An importable module ``seq2seq_trap`` that writes ``marker`` when imported."""
    marker = tmp_path / "code_ran"
    package = tmp_path / "site"
    package.mkdir()
    (package / "seq2seq_trap.py").write_text(
        f"open({str(marker)!r}, 'w').write('imported')\n"
        "import keras\n"
        "class Evil(keras.Model):\n"
        f"    def __init__(self, **kwargs):\n        open({str(marker)!r}, 'w').write('constructed')\n"
    )
    monkeypatch.syspath_prepend(str(package))
    monkeypatch.delitem(sys.modules, "seq2seq_trap", raising=False)
    return marker


def test_a_saved_model_loads_in_safe_mode_with_the_same_weights(saved: Path) -> None:
    model = load_model(saved)
    reference = keras.saving.load_model(saved, safe_mode=True)
    assert isinstance(model, Seq2SeqModel)
    for a, b in zip(model.weights, reference.weights, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


@pytest.mark.parametrize("loader", ["ours", "keras"])
def test_a_config_naming_a_module_outside_keras_is_refused_before_import(
    saved: Path, tmp_path: Path, trap: Path, loader: str
) -> None:
    config = read_config(saved)
    config.update(module="seq2seq_trap", class_name="Evil", registered_name=None)
    path = rewrite(saved, tmp_path / "crafted.keras", config)
    if loader == "ours":
        with pytest.raises(UnsafeFileError, match=r"module 'seq2seq_trap'.*nothing from the file was imported"):
            load_model(path)
    else:  # Keras' own loader does not import it either
        with pytest.raises(TypeError, match=r"Could not locate class 'Evil'"):
            keras.saving.load_model(path, safe_mode=True)
    assert not trap.exists()
    assert "seq2seq_trap" not in sys.modules


def test_a_nested_layer_from_another_package_is_refused(saved: Path, tmp_path: Path, trap: Path) -> None:
    config = read_config(saved)
    config["config"]["dtype"] = {"module": "seq2seq_trap", "class_name": "Evil", "config": {}, "registered_name": None}
    with pytest.raises(UnsafeFileError, match=r"seq2seq_trap"):
        load_model(rewrite(saved, tmp_path / "nested.keras", config))
    assert not trap.exists()


def test_a_class_registered_by_another_package_is_refused(saved: Path, tmp_path: Path, trap: Path) -> None:
    import seq2seq_trap  # noqa: F401  (registering needs the import; it writes the marker)

    trap.unlink()
    config = read_config(saved)
    config.update(module="keras_seq2seq.system", class_name="Evil", registered_name="evil_pkg>Evil")
    keras.saving.get_custom_objects()["evil_pkg>Evil"] = sys.modules["seq2seq_trap"].Evil
    try:
        with pytest.raises(UnsafeFileError, match=r"'evil_pkg>Evil'"):
            load_model(rewrite(saved, tmp_path / "registered.keras", config))
    finally:
        del keras.saving.get_custom_objects()["evil_pkg>Evil"]
    assert not trap.exists()


def test_an_unregistered_keras_seq2seq_class_is_refused(saved: Path, tmp_path: Path) -> None:
    config = read_config(saved)
    config.update(class_name="NotThere", registered_name="keras_seq2seq>NotThere")
    with pytest.raises(TypeError, match=r"Could not locate class 'NotThere'"):
        load_model(rewrite(saved, tmp_path / "unknown.keras", config))


def test_a_lambda_layer_is_refused_and_never_called(tmp_path: Path) -> None:
    marker = tmp_path / "lambda_ran"
    inputs = keras.Input((3,))
    writes_marker = eval(f"lambda x: x + (open({str(marker)!r}, 'w').close() or 0)")  # no closure to serialise
    outputs = keras.layers.Lambda(writes_marker)(inputs)
    marker.unlink()  # the call above ran it once, while building
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(ValueError, match=r"Lambda.*safe_mode=False"):
        load_model(path)
    with pytest.raises(ValueError, match=r"Lambda.*safe_mode=False"):
        keras.saving.load_model(path)
    assert not marker.exists()


@pytest.mark.parametrize("suffix", [".h5", ".hdf5"])
def test_legacy_h5_is_refused_with_a_clear_message(saved: Path, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"model{suffix}"
    path.write_bytes(b"\x89HDF\r\n\x1a\n")  # the HDF5 signature; the loader must not even open it
    with pytest.raises(ValueError, match=r"legacy HDF5.*without a safe mode.*only .keras archives"):
        load_model(path)


def test_a_file_that_is_not_a_keras_archive_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.keras"
    path.write_text("not a zip")
    with pytest.raises(ValueError, match=r"is not a .keras archive"):
        load_model(path)
    with pytest.raises(ValueError, match=r"is not a .keras archive"):
        load_model(tmp_path / "saved_model_dir")
