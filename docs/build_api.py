"""Build the API reference (HTML, from the docstrings) with pdoc: ``make docs`` or

    python docs/build_api.py [OUTPUT_DIR]      # default docs/api; open docs/api/index.html

The lazily imported ``datamodules.Seq2SeqDataModule`` / ``datamodules.KerasData`` are documented
through their own modules (``datamodules.lightning``, ``datamodules.keras``).
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

#: The public modules, in the order of the navigation bar.
MODULES = [
    "seq2seq_fit",
    "datamodules",
    "datamodules.lightning",
    "datamodules.keras",
    "lit_seq2seq",
    "keras_seq2seq",
]


def build(output: Path) -> list[Path]:
    """Render :data:`MODULES` into ``output``; returns the pages written."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import pdoc
    import pdoc.render

    pdoc.render.configure(docformat="google", footer_text="seq2seq-fit")
    with warnings.catch_warnings():
        # pdoc warns about names in datamodules.__all__ that resolve lazily (module __getattr__)
        warnings.filterwarnings("ignore", message=".*does not resolve.*")
        for package in ("lit_seq2seq", "keras_seq2seq"):  # lazy packages (seq2seq_fit.lazy_package): bind every name
            __import__(package).load_all()
        pdoc.pdoc(*MODULES, output_directory=output)
    return sorted(output.rglob("*.html"))


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "api"
    pages = build(out)
    print(f"wrote {len(pages)} pages to {out} (open {out / 'index.html'})")
