"""What the command lines do to the process around them: environment variables and installed packages.

Framework-free and import-free: a package is looked up without importing it, so ``--help`` and
argument errors start no framework.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from seq2seq_fit.cli.errors import CLIError

#: Environment variables the command lines may set (framework logging, the Keras backend); ``main``
#: restores them when it returns, so a ``main([...])`` call from Python leaves the environment as it was.
CLI_ENVIRONMENT = ("TF_CPP_MIN_LOG_LEVEL", "GRPC_VERBOSITY", "GLOG_minloglevel", "KERAS_BACKEND")


@contextmanager
def restored_environment(names: Sequence[str] = CLI_ENVIRONMENT) -> Iterator[None]:
    """Restore the environment variables ``names`` to their values (or absence) at entry, on exit."""
    saved = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def quiet_framework_logs(debug: bool) -> None:
    """Silence the frameworks' start-up logging (TensorFlow's C++ and absl lines, oneDNN notices).

    Call before the framework is imported; variables the user set are kept, and ``debug`` keeps all.
    """
    if debug:
        return
    for name, value in {"TF_CPP_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR", "GLOG_minloglevel": "3"}.items():
        os.environ.setdefault(name, value)


def installed(package: str) -> bool:
    """Whether ``package`` can be imported (checked without importing it)."""
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # a finder that refuses it, or a broken half-import
        return False


def require_package(name: str, purpose: str, extra: str = "serve") -> None:
    """Refuse to start ``purpose`` when the package ``name`` is not installed (checked without importing it).

    Args:
        name: the package (``onnx``, ``matplotlib``).
        purpose: what needs it, first in the message (``export``, ``--show-attention``).
        extra: the seq2seq-fit extra that installs it (``serve``, ``plot``).

    Raises:
        CLIError: ``name`` is missing; the message gives the pip line that installs it.
    """
    if not installed(name):
        raise CLIError(
            f"{purpose} needs the {name} package, which is not installed: pip install 'seq2seq-fit[{extra}]'"
        )
