"""The canonical weight layout and the exact maps to and from the Keras layout (numpy only).

The canonical layout is the one docs/architecture.md writes the model in, and the one
``model.safetensors`` of :mod:`seq2seq_fit.model_format` stores: tensors named and shaped as the
PyTorch ``lit_seq2seq.Seq2Seq.state_dict()`` (so the Lightning side reads it as is). The Keras
network (``keras_seq2seq.Seq2Seq``) has the same layer tree, each layer at the same attribute path
(``bridge``, ``decoder.attention.w_c``...); it holds the weights in other shapes where the
frameworks differ:

- GRU gates: canonical ``r, z, n``, Keras ``z, r, h``; ``reset_after=True`` keeps both biases, as
  Keras ``bias`` of shape ``(2, 3H)`` = ``[b_ih; b_hh]`` (after reordering the gates).
- LSTM gates: ``i, f, g, o`` on both sides; Keras has one bias ``b_ih + b_hh``.
- Kernels are transposed: canonical ``weight_ih`` ``(gates * H, I)``, Keras ``kernel``
  ``(I, gates * H)``; a linear ``weight`` is ``(out, in)``, ``Dense.kernel`` ``(in, out)``.
- One torch ``nn.GRU``/``nn.LSTM`` holds every stacked layer and direction (``rnn.*_l1``,
  ``rnn.*_l0_reverse``); Keras has one layer each (``rnn[1]``, ``rnn_reverse[0]``).
- A tied output layer: torch shares the embedding as ``decoder.out.weight``; Keras multiplies by
  the embedding matrix and keeps only the bias, ``decoder.output_bias``.

Keras weights are addressed by *slots*: the attribute path of a layer (or variable) inside the
``keras_seq2seq.Seq2Seq`` network (``"decoder.rnn.1"``; ``Seq2SeqModel.model`` is that
network), holding the arrays of ``layer.get_weights()``.

The LSTM bias is the one place where Keras keeps less than the canonical layout: ``b_ih + b_hh``
does not tell the two terms apart, so :func:`keras_to_canonical` writes ``bias_ih = b_ih + b_hh``
and ``bias_hh = 0``: the same model, with the same outputs.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from seq2seq_fit.config import Seq2SeqConfig

Arrays = Mapping[str, np.ndarray]
Slots = dict[str, list[np.ndarray]]

#: ``GRU_ORDER[i]`` is the canonical gate block that goes to Keras block ``i`` (and back: a swap).
GRU_ORDER = (1, 0, 2)


def reorder_gru_gates(x: np.ndarray) -> np.ndarray:
    """Swap the first two gate blocks along axis 0 (``r, z, n`` <-> ``z, r, h``)."""
    blocks = np.split(x, 3, axis=0)
    return np.concatenate([blocks[i] for i in GRU_ORDER], axis=0)


def canonical_shapes(config: Seq2SeqConfig, src_vocab_size: int, tgt_vocab_size: int) -> dict[str, tuple[int, ...]]:
    """Every canonical tensor of a model with ``config`` and these vocabulary sizes, and its shape
    (the tensors of ``lit_seq2seq.Seq2Seq(config, src_vocab_size, tgt_vocab_size).state_dict()``, or of
    ``lit_seq2seq.Transformer``'s for ``architecture="transformer"``:
    :func:`seq2seq_fit.transformer_layout.transformer_canonical_shapes`)."""
    if config.architecture == "transformer":
        from seq2seq_fit.transformer_layout import transformer_canonical_shapes  # here: that module may import this

        return transformer_canonical_shapes(config, src_vocab_size, tgt_vocab_size)
    c = config
    e, h, gates = c.embedding_dim, c.hidden_size, 3 if c.cell == "gru" else 4
    shapes: dict[str, tuple[int, ...]] = {"encoder.embedding.weight": (src_vocab_size, e)}
    units = c.encoder_units
    for k in range(c.num_layers):
        width = e if k == 0 else h
        for suffix in ("", "_reverse") if c.bidirectional else ("",):
            shapes.update(rnn_shapes("encoder.rnn", f"l{k}{suffix}", gates, width, units))
    shapes["bridge.weight"] = (c.num_layers * h, h)
    shapes["bridge.bias"] = (c.num_layers * h,)
    shapes["decoder.embedding.weight"] = (tgt_vocab_size, e)
    for k in range(c.num_layers):
        width = (e + (h if c.attention == "bahdanau" else 0)) if k == 0 else h
        shapes.update(rnn_shapes("decoder.rnn", f"l{k}", gates, width, h))
    if c.attention == "luong":
        if c.luong_score == "general":
            shapes["decoder.attention.w_a.weight"] = (h, h)
        shapes["decoder.attention.w_c.weight"] = (h, 2 * h)
    elif c.attention == "bahdanau":
        shapes["decoder.attention.w1.weight"] = (h, h)
        shapes["decoder.attention.w2.weight"] = (h, h)
        shapes["decoder.attention.w2.bias"] = (h,)
        shapes["decoder.attention.v.weight"] = (1, h)
    shapes["decoder.out.weight"] = (tgt_vocab_size, h)
    shapes["decoder.out.bias"] = (tgt_vocab_size,)
    return shapes


def rnn_shapes(prefix: str, layer: str, gates: int, width: int, units: int) -> dict[str, tuple[int, ...]]:
    """Shapes of one canonical RNN layer (direction) ``layer`` such as ``"l0"`` or ``"l1_reverse"``."""
    return {
        f"{prefix}.weight_ih_{layer}": (gates * units, width),
        f"{prefix}.weight_hh_{layer}": (gates * units, units),
        f"{prefix}.bias_ih_{layer}": (gates * units,),
        f"{prefix}.bias_hh_{layer}": (gates * units,),
    }


def weight_problems(weights: Arrays, config: Seq2SeqConfig, src_vocab_size: int, tgt_vocab_size: int) -> list[str]:
    """Every tensor of ``weights`` that is mis-shaped, not float32, missing or unexpected, one line each.

    Example:
        >>> config = Seq2SeqConfig(hidden_size=4, embedding_dim=2)
        >>> weights = {k: np.zeros(s, np.float32) for k, s in canonical_shapes(config, 6, 7).items()}
        >>> weights["decoder.out.bias"] = np.zeros(5, np.float32)
        >>> weight_problems(weights, config, 6, 7)
        ['decoder.out.bias has shape (5,), expected (7,)']
    """
    expected = canonical_shapes(config, src_vocab_size, tgt_vocab_size)
    problems = [
        f"{key} has shape {tuple(weights[key].shape)}, expected {shape}"
        for key, shape in expected.items()
        if key in weights and tuple(weights[key].shape) != shape
    ]
    problems += [
        f"{key} has dtype {weights[key].dtype}, expected float32"
        for key in expected
        if key in weights and weights[key].dtype != np.float32
    ]
    problems += [f"{key} is missing (expected shape {shape})" for key, shape in expected.items() if key not in weights]
    problems += [f"unexpected tensor {key} {tuple(weights[key].shape)}" for key in weights if key not in expected]
    return problems


def check_canonical_weights(weights: Arrays, config: Seq2SeqConfig, src_vocab_size: int, tgt_vocab_size: int) -> None:
    """Raise ``ValueError`` naming every tensor of ``weights`` that does not fit the config and vocabulary sizes."""
    problems = weight_problems(weights, config, src_vocab_size, tgt_vocab_size)
    if problems:
        raise ValueError(
            f"weights do not fit Seq2SeqConfig {config.to_dict()} with vocabulary sizes "
            f"{src_vocab_size} (source) and {tgt_vocab_size} (target): " + "; ".join(problems)
        )


def rnn_slots(config: Seq2SeqConfig) -> list[tuple[str, str]]:
    """``(keras slot, canonical layer prefix)`` of every recurrent layer and direction, e.g.
    ``("encoder.rnn_reverse.0", "encoder.rnn.{}_l0_reverse")``: torch's one ``nn.GRU``/``nn.LSTM``
    holds every stacked layer and direction, Keras has one layer each."""
    pairs = []
    for k in range(config.num_layers):
        pairs.append((f"encoder.rnn.{k}", f"encoder.rnn.{{}}_l{k}"))
        if config.bidirectional:
            pairs.append((f"encoder.rnn_reverse.{k}", f"encoder.rnn.{{}}_l{k}_reverse"))
    pairs += [(f"decoder.rnn.{k}", f"decoder.rnn.{{}}_l{k}") for k in range(config.num_layers)]
    return pairs


def dense_slots(config: Seq2SeqConfig) -> list[tuple[str, bool]]:
    """``(layer, has bias)`` of every linear layer: the same path on both sides (``"bridge"``,
    ``"decoder.attention.w_c"``, ``"decoder.out"``...), read off the canonical tensors. A tied output
    layer has no Keras ``Dense`` (it multiplies by the embedding matrix): only its bias, ``decoder.output_bias``."""
    shapes = canonical_shapes(config, 1, 1)
    layers = [
        key.removesuffix(".weight")
        for key in shapes
        if key.endswith(".weight")
        and ".embedding." not in key
        and not (config.tie_embeddings and key == "decoder.out.weight")
    ]
    return [(layer, f"{layer}.bias" in shapes) for layer in layers]


def keras_slot_names(config: Seq2SeqConfig) -> list[str]:
    """Every Keras slot of a ``keras_seq2seq.Seq2Seq`` with ``config``, in a fixed order."""
    names = ["encoder.embedding", "decoder.embedding"]
    names += [slot for slot, _ in rnn_slots(config)]
    names += [slot for slot, _ in dense_slots(config)]
    return names + (["decoder.output_bias"] if config.tie_embeddings else [])


def canonical_to_keras(state: Arrays, config: Seq2SeqConfig, src_vocab_size: int, tgt_vocab_size: int) -> Slots:
    """Keras slot arrays (``get_weights()`` order) holding the canonical weights ``state``.

    Args:
        state: canonical float32 arrays by name (``Seq2Seq.state_dict()`` keys).
        config: the architecture both sides share.
        src_vocab_size, tgt_vocab_size: vocabulary sizes, checked against the embeddings.

    Raises:
        ValueError: a tensor is missing, unexpected or has the wrong shape, or tied output and
            embedding weights differ.
    """
    s = {key: np.asarray(value, dtype=np.float32) for key, value in state.items()}
    check_canonical_weights(s, config, src_vocab_size, tgt_vocab_size)
    slots: Slots = {
        "encoder.embedding": [s["encoder.embedding.weight"]],
        "decoder.embedding": [s["decoder.embedding.weight"]],
    }
    for slot, layer in rnn_slots(config):
        w_ih, w_hh = s[layer.format("weight_ih")], s[layer.format("weight_hh")]
        b_ih, b_hh = s[layer.format("bias_ih")], s[layer.format("bias_hh")]
        if config.cell == "gru":
            w_ih, w_hh, b_ih, b_hh = (reorder_gru_gates(x) for x in (w_ih, w_hh, b_ih, b_hh))
            bias = np.stack([b_ih, b_hh])  # (2, 3H)
        else:
            bias = b_ih + b_hh  # (4H,)
        slots[slot] = [w_ih.T, w_hh.T, bias]  # (I, gH), (H, gH), bias
    for layer, has_bias in dense_slots(config):
        slots[layer] = [s[f"{layer}.weight"].T] + ([s[f"{layer}.bias"]] if has_bias else [])
    if config.tie_embeddings:
        if not np.array_equal(s["decoder.out.weight"], s["decoder.embedding.weight"]):
            raise ValueError(
                "tie_embeddings=True but decoder.out.weight differs from decoder.embedding.weight; "
                "the weights do not come from a tied model"
            )
        slots["decoder.output_bias"] = [s["decoder.out.bias"]]
    return {slot: [np.ascontiguousarray(a) for a in arrays] for slot, arrays in slots.items()}


def keras_to_canonical(slots: Mapping[str, list[np.ndarray]], config: Seq2SeqConfig) -> dict[str, np.ndarray]:
    """Canonical arrays (``Seq2Seq.state_dict()`` names) holding the Keras slot arrays ``slots``.

    Args:
        slots: as returned by :func:`canonical_to_keras` (or read from a Keras model).
        config: the architecture both sides share.

    The LSTM bias ``b_ih + b_hh`` of a Keras layer becomes ``bias_ih``, with ``bias_hh = 0``.
    """
    k = {slot: [np.asarray(a, dtype=np.float32) for a in arrays] for slot, arrays in slots.items()}
    state: dict[str, np.ndarray] = {
        "encoder.embedding.weight": k["encoder.embedding"][0],
        "decoder.embedding.weight": k["decoder.embedding"][0],
    }
    for slot, layer in rnn_slots(config):
        kernel, recurrent, bias = k[slot]
        w_ih, w_hh = kernel.T, recurrent.T  # (gH, I), (gH, H)
        if config.cell == "gru":
            w_ih, w_hh = reorder_gru_gates(w_ih), reorder_gru_gates(w_hh)
            b_ih, b_hh = reorder_gru_gates(bias[0]), reorder_gru_gates(bias[1])
        else:
            b_ih, b_hh = bias, np.zeros_like(bias)  # Keras keeps only the sum
        state[layer.format("weight_ih")], state[layer.format("weight_hh")] = w_ih, w_hh
        state[layer.format("bias_ih")], state[layer.format("bias_hh")] = b_ih, b_hh
    for layer, has_bias in dense_slots(config):
        state[f"{layer}.weight"] = k[layer][0].T
        if has_bias:
            state[f"{layer}.bias"] = k[layer][1]
    if config.tie_embeddings:
        state["decoder.out.weight"] = state["decoder.embedding.weight"]
        state["decoder.out.bias"] = k["decoder.output_bias"][0]
    return {key: np.ascontiguousarray(value) for key, value in state.items()}


__all__ = [
    "canonical_shapes",
    "canonical_to_keras",
    "check_canonical_weights",
    "keras_slot_names",
    "keras_to_canonical",
    "reorder_gru_gates",
    "weight_problems",
]
