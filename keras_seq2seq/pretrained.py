"""The canonical weight arrays of :mod:`seq2seq_fit.model_format` to and from a ``Seq2SeqModel``.

Keras weights are read and written by *slot* (the attribute path of a layer or variable inside
the model, see :mod:`seq2seq_fit.weight_layout`), and mapped to the canonical layout there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

import keras
from seq2seq_fit.weight_layout import Slots, canonical_to_keras, keras_slot_names, keras_to_canonical

if TYPE_CHECKING:
    from keras_seq2seq.seq2seq_model import Seq2SeqModel


def resolve_slot(model: Seq2SeqModel, slot: str) -> Any:
    """The layer or variable at attribute path ``slot`` (``"decoder.rnn_layers.1"``)."""
    target: Any = model
    for part in slot.split("."):
        target = target[int(part)] if part.isdigit() else getattr(target, part)
    return target


def keras_slots(model: Seq2SeqModel) -> Slots:
    """Every weight of ``model`` as numpy arrays, by slot.

    Raises:
        ValueError: the slots do not cover every trainable weight (the layout is out of date).
    """
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


def canonical_weights(model: Seq2SeqModel) -> dict[str, np.ndarray]:
    """``model``'s weights in the canonical layout (an LSTM's one Keras bias becomes ``bias_ih``, ``bias_hh = 0``)."""
    return keras_to_canonical(keras_slots(model), model.config)


def load_canonical_weights(model: Seq2SeqModel, weights: Mapping[str, np.ndarray]) -> None:
    """Copy canonical ``weights`` into ``model`` (an LSTM's ``bias_ih + bias_hh`` into its one bias)."""
    set_keras_slots(model, canonical_to_keras(weights, model.config, len(model.src_vocab), len(model.tgt_vocab)))


__all__ = ["canonical_weights", "keras_slots", "load_canonical_weights", "set_keras_slots"]
