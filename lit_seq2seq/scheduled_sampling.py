"""Scheduled-sampling pieces as pure torch functions: coins, fed tokens, input mixing, statistics."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seq2seq_fit.teacher_forcing import TeacherForcing
from seq2seq_fit.vocab import BOS_ID, PAD_ID


def gold_probability(teacher_forcing: TeacherForcing, ratio: float, target_in: torch.Tensor) -> float | torch.Tensor:
    """The probability of feeding the gold token at each position of ``target_in`` (B, T) given the
    step schedule's ``ratio``: ``ratio`` itself without a ``position_schedule``, else the (T,)
    float32 tensor ``teacher_forcing.at_position(ratio, t)`` (computed on the host, on
    ``target_in``'s device).

    Example:
        >>> tf = TeacherForcing(start=0.0, position_schedule="linear", position_k=4)
        >>> gold_probability(tf, 0.0, torch.ones(2, 3, dtype=torch.long))
        tensor([1.0000, 0.7500, 0.5000])
    """
    if teacher_forcing.position_schedule == "none":
        return ratio
    values = [teacher_forcing.at_position(float(ratio), t) for t in range(target_in.size(1))]
    return torch.tensor(values, dtype=torch.float32, device=target_in.device)  # (T,)


def draw_coins(
    target_in: torch.Tensor,
    ratio: float | torch.Tensor,
    granularity: str,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The teacher-forcing coins of one batch: True where the decoder is fed the gold token.

    One uniform draw per coin, shaped by ``granularity`` (``token`` (B, T), ``sequence`` (B, 1),
    ``batch`` (1, T)) and broadcast to (B, T); ``gold = u < ratio``, where ``ratio`` is a number or
    a (T,) probability per position (:func:`gold_probability`). Position 0 is always gold
    (``<bos>``). All coins are drawn in one call, on ``target_in``'s device.

    Example:
        >>> draw_coins(torch.ones(2, 3, dtype=torch.long), 1.0, "token").all().item()
        True
    """
    b, t = target_in.shape
    shape = {"token": (b, t), "sequence": (b, 1), "batch": (1, t)}.get(granularity)
    if shape is None:
        raise ValueError(f"granularity: got {granularity!r}, expected 'token', 'sequence' or 'batch'")
    u = torch.rand(shape, generator=generator, device=target_in.device)
    gold = (u < ratio).expand(b, t).clone()  # (B, T)
    gold[:, 0] = True
    return gold


def model_tokens(
    logits: torch.Tensor, feed: str, temperature: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Tokens the model feeds itself from ``logits`` (..., V): argmax or a temperature sample, no gradient.

    Example:
        >>> model_tokens(torch.tensor([[0.0, 2.0, 1.0]]), "argmax")
        tensor([1])
    """
    logits = logits.detach()
    if feed == "argmax":
        return logits.argmax(-1)
    if feed != "sample":
        raise ValueError(f"feed: got {feed!r}, expected 'argmax' or 'sample'")
    probs = F.softmax(logits.float() / temperature, dim=-1)  # (..., V)
    flat = probs.reshape(-1, probs.size(-1))
    return torch.multinomial(flat, 1, generator=generator).view(probs.shape[:-1])


def mix_inputs(gold: torch.Tensor, target_in: torch.Tensor, predictions: torch.Tensor) -> torch.Tensor:
    """Next parallel pass's inputs: gold where ``gold``, else the prediction of the previous position.

    ``predictions`` (B, T) are the tokens predicted at every position; position ``t`` is fed
    ``predictions[:, t - 1]`` and position 0 gets ``<bos>``.
    """
    shifted = torch.cat([torch.full_like(predictions[:, :1], BOS_ID), predictions[:, :-1]], dim=1)  # (B, T)
    return torch.where(gold, target_in, shifted)


def fed_from_model(gold: torch.Tensor, target_in: torch.Tensor) -> torch.Tensor:
    """Fraction of real decoder inputs (non-pad, ``t >= 1``) that came from the model (a 0-dim tensor)."""
    valid = target_in != PAD_ID
    valid[:, 0] = False
    return (~gold & valid).sum() / valid.sum().clamp(min=1)


def applied_ratio(probability: float | torch.Tensor, target_in: torch.Tensor) -> torch.Tensor:
    """Mean gold probability over the real decoder inputs (non-pad, ``t >= 1``) of ``target_in``
    (B, T), for a scalar or (T,) ``probability`` (a 0-dim tensor; ``fed_from_model``'s expectation
    is one minus it)."""
    valid = target_in != PAD_ID
    valid[:, 0] = False
    p = torch.as_tensor(probability, dtype=torch.float32, device=target_in.device).expand(target_in.shape)  # (B, T)
    return (p * valid).sum() / valid.sum().clamp(min=1)
