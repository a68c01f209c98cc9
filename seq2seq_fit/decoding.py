"""Decoding arithmetic shared by both frameworks (framework-free): the strategy names and the GNMT length penalty."""

from __future__ import annotations

from typing import Any

#: The ``translate`` strategies.
STRATEGIES = ("greedy", "sample", "beam")


def length_penalty(length: Any, alpha: float) -> Any:
    """GNMT length penalty ``((5 + |Y|) / 6) ** alpha`` (Wu et al. 2016).

    ``length`` may be an int, a NumPy array or a framework tensor. Finished beam hypotheses are
    ranked by ``log P(Y | X) / length_penalty(|Y|, alpha)``; ``alpha = 0`` ranks by raw log
    probability.

    Example:
        >>> length_penalty(1, 1.0)
        1.0
    """
    return ((5.0 + length) / 6.0) ** alpha


__all__ = ["STRATEGIES", "length_penalty"]
