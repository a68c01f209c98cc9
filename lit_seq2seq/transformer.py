"""``Transformer``: the pre-LN Transformer encoder-decoder as a plain ``nn.Module``, the counterpart of ``Seq2Seq``.

The same methods and signatures as :class:`lit_seq2seq.seq2seq.Seq2Seq` (``encode``, ``forward``,
``scheduled_forward``, ``loss``, ``generate``, and ``decoder.step``/``decoder.keys``), so
``LitSeq2Seq``, the shared search and the benchmarks' loops run either network. The decoder state
is the self-attention cache (:data:`lit_seq2seq.transformer_layers.Cache`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lit_seq2seq.decoder import Memory, State
from lit_seq2seq.scheduled_sampling import draw_coins, gold_probability, mix_inputs, model_tokens
from lit_seq2seq.seq2seq import masked_cross_entropy
from lit_seq2seq.transformer_layers import Cache, TransformerDecoder, TransformerEncoder
from seq2seq_fit import Seq2SeqConfig, TeacherForcing, check_compatible
from seq2seq_fit.config import as_config, check_int
from seq2seq_fit.decoding import length_budget
from seq2seq_fit.vocab import BOS_ID, EOS_ID, PAD_ID


class Transformer(nn.Module):
    """Pre-layer-norm Transformer encoder-decoder with sinusoidal positions (``architecture="transformer"``).

    Initialised with xavier-uniform linear weights, zero biases, LayerNorm ones and zeros, and
    embeddings drawn from ``normal(0, hidden_size ** -0.5)``.

    Args:
        config: a :class:`seq2seq_fit.Seq2SeqConfig` (or a mapping of its fields) with
            ``architecture="transformer"``: ``num_layers`` blocks on each side, width ``hidden_size``,
            ``num_heads``, ``feed_forward_size``, ``dropout``, ``tie_embeddings``, ``label_smoothing``.
        src_vocab_size: source vocabulary size.
        tgt_vocab_size: target vocabulary size.

    Example:
        >>> config = Seq2SeqConfig(architecture="transformer", embedding_dim=8, hidden_size=8, num_heads=2)
        >>> model = Transformer(config, 10, 12)
        >>> src, tgt = torch.tensor([[4, 5, 6]]), torch.tensor([[1, 7, 8]])
        >>> model(src, torch.tensor([3]), tgt).shape
        torch.Size([1, 3, 12])
    """

    def __init__(self, config: Seq2SeqConfig | Mapping[str, Any], src_vocab_size: int, tgt_vocab_size: int) -> None:
        super().__init__()
        check_int("Transformer", "src_vocab_size", src_vocab_size, 1)
        check_int("Transformer", "tgt_vocab_size", tgt_vocab_size, 1)
        self.config = c = as_config(config, name="Transformer.config")
        if c.architecture != "transformer":
            raise ValueError(
                f"Transformer.config.architecture: got {c.architecture!r}, expected 'transformer' (Seq2Seq builds "
                "the RNN)"
            )
        self.src_vocab_size = src_vocab_size
        self.tgt_vocab_size = tgt_vocab_size
        widths = (c.embedding_dim, c.hidden_size, c.num_layers, c.num_heads, c.feed_forward_size, c.dropout)
        self.encoder = TransformerEncoder(src_vocab_size, *widths)
        self.decoder = TransformerDecoder(tgt_vocab_size, *widths, tie_embeddings=c.tie_embeddings)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform linear weights, zero biases, LayerNorm ones/zeros, embeddings ``normal(0, H^-0.5)``."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        for embedding in (self.encoder.embedding, self.decoder.embedding):  # last: a tied output weight is this one
            nn.init.normal_(embedding.weight, 0.0, self.config.hidden_size**-0.5)

    def encode(self, source: torch.Tensor, source_lengths: torch.Tensor | None = None) -> tuple[Memory, Cache]:
        """Encode ``source`` (B, S); returns the memory (with every decoder layer's cross-attention keys and
        values) and the empty decoder cache. Padding is read from ``source`` (``<pad>``), as ``Seq2Seq`` does."""
        mask = source != PAD_ID  # (B, S)
        enc = self.encoder(source, mask).masked_fill(~mask.unsqueeze(-1), 0.0)  # (B, S, H), zero at padding
        memory = Memory(enc, mask, self.decoder.keys(enc))
        return memory, self.decoder.initial_state(memory)

    def forward(
        self,
        source: torch.Tensor,
        source_lengths: torch.Tensor | None,
        target_in: torch.Tensor,
        *,
        encoded: tuple[Memory, State] | None = None,
    ) -> torch.Tensor:
        """Teacher-forced logits (B, T, V) for decoder inputs ``target_in`` (B, T); ``encoded``:
        ``encode(source, source_lengths)`` when the caller has it already."""
        memory, state = self.encode(source, source_lengths) if encoded is None else encoded
        return self.decoder(target_in, state, memory)  # type: ignore[no-any-return]

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

        ``parallel`` runs ``passes`` whole-sequence passes without gradient to build the mixed inputs
        (position ``t`` gets the gold token where ``gold``, else the previous pass's prediction at
        ``t - 1``), then one pass with gradient (Duckworth et al. 2019). ``sequential`` runs the exact
        loop with the cached step (the input at ``t`` is gold where ``gold``, else the token this same
        loop produced at ``t - 1``); with ``ratio >= 1`` it takes the one-call teacher-forced path,
        which gives the same numbers.
        """
        check_compatible(self.config, teacher_forcing)
        memory, state = self.encode(source, source_lengths)
        tf = teacher_forcing
        if tf.mode == "parallel":
            inputs = target_in
            with torch.no_grad():
                for _ in range(tf.passes):
                    logits = self.decoder(inputs, state, memory)  # (B, T, V)
                    predictions = model_tokens(logits, tf.feed, tf.temperature, generator)  # (B, T)
                    inputs = mix_inputs(gold, target_in, predictions)
            return self.decoder(inputs, state, memory)  # type: ignore[no-any-return]
        if ratio >= 1.0:
            return self.decoder(target_in, state, memory)  # type: ignore[no-any-return]
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
        """The training loss, as ``Seq2Seq.loss``: coins at ``ratio`` (or per position with a
        ``position_schedule``, with ``teacher_forcing.granularity``), :meth:`scheduled_forward`, then the
        masked cross-entropy over ``target_out`` (B, T) with ``config.label_smoothing``.

        Returns:
            ``(loss (), gold (B, T))``: the scalar loss and the coins (``True`` where the gold token was fed).

        Example:
            >>> config = Seq2SeqConfig(architecture="transformer", embedding_dim=8, hidden_size=8, num_heads=2)
            >>> model = Transformer(config, 10, 12)
            >>> src, tgt_in, tgt_out = torch.tensor([[4, 5]]), torch.tensor([[1, 7]]), torch.tensor([[7, 2]])
            >>> loss, gold = model.loss(src, torch.tensor([2]), tgt_in, tgt_out, TeacherForcing())
            >>> loss.shape, bool(gold.all())
            (torch.Size([]), True)
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
        """Greedy decoding with the cached step, on the model's device (what validation runs during training).

        The results of ``Seq2Seq.generate``: ``max_length`` columns (``None``: ``2 * S + 10``), ``<pad>``
        after each row's ``<eos>``, the loop stops once every row has emitted ``<eos>``.

        Returns:
            ``(tokens (B, max_length), attention (B, max_length, S))``: generated ids (``<bos>`` not
            included), and the last decoder layer's cross-attention averaged over heads (zero at ``<pad>``).
        """
        if max_length is None:
            max_length = length_budget(source.size(1))
        check_int("Transformer.generate", "max_length", max_length, 1)
        memory, state = self.encode(source, source_lengths) if encoded is None else encoded
        b = source.size(0)
        token = torch.full((b,), BOS_ID, dtype=torch.long, device=source.device)
        finished = torch.zeros(b, dtype=torch.bool, device=source.device)
        out, weights = [], []
        for _ in range(max_length):
            logits, state, w = self.decoder.step(token, state, memory)  # (B, V), cache, (B, S)
            token = logits.argmax(-1).masked_fill(finished, PAD_ID)  # (B,)
            finished = finished | (token == EOS_ID)
            out.append(token)
            weights.append(w * (token != PAD_ID).unsqueeze(-1).to(w.dtype))  # (B, S), zero once finished
            if bool(finished.all()):
                break
        tokens = F.pad(torch.stack(out, 1), (0, max_length - len(out)), value=PAD_ID)  # (B, max_length)
        attention = torch.stack(weights, 1)  # (B, steps taken, S)
        return tokens, F.pad(attention, (0, 0, 0, max_length - len(weights)))  # (B, max_length, S)


__all__ = ["Transformer"]
