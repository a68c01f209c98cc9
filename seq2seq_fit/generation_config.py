"""``GenerationConfig``: how ``translate`` decodes, one frozen options object (as Hugging Face's).

Every ``translate`` (``LitSeq2Seq``, ``Seq2SeqModel``, ``OnnxTranslator``, the core driver) and the
``translate`` command lines take the same options; they are spelled and checked here, once.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from seq2seq_fit import limits
from seq2seq_fit.config import check_bool, check_choice, check_float, check_int
from seq2seq_fit.decoding import STRATEGIES
from seq2seq_fit.errors import InputError
from seq2seq_fit.tokenizer import TokenizerLike, check_tokenizer


@dataclass(frozen=True)
class GenerationConfig:
    """The options of ``translate``, checked on construction (one line naming the bad option).

    Pass one to ``translate(sources, config)``, or its fields as keywords
    (``translate(sources, strategy="beam")``), or both: the keywords override the object's fields.

    Attributes:
        strategy: ``greedy``, ``sample`` or ``beam`` (see :mod:`seq2seq_fit.search`).
        beam_width: beams kept by ``beam`` (width 1 with ``length_penalty=0`` is the greedy output), at
            most ``seq2seq_fit.limits.MAX_BEAM_WIDTH``.
        length_penalty: GNMT ``alpha`` in [0, 10] ranking finished beams by ``log p / lp(|Y|)``.
        temperature: for ``sample``: the softmax temperature (> 0).
        top_k: for ``sample``: keep only the ``k`` most likely tokens (``None``: all).
        max_length: most output tokens, ``<eos>`` included, at most ``seq2seq_fit.limits.MAX_LENGTH``;
            ``None``: each source gets :func:`seq2seq_fit.decoding.length_budget` of its length
            (``2 * len(source) + 10``), so an output never depends on the sources decoded with it.
        return_attention: also return per source a float32 array ``(len(output), len(source))`` of
            attention weights (the ``<eos>`` step excluded); a ``ValueError`` for a model without attention.
        tokenizer: splits string sources: ``None`` (the model's own ``src_tokenizer``), or anything
            :func:`seq2seq_fit.tokenizer.as_tokenizer` takes (``whitespace``, ``chars``, a
            ``tokenizer.json`` path, a callable...).
        batch_size: sources decoded together, at most ``seq2seq_fit.limits.MAX_BATCH_SIZE``.
        seed: seeds ``sample`` (``None``: fresh randomness each call).
        detokenize: return text, each output joined by the model's ``tgt_tokenizer``, instead of token lists.

    Example:
        >>> beam = GenerationConfig(strategy="beam", beam_width=3)
        >>> as_generation_config(beam, length_penalty=0.6).length_penalty
        0.6
        >>> GenerationConfig(beam_width=0)
        Traceback (most recent call last):
        ...
        ValueError: translate.beam_width: got 0, expected an integer >= 1
    """

    strategy: str = "greedy"
    beam_width: int = 5
    length_penalty: float = 0.0
    temperature: float = 1.0
    top_k: int | None = None
    max_length: int | None = None
    return_attention: bool = False
    tokenizer: TokenizerLike = None
    batch_size: int = 64
    seed: int | None = None
    detokenize: bool = False

    def __post_init__(self) -> None:
        check_choice("translate", "strategy", self.strategy, STRATEGIES)
        check_int("translate", "beam_width", self.beam_width, 1)
        check_at_most("beam_width", self.beam_width, "MAX_BEAM_WIDTH")
        check_float("translate", "length_penalty", self.length_penalty, 0.0, 10.0)
        check_float("translate", "temperature", self.temperature, 0.0, float("inf"), low_open=True, high_open=True)
        if self.top_k is not None:
            check_int("translate", "top_k", self.top_k, 1)
        if self.max_length is not None:
            check_int("translate", "max_length", self.max_length, 1)
            check_at_most("max_length", self.max_length, "MAX_LENGTH")
        check_bool("translate", "return_attention", self.return_attention)
        check_tokenizer(self.tokenizer)
        check_int("translate", "batch_size", self.batch_size, 1)
        check_at_most("batch_size", self.batch_size, "MAX_BATCH_SIZE")
        if self.seed is not None:
            check_int("translate", "seed", self.seed, 0)
        check_bool("translate", "detokenize", self.detokenize)

    def to_dict(self) -> dict[str, Any]:
        """The options as a dict of keyword arguments."""
        return asdict(self)


#: The option names, in the order of the fields.
OPTIONS = tuple(field.name for field in fields(GenerationConfig))


def check_at_most(name: str, value: int, limit: str) -> None:
    """Raise :class:`~seq2seq_fit.errors.InputError` if ``value`` exceeds ``seq2seq_fit.limits.<limit>``,
    naming the limit and how to raise it."""
    most = getattr(limits, limit)
    if value > most:
        raise InputError(
            f"translate.{name}: got {value!r}, expected an integer in [1, {most}] (seq2seq_fit.limits.{limit}; "
            f"raise it for a call you trust)"
        )


def as_generation_config(
    generation_config: GenerationConfig | Mapping[str, Any] | None = None, **overrides: Any
) -> GenerationConfig:
    """``generation_config`` (a :class:`GenerationConfig`, its dict, or ``None`` for the defaults) with
    ``overrides`` replacing its fields: what every ``translate`` does with its arguments.

    Raises:
        TypeError: an option that is not a field (one line naming the allowed ones), or a
            ``generation_config`` of another type.
        ValueError: a value a field refuses.

    Example:
        >>> as_generation_config(temprature=0.5)
        Traceback (most recent call last):
        ...
        TypeError: translate: got an unknown option 'temprature' (did you mean 'temperature'?); expected strategy, beam_width, length_penalty, temperature, top_k, max_length, return_attention, tokenizer, batch_size, seed, detokenize
    """  # noqa: E501
    if isinstance(generation_config, Mapping):
        overrides = {**generation_config, **overrides}
        generation_config = None
    elif generation_config is not None and not isinstance(generation_config, GenerationConfig):
        raise TypeError(
            f"translate.generation_config: got {generation_config!r}, expected a GenerationConfig, its dict or None"
        )
    unknown = [name for name in overrides if name not in OPTIONS]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), OPTIONS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise TypeError(f"translate: got an unknown option {unknown[0]!r}{hint}; expected {', '.join(OPTIONS)}")
    if generation_config is None:
        return GenerationConfig(**overrides)
    return replace(generation_config, **overrides) if overrides else generation_config


__all__ = ["OPTIONS", "GenerationConfig", "as_generation_config"]
