"""Find seq2seq-fit's data layer (the ``datamodules`` package) for the command lines and the demo.

The model packages (``lit_seq2seq``, ``keras_seq2seq``) never import ``datamodules``, so a project
with its own package of that name (common in Lightning projects) uses them untouched. The commands
that load a corpus need ours: :func:`require_data_layer` refuses, in one line naming the other
package's path, when another ``datamodules`` comes first on ``sys.path``. Framework-free.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from seq2seq_fit.errors import InputError

#: The package name of the data layer.
DATA_LAYER = "datamodules"
#: The attribute that marks our ``datamodules`` (set in its ``__init__.py``).
MARKER = "__seq2seq_fit_data_layer__"


def _location(origin: str | None, search: list[str] | None) -> str:
    """The directory of a package from its spec's ``origin`` (``.../__init__.py``) or search locations."""
    if origin and origin not in ("namespace", "built-in", "frozen"):
        path = Path(origin)
        return str(path.parent if path.name == "__init__.py" else path)
    return str(search[0]) if search else "an unknown location"


def _shadowing(where: str, detail: str = "") -> InputError:
    return InputError(
        f"{where} is another package named '{DATA_LAYER}' that hides seq2seq-fit's data layer{detail}: "
        f"rename that package, or run from a directory (and a PYTHONPATH) that does not put "
        f"{Path(where).parent} first on sys.path"
    )


def require_data_layer() -> ModuleType:
    """Import and return seq2seq-fit's ``datamodules``, refusing a package of that name that is not ours.

    Returns:
        Our ``datamodules`` package.

    Raises:
        InputError: another ``datamodules`` comes first on ``sys.path`` (one line naming its
            directory and how to get ours), or the data layer is not installed.

    Example:
        >>> require_data_layer().__name__
        'datamodules'
    """
    module = sys.modules.get(DATA_LAYER)
    if module is None:
        try:
            spec = importlib.util.find_spec(DATA_LAYER)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            raise InputError(
                f"seq2seq-fit's data layer (the '{DATA_LAYER}' package) is not importable: reinstall seq2seq-fit"
            )
        where = _location(spec.origin, list(spec.submodule_search_locations or []))
        try:
            module = importlib.import_module(DATA_LAYER)
        except Exception as err:
            if Path(where).resolve() == Path(__file__).resolve().parent.parent / DATA_LAYER:
                raise  # ours failed to import: a bug, with its traceback
            raise _shadowing(where, f" (importing it raised {type(err).__name__}: {err})") from err
    if getattr(module, MARKER, False) is not True:
        spec = getattr(module, "__spec__", None)
        origin = getattr(module, "__file__", None) or (spec.origin if spec is not None else None)
        search = list(getattr(module, "__path__", []) or [])
        raise _shadowing(_location(origin, search))
    return module


__all__ = ["DATA_LAYER", "MARKER", "require_data_layer"]
