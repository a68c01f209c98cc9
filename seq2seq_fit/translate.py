"""The translate driver both frameworks call: strings or token lists in, token lists (or text) out.

A framework supplies a :class:`StepDecoder` (its model's encoder, one decoder step, and a reorder
of the decoder state, numpy at the boundary); everything else happens here, once: the argument
checks, tokenizing, the unknown-token warning, batching and padding, the ``max_length`` rule, the
search (:mod:`seq2seq_fit.search`), decoding ids to tokens and the shape of the returned attention.
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import numpy as np

from seq2seq_fit import limits
from seq2seq_fit.config import check_bool, check_choice, check_float, check_int
from seq2seq_fit.decoding import STRATEGIES
from seq2seq_fit.errors import InputError
from seq2seq_fit.scores import length_budget
from seq2seq_fit.search import SearchResult, beam_search, greedy, sample
from seq2seq_fit.tokenizer import Tokenizer, TokenizerLike, as_tokenizer, check_tokenizer
from seq2seq_fit.vocab import BOS, BOS_ID, EOS, EOS_ID, PAD, PAD_ID, UNK_ID, Vocab

#: A source: a string (split by the tokenizer) or a list of tokens.
Source = str | Sequence[str]
#: Unknown tokens named in the warning at most.
SHOWN_UNKNOWN = 10
#: Special tokens a source cannot hold: written in a source they are unknown tokens, read as ``<unk>``
#: (a ``<pad>`` inside a source would otherwise be masked by one framework and read by the other).
RESERVED = (PAD, BOS, EOS)
#: The packages whose frames a warning skips, so that it points at the user's call.
PACKAGES = ("seq2seq_fit", "lit_seq2seq", "keras_seq2seq")


class UnknownTokensWarning(UserWarning):
    """Some sources have tokens that the source vocabulary does not hold; they are read as ``<unk>``."""


class StepDecoder(Protocol):
    """What a framework implements for :func:`translate`: its model, one token at a time, in numpy.

    Attributes:
        has_attention: whether ``step`` returns attention weights (``attention != "none"``).
    """

    has_attention: bool

    def start(self, source_ids: np.ndarray, lengths: np.ndarray) -> Any:
        """Encode right-padded ``source_ids`` (B, S) int64 with ``lengths`` (B,); returns the
        decoder state (the encoder memory included)."""

    def step(self, tokens: np.ndarray, state: Any, *, attention: bool) -> tuple[np.ndarray, Any, np.ndarray | None]:
        """From the previous ``tokens`` (N,) int64: ``(logits (N, V) float32, new state,
        attention (N, S) float32 or None)``; the attention weights only when ``attention`` is
        asked for (``translate(return_attention=True)``), so nothing else copies them to the host."""

    def reorder(self, state: Any, index: np.ndarray) -> Any:
        """The rows ``index`` (N',) int64 of everything in ``state``."""


def check_at_most(name: str, value: int, limit: str) -> None:
    """Raise :class:`~seq2seq_fit.errors.InputError` if ``value`` exceeds ``seq2seq_fit.limits.<limit>``,
    naming the limit and how to raise it."""
    most = getattr(limits, limit)
    if value > most:
        raise InputError(
            f"translate.{name}: got {value!r}, expected an integer in [1, {most}] (seq2seq_fit.limits.{limit}; "
            f"raise it for a call you trust)"
        )


def check_translate_args(
    sources: Any,
    *,
    strategy: str = "greedy",
    beam_width: int = 5,
    length_penalty: float = 0.0,
    temperature: float = 1.0,
    top_k: int | None = None,
    max_length: int | None = None,
    return_attention: bool = False,
    tokenizer: TokenizerLike = None,
    batch_size: int = 64,
    seed: int | None = None,
    detokenize: bool = False,
) -> None:
    """Validate every argument of ``translate`` before any work, naming the bad one.

    ``max_length``, ``beam_width`` and ``batch_size`` are capped at the documented
    :mod:`seq2seq_fit.limits` (``MAX_LENGTH``, ``MAX_BEAM_WIDTH``, ``MAX_BATCH_SIZE``), so that no call
    allocates without bound; the error names the limit to raise.

    Example:
        >>> check_translate_args("hi")
        Traceback (most recent call last):
        ...
        ValueError: translate.sources: got 'hi', expected a list of sources (one string is one source: ['hi'])
        >>> check_translate_args(["hi"], beam_width=0)
        Traceback (most recent call last):
        ...
        ValueError: translate.beam_width: got 0, expected an integer >= 1
        >>> check_translate_args(["hi"], beam_width=10**6)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        seq2seq_fit.errors.InputError: translate.beam_width: got 1000000, expected ... (...MAX_BEAM_WIDTH; raise it...)
    """
    if isinstance(sources, (str, bytes)):
        raise ValueError(
            f"translate.sources: got {sources!r}, expected a list of sources (one string is one source: [{sources!r}])"
        )
    if not isinstance(sources, Iterable):
        raise ValueError(f"translate.sources: got {sources!r}, expected a list of strings or token lists")
    check_choice("translate", "strategy", strategy, STRATEGIES)
    check_int("translate", "beam_width", beam_width, 1)
    check_at_most("beam_width", beam_width, "MAX_BEAM_WIDTH")
    check_float("translate", "length_penalty", length_penalty, 0.0, 10.0)
    check_float("translate", "temperature", temperature, 0.0, float("inf"), low_open=True, high_open=True)
    if top_k is not None:
        check_int("translate", "top_k", top_k, 1)
    if max_length is not None:
        check_int("translate", "max_length", max_length, 1)
        check_at_most("max_length", max_length, "MAX_LENGTH")
    check_bool("translate", "return_attention", return_attention)
    check_tokenizer(tokenizer)
    check_int("translate", "batch_size", batch_size, 1)
    check_at_most("batch_size", batch_size, "MAX_BATCH_SIZE")
    if seed is not None:
        check_int("translate", "seed", seed, 0)
    check_bool("translate", "detokenize", detokenize)


def check_source(index: int, source: Any) -> None:
    """Raise ``ValueError`` unless ``source`` is a string or a sequence of strings."""
    if isinstance(source, str):
        return
    if isinstance(source, Sequence) and all(isinstance(token, str) for token in source):
        return
    raise ValueError(f"translate.sources[{index}]: got {source!r}, expected a string or a list of token strings")


def user_stacklevel() -> int:
    """The ``stacklevel`` of ``warnings.warn`` called by the caller of this function that points at the
    first frame outside :data:`PACKAGES`: the user's call of ``translate`` (core, Lightning or Keras)."""
    frame = sys._getframe(1)  # the function that calls warnings.warn: stacklevel 1
    level = 1
    while frame.f_back is not None and frame.f_globals.get("__name__", "").split(".")[0] in PACKAGES:
        frame = frame.f_back
        level += 1
    return level


def is_unknown(token: str, vocab: Vocab) -> bool:
    """Whether a source token is read as ``<unk>``: not in ``vocab``, or one of the :data:`RESERVED` specials."""
    return token in RESERVED or token not in vocab


def encode_source(tokens: Sequence[str], vocab: Vocab) -> list[int]:
    """The ids of a source's tokens, unknown ones (:func:`is_unknown`) as ``<unk>``.

    Example:
        >>> encode_source(["a", "<eos>", "z"], Vocab.build([["a"]]))
        [4, 3, 3]
    """
    return [UNK_ID if token in RESERVED else vocab.id(token) for token in tokens]


def warn_unknown_tokens(sources: Sequence[Sequence[str]], vocab: Vocab) -> None:
    """One :class:`UnknownTokensWarning` naming the tokens of ``sources`` read as ``<unk>``."""
    unknown: set[str] = set()
    affected = 0
    for tokens in sources:
        missing = {t for t in tokens if is_unknown(t, vocab)}
        affected += bool(missing)
        unknown |= missing
    if not unknown:
        return
    names = sorted(unknown)
    shown = ", ".join(map(repr, names[:SHOWN_UNKNOWN]))
    more = f" and {len(names) - SHOWN_UNKNOWN} more" if len(names) > SHOWN_UNKNOWN else ""
    warnings.warn(
        f"translate: {affected} of {len(sources)} sources have tokens not in the source vocabulary, "
        f"read as <unk>: {shown}{more}",
        UnknownTokensWarning,
        stacklevel=user_stacklevel(),
    )


def kept_positions(ids: np.ndarray, length: int) -> list[int]:
    """Positions of the output tokens among the first ``length`` ``ids``: up to the first ``<eos>``,
    skipping ``<pad>`` and ``<bos>`` (what :meth:`Vocab.decode` keeps)."""
    kept = []
    for position, token in enumerate(ids[:length].tolist()):
        if token == EOS_ID:
            break
        if token not in (PAD_ID, BOS_ID):
            kept.append(position)
    return kept


def translate(
    decoder: StepDecoder,
    src_vocab: Vocab,
    tgt_vocab: Vocab,
    sources: Iterable[Source],
    *,
    strategy: str = "greedy",
    beam_width: int = 5,
    length_penalty: float = 0.0,
    temperature: float = 1.0,
    top_k: int | None = None,
    max_length: int | None = None,
    return_attention: bool = False,
    tokenizer: TokenizerLike = None,
    batch_size: int = 64,
    seed: int | None = None,
    detokenize: bool = False,
    src_tokenizer: Tokenizer | None = None,
    tgt_tokenizer: Tokenizer | None = None,
) -> Any:
    """Decode ``sources`` to target token lists, or text (what ``LitSeq2Seq.translate``,
    ``Seq2SeqModel.translate`` and ``OnnxTranslator.translate`` run).

    Sources are decoded ``batch_size`` at a time, longest first (less padding); each output
    depends only on its own source (and, for ``sample``, on ``seed`` and its position in
    ``sources``: source ``i`` draws from generator ``i`` of ``np.random.SeedSequence(seed).spawn``),
    not on the other sources or the batching. An empty source gives an empty output without decoding.
    Tokens the source vocabulary lacks, and the specials ``<pad>``, ``<bos>`` and ``<eos>`` written
    in a source, are read as ``<unk>`` and named in one :class:`UnknownTokensWarning` per call.

    Args:
        decoder: the model, one step at a time (see :class:`StepDecoder`).
        src_vocab, tgt_vocab: its vocabularies.
        sources: strings (split by ``tokenizer``) or token lists.
        strategy: ``greedy``, ``sample`` or ``beam`` (see :mod:`seq2seq_fit.search`).
        beam_width: beams kept by ``beam`` (width 1 with ``length_penalty=0`` is the greedy output).
        length_penalty: GNMT ``alpha`` ranking finished beams by ``log p / lp(|Y|)``.
        temperature, top_k: for ``sample``: the softmax temperature, and keep only the ``k``
            most likely tokens (``None``: all).
        max_length: most output tokens, ``<eos>`` included, at most ``seq2seq_fit.limits.MAX_LENGTH``;
            ``None`` gives each source ``2 * len(source) + 10`` (:func:`seq2seq_fit.scores.length_budget`,
            the budget of the evaluation decodes too), so an output never depends on the sources decoded
            with it. A source may have at most ``seq2seq_fit.limits.MAX_SOURCE_TOKENS`` tokens, a beam
            ``MAX_BEAM_WIDTH``, a batch ``MAX_BATCH_SIZE`` sources (an ``InputError`` names the limit).
        return_attention: also return per source a float32 array ``(len(output), len(source))``
            of attention weights: one row per output token (the ``<eos>`` step excluded), one
            column per source token. A ``ValueError`` for a model without attention.
        tokenizer: splits string sources: ``None`` (the model's own ``src_tokenizer``), or anything
            :func:`seq2seq_fit.tokenizer.as_tokenizer` takes (``whitespace``, ``chars``, a
            ``tokenizer.json`` path, a callable...) to override it.
        batch_size: sources decoded together.
        seed: seeds ``sample`` (``None``: fresh randomness each call).
        detokenize: return text instead of token lists: each output joined by the model's
            ``tgt_tokenizer`` (``" ".join`` for whitespace, ``"".join`` for chars, a subword
            tokenizer's decoder).
        src_tokenizer, tgt_tokenizer: the model's tokenizers (``None``: whitespace).

    Returns:
        Token lists (``<pad>``/``<bos>`` dropped, cut at ``<eos>``, ``<unk>`` kept), or strings with
        ``detokenize``; and the attention arrays when ``return_attention``.

    Example:
        >>> class SayX:  # a stand-in model: "x" after <bos>, then <eos>
        ...     has_attention = False
        ...     def start(self, source_ids, lengths): return None
        ...     def step(self, tokens, state, *, attention):
        ...         return np.eye(5, dtype=np.float32)[np.where(tokens == 1, 4, 2)], state, None
        ...     def reorder(self, state, index): return state
        >>> vocab = Vocab.build([["x"]])
        >>> translate(SayX(), vocab, vocab, ["x x", ""], strategy="beam", beam_width=2)
        [['x'], []]
        >>> translate(SayX(), vocab, vocab, ["x x"], detokenize=True)
        ['x']
    """
    check_translate_args(
        sources,
        strategy=strategy,
        beam_width=beam_width,
        length_penalty=length_penalty,
        temperature=temperature,
        top_k=top_k,
        max_length=max_length,
        return_attention=return_attention,
        tokenizer=tokenizer,
        batch_size=batch_size,
        seed=seed,
        detokenize=detokenize,
    )
    if return_attention and not decoder.has_attention:
        raise ValueError(
            "translate.return_attention: got True, but this model has attention='none' (no weights to return)"
        )
    sources = list(sources)
    for index, source in enumerate(sources):
        check_source(index, source)
    splitter = as_tokenizer(src_tokenizer if tokenizer is None else tokenizer)
    tokens = [splitter.tokenize(s) if isinstance(s, str) else list(s) for s in sources]
    for index, source_tokens in enumerate(tokens):
        if len(source_tokens) > limits.MAX_SOURCE_TOKENS:
            raise InputError(
                f"translate.sources[{index}]: {len(source_tokens)} tokens, expected at most "
                f"{limits.MAX_SOURCE_TOKENS} (seq2seq_fit.limits.MAX_SOURCE_TOKENS; raise it for a source you trust)"
            )
    warn_unknown_tokens(tokens, src_vocab)
    ids = [encode_source(t, src_vocab) for t in tokens]
    budgets = np.array([length_budget(len(x)) if max_length is None else max_length for x in ids], np.int64)
    outputs: list[list[str]] = [[] for _ in sources]
    attentions = [np.zeros((0, len(t)), dtype=np.float32) for t in tokens]
    generators: list[np.random.Generator] = []
    if strategy == "sample":  # one generator per source: its draws depend on nothing but seed and its position
        generators = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(ids))]
    order = sorted((i for i in range(len(ids)) if ids[i]), key=lambda i: -len(ids[i]))  # longest first, stable
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        lengths = np.array([len(ids[i]) for i in chunk], dtype=np.int64)
        source_ids = np.full((len(chunk), int(lengths.max())), PAD_ID, dtype=np.int64)  # (B, S)
        for row, i in enumerate(chunk):
            source_ids[row, : len(ids[i])] = ids[i]
        state = decoder.start(source_ids, lengths)
        step = functools.partial(decoder.step, attention=return_attention)
        b, batch_limits = len(chunk), budgets[chunk]
        result: SearchResult
        if strategy == "beam":
            result = beam_search(
                step,
                decoder.reorder,
                state,
                b,
                batch_limits,
                beam_width=beam_width,
                length_penalty=length_penalty,
            )
        elif strategy == "sample":
            # row i draws its step-t number from its own generator when the search reaches step t, the same
            # numbers as drawing all of its budget up front, without holding (B, max_length) of them
            rngs = [generators[i] for i in chunk]
            draws = lambda t, rngs=rngs: np.array([rng.random() for rng in rngs])  # noqa: E731  (B,)
            result = sample(step, state, b, batch_limits, draws, temperature=temperature, top_k=top_k)
        else:
            result = greedy(step, state, b, batch_limits)
        for row, i in enumerate(chunk):
            outputs[i] = tgt_vocab.decode(result.ids[row, : result.lengths[row]])
            if return_attention:
                assert result.attention is not None
                kept = kept_positions(result.ids[row], int(result.lengths[row]))
                attentions[i] = np.ascontiguousarray(result.attention[row, kept, : len(ids[i])], dtype=np.float32)
    texts: list[Any] = outputs
    if detokenize:
        joiner = as_tokenizer(tgt_tokenizer)
        texts = [joiner.detokenize(output) for output in outputs]
    return (texts, attentions) if return_attention else texts


__all__ = [
    "Source",
    "StepDecoder",
    "UnknownTokensWarning",
    "check_translate_args",
    "translate",
]
