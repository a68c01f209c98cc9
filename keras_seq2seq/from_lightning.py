"""``from_lightning``: a Keras ``Seq2SeqModel`` from a ``LitSeq2Seq`` module or checkpoint.

torch is imported only inside :func:`from_lightning`, so Keras users never pay for it; Lightning
itself is not needed to read a checkpoint.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

import keras
from datamodules.vocab import as_vocab
from keras_seq2seq.seq2seq_model import Seq2SeqModel
from seq2seq_fit import Seq2SeqConfig, TeacherForcing
from seq2seq_fit.weight_layout import Slots, keras_slot_names, torch_to_keras

#: Prefix of the ``Seq2Seq`` weights inside a ``LitSeq2Seq`` state dict.
MODEL_PREFIX = "model."


def from_lightning(source: Any, model: Seq2SeqModel | None = None) -> Seq2SeqModel:
    """The Keras twin of a Lightning model: same config, teacher forcing, vocabularies and weights.

    Args:
        source: a ``lit_seq2seq.LitSeq2Seq``, or the path of one of its ``.ckpt`` files (read
            with ``torch.load(weights_only=True)``; no Python object is unpickled).
        model: load into this existing ``Seq2SeqModel`` instead of building a new one; its config
            and vocabularies must equal the source's.

    Returns:
        The ``Seq2SeqModel`` (not compiled). Same weights and inputs give the same logits
        (docs/parity.md lists the measured differences).

    Raises:
        ValueError: the checkpoint lacks hyper-parameters, ``model`` differs from the source in
            config or vocabularies, or the weights do not fit the config and vocabulary sizes.

    Example:
        >>> keras_model = from_lightning("runs/g2p/last.ckpt")  # doctest: +SKIP
        >>> keras_model.translate(["hello"], tokenizer="char")  # doctest: +SKIP
    """
    hparams, state = read_lightning(source)
    config = Seq2SeqConfig.from_dict(dict(hparams["config"]))
    teacher_forcing = TeacherForcing.from_dict(dict(hparams["teacher_forcing"]))
    src_vocab, tgt_vocab = as_vocab(list(hparams["src_vocab"])), as_vocab(list(hparams["tgt_vocab"]))
    slots = torch_to_keras(state, config, len(src_vocab), len(tgt_vocab))
    if model is None:
        model = Seq2SeqModel(src_vocab, tgt_vocab, config, teacher_forcing, seed=int(hparams.get("seed", 0)))
    else:
        check_same_model(model, config, src_vocab.tokens, tgt_vocab.tokens, "the Lightning model")
    set_keras_slots(model, slots)
    return model


def read_lightning(source: Any) -> tuple[Mapping[str, Any], dict[str, np.ndarray]]:
    """``(hyper-parameters, Seq2Seq weights as float32 numpy)`` of a ``LitSeq2Seq`` or checkpoint path."""
    import torch

    if isinstance(source, (str, os.PathLike)):
        checkpoint = torch.load(source, map_location="cpu", weights_only=True)
        if "hyper_parameters" not in checkpoint or "state_dict" not in checkpoint:
            raise ValueError(
                f"{os.fspath(source)}: not a LitSeq2Seq checkpoint (needs 'hyper_parameters' and 'state_dict', "
                f"found keys {sorted(checkpoint)})"
            )
        hparams, tensors = checkpoint["hyper_parameters"], checkpoint["state_dict"]
    elif hasattr(source, "hparams") and hasattr(source, "state_dict"):
        hparams, tensors = source.hparams, source.state_dict()
    else:
        raise TypeError(f"from_lightning: expected a LitSeq2Seq or a checkpoint path, got {type(source).__name__}")
    missing = [key for key in ("config", "teacher_forcing", "src_vocab", "tgt_vocab") if key not in hparams]
    if missing:
        raise ValueError(f"from_lightning: the source's hyper-parameters lack {missing}; is it a LitSeq2Seq?")
    state = {
        key[len(MODEL_PREFIX) :]: value.detach().to("cpu", torch.float32).numpy()
        for key, value in tensors.items()
        if key.startswith(MODEL_PREFIX)
    }
    return hparams, state


def check_same_model(
    model: Seq2SeqModel, config: Seq2SeqConfig, src_tokens: list[str], tgt_tokens: list[str], what: str
) -> None:
    """Raise ``ValueError`` when ``model``'s config or vocabularies differ from ``what``'s."""
    differences = [
        f"{name}: {theirs!r} in the target model, {mine!r} in {what}"
        for name, mine, theirs in zip(
            config.to_dict(), config.to_dict().values(), model.config.to_dict().values(), strict=True
        )
        if mine != theirs
    ]
    for name, tokens, own in (("src_vocab", src_tokens, model.src_vocab), ("tgt_vocab", tgt_tokens, model.tgt_vocab)):
        if list(own.tokens) != list(tokens):
            differences.append(
                f"{name}: {len(own)} tokens in the target model, {len(tokens)} in {what} (or another order)"
            )
    if differences:
        raise ValueError("cannot convert into this model: " + "; ".join(differences))


def resolve_slot(model: Seq2SeqModel, slot: str) -> Any:
    """The layer or variable at attribute path ``slot`` (``"decoder.rnn_layers.1"``)."""
    target: Any = model
    for part in slot.split("."):
        target = target[int(part)] if part.isdigit() else getattr(target, part)
    return target


def keras_slots(model: Seq2SeqModel) -> Slots:
    """Every weight of ``model`` as numpy arrays, by slot (see :mod:`seq2seq_fit.weight_layout`)."""
    slots: Slots = {}
    for slot in keras_slot_names(model.config):
        target = resolve_slot(model, slot)
        if isinstance(target, keras.Variable):
            slots[slot] = [np.asarray(keras.ops.convert_to_numpy(target.value))]
        else:
            slots[slot] = [np.asarray(w) for w in target.get_weights()]
    covered = sum(len(arrays) for arrays in slots.values())
    if covered != len(model.trainable_weights):
        raise ValueError(
            f"Seq2SeqModel has {len(model.trainable_weights)} trainable weights but the layout knows {covered}; "
            "seq2seq_fit.weight_layout is out of date with keras_seq2seq"
        )
    return slots


def set_keras_slots(model: Seq2SeqModel, slots: Slots) -> None:
    """Assign ``slots`` (arrays by slot) to ``model``'s layers and variables."""
    for slot in keras_slot_names(model.config):
        target, arrays = resolve_slot(model, slot), slots[slot]
        if isinstance(target, keras.Variable):
            target.assign(arrays[0])
        else:
            target.set_weights(arrays)


__all__ = ["from_lightning", "keras_slots", "set_keras_slots"]
