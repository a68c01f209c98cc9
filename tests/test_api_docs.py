"""The API reference (``make docs``) builds and documents every public name with its docstring."""

from __future__ import annotations

import html
import importlib
import importlib.util
import inspect
from pathlib import Path

import pytest

pytest.importorskip("pdoc")

ROOT = Path(__file__).resolve().parent.parent


def _build_api() -> object:
    spec = importlib.util.spec_from_file_location("build_api", ROOT / "docs" / "build_api.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_docs_cover_every_public_name(tmp_path: Path) -> None:
    build_api = _build_api()
    pages = build_api.build(tmp_path)  # type: ignore[attr-defined]
    assert tmp_path / "index.html" in pages
    for name in build_api.MODULES:  # type: ignore[attr-defined]
        page = tmp_path / (name.replace(".", "/") + ".html")
        assert page.is_file(), f"no page for {name}"
    for package in ("seq2seq_fit", "datamodules", "lit_seq2seq", "keras_seq2seq"):
        text = html.unescape((tmp_path / f"{package}.html").read_text())
        module = importlib.import_module(package)
        for name in module.__all__:
            if name in ("Seq2SeqDataModule", "KerasData"):  # lazy exports, on their own module pages
                continue
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            assert f'id="{name}"' in text, f"{package}.{name} missing from the API reference"
            doc = inspect.getdoc(obj)
            assert doc, f"{package}.{name} has no docstring"
            assert doc.splitlines()[0].split("``")[0][:30] in text, f"{package}.{name}: docstring not rendered"
    lazy = {"datamodules/lightning.html": "Seq2SeqDataModule", "datamodules/keras.html": "KerasData"}
    for page, name in lazy.items():
        assert f'id="{name}"' in (tmp_path / page).read_text()
