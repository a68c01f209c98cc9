"""Precision names: one table for both command lines and every benchmark.

Each name (Lightning's own ``32-true``/``16-mixed``/``bf16-mixed`` and the short ``32``/``fp32``,
``fp16``, ``bf16``) maps to the Lightning ``Trainer(precision=...)`` string and to the Keras dtype
policy that compute the same way: float32 weights, with float16 (loss-scaled) or bfloat16 compute.
"""

from __future__ import annotations

from typing import NamedTuple


class Precision(NamedTuple):
    """One precision in each framework's spelling."""

    lightning: str
    keras: str


_FP32 = Precision("32-true", "float32")
_FP16 = Precision("16-mixed", "mixed_float16")
_BF16 = Precision("bf16-mixed", "mixed_bfloat16")

#: Every accepted name and what it means in each framework.
PRECISIONS: dict[str, Precision] = {
    "32": _FP32,
    "32-true": _FP32,
    "fp32": _FP32,
    "16-mixed": _FP16,
    "fp16": _FP16,
    "bf16-mixed": _BF16,
    "bf16": _BF16,
}


def precision(name: str) -> Precision:
    """The precision called ``name``, with an error that lists the names.

    Example:
        >>> precision("bf16")
        Precision(lightning='bf16-mixed', keras='mixed_bfloat16')
        >>> precision("16-mixed").keras
        'mixed_float16'
    """
    if name not in PRECISIONS:
        raise ValueError(f"precision: got {name!r}, expected one of {', '.join(PRECISIONS)}")
    return PRECISIONS[name]


def lightning_precision(name: str) -> str:
    """``Trainer(precision=...)`` for ``name``: ``lightning_precision("fp16") == "16-mixed"``."""
    return precision(name).lightning


def keras_dtype_policy(name: str) -> str:
    """``keras.config.set_dtype_policy(...)`` for ``name``: ``keras_dtype_policy("bf16") == "mixed_bfloat16"``."""
    return precision(name).keras
