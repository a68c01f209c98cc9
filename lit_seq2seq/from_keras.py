"""``from_keras``: a ``LitSeq2Seq`` from a Keras ``Seq2SeqModel`` or ``.keras`` file.

keras (and ``keras_seq2seq``) are imported only inside :func:`from_keras`.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from lit_seq2seq.module import LitSeq2Seq
from seq2seq_fit.weight_layout import keras_to_torch

#: Prefix of the ``Seq2Seq`` weights inside a ``LitSeq2Seq`` state dict.
MODEL_PREFIX = "model."


def from_keras(source: Any, module: LitSeq2Seq | None = None, reference: Any = None, **hparams: Any) -> LitSeq2Seq:
    """The Lightning twin of a Keras model: same config, teacher forcing, vocabularies and weights.

    Keras keeps one LSTM bias ``b_ih + b_hh``; PyTorch keeps both. ``reference`` restores the
    original split (see :mod:`seq2seq_fit.weight_layout`), so Lightning -> Keras -> Lightning gives
    back the original state dict bit for bit; without it the LSTM ``b_hh`` is zero (same model,
    same outputs). GRU weights convert exactly either way.

    Args:
        source: a ``keras_seq2seq.Seq2SeqModel`` or the path of a ``.keras`` file (loaded with
            ``keras.models.load_model``, default ``safe_mode``).
        module: load into this existing ``LitSeq2Seq`` (its config and vocabularies must equal
            the source's) instead of building a new one.
        reference: the ``LitSeq2Seq`` (or its ``state_dict()``) the Keras model was converted
            from; used only to split LSTM biases. Defaults to ``module`` when that is given.
        **hparams: other ``LitSeq2Seq`` arguments for a new module (``lr``, ``weight_decay``...).

    Raises:
        ValueError: ``module`` differs from the source in config or vocabularies, or the
            reference does not fit the config.

    Example:
        >>> lit = from_keras("g2p.keras", lr=3e-4)  # doctest: +SKIP
        >>> lightning.pytorch.Trainer(max_epochs=1).fit(lit, datamodule)  # doctest: +SKIP
    """
    import keras
    from keras_seq2seq.from_lightning import keras_slots
    from keras_seq2seq.seq2seq_model import Seq2SeqModel

    if isinstance(source, (str, os.PathLike)):
        source = keras.models.load_model(source)
    if not isinstance(source, Seq2SeqModel):
        raise TypeError(f"from_keras: expected a Seq2SeqModel or a .keras path, got {type(source).__name__}")
    config, src_tokens, tgt_tokens = source.config, source.src_vocab.tokens, source.tgt_vocab.tokens
    if module is None:
        hparams.setdefault("seed", 0 if source.seed is None else int(source.seed))
        module = LitSeq2Seq(src_tokens, tgt_tokens, config, source.teacher_forcing, **hparams)
    else:
        if hparams:
            raise ValueError(f"from_keras: {sorted(hparams)} apply to a new module only, not to module=")
        check_same_module(module, source)
        reference = module if reference is None else reference
    ref_state = None if reference is None else numpy_state(reference)
    state = keras_to_torch(keras_slots(source), config, ref_state)
    own = module.model.state_dict()
    tensors = {key: torch.from_numpy(value).to(own[key].device, own[key].dtype) for key, value in state.items()}
    module.model.load_state_dict(tensors, strict=True)
    return module


def numpy_state(reference: Any) -> dict[str, np.ndarray]:
    """``Seq2Seq`` weights (keys without ``model.``) of a ``LitSeq2Seq`` or state dict, as float32 numpy."""
    state = reference.state_dict() if hasattr(reference, "state_dict") else reference
    return {
        key[len(MODEL_PREFIX) :]: value.detach().to("cpu", torch.float32).numpy()
        for key, value in state.items()
        if key.startswith(MODEL_PREFIX)
    }


def check_same_module(module: LitSeq2Seq, source: Any) -> None:
    """Raise ``ValueError`` when ``module``'s config or vocabularies differ from the Keras ``source``'s."""
    differences = [
        f"{name}: {mine!r} in the target module, {theirs!r} in the Keras model"
        for (name, mine), theirs in zip(module.config.to_dict().items(), source.config.to_dict().values(), strict=True)
        if mine != theirs
    ]
    for name, own, theirs in (
        ("src_vocab", module.src_vocab, source.src_vocab),
        ("tgt_vocab", module.tgt_vocab, source.tgt_vocab),
    ):
        if list(own.tokens) != list(theirs.tokens):
            differences.append(f"{name}: {len(own)} tokens in the target module, {len(theirs)} in the Keras model")
    if differences:
        raise ValueError("cannot convert into this LitSeq2Seq: " + "; ".join(differences))


__all__ = ["from_keras"]
