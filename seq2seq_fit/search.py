"""Greedy, sampling and beam search over any model's incremental step (numpy only).

Both frameworks decode through these functions, so they share one search: a model supplies

* ``step(tokens, state) -> (logits, state, attention)``: ``tokens`` (N,) int64 are the previous
  tokens (``<bos>`` first), ``logits`` (N, V) float32 the next-token scores, ``attention`` (N, S)
  float32 the attention weights of the step or ``None`` (no attention wanted: the translate driver
  asks a ``StepDecoder`` for weights only for ``return_attention=True``, and the search then keeps
  no attention history at all);
* ``reorder(state, index) -> state``: the rows ``index`` (N',) of everything in the state, the
  encoder memory included (beam search expands and reorders its beams with it).

The search computes the log-softmax itself in float64. Each token costs one ``step`` call for the
whole batch (times the beam), and everything else is vectorised over the batch. ``max_length`` is
one limit for every row or one per row (an int array); it counts the final ``<eos>``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from seq2seq_fit.decoding import length_penalty as gnmt_penalty
from seq2seq_fit.vocab import BOS_ID, EOS_ID, PAD_ID

#: ``step(tokens (N,) int64, state) -> (logits (N, V) float32, new state, attention (N, S) or None)``.
StepFn = Callable[[np.ndarray, Any], tuple[np.ndarray, Any, "np.ndarray | None"]]
#: ``reorder(state, index (N',) int64) -> state`` with the rows ``index`` of everything in it.
ReorderFn = Callable[[Any, np.ndarray], Any]


@dataclass
class SearchResult:
    """What a search returns, one row per source.

    Attributes:
        ids: ``(N, L)`` int64 output ids, the final ``<eos>`` included when the row finished,
            ``<pad>`` after the row's end.
        lengths: ``(N,)`` number of ids per row (the ``<eos>`` included).
        scores: ``(N,)`` float64: ``sum log p`` of the ids (greedy, sampling), or that sum divided
            by the GNMT length penalty of the row's length (beam search).
        attention: ``(N, L, S)`` float32 attention of each output step (zero after the row's
            end), or ``None`` for a model without attention.
    """

    ids: np.ndarray
    lengths: np.ndarray
    scores: np.ndarray
    attention: np.ndarray | None


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Log-probabilities (N, V) in float64 of ``logits`` (N, V).

    Example:
        >>> np.exp(log_softmax(np.array([[0.0, np.log(3.0)]], dtype=np.float32))).round(6).tolist()
        [[0.25, 0.75]]
    """
    x = np.asarray(logits, dtype=np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))  # type: ignore[no-any-return]


def row_limits(max_length: int | np.ndarray, batch_size: int) -> np.ndarray:
    """``max_length`` as one int64 limit per row (B,), checked to be >= 1."""
    limits = np.broadcast_to(np.asarray(max_length, dtype=np.int64), (batch_size,)).copy()
    if batch_size and limits.min() < 1:
        raise ValueError(f"search.max_length: got {int(limits.min())}, expected every limit >= 1")
    return limits


def top_candidates(scores: np.ndarray, n: int) -> np.ndarray:
    """Column indices (B, n) of the ``n`` best entries of each row of ``scores`` (B, M), best
    first; equal scores rank by lowest index, NaN as ``-inf``.

    Example:
        >>> top_candidates(np.array([[0.1, 0.5, 0.5, 0.2]]), 3).tolist()
        [[1, 2, 3]]
    """
    scores = np.where(np.isnan(scores), -np.inf, scores)
    m = scores.shape[1]
    if n >= m:
        return np.argsort(-scores, axis=1, kind="stable")
    kth = -np.partition(-scores, n - 1, axis=1)[:, n - 1 : n]  # (B, 1) the n-th largest value
    above = scores > kth
    tied = scores == kth
    room = n - above.sum(axis=1, keepdims=True)
    chosen = above | (tied & (np.cumsum(tied, axis=1) <= room))  # exactly n per row, lowest tied first
    index = np.nonzero(chosen)[1].reshape(-1, n)  # (B, n) in column order
    order = np.argsort(-np.take_along_axis(scores, index, axis=1), axis=1, kind="stable")
    return np.take_along_axis(index, order, axis=1)


def sample_tokens(log_probs: np.ndarray, uniforms: np.ndarray, temperature: float, top_k: int | None) -> np.ndarray:
    """One token per row of ``log_probs`` (N, V) from ``softmax(log_probs / temperature)`` restricted
    to the ``top_k`` best, by inverting the cumulative distribution at ``uniforms`` (N,) in [0, 1).

    Inverting the distribution (rather than adding noise to it) keeps the draw stable: logits that
    differ in the last digits (two frameworks, one set of weights) pick the same token unless a
    uniform falls right on a boundary.

    Example:
        >>> lp = np.log(np.array([[0.5, 0.3, 0.2]]))
        >>> [int(sample_tokens(lp, np.array([u]), 1.0, None)[0]) for u in (0.1, 0.6, 0.9)]
        [0, 1, 2]
        >>> int(sample_tokens(lp, np.array([0.9]), 1.0, top_k=2)[0])
        1
    """
    z = log_probs / temperature  # (N, V)
    v = z.shape[1]
    if top_k is not None and top_k < v:
        kth = np.partition(z, v - top_k, axis=1)[:, v - top_k : v - top_k + 1]  # (N, 1)
        z = np.where(z >= kth, z, -np.inf)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    cdf = np.cumsum(p, axis=1)  # (N, V)
    return np.argmax(cdf > uniforms[:, None] * cdf[:, -1:], axis=1).astype(np.int64)  # type: ignore[no-any-return]


def free_run(
    step: StepFn,
    state: Any,
    batch_size: int,
    max_length: int | np.ndarray,
    choose: Callable[[np.ndarray, int], np.ndarray],
) -> SearchResult:
    """The loop greedy search and sampling share: feed each row's chosen token back until it
    emits ``<eos>`` (``<pad>`` after it) or reaches its ``max_length``; stop when every row has.

    Args:
        step: the model's step (see the module docstring).
        state: the initial state of ``batch_size`` rows.
        batch_size: ``N``.
        max_length: one limit or ``(N,)`` limits, ``<eos>`` included.
        choose: ``choose(log_probs (N, V) float64, t) -> tokens (N,)`` picks the tokens of step ``t``.
    """
    limits = row_limits(max_length, batch_size)
    rows = np.arange(batch_size)
    longest = int(limits.max()) if batch_size else 0
    columns: list[np.ndarray] = []  # (N,) per step: memory grows with the steps taken, not with max_length
    scores = np.zeros(batch_size)
    lengths = np.zeros(batch_size, dtype=np.int64)
    weights: list[np.ndarray] = []
    done = np.zeros(batch_size, dtype=bool)
    tokens = np.full(batch_size, BOS_ID, dtype=np.int64)
    steps = 0
    while steps < longest and not done.all():
        logits, state, attention = step(tokens, state)
        log_probs = log_softmax(logits)  # (N, V)
        live = ~done
        tokens = np.where(live, choose(log_probs, steps), PAD_ID)  # (N,)
        columns.append(tokens)
        scores += np.where(live, log_probs[rows, tokens], 0.0)
        lengths += live
        if attention is not None:
            weights.append(np.where(live[:, None], attention, 0.0).astype(np.float32))  # (N, S)
        steps += 1
        done |= (tokens == EOS_ID) | (steps >= limits)
    attention_out = np.stack(weights, axis=1) if weights else None  # (N, L, S)
    ids = np.stack(columns, axis=1) if columns else np.zeros((batch_size, 0), dtype=np.int64)  # (N, L)
    return SearchResult(ids, lengths, scores, attention_out)


def greedy(step: StepFn, state: Any, batch_size: int, max_length: int | np.ndarray) -> SearchResult:
    """The most likely token at every step (ties: the lowest id).

    Example:
        >>> logits = np.log(np.array([[0.1, 0.1, 0.2, 0.1, 0.5], [0.1, 0.1, 0.6, 0.1, 0.1]], dtype=np.float32))
        >>> step = lambda tokens, state: (logits[np.minimum(tokens == 4, 1)], state, None)  # after token 4: <eos>
        >>> greedy(step, None, batch_size=2, max_length=5).ids.tolist()
        [[4, 2], [4, 2]]
    """
    return free_run(step, state, batch_size, max_length, lambda log_probs, t: np.argmax(log_probs, axis=1))


def sample(
    step: StepFn,
    state: Any,
    batch_size: int,
    max_length: int | np.ndarray,
    uniforms: np.ndarray | Callable[[int], np.ndarray],
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
) -> SearchResult:
    """Tokens drawn from ``softmax(log p / temperature)`` over the ``top_k`` best (all if ``None``).

    Args:
        step, state, batch_size, max_length: as for :func:`greedy`.
        uniforms: ``(N, L)`` numbers in [0, 1), ``L >=`` the longest limit: row ``i`` draws its
            token of step ``t`` at ``uniforms[i, t]`` (see :func:`sample_tokens`). Drawing them
            from a seeded ``np.random.Generator`` per source makes the result reproducible and the
            same for every framework and batching. Or a function ``uniforms(t) -> (N,)`` giving the
            numbers of step ``t`` when the search reaches it, so that nothing is drawn (or held) for
            steps a row never takes.
        temperature: ``> 0``; below 1 sharpens, above 1 flattens the distribution.
        top_k: keep only the ``k`` most likely tokens of each step.
    """
    if callable(uniforms):
        draws = uniforms
    else:
        table = np.asarray(uniforms, dtype=np.float64)  # (N, L)
        draws = lambda t: table[:, t]  # noqa: E731
    return free_run(
        step,
        state,
        batch_size,
        max_length,
        lambda log_probs, t: sample_tokens(log_probs, np.asarray(draws(t), dtype=np.float64), temperature, top_k),
    )


def beam_search(
    step: StepFn,
    reorder: ReorderFn,
    state: Any,
    batch_size: int,
    max_length: int | np.ndarray,
    *,
    beam_width: int,
    length_penalty: float = 0.0,
) -> SearchResult:
    """Batched beam search ranking finished hypotheses by ``log p / lp(|Y|)`` (GNMT, ``|Y|`` with ``<eos>``).

    One rule for every hypothesis: each step ranks the ``2K`` best one-token extensions of the
    ``K = beam_width`` live beams by raw log probability (ties: lowest beam, then lowest id). An
    ``<eos>`` extension ranked within the first ``K`` retires as a finished hypothesis scored
    ``log p / lp(len)``; the first ``K`` other extensions stay live. At a row's ``max_length``
    step every live hypothesis is finished the same way, scored with its length. A row is done
    once its best finished score is at least ``best live log p / lp(max_length)``, which no live
    hypothesis can beat any more. With ``K = 1`` and ``length_penalty = 0`` this is exactly
    :func:`greedy`.

    Args:
        step, reorder: the model's step and state reorder (see the module docstring).
        state: the initial state of ``batch_size`` rows (expanded here to ``batch_size * K``).
        batch_size: ``B``.
        max_length: one limit or ``(B,)`` limits, ``<eos>`` included.
        beam_width: ``K >= 1``.
        length_penalty: GNMT ``alpha >= 0`` (0 ranks by raw log probability).

    Returns:
        Per row its best hypothesis, its attention rows and its score.

    Example:
        >>> logits = np.log(np.array([[0.1, 0.1, 0.2, 0.1, 0.5], [0.1, 0.1, 0.6, 0.1, 0.1]], dtype=np.float32))
        >>> step = lambda tokens, state: (logits[np.minimum(tokens == 4, 1)], state, None)
        >>> result = beam_search(step, lambda state, index: state, None, 1, 5, beam_width=2)
        >>> result.ids.tolist(), round(float(np.exp(result.scores[0])), 2)
        ([[4, 2]], 0.3)
    """
    if beam_width < 1:
        raise ValueError(f"beam_search.beam_width: got {beam_width!r}, expected an integer >= 1")
    b, k = batch_size, beam_width
    limits = row_limits(max_length, b)
    longest = int(limits.max()) if b else 0
    rows = np.arange(b)[:, None]  # (B, 1)
    bound_penalty = gnmt_penalty(limits.astype(np.float64), length_penalty)  # (B,)
    state = reorder(state, np.repeat(np.arange(b), k))  # (B * K) rows, beam-major per source
    live_scores = np.full((b, k), -np.inf)
    live_scores[:, 0] = 0.0  # the K beams start as copies of one prefix: only the first may expand
    history = np.zeros((b, k, 0), dtype=np.int64)  # (B, K, t) live prefixes
    history_att: np.ndarray | None = None  # (B, K, t, S)
    best_scores = np.full(b, -np.inf)
    best_ids = np.zeros((b, 0), dtype=np.int64)  # (B, t): grows with the steps taken, not with max_length
    best_lengths = np.zeros(b, dtype=np.int64)
    best_att: np.ndarray | None = None  # (B, L, S)
    done = np.zeros(b, dtype=bool)
    tokens = np.full(b * k, BOS_ID, dtype=np.int64)
    steps = 0
    while steps < longest:
        logits, state, attention = step(tokens, state)
        log_probs = log_softmax(logits)  # (B*K, V)
        v = log_probs.shape[1]
        candidates = (live_scores[:, :, None] + log_probs.reshape(b, k, v)).reshape(b, k * v)
        top = top_candidates(candidates, 2 * k)  # (B, 2K) flat (beam, token) indices, best first
        top_scores = np.take_along_axis(candidates, top, axis=1)
        top_scores = np.where(np.isnan(top_scores), -np.inf, top_scores)
        parent, token = top // v, top % v  # (B, 2K)
        is_eos = token == EOS_ID
        # the first K non-<eos> candidates stay live (there are at least K: one <eos> per beam at most)
        keep = ~is_eos & (np.cumsum(~is_eos, axis=1) <= k)
        kept = np.nonzero(keep)[1].reshape(b, k)  # (B, K) positions in the ranking
        new_parent = np.take_along_axis(parent, kept, axis=1)
        new_token = np.take_along_axis(token, kept, axis=1)
        new_scores = np.take_along_axis(top_scores, kept, axis=1)
        steps += 1
        # finished this step, by rank: <eos> within the first K, and every live one at the row's limit
        penalty = gnmt_penalty(float(steps), length_penalty)
        active = ~done[:, None]
        retire = is_eos & (np.arange(2 * k) < k) & np.isfinite(top_scores) & active
        last = (steps >= limits)[:, None]
        forced = np.zeros_like(retire)
        np.put_along_axis(forced, kept, last & np.isfinite(new_scores) & active, axis=1)
        finished_scores = np.where(retire | forced, top_scores / penalty, -np.inf)  # (B, 2K)
        pick = np.argmax(finished_scores, axis=1)[:, None]  # (B, 1) best of the step, first by rank
        step_best = np.take_along_axis(finished_scores, pick, axis=1)[:, 0]
        improved = step_best > best_scores  # (B,)
        pick_parent = np.take_along_axis(parent, pick, axis=1)  # (B, 1)
        pick_ids = np.concatenate([history[rows, pick_parent][:, 0], np.take_along_axis(token, pick, axis=1)], axis=1)
        best_ids = np.concatenate([best_ids, np.full((b, 1), PAD_ID, dtype=np.int64)], axis=1)  # (B, t + 1)
        best_ids = np.where(improved[:, None], pick_ids, best_ids)
        best_lengths = np.where(improved, steps, best_lengths)
        best_scores = np.where(improved, step_best, best_scores)
        if attention is not None:
            weights = np.asarray(attention, dtype=np.float32).reshape(b, k, -1)  # (B, K, S)
            if history_att is None:
                history_att = np.zeros((b, k, 0, weights.shape[-1]), dtype=np.float32)
                best_att = np.zeros((b, 0, weights.shape[-1]), dtype=np.float32)
            assert best_att is not None
            pick_att = np.concatenate([history_att[rows, pick_parent][:, 0], weights[rows, pick_parent]], axis=1)
            best_att = np.concatenate([best_att, np.zeros((b, 1, best_att.shape[2]), np.float32)], 1)  # (B, t + 1, S)
            best_att = np.where(improved[:, None, None], pick_att, best_att)
            history_att = np.concatenate([history_att[rows, new_parent], weights[rows, new_parent][:, :, None]], 2)
        history = np.concatenate([history[rows, new_parent], new_token[:, :, None]], axis=2)  # (B, K, t + 1)
        live_scores = new_scores
        best_live = live_scores.max(axis=1)  # (B,)
        done |= last[:, 0] | ~np.isfinite(best_live) | (best_scores >= best_live / bound_penalty)
        if done.all():
            break
        live_scores = np.where(done[:, None], -np.inf, live_scores)
        state = reorder(state, (rows * k + new_parent).reshape(-1))
        tokens = new_token.reshape(-1)
    width = int(best_lengths.max()) if b else 0
    att = None if best_att is None else best_att[:, :width]
    return SearchResult(best_ids[:, :width], best_lengths, best_scores, att)


__all__ = [
    "ReorderFn",
    "SearchResult",
    "StepFn",
    "beam_search",
    "free_run",
    "greedy",
    "log_softmax",
    "row_limits",
    "sample",
    "sample_tokens",
    "top_candidates",
]
