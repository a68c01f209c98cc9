"""Packages whose public names import their modules on first use, so importing the package is light.

``keras_seq2seq`` and ``lit_seq2seq`` use it so that their command lines answer ``--help`` and
argument errors without starting a framework.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any


class LazyPackage(types.ModuleType):
    """A package module whose public names (``_exports``: name -> defining module) load on first use.

    The first use of any public name imports every module of ``_exports`` (Keras then knows every
    registered class) and binds the names. A public name must not be the name of a submodule: the
    import system would bind the submodule over it.
    """

    _exports: dict[str, str]

    def __getattr__(self, name: str) -> Any:
        if name not in self._exports:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        self.load_all()
        return self.__dict__[name]

    def __dir__(self) -> list[str]:
        return sorted({*self.__dict__, *self._exports})

    def load_all(self) -> None:
        """Import every module of the public names and bind the names."""
        for name, module in self._exports.items():
            self.__dict__[name] = getattr(importlib.import_module(module), name)


def make_lazy(package: str, exports: dict[str, str], *, eager: bool = False) -> None:
    """Turn the (imported) package ``package`` into a :class:`LazyPackage` of ``exports``.

    Args:
        package: the package's ``__name__``; call this from its ``__init__``.
        exports: public name -> the module that defines it.
        eager: load everything now.
    """
    module = sys.modules[package]
    module.__class__ = LazyPackage
    module.__dict__["_exports"] = dict(exports)
    if eager:
        module.load_all()  # type: ignore[attr-defined]
