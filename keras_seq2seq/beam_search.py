"""Beam search on the host over :meth:`Decoder.step` (any Keras backend)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from datamodules.vocab import BOS_ID, EOS_ID
from keras import ops
from seq2seq_fit import length_penalty as gnmt_penalty

if TYPE_CHECKING:
    from keras_seq2seq.seq2seq_model import Seq2SeqModel


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))  # type: ignore[no-any-return]


def beam_search(
    model: Seq2SeqModel, source: np.ndarray, beam_width: int, alpha: float, max_length: int
) -> tuple[list[list[int]], list[np.ndarray]]:
    """Best hypothesis per source row, ranked by ``sum log p / lp(|Y|)`` (GNMT, ``|Y|`` with ``<eos>``).

    Each step keeps the ``beam_width`` best extensions of the live beams; an extension ending in
    ``<eos>`` is finished (it stops growing) and frees its slot. A row stops when no live beam can
    beat its best finished hypothesis, or at ``max_length``. With ``beam_width = 1`` the single
    beam follows the argmax at every step, i.e. exactly the greedy output.

    Args:
        model: a :class:`~keras_seq2seq.Seq2SeqModel`.
        source: ``(B, S)`` int32 source ids.
        beam_width: ``K``.
        alpha: length penalty exponent.
        max_length: longest hypothesis, ``<eos>`` included.

    Returns:
        ``(ids, attention)``: per row the token ids (ending in ``<eos>`` when finished) and a
        ``(len(ids), S)`` attention matrix.
    """
    batch, k = source.shape[0], beam_width
    memory, states = model.encode(ops.convert_to_tensor(np.repeat(source, k, axis=0)))  # B * K rows
    scores = np.full((batch, k), -np.inf, dtype="float64")
    scores[:, 0] = 0.0
    history = np.zeros((batch, k, 0), dtype="int64")
    attention = np.zeros((batch, k, 0, source.shape[1]), dtype="float32")
    tokens = np.full((batch * k,), BOS_ID, dtype="int32")
    finished: list[list[tuple[float, list[int], np.ndarray]]] = [[] for _ in range(batch)]
    done = np.zeros(batch, dtype=bool)
    bound_penalty = gnmt_penalty(max_length, alpha)
    for t in range(max_length):
        logits, states, weights = model.decoder.step(ops.convert_to_tensor(tokens), states, memory)
        logp = log_softmax(ops.convert_to_numpy(ops.cast(logits, "float32")).astype("float64"))
        vocab = logp.shape[-1]
        weights_np = ops.convert_to_numpy(ops.cast(weights, "float32")).reshape(batch, k, -1)
        candidates = (scores[:, :, None] + logp.reshape(batch, k, vocab)).reshape(batch, k * vocab)
        order = np.argsort(-candidates, axis=1, kind="stable")[:, :k]  # (B, K), ties -> lowest id
        new_scores = np.full((batch, k), -np.inf)
        parents = np.zeros((batch, k), dtype="int64")
        chosen = np.full((batch, k), EOS_ID, dtype="int64")
        for b in range(batch):
            if done[b]:
                continue
            slot = 0
            for flat in order[b]:
                score = candidates[b, flat]
                if not np.isfinite(score):
                    continue
                parent, token = divmod(int(flat), vocab)
                if token == EOS_ID or t == max_length - 1:
                    ids = [*history[b, parent].tolist(), token]
                    att = np.concatenate([attention[b, parent], weights_np[b, parent][None]], axis=0)
                    finished[b].append((score / gnmt_penalty(len(ids), alpha), ids, att))
                    continue
                new_scores[b, slot], parents[b, slot], chosen[b, slot] = score, parent, token
                slot += 1
            best_finished = max((f[0] for f in finished[b]), default=-np.inf)
            best_live = new_scores[b].max()
            bound = best_live / bound_penalty if alpha > 0 else best_live
            if not np.isfinite(best_live) or best_finished >= bound:
                done[b] = True
        if done.all():
            break
        rows = np.arange(batch)[:, None]
        history = np.concatenate([history[rows, parents], chosen[:, :, None]], axis=2)
        attention = np.concatenate([attention[rows, parents], weights_np[rows, parents][:, :, None]], axis=2)
        scores = new_scores
        flat_parents = (np.arange(batch)[:, None] * k + parents).reshape(-1)
        index = ops.convert_to_tensor(flat_parents.astype("int32"))
        states = [[ops.take(s, index, axis=0) for s in layer] for layer in states]
        tokens = chosen.reshape(-1).astype("int32")
    results, attentions = [], []
    for b in range(batch):
        best = max(finished[b], key=lambda f: f[0]) if finished[b] else (0.0, history[b, 0].tolist(), attention[b, 0])
        results.append(list(best[1]))
        attentions.append(best[2])
    return results, attentions
