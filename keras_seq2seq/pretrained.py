"""The canonical weight arrays of :mod:`seq2seq_fit.model_format` to and from a ``Seq2Seq`` network.

Keras weights are read and written by *slot* (the attribute path of a layer or variable inside
the :class:`~keras_seq2seq.Seq2Seq` network, ``Seq2SeqModel.model``, see
:mod:`seq2seq_fit.weight_layout`), and mapped to the canonical layout there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

import keras
from seq2seq_fit.config import Seq2SeqConfig
from seq2seq_fit.transformer_layout import (
    transformer_canonical_to_keras,
    transformer_keras_slot_names,
    transformer_keras_to_canonical,
)
from seq2seq_fit.weight_layout import Slots, canonical_to_keras, keras_slot_names, keras_to_canonical

if TYPE_CHECKING:
    from keras_seq2seq.seq2seq import Seq2Seq
    from keras_seq2seq.transformer import Transformer


def slot_names(config: Seq2SeqConfig) -> list[str]:
    """Every Keras slot of the network ``config`` builds (a ``Seq2Seq`` or a ``Transformer``)."""
    return transformer_keras_slot_names(config) if config.architecture == "transformer" else keras_slot_names(config)


def resolve_slot(network: Seq2Seq | Transformer, slot: str) -> Any:
    """The layer or variable at attribute path ``slot`` (``"decoder.rnn.1"``)."""
    target: Any = network
    for part in slot.split("."):
        target = target[int(part)] if part.isdigit() else getattr(target, part)
    return target


def keras_slots(network: Seq2Seq | Transformer) -> Slots:
    """Every weight of ``network`` as numpy arrays, by slot.

    Raises:
        ValueError: the slots do not cover every trainable weight (the layout is out of date).
    """
    slots: Slots = {}
    for slot in slot_names(network.config):
        target = resolve_slot(network, slot)
        if isinstance(target, keras.Variable):
            slots[slot] = [np.asarray(keras.ops.convert_to_numpy(target.value))]
        else:
            slots[slot] = [np.asarray(w) for w in target.get_weights()]
    covered = sum(len(arrays) for arrays in slots.values())
    if covered != len(network.trainable_weights):
        raise ValueError(
            f"{type(network).__name__} has {len(network.trainable_weights)} trainable weights but the layout knows "
            f"{covered}; "
            "seq2seq_fit.weight_layout (or transformer_layout) is out of date with keras_seq2seq"
        )
    return slots


def set_keras_slots(network: Seq2Seq | Transformer, slots: Slots) -> None:
    """Assign ``slots`` (arrays by slot) to ``network``'s layers and variables."""
    for slot in slot_names(network.config):
        target, arrays = resolve_slot(network, slot), slots[slot]
        if isinstance(target, keras.Variable):
            target.assign(arrays[0])
        else:
            target.set_weights(arrays)


def canonical_weights(network: Seq2Seq | Transformer) -> dict[str, np.ndarray]:
    """``network``'s weights in the canonical layout (an LSTM's one Keras bias becomes ``bias_ih``, ``bias_hh = 0``)."""
    if network.config.architecture == "transformer":
        return transformer_keras_to_canonical(keras_slots(network), network.config)
    return keras_to_canonical(keras_slots(network), network.config)


def load_canonical_weights(network: Seq2Seq | Transformer, weights: Mapping[str, np.ndarray]) -> None:
    """Copy canonical ``weights`` into ``network`` (an LSTM's ``bias_ih + bias_hh`` into its one bias)."""
    to_keras = transformer_canonical_to_keras if network.config.architecture == "transformer" else canonical_to_keras
    set_keras_slots(network, to_keras(weights, network.config, network.src_vocab_size, network.tgt_vocab_size))


__all__ = ["canonical_weights", "keras_slots", "load_canonical_weights", "set_keras_slots"]
