"""Errors both model packages raise for files they refuse to load (framework-free)."""

from __future__ import annotations


class UnsafeFileError(ValueError):
    """A file that could run code when loaded, refused before anything from it was loaded.

    Raised for a Lightning checkpoint that holds pickled Python objects and for a ``.keras``
    archive that names classes from outside Keras and ``keras_seq2seq``. The message names the
    file and says how to opt in for a file you trust.
    """


class ModelFormatError(ValueError):
    """A model directory that ``load_pretrained`` cannot read: a missing or malformed file, an
    unknown ``format_version``, or a tensor that does not fit the config and vocabularies.

    The message names the file (and the tensor, for weights).
    """


__all__ = ["ModelFormatError", "UnsafeFileError"]
