"""Batched beam search with the GNMT length penalty (finished hypotheses stop growing)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from datamodules.vocab import BOS_ID, EOS_ID, PAD_ID
from lit_seq2seq.decoder import select_state
from seq2seq_fit import length_penalty as gnmt_length_penalty

if TYPE_CHECKING:
    from lit_seq2seq.model import Seq2Seq


@torch.no_grad()
def beam_search(
    model: Seq2Seq,
    source: torch.Tensor,
    source_lengths: torch.Tensor | None,
    beam_width: int,
    length_penalty: float,
    max_length: int,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Best hypothesis per row of ``source`` (B, S) by ``sum log p / lp(|Y|)``, ``|Y|`` counting ``<eos>``.

    The ``K = beam_width`` best prefixes by raw log probability are kept each step; a finished
    prefix can only be extended by ``<pad>`` at no cost, so it keeps its score and stops growing.
    Search ends when every kept prefix has finished or after ``max_length`` steps. With ``K = 1``
    each step takes the argmax, so the result is the greedy output.

    Returns:
        ``(tokens (B, L), attention (B, L, S) or None)``, ``<pad>`` after ``<eos>``.
    """
    memory, state = model.encode(source, source_lengths)
    b, k, device = source.size(0), beam_width, source.device
    rows = torch.arange(b, device=device)
    expand = rows.repeat_interleave(k)  # (B*K,)
    memory = memory.index_select(expand)
    state = select_state(state, expand)
    scores = torch.full((b, k), float("-inf"), device=device)
    scores[:, 0] = 0.0  # every beam starts as copies of one prefix: only the first may expand
    finished = torch.zeros(b, k, dtype=torch.bool, device=device)
    lengths = torch.zeros(b, k, dtype=torch.long, device=device)
    history = torch.zeros(b, k, 0, dtype=torch.long, device=device)  # (B, K, t)
    attention: torch.Tensor | None = None  # (B, K, t, S)
    token = torch.full((b * k,), BOS_ID, dtype=torch.long, device=device)
    for _ in range(max_length):
        logits, state, w = model.decoder.step(token, state, memory)  # (B*K, V)
        v = logits.size(-1)
        logp = F.log_softmax(logits.float(), dim=-1).view(b, k, v)  # (B, K, V)
        only_pad = torch.full((v,), float("-inf"), device=device)
        only_pad[PAD_ID] = 0.0
        logp = torch.where(finished.unsqueeze(-1), only_pad, logp)
        scores, index = (scores.unsqueeze(-1) + logp).view(b, k * v).topk(k, dim=-1)  # (B, K)
        beam, new_token = index // v, index % v  # (B, K)
        flat = (beam + rows.unsqueeze(1) * k).view(-1)  # (B*K,) rows of the previous step
        state = select_state(state, flat)
        was_finished = finished.gather(1, beam)
        finished = was_finished | (new_token == EOS_ID)
        lengths = lengths.gather(1, beam) + (~was_finished).long()
        history = torch.cat([history.gather(1, beam.unsqueeze(-1).expand_as(history)), new_token.unsqueeze(-1)], 2)
        if w is not None:
            w_new = w.index_select(0, flat).view(b, k, 1, -1) * (~was_finished).view(b, k, 1, 1).to(w.dtype)
            if attention is None:
                attention = w_new
            else:
                idx = beam.view(b, k, 1, 1).expand(-1, -1, attention.size(2), attention.size(3))
                attention = torch.cat([attention.gather(1, idx), w_new], 2)
        token = new_token.view(-1)
        if bool(finished.all()):
            break
    ranked = scores / gnmt_length_penalty(lengths.clamp(min=1).float(), length_penalty)  # (B, K)
    best = ranked.argmax(-1)  # (B,)
    tokens = history[rows, best]  # (B, L)
    return tokens, None if attention is None else attention[rows, best]
