"""The argparse ``type`` functions of the option tables: each turns the text of an option into its value
or raises ``argparse.ArgumentTypeError`` with a message that shows the value and what is accepted."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from seq2seq_fit.tokenizer import ALIASES, TOKENIZERS, TRAINABLE


def bounded_int(low: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer ``>= low``, with an error that shows the value.

    Example:
        >>> bounded_int(1)("3")
        3
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"got {text!r}, expected an integer >= {low}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"got {value}, expected an integer >= {low}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def bounded_float(low: float, *, low_open: bool = False) -> Callable[[str], float]:
    """An argparse ``type``: a finite number ``>= low`` (``> low`` with ``low_open``)."""
    expected = f"a number {'>' if low_open else '>='} {low:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"got {text!r}, expected {expected}") from None
        if value != value or value in (float("inf"), float("-inf")) or value < low or (low_open and value == low):
            raise argparse.ArgumentTypeError(f"got {text}, expected {expected}")
        return value

    parse.__name__ = expected
    return parse


def checked_by_translate(name: str, kind: type) -> Callable[[str], Any]:
    """An argparse ``type`` for ``translate``'s keyword argument ``name``: the text as ``kind``,
    checked by the core's :class:`seq2seq_fit.GenerationConfig` (one set of bounds for the command
    lines and the Python API)."""

    def parse(text: str) -> Any:
        try:
            value: Any = kind(text)
        except ValueError:
            value = text  # the check names the expected type
        from seq2seq_fit.generation_config import GenerationConfig  # here: --help needs no numpy

        try:
            GenerationConfig(**{name: value})
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err).removeprefix(f"translate.{name}: ")) from None
        return value

    parse.__name__ = f"{kind.__name__} ({name})"
    return parse


def tokenizer_name(text: str) -> str:
    """The value of ``--tokenizer``: a built-in name, or a path ending in ``.json`` or ``.model`` (read later).

    Raises:
        argparse.ArgumentTypeError: anything else, naming the accepted values.
    """
    if text in TOKENIZERS or text in ALIASES or text.endswith((".json", ".model")):
        return text
    names = ", ".join((*TOKENIZERS, *ALIASES))
    raise argparse.ArgumentTypeError(f"got {text!r}, expected {names}, or a tokenizer.json or .model file")


tokenizer_name.__name__ = "tokenizer"


def corpus_tokenizer_name(text: str) -> str:
    """The value of ``fit``'s ``--tokenizer``: :func:`tokenizer_name`'s, or ``bpe`` / ``unigram`` (trained on the data).

    Raises:
        argparse.ArgumentTypeError: anything else, naming the accepted values.
    """
    if text in TRAINABLE:
        return text
    try:
        return tokenizer_name(text)
    except argparse.ArgumentTypeError:
        names = ", ".join((*TOKENIZERS, *ALIASES, *TRAINABLE))
        message = f"got {text!r}, expected {names}, or a tokenizer.json or .model file"
        raise argparse.ArgumentTypeError(message) from None


corpus_tokenizer_name.__name__ = "tokenizer"
