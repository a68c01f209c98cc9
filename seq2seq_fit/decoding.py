"""Decoding rules shared by the search, the evaluation decodes and both frameworks (framework-free).

The strategy names, the GNMT length penalty, the length budget a source gets when no
``max_length`` is given, and the ``<eos>`` rule: an output ends at its first ``<eos>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from seq2seq_fit.vocab import BOS_ID, EOS_ID, PAD_ID

if TYPE_CHECKING:
    import numpy as np

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


def length_budget(source_length: Any) -> Any:
    """Decoding steps a source of ``source_length`` tokens gets when no ``max_length`` is given: ``2 * n + 10``.

    The default ``max_length`` of ``translate`` and the budget of the evaluation decodes, applied
    per source (not to the padded batch width), so an output or a score never depends on how the
    batches were padded. ``source_length`` may be an int or a framework's scalar tensor (the
    compiled Keras decode uses it).

    Example:
        >>> length_budget(3)
        16
    """
    return 2 * source_length + 10


def until_eos(ids: Iterable[int]) -> list[int]:
    """``ids`` up to and including the first ``<eos>`` (all of them when there is none): where an output ends.

    Example:
        >>> until_eos([7, 2, 9, 2])
        [7, 2]
    """
    out: list[int] = []
    for i in ids:
        out.append(int(i))
        if i == EOS_ID:
            break
    return out


def output_positions(ids: Iterable[int]) -> list[int]:
    """Positions of the output tokens in decoded ``ids``: before the first ``<eos>`` (:func:`until_eos`),
    without ``<pad>`` and ``<bos>`` (what ``Vocab.decode`` keeps, and the rows of the returned attention).

    Example:
        >>> output_positions([1, 7, 0, 8, 2, 9])
        [1, 3]
    """
    return [p for p, i in enumerate(until_eos(ids)) if i not in (PAD_ID, BOS_ID, EOS_ID)]


def join_ids(batches: Sequence[Any]) -> np.ndarray:
    """Decoded id batches ``(B_i, L_i)`` as one ``(sum B_i, max L_i)`` array, each right-padded with ``<pad>``
    (which a decode already has after its ``<eos>``): the batches of a ``predict`` whose sources had
    different widths, and so different length budgets.

    Example:
        >>> join_ids([[[5, 2]], [[6, 7, 2, 0]]]).tolist()
        [[5, 2, 0, 0], [6, 7, 2, 0]]
    """
    import numpy as np  # here: the command lines read STRATEGIES and start without numpy

    arrays = [np.asarray(batch) for batch in batches]
    width = max((a.shape[1] for a in arrays), default=0)
    return np.concatenate([np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=PAD_ID) for a in arrays])


__all__ = ["STRATEGIES", "join_ids", "length_budget", "length_penalty", "output_positions", "until_eos"]
