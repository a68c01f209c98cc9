"""Decoding arithmetic shared by both frameworks (framework-free)."""

from __future__ import annotations

from typing import Any

from seq2seq_fit.config import check_bool, check_choice, check_float, check_int
from seq2seq_fit.tokenizer import Tokenizer, check_tokenizer

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


def check_decoding_args(
    strategy: str,
    beam_width: int,
    length_penalty: float,
    temperature: float,
    top_k: int | None,
    max_length: int,
) -> None:
    """Validate the arguments of ``translate`` on either side, naming the bad one."""
    check_choice("translate", "strategy", strategy, STRATEGIES)
    check_int("translate", "beam_width", beam_width, 1)
    check_float("translate", "length_penalty", length_penalty, 0.0, 10.0)
    check_float("translate", "temperature", temperature, 0.0, float("inf"), low_open=True, high_open=True)
    if top_k is not None:
        check_int("translate", "top_k", top_k, 1)
    check_int("translate", "max_length", max_length, 1)


def check_translate_args(
    sources: Any,
    strategy: str,
    beam_width: int,
    length_penalty: float,
    temperature: float,
    top_k: int | None,
    max_length: int | None,
    return_attention: bool,
    tokenizer: Tokenizer,
    batch_size: int,
    seed: int | None,
) -> None:
    """Validate every argument of ``translate`` (both sides) before any work, even for no sources.

    Example:
        >>> check_translate_args("hi", "greedy", 1, 0.0, 1.0, None, None, False, "whitespace", 8, None)
        Traceback (most recent call last):
        ...
        ValueError: translate.sources: got 'hi', expected a list of sources (one string is one source: ['hi'])
    """
    if isinstance(sources, str):
        raise ValueError(
            f"translate.sources: got {sources!r}, expected a list of sources (one string is one source: [{sources!r}])"
        )
    check_decoding_args(
        strategy, beam_width, length_penalty, temperature, top_k, 1 if max_length is None else max_length
    )
    check_bool("translate", "return_attention", return_attention)
    check_tokenizer(tokenizer)
    check_int("translate", "batch_size", batch_size, 1)
    if seed is not None:
        check_int("translate", "seed", seed, 0)
