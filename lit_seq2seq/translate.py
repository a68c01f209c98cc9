"""The torch side of ``translate``: a :class:`Seq2Seq` or ``Transformer`` one token at a time, numpy at the boundary.

The search and everything around it live in :mod:`seq2seq_fit.translate`; this adapter only
runs the model's encoder, decoder step and state gather.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import numpy as np
import torch

from lit_seq2seq.decoder import Memory, State, select_state
from lit_seq2seq.seq2seq import Seq2Seq
from lit_seq2seq.transformer import Transformer


class TorchStepDecoder:
    """A :class:`Seq2Seq` or ``Transformer`` as the core's ``StepDecoder``: on the model's device, without gradients.

    A Transformer's state is its self-attention cache ``(keys, values)``, each ``(L, B, NH, T, D)``: the batch on
    axis 1 as an RNN state's, so one reorder serves both.

    Use it as a context manager: the model is in eval mode inside the ``with`` block and back in
    its previous mode after it.

    Args:
        model: the encoder-decoder.

    Example:
        >>> from seq2seq_fit import Seq2SeqConfig, Vocab
        >>> from seq2seq_fit.translate import translate
        >>> vocab = Vocab.build([list("abc")])
        >>> model = Seq2Seq(Seq2SeqConfig(embedding_dim=8, hidden_size=8), len(vocab), len(vocab))
        >>> with TorchStepDecoder(model) as decoder:
        ...     outputs = translate(decoder, vocab, vocab, ["a b"], max_length=3)
        >>> len(outputs[0]) <= 3
        True
    """

    def __init__(self, model: Seq2Seq | Transformer) -> None:
        self.model = model
        self.has_attention = model.config.attention != "none"
        self.device = next(model.parameters()).device
        self._was_training = model.training

    def __enter__(self) -> TorchStepDecoder:
        self._was_training = self.model.training
        self.model.eval()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.model.train(self._was_training)

    @torch.no_grad()
    def start(self, source_ids: np.ndarray, lengths: np.ndarray) -> tuple[Memory, State]:
        """Encoder memory and initial decoder state of ``source_ids`` (B, S) with ``lengths`` (B,)."""
        source = torch.from_numpy(np.ascontiguousarray(source_ids, dtype=np.int64)).to(self.device)
        return self.model.encode(source, torch.from_numpy(np.asarray(lengths, dtype=np.int64)))

    @torch.no_grad()
    def step(
        self, tokens: np.ndarray, state: tuple[Memory, State], *, attention: bool = True
    ) -> tuple[np.ndarray, Any, np.ndarray | None]:
        """Logits (N, V) float32, the new state and, if ``attention``, the attention weights (N, S) of one step
        (``None`` otherwise: they stay on the device)."""
        memory, rnn_state = state
        token = torch.from_numpy(np.ascontiguousarray(tokens, dtype=np.int64)).to(self.device)
        logits, rnn_state, weights = self.model.decoder.step(token, rnn_state, memory)  # (N, V), (N, S)
        host_weights = weights.float().cpu().numpy() if attention and weights is not None else None
        return logits.float().cpu().numpy(), (memory, rnn_state), host_weights

    @torch.no_grad()
    def reorder(self, state: tuple[Memory, State], index: np.ndarray) -> tuple[Memory, State]:
        """The rows ``index`` (N',) of the memory and of the recurrent state."""
        memory, rnn_state = state
        rows = torch.from_numpy(np.ascontiguousarray(index, dtype=np.int64)).to(self.device)
        return memory.index_select(rows), select_state(rnn_state, rows)
