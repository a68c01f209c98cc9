"""``translate``: strings or token lists in, token lists out, through any decoding strategy."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from datamodules.vocab import BOS_ID, EOS_ID, PAD_ID, Vocab
from lit_seq2seq.model import Seq2Seq
from seq2seq_fit.decoding import check_translate_args
from seq2seq_fit.tokenizer import Tokenizer, split_tokens

Source = str | Sequence[str]

#: Split a source like the training data (the core's ``split_tokens``; token lists pass through).
tokenize = split_tokens


def encode_sources(
    sources: Sequence[list[str]], vocab: Vocab, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids (B, S) and lengths (B,) of tokenised sources."""
    ids = [vocab.encode(s) for s in sources]
    width = max(1, *(len(x) for x in ids))
    source = torch.full((len(ids), width), PAD_ID, dtype=torch.long)
    for i, row in enumerate(ids):
        source[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    lengths = torch.tensor([len(x) for x in ids], dtype=torch.long)
    return source.to(device), lengths.to(device)


def kept_positions(ids: Sequence[int]) -> list[int]:
    """Positions of the output tokens: up to the first ``<eos>``, skipping ``<pad>`` and ``<bos>``."""
    kept = []
    for i, token in enumerate(ids):
        if token == EOS_ID:
            break
        if token not in (PAD_ID, BOS_ID):
            kept.append(i)
    return kept


@torch.no_grad()
def translate(
    model: Seq2Seq,
    src_vocab: Vocab,
    tgt_vocab: Vocab,
    sources: Sequence[Source],
    *,
    strategy: str = "greedy",
    beam_width: int = 5,
    length_penalty: float = 0.0,
    temperature: float = 1.0,
    top_k: int | None = None,
    max_length: int | None = None,
    return_attention: bool = False,
    tokenizer: Tokenizer = "whitespace",
    batch_size: int = 128,
    seed: int | None = None,
) -> list[list[str]] | tuple[list[list[str]], list[torch.Tensor]]:
    """Decode ``sources`` in batches; returns token lists (specials dropped, stopped at ``<eos>``).

    Args:
        model: the encoder-decoder (put in eval mode for the call).
        src_vocab, tgt_vocab: its vocabularies.
        sources: strings (split by ``tokenizer``) or token lists.
        strategy: ``greedy``, ``sample`` or ``beam``.
        beam_width: beams kept by ``beam`` (1 gives the greedy output).
        length_penalty: GNMT ``alpha`` for ranking finished beams.
        temperature, top_k: sampling options.
        max_length: longest output; ``None`` means ``2 * S + 10`` for a batch of padded length ``S``.
        return_attention: also return, per source, its attention weights (len(tokens), S_i).
        tokenizer: ``whitespace``, ``chars`` (or ``char``) or a callable, for string sources.
        batch_size: sources decoded together.
        seed: seeds sampling (``None``: the global RNG).

    Example:
        >>> translate(model, src_vocab, tgt_vocab, ["I feel hungry"])  # doctest: +SKIP
        [['나는', '배가', '고프다']]
    """
    check_translate_args(
        sources,
        strategy,
        beam_width,
        length_penalty,
        temperature,
        top_k,
        max_length,
        return_attention,
        tokenizer,
        batch_size,
        seed,
    )
    if return_attention and model.config.attention == "none":
        raise ValueError("translate.return_attention: got True, but this model has attention='none'")
    tokens = [split_tokens(s, tokenizer) for s in sources]
    device = next(model.parameters()).device
    generator = None
    if seed is not None:
        generator = torch.Generator(device=device)
        generator.manual_seed(seed)
    was_training = model.training
    model.eval()
    outputs: list[list[str]] = []
    weights: list[torch.Tensor] = []
    try:
        for start in range(0, len(tokens), batch_size):
            chunk = tokens[start : start + batch_size]
            source, lengths = encode_sources(chunk, src_vocab, device)
            ids, attention = model.generate(
                source,
                lengths,
                strategy=strategy,
                beam_width=beam_width,
                length_penalty=length_penalty,
                temperature=temperature,
                top_k=top_k,
                max_length=max_length,
                generator=generator,
            )
            for i, row in enumerate(ids.tolist()):
                outputs.append(tgt_vocab.decode(row))
                if return_attention:
                    assert attention is not None
                    weights.append(attention[i, kept_positions(row), : int(lengths[i])].float().cpu())
    finally:
        model.train(was_training)
    return (outputs, weights) if return_attention else outputs
