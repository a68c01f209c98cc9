"""``EncoderDecoder``: what ``Seq2Seq`` and ``Transformer`` do the same way, once.

The training loss (coins, scheduled forward, masked cross-entropy), the teacher-forced call, the
parallel passes and the exact step loop of scheduled sampling, and greedy generation with ``<pad>``
after ``<eos>``. A network supplies ``encode`` (the decoder's memory and initial state) and a
``decoder`` that runs whole sequences (``decoder(inputs, state, memory)``, ``steps_one_at_a_time``)
and one step (``decoder.step(token, state, memory)``). The base class adds no weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lit_seq2seq.decoder import Memory, State
from lit_seq2seq.scheduled_sampling import draw_coins, gold_probability, mix_inputs, model_tokens
from seq2seq_fit import Seq2SeqConfig, TeacherForcing, check_compatible
from seq2seq_fit.config import as_config, check_int
from seq2seq_fit.decoding import length_budget
from seq2seq_fit.vocab import BOS_ID, EOS_ID, PAD_ID


def masked_cross_entropy(logits: torch.Tensor, target: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Mean cross-entropy over non-pad positions of ``target`` (B, T), computed in float32.

    A target of padding only gives a loss of 0, not NaN.

    Example:
        >>> masked_cross_entropy(torch.zeros(1, 2, 4), torch.tensor([[2, 0]])).item() == torch.tensor(4.0).log().item()
        True
    """
    total = F.cross_entropy(
        logits.float().reshape(-1, logits.size(-1)),
        target.reshape(-1),
        ignore_index=PAD_ID,
        label_smoothing=label_smoothing,
        reduction="sum",
    )
    # a batch of padding only gives 0 (with a zero gradient), not 0 / 0 = NaN
    return total / (target != PAD_ID).sum().clamp(min=1)


class EncoderDecoder(nn.Module):
    """The shared part of the encoder-decoder networks; subclasses build ``encoder``/``decoder`` and ``encode``.

    Args:
        config: architecture (a :class:`seq2seq_fit.Seq2SeqConfig` or a mapping of its fields).
        src_vocab_size: source vocabulary size.
        tgt_vocab_size: target vocabulary size.
    """

    decoder: Any  # a module with __call__(inputs, state, memory), step(...), keys(...), steps_one_at_a_time

    def __init__(self, config: Seq2SeqConfig | Mapping[str, Any], src_vocab_size: int, tgt_vocab_size: int) -> None:
        super().__init__()
        name = type(self).__name__
        check_int(name, "src_vocab_size", src_vocab_size, 1)
        check_int(name, "tgt_vocab_size", tgt_vocab_size, 1)
        self.config = as_config(config, name=f"{name}.config")
        self.src_vocab_size = src_vocab_size
        self.tgt_vocab_size = tgt_vocab_size

    def encode(self, source: torch.Tensor, source_lengths: torch.Tensor | None = None) -> tuple[Memory, State]:
        """Encode ``source`` (B, S); returns the decoder's memory and initial state."""
        raise NotImplementedError(f"{type(self).__name__}.encode: a subclass of EncoderDecoder defines it")

    def forward(
        self,
        source: torch.Tensor,
        source_lengths: torch.Tensor | None,
        target_in: torch.Tensor,
        *,
        encoded: tuple[Memory, State] | None = None,
    ) -> torch.Tensor:
        """Teacher-forced logits (B, T, V) for decoder inputs ``target_in`` (B, T); ``encoded``:
        ``encode(source, source_lengths)`` when the caller has it already (evaluation reuses it for its greedy
        decode)."""
        memory, state = self.encode(source, source_lengths) if encoded is None else encoded
        logits: torch.Tensor = self.decoder(target_in, state, memory)
        return logits

    def scheduled_forward(
        self,
        source: torch.Tensor,
        source_lengths: torch.Tensor | None,
        target_in: torch.Tensor,
        gold: torch.Tensor,
        teacher_forcing: TeacherForcing,
        ratio: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Training logits (B, T, V) under scheduled sampling with the coins ``gold`` (B, T).

        ``sequential`` runs the exact step loop (the input at ``t`` is gold where ``gold``, else the
        token this same loop produced at ``t - 1``); with ``ratio >= 1`` and a decoder that runs a whole
        sequence in one call (the Transformer, ``luong``/``none`` attention) it takes the one-call
        teacher-forced path, which gives the same numbers. ``parallel`` runs ``passes`` whole-sequence
        passes without gradient to build the mixed inputs, then one pass with gradient (Duckworth et al.
        2019); with ``bahdanau`` each pass steps through its fixed inputs one token at a time, as the
        teacher-forced call does.
        """
        check_compatible(self.config, teacher_forcing)
        memory, state = self.encode(source, source_lengths)
        tf = teacher_forcing
        logits: torch.Tensor
        if tf.mode == "parallel":
            inputs = target_in
            with torch.no_grad():
                for _ in range(tf.passes):
                    logits = self.decoder(inputs, state, memory)  # (B, T, V)
                    predictions = model_tokens(logits, tf.feed, tf.temperature, generator)  # (B, T)
                    inputs = mix_inputs(gold, target_in, predictions)
            logits = self.decoder(inputs, state, memory)
            return logits
        if ratio >= 1.0 and not self.decoder.steps_one_at_a_time:
            logits = self.decoder(target_in, state, memory)
            return logits
        steps: list[torch.Tensor] = []
        token = target_in[:, 0]  # (B,) <bos>
        for t in range(target_in.size(1)):
            if t > 0:
                fed = model_tokens(steps[-1], tf.feed, tf.temperature, generator)  # (B,)
                token = torch.where(gold[:, t], target_in[:, t], fed)
            logits_t, state, _ = self.decoder.step(token, state, memory)  # (B, V)
            steps.append(logits_t)
        return torch.stack(steps, 1)  # (B, T, V)

    def loss(
        self,
        source: torch.Tensor,
        source_lengths: torch.Tensor | None,
        target_in: torch.Tensor,
        target_out: torch.Tensor,
        teacher_forcing: TeacherForcing,
        ratio: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The training loss: scheduled forward, then masked cross-entropy with label smoothing.

        Draws the teacher-forcing coins at ``ratio``, or at each position's
        ``teacher_forcing.at_position(ratio, t)`` with a ``position_schedule`` (with
        ``teacher_forcing.granularity``, from ``generator``), runs :meth:`scheduled_forward` and
        averages the cross-entropy over the non-pad tokens of ``target_out`` (B, T) with
        ``config.label_smoothing``. ``LitSeq2Seq``'s ``training_step`` and the benchmarks'
        hand-written loops call this one function.

        Returns:
            ``(loss (), gold (B, T))``: the scalar loss and the coins (``True`` where the gold
            token was fed).
        """
        probability = gold_probability(teacher_forcing, ratio, target_in)  # a number, or (T,)
        gold = draw_coins(target_in, probability, teacher_forcing.granularity, generator)  # (B, T)
        logits = self.scheduled_forward(
            source, source_lengths, target_in, gold, teacher_forcing, ratio, generator
        )  # (B, T, V)
        return masked_cross_entropy(logits, target_out, self.config.label_smoothing), gold

    @torch.no_grad()
    def generate(
        self,
        source: torch.Tensor,
        source_lengths: torch.Tensor | None = None,
        *,
        max_length: int | None = None,
        encoded: tuple[Memory, State] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Greedy decoding on the model's device, without gold tokens (what validation runs during
        training; ``LitSeq2Seq.translate`` uses the shared search of :mod:`seq2seq_fit.search`).

        The same results as ``keras_seq2seq.Seq2Seq.generate``: ``max_length`` columns, ``<pad>`` after
        each row's ``<eos>``; the loop stops early once every row has emitted ``<eos>``.

        Args:
            source: ``(B, S)`` source ids.
            source_lengths: ``(B,)`` non-pad lengths (``None``: counted from the padding).
            max_length: most steps, ``<eos>`` included; ``None``: ``2 * S + 10``.
            encoded: ``encode(source, source_lengths)`` when the caller has it already (evaluation
                also needs it for the teacher-forced loss), so the source is encoded once.

        Returns:
            ``(tokens (B, max_length), attention (B, max_length, S) or None)``: generated ids
            (``<bos>`` not included), ``<pad>`` after each row's ``<eos>``; the attention weights
            (zero at ``<pad>``; the Transformer's: the last decoder layer's cross-attention averaged
            over heads), ``None`` without attention.
        """
        if max_length is None:
            max_length = length_budget(source.size(1))
        check_int(f"{type(self).__name__}.generate", "max_length", max_length, 1)
        memory, state = self.encode(source, source_lengths) if encoded is None else encoded
        b = source.size(0)
        token = torch.full((b,), BOS_ID, dtype=torch.long, device=source.device)
        finished = torch.zeros(b, dtype=torch.bool, device=source.device)
        out, weights = [], []
        for _ in range(max_length):
            logits, state, w = self.decoder.step(token, state, memory)  # (B, V)
            token = logits.argmax(-1).masked_fill(finished, PAD_ID)  # (B,)
            finished = finished | (token == EOS_ID)
            out.append(token)
            if w is not None:
                weights.append(w * (token != PAD_ID).unsqueeze(-1).to(w.dtype))  # (B, S), zero once finished
            if bool(finished.all()):
                break
        tokens = F.pad(torch.stack(out, 1), (0, max_length - len(out)), value=PAD_ID)  # (B, max_length)
        if not weights:
            return tokens, None
        attention = torch.stack(weights, 1)  # (B, steps taken, S)
        return tokens, F.pad(attention, (0, 0, 0, max_length - len(weights)))  # (B, max_length, S)


__all__ = ["EncoderDecoder", "masked_cross_entropy"]
