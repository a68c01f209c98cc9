"""Synthetic tasks generated on the fly from a seed: ``reverse``, ``copy``, ``sort``, ``addition``."""

from __future__ import annotations

import string

import numpy as np

from datamodules.corpus import SYNTHETIC_TASKS, Corpus, Pair

SYMBOLS = string.ascii_lowercase


#: Most digits one int64 draw covers; longer operands are drawn digit by digit (Python ints do not overflow).
INT64_DIGITS = 18


def draw_number(rng: np.random.Generator, digits: int, *, exact: bool = False) -> int:
    """A uniform integer in ``[0, 10**digits)``, or with ``exact`` one of exactly ``digits`` digits (no leading zero).

    Example:
        >>> len(str(draw_number(np.random.default_rng(0), 30))) <= 30
        True
        >>> len(str(draw_number(np.random.default_rng(0), 30, exact=True)))
        30
    """
    if exact:
        return int(str(rng.integers(1, 10)) + "".join(map(str, rng.integers(0, 10, size=digits - 1))))
    if digits <= INT64_DIGITS:
        return int(rng.integers(0, 10**digits))
    return int("".join(map(str, rng.integers(0, 10, size=digits))))


def generate(
    task: str,
    n: int,
    *,
    seed: int = 0,
    min_len: int = 5,
    max_len: int = 10,
    num_symbols: int = 10,
    max_digits: int = 3,
    min_digits: int = 1,
) -> list[Pair]:
    """``n`` pairs of ``task``.

    - ``reverse``/``copy``/``sort``: sequences of ``min_len``..``max_len`` symbols drawn from the
      first ``num_symbols`` lowercase letters; the target is the reversed / same / sorted sequence.
    - ``addition``: ``"12+345" -> "357"`` at character level, each operand drawn below ``10**d`` for ``d`` in
      ``min_digits``..``max_digits``; with ``min_digits > 1`` every operand has exactly ``d`` digits (no
      leading zero), so the outputs are long (``min_digits=20, max_digits=30``: 20-31 tokens).

    Example:
        >>> generate("reverse", 1, seed=0, min_len=3, max_len=3)
        [(['i', 'g', 'f'], ['f', 'g', 'i'])]
    """
    if task not in SYNTHETIC_TASKS:
        raise ValueError(f"synthetic task: got {task!r}, expected one of {', '.join(SYNTHETIC_TASKS)}")
    if not 1 <= min_len <= max_len:
        raise ValueError(f"synthetic {task}: need 1 <= min_len <= max_len, got min_len={min_len}, max_len={max_len}")
    if not 1 <= num_symbols <= len(SYMBOLS):
        raise ValueError(f"synthetic {task}: num_symbols must be in [1, {len(SYMBOLS)}], got {num_symbols}")
    if not 1 <= min_digits <= max_digits:
        raise ValueError(
            f"synthetic {task}: need 1 <= min_digits <= max_digits, got min_digits={min_digits}, "
            f"max_digits={max_digits}"
        )
    rng = np.random.default_rng(seed)
    pairs: list[Pair] = []
    for _ in range(n):
        if task == "addition":
            a, b = (
                draw_number(rng, int(rng.integers(min_digits, max_digits + 1)), exact=min_digits > 1) for _ in range(2)
            )
            pairs.append((list(f"{a}+{b}"), list(str(a + b))))
            continue
        length = int(rng.integers(min_len, max_len + 1))
        seq = [SYMBOLS[i] for i in rng.integers(0, num_symbols, size=length)]
        if task == "reverse":
            tgt = seq[::-1]
        elif task == "sort":
            tgt = sorted(seq)
        else:
            tgt = list(seq)
        pairs.append((seq, tgt))
    return pairs


def synthetic_corpus(
    task: str,
    *,
    seed: int = 0,
    n_train: int = 5000,
    n_val: int = 500,
    n_test: int = 500,
    min_len: int = 5,
    max_len: int = 10,
    num_symbols: int = 10,
    max_digits: int = 3,
    min_digits: int = 1,
) -> Corpus:
    """A corpus of ``task`` with independent streams for each split (seeds ``seed``, +1, +2)."""
    kw = {
        "min_len": min_len,
        "max_len": max_len,
        "num_symbols": num_symbols,
        "max_digits": max_digits,
        "min_digits": min_digits,
    }
    return Corpus(
        task,
        train=generate(task, n_train, seed=seed, **kw),
        val=generate(task, n_val, seed=seed + 1_000_003, **kw),
        test=generate(task, n_test, seed=seed + 2_000_006, **kw),
    )
