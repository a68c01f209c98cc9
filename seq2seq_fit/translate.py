"""The translate driver both frameworks call: strings or token lists in, token lists (or text) out.

A framework supplies a :class:`StepDecoder` (its model's encoder, one decoder step, and a reorder
of the decoder state, numpy at the boundary); everything else happens here, once: the options
(:class:`~seq2seq_fit.GenerationConfig`), tokenizing, the unknown-token warning, batching and
padding, the ``max_length`` rule, the search (:mod:`seq2seq_fit.search`), decoding ids to tokens
and the shape of the returned attention.
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from seq2seq_fit import limits
from seq2seq_fit.decoding import length_budget, output_positions
from seq2seq_fit.errors import InputError
from seq2seq_fit.generation_config import GenerationConfig, as_generation_config
from seq2seq_fit.search import SearchResult, beam_search, greedy, sample
from seq2seq_fit.tokenizer import Tokenizer, as_tokenizer
from seq2seq_fit.vocab import BOS, EOS, PAD, PAD_ID, UNK_ID, Vocab

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


def check_sources(sources: Any) -> None:
    """Raise ``ValueError`` unless ``sources`` is an iterable of sources (one string is not).

    Example:
        >>> check_sources("hi")
        Traceback (most recent call last):
        ...
        ValueError: translate.sources: got 'hi', expected a list of sources (one string is one source: ['hi'])
    """
    if isinstance(sources, (str, bytes)):
        raise ValueError(
            f"translate.sources: got {sources!r}, expected a list of sources (one string is one source: [{sources!r}])"
        )
    if not isinstance(sources, Iterable):
        raise ValueError(f"translate.sources: got {sources!r}, expected a list of strings or token lists")


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


def search(
    decoder: StepDecoder,
    source_ids: np.ndarray,
    lengths: np.ndarray,
    budgets: np.ndarray,
    options: GenerationConfig,
    generators: list[np.random.Generator],
) -> SearchResult:
    """One batch through the search ``options.strategy`` names: ``source_ids`` (B, S) with ``lengths`` (B,),
    each row given its budget (B,); ``generators`` (one per row) draw the ``sample`` numbers."""
    state = decoder.start(source_ids, lengths)
    step = functools.partial(decoder.step, attention=options.return_attention)
    b = len(source_ids)
    if options.strategy == "beam":
        return beam_search(
            step,
            decoder.reorder,
            state,
            b,
            budgets,
            beam_width=options.beam_width,
            length_penalty=options.length_penalty,
        )
    if options.strategy == "sample":
        # row i draws its step-t number from its own generator when the search reaches step t, the same
        # numbers as drawing all of its budget up front, without holding (B, max_length) of them
        draws = lambda t: np.array([rng.random() for rng in generators])  # noqa: E731  (B,)
        return sample(step, state, b, budgets, draws, temperature=options.temperature, top_k=options.top_k)
    return greedy(step, state, b, budgets)


def translate(
    decoder: StepDecoder,
    src_vocab: Vocab,
    tgt_vocab: Vocab,
    sources: Iterable[Source],
    generation_config: GenerationConfig | Mapping[str, Any] | None = None,
    *,
    src_tokenizer: Tokenizer | None = None,
    tgt_tokenizer: Tokenizer | None = None,
    **overrides: Any,
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
        sources: strings (split by the ``tokenizer`` option, or ``src_tokenizer``) or token lists; a
            source may have at most ``seq2seq_fit.limits.MAX_SOURCE_TOKENS`` tokens.
        generation_config: the options (a :class:`~seq2seq_fit.GenerationConfig`, its dict, or
            ``None`` for the defaults: greedy, each source given its length budget).
        src_tokenizer, tgt_tokenizer: the model's tokenizers (``None``: whitespace).
        **overrides: fields of :class:`~seq2seq_fit.GenerationConfig` (``strategy``, ``beam_width``,
            ``max_length``...) that replace those of ``generation_config``; any other name is a
            ``TypeError`` naming the allowed ones.

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
    options = as_generation_config(generation_config, **overrides)
    check_sources(sources)
    if options.return_attention and not decoder.has_attention:
        raise ValueError(
            "translate.return_attention: got True, but this model has attention='none' (no weights to return)"
        )
    sources = list(sources)
    for index, source in enumerate(sources):
        check_source(index, source)
    splitter = as_tokenizer(src_tokenizer if options.tokenizer is None else options.tokenizer)
    tokens = [splitter.tokenize(s) if isinstance(s, str) else list(s) for s in sources]
    for index, source_tokens in enumerate(tokens):
        if len(source_tokens) > limits.MAX_SOURCE_TOKENS:
            raise InputError(
                f"translate.sources[{index}]: {len(source_tokens)} tokens, expected at most "
                f"{limits.MAX_SOURCE_TOKENS} (seq2seq_fit.limits.MAX_SOURCE_TOKENS; raise it for a source you trust)"
            )
    warn_unknown_tokens(tokens, src_vocab)
    ids = [encode_source(t, src_vocab) for t in tokens]
    max_length = options.max_length
    budgets = np.array([length_budget(len(x)) if max_length is None else max_length for x in ids], np.int64)
    outputs: list[list[str]] = [[] for _ in sources]
    attentions = [np.zeros((0, len(t)), dtype=np.float32) for t in tokens]
    generators: list[np.random.Generator] = []
    if options.strategy == "sample":  # one generator per source: its draws depend on nothing but seed and position
        generators = [np.random.default_rng(s) for s in np.random.SeedSequence(options.seed).spawn(len(ids))]
    order = sorted((i for i in range(len(ids)) if ids[i]), key=lambda i: -len(ids[i]))  # longest first, stable
    for start in range(0, len(order), options.batch_size):
        chunk = order[start : start + options.batch_size]
        lengths = np.array([len(ids[i]) for i in chunk], dtype=np.int64)
        source_ids = np.full((len(chunk), int(lengths.max())), PAD_ID, dtype=np.int64)  # (B, S)
        for row, i in enumerate(chunk):
            source_ids[row, : len(ids[i])] = ids[i]
        result = search(
            decoder, source_ids, lengths, budgets[chunk], options, [generators[i] for i in chunk] if generators else []
        )
        for row, i in enumerate(chunk):
            decoded = result.ids[row, : result.lengths[row]]
            outputs[i] = tgt_vocab.decode(decoded)
            if options.return_attention:
                assert result.attention is not None
                kept = output_positions(decoded)
                attentions[i] = np.ascontiguousarray(result.attention[row, kept, : len(ids[i])], dtype=np.float32)
    texts: list[Any] = outputs
    if options.detokenize:
        joiner = as_tokenizer(tgt_tokenizer)
        texts = [joiner.detokenize(output) for output in outputs]
    return (texts, attentions) if options.return_attention else texts


__all__ = [
    "Source",
    "StepDecoder",
    "UnknownTokensWarning",
    "check_sources",
    "translate",
]
