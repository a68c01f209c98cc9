"""ONNX export: the model as an encoder graph and a one-step decoder graph, built from canonical weights.

One exporter serves both trainers: it reads the canonical arrays of :mod:`seq2seq_fit.model_format`
(what ``save_pretrained`` writes), so exporting needs ``numpy`` and ``onnx`` and no framework.
The graphs use ONNX's own ``GRU`` / ``LSTM`` operators (``linear_before_reset=1``, the PyTorch
formula; gates reordered to ONNX's ``z, r, h`` and ``i, o, f, c``), the encoder reading each row
to its length (``sequence_lens``, as PyTorch's packed sequences do), and the attention of
docs/architecture.md written with ``MatMul``, ``Softmax`` and ``Where``.

An export directory holds:

- ``config.json``, ``vocab.json`` and the tokenizer files (``tokenizer_config.json``, and a subword
  tokenizer's ``source_tokenizer.json`` / ``source.model``...): the same files as a ``save_pretrained`` directory;
- ``encoder.onnx``: ``source_ids (B, S) int64, lengths (B,) int64`` ->
  ``h (L, B, H)`` [, ``c (L, B, H)`` for an LSTM] [, ``enc (B, S, H)``, ``keys (B, S, H)``, ``mask (B, S) bool``
  with attention];
- ``decoder.onnx``: ``token (N,) int64`` and the state (the encoder's outputs, by the same names) ->
  ``logits (N, V)``, ``h_out``, [``c_out``], [``attention (N, S)``];
- ``export.json``: the format name and version, the opset, and each graph's input and output names.

A Transformer (``architecture="transformer"``) has the same two graphs with its self-attention
cache as the decoder's state inputs and outputs (:mod:`seq2seq_fit.onnx_transformer`).

Both graphs carry ``config.json``'s config and the vocabulary sizes in their metadata, so the
runtime (:mod:`seq2seq_fit.serving`) refuses graphs that do not match the directory's JSON files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seq2seq_fit.atomic_directory import add_file_list, write_directory
from seq2seq_fit.config import Seq2SeqConfig
from seq2seq_fit.model_format import CONFIG_FILE, VOCAB_FILE, json_files, load_pretrained
from seq2seq_fit.teacher_forcing import TeacherForcing
from seq2seq_fit.tokenizer import TokenizerLike
from seq2seq_fit.vocab import PAD_ID, Vocab, as_vocab
from seq2seq_fit.weight_layout import check_canonical_weights, reorder_gru_gates

#: The export format this code writes, and the versions the runtime reads.
EXPORT_FORMAT = "seq2seq-fit-onnx"
EXPORT_VERSION = 1
#: Every export version the runtime (:mod:`seq2seq_fit.serving`) reads.
SUPPORTED_VERSIONS = (1,)
ENCODER_FILE = "encoder.onnx"
DECODER_FILE = "decoder.onnx"
MANIFEST_FILE = "export.json"
EXPORT_FILES = (CONFIG_FILE, VOCAB_FILE, ENCODER_FILE, DECODER_FILE, MANIFEST_FILE)
#: ONNX opset of the graphs (``Squeeze``/``Unsqueeze`` axes as inputs need 13; onnxruntime >= 1.12 runs 17).
OPSET = 17
#: IR version matching :data:`OPSET`, so older onnxruntime releases load the files too.
IR_VERSION = 8
#: Score of padded source positions before the softmax (as both frameworks' ``masked_softmax``).
MASK_VALUE = -30000.0
#: ``LSTM_ORDER[i]``: the canonical (PyTorch ``i, f, g, o``) gate block that goes to ONNX block ``i`` (``i, o, f, c``).
LSTM_ORDER = (0, 3, 1, 2)


def onnx_gates(x: np.ndarray, cell: str) -> np.ndarray:
    """Canonical gate blocks along axis 0 in ONNX order (GRU ``r, z, n`` -> ``z, r, h``; LSTM ``i, f, g, o`` ->
    ``i, o, f, c``).

    Example:
        >>> onnx_gates(np.arange(4), "lstm").tolist(), onnx_gates(np.arange(3), "gru").tolist()
        ([0, 3, 1, 2], [1, 0, 2])
    """
    if cell == "gru":
        return reorder_gru_gates(x)
    blocks = np.split(x, 4, axis=0)
    return np.concatenate([blocks[i] for i in LSTM_ORDER], axis=0)


class GraphBuilder:
    """Collects the nodes and initializers of one graph, naming intermediate values uniquely."""

    def __init__(self, weights: Mapping[str, np.ndarray]) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.weights = weights
        self.nodes: list[Any] = []
        self.initializers: dict[str, Any] = {}
        self.count = 0

    def const(self, name: str, value: np.ndarray) -> str:
        """An initializer ``name`` holding ``value`` (created once)."""
        if name not in self.initializers:
            self.initializers[name] = self.numpy_helper.from_array(np.array(value, order="C"), name)
        return name

    def weight(self, key: str, transform: Any = None) -> str:
        """The canonical tensor ``key`` (float32), optionally transformed, as an initializer."""
        name = key if transform is None else f"{key}.onnx"
        value = np.asarray(self.weights[key], dtype=np.float32)
        return self.const(name, value if transform is None else transform(value))

    def ints(self, *values: int) -> str:
        """An int64 vector initializer (shapes, axes, indices)."""
        return self.const("i64_" + "_".join(str(v).replace("-", "m") for v in values), np.array(values, np.int64))

    def op(self, kind: str, inputs: Sequence[str], outputs: int | Sequence[str] = 1, **attrs: Any) -> Any:
        """Add node ``kind``; returns its output name (or the list of names when it has several)."""
        if isinstance(outputs, int):
            self.count += 1
            names = [f"{kind.lower()}_{self.count}_{i}" for i in range(outputs)]
        else:
            names = list(outputs)
        self.nodes.append(self.helper.make_node(kind, list(inputs), names, **attrs))
        return names[0] if len(names) == 1 else names

    def linear(self, x: str, module: str, bias: bool = True) -> str:
        """``x @ W.T (+ b)`` for the canonical linear layer ``module`` (its ``weight`` is ``(out, in)``)."""
        w = self.weight(f"{module}.weight", lambda a: a.T)  # (in, out)
        y = self.op("MatMul", [x, w])
        return self.op("Add", [y, self.weight(f"{module}.bias")]) if bias else y

    def rnn(
        self,
        cell: str,
        x: str,
        prefix: str,
        layer: int,
        units: int,
        *,
        bidirectional: bool = False,
        sequence_lens: str = "",
        initial_h: str = "",
        initial_c: str = "",
    ) -> list[str]:
        """One ONNX ``GRU``/``LSTM`` over ``x`` (T, B, I): outputs ``[Y (T, dirs, B, U), Y_h (dirs, B, U)
        (, Y_c)]``; the canonical tensors ``{prefix}.weight_ih_l{layer}`` etc., both directions when bidirectional."""
        directions = [f"l{layer}", f"l{layer}_reverse"] if bidirectional else [f"l{layer}"]
        tag = f"{prefix}.l{layer}"

        def stacked(kind: str) -> np.ndarray:
            return np.stack([onnx_gates(self.weights[f"{prefix}.{kind}_{d}"], cell) for d in directions])

        w = self.const(f"{tag}.W", stacked("weight_ih").astype(np.float32))  # (dirs, gU, I)
        r = self.const(f"{tag}.R", stacked("weight_hh").astype(np.float32))  # (dirs, gU, U)
        b = self.const(
            f"{tag}.B", np.concatenate([stacked("bias_ih"), stacked("bias_hh")], axis=1).astype(np.float32)
        )  # (dirs, 2gU)
        inputs = [x, w, r, b, sequence_lens, initial_h] + ([initial_c] if cell == "lstm" else [])
        attrs: dict[str, Any] = {"hidden_size": units, "direction": "bidirectional" if bidirectional else "forward"}
        if cell == "gru":
            attrs["linear_before_reset"] = 1
        return list(self.op(cell.upper(), inputs, 3 if cell == "lstm" else 2, **attrs))

    def attend(self, scores: str) -> tuple[str, str]:
        """Context ``(N, H)`` and weights ``(N, S)`` of attention ``scores`` ``(N, S)`` over the graph inputs
        ``enc`` and ``mask``: a softmax over the real source positions (zero at padding), then the weighted sum."""
        filled = self.op("Where", ["mask", scores, self.const("mask_value", np.array(MASK_VALUE, np.float32))])
        softmax = self.op("Softmax", [filled], axis=-1)
        weights = self.op("Mul", [softmax, self.op("Cast", ["mask"], to=self.helper.TensorProto.FLOAT)])
        context = self.op("MatMul", [self.op("Unsqueeze", [weights, self.ints(1)]), "enc"])  # (N, 1, H)
        return self.op("Squeeze", [context, self.ints(1)]), weights

    def model(self, name: str, inputs: list[Any], outputs: list[Any], metadata: Mapping[str, str]) -> Any:
        """The checked ``ModelProto`` of the collected graph."""
        import onnx

        graph = self.helper.make_graph(self.nodes, name, inputs, outputs, list(self.initializers.values()))
        model = self.helper.make_model(
            graph, opset_imports=[self.helper.make_opsetid("", OPSET)], producer_name="seq2seq-fit"
        )
        model.ir_version = IR_VERSION
        self.helper.set_model_props(model, dict(metadata))
        onnx.checker.check_model(model, full_check=True)
        return model


def tensor(name: str, elem: Any, shape: Sequence[Any]) -> Any:
    """A graph input/output declaration."""
    from onnx import helper

    return helper.make_tensor_value_info(name, elem, list(shape))


#: The state inputs of the decoder graph, batch on axis 1 (the memory inputs have it first): an RNN's ``h``
#: (and ``c``) ``(L, N, H)``, a Transformer's self-attention cache ``(L, N, NH, T, D)``
#: (:mod:`seq2seq_fit.onnx_transformer`).
STATE_NAMES = ("h", "c", "self_keys", "self_values")


def state_names(config: Seq2SeqConfig) -> list[str]:
    """The state the decoder carries: ``h`` (and ``c`` for an LSTM), or a Transformer's cache."""
    if config.architecture == "transformer":
        return list(STATE_NAMES[2:])
    return list(STATE_NAMES[:2] if config.cell == "lstm" else STATE_NAMES[:1])


def memory_names(config: Seq2SeqConfig) -> list[str]:
    """What the decoder step reads from the encoder besides the state (nothing without attention)."""
    if config.architecture == "transformer":
        return ["cross_keys", "mask"]
    return [] if config.attention == "none" else ["enc", "keys", "mask"]


def build_encoder(config: Seq2SeqConfig, weights: Mapping[str, np.ndarray], metadata: Mapping[str, str]) -> Any:
    """The encoder graph: source ids and lengths -> the decoder's initial state and memory."""
    from onnx import TensorProto

    c, g = config, GraphBuilder(weights)
    h, layers, units = c.hidden_size, c.num_layers, c.encoder_units
    mask = g.op("Not", [g.op("Equal", ["source_ids", g.const("pad_id", np.array(PAD_ID, np.int64))])], ["mask"])
    emb = g.op("Gather", [g.weight("encoder.embedding.weight"), "source_ids"])  # (B, S, E)
    x = g.op("Transpose", [emb], perm=[1, 0, 2])  # (S, B, E)
    one = g.const("one_i64", np.array(1, np.int64))
    lens = g.op("Cast", [g.op("Max", ["lengths", one])], to=TensorProto.INT32)  # (B,), an empty row reads one pad
    dirs = 2 if c.bidirectional else 1
    final = ""
    for k in range(layers):
        outs = g.rnn(c.cell, x, "encoder.rnn", k, units, bidirectional=c.bidirectional, sequence_lens=lens)
        y, final = outs[0], outs[1]  # (S, dirs, B, U), (dirs, B, U)
        x = g.op("Reshape", [g.op("Transpose", [y], perm=[0, 2, 1, 3]), g.ints(0, 0, dirs * units)])  # (S, B, H)
    maskf = g.op("Cast", [mask], to=TensorProto.FLOAT)  # (B, S)
    enc = g.op("Mul", [g.op("Transpose", [x], perm=[1, 0, 2]), g.op("Unsqueeze", [maskf, g.ints(2)])])  # (B, S, H)
    summary = g.op("Reshape", [g.op("Transpose", [final], perm=[1, 0, 2]), g.ints(0, dirs * units)])  # (B, H)
    bridged = g.op("Tanh", [g.linear(summary, "bridge")])  # (B, L * H)
    g.op("Transpose", [g.op("Reshape", [bridged, g.ints(0, layers, h)])], ["h"], perm=[1, 0, 2])  # (L, B, H)
    if c.cell == "lstm":
        g.op("Sub", ["h", "h"], ["c"])  # zeros (L, B, H)
    outputs = [tensor(name, TensorProto.FLOAT, [layers, "B", h]) for name in state_names(c)]
    if c.attention != "none":
        g.op("Identity", [enc], ["enc"])
        if c.attention == "bahdanau":
            g.op("Identity", [g.linear("enc", "decoder.attention.w1", bias=False)], ["keys"])
        elif c.luong_score == "general":
            g.op("Identity", [g.linear("enc", "decoder.attention.w_a", bias=False)], ["keys"])
        else:
            g.op("Identity", ["enc"], ["keys"])
        outputs += [
            tensor("enc", TensorProto.FLOAT, ["B", "S", h]),
            tensor("keys", TensorProto.FLOAT, ["B", "S", h]),
            tensor("mask", TensorProto.BOOL, ["B", "S"]),
        ]
    inputs = [tensor("source_ids", TensorProto.INT64, ["B", "S"]), tensor("lengths", TensorProto.INT64, ["B"])]
    return g.model("seq2seq_fit_encoder", inputs, outputs, metadata)


def build_decoder(
    config: Seq2SeqConfig, weights: Mapping[str, np.ndarray], tgt_vocab_size: int, metadata: Mapping[str, str]
) -> Any:
    """The one-step decoder graph: previous token and state -> logits, new state, attention weights."""
    from onnx import TensorProto

    c, g = config, GraphBuilder(weights)
    h, layers = c.hidden_size, c.num_layers
    x = g.op("Gather", [g.weight("decoder.embedding.weight"), "token"])  # (N, E)

    weights_out = ""
    if c.attention == "bahdanau":
        top = g.op("Gather", ["h", g.const("top_layer", np.array(layers - 1, np.int64))], axis=0)  # (N, H)
        query = g.linear(top, "decoder.attention.w2")  # (N, H)
        energy = g.op("Tanh", [g.op("Add", ["keys", g.op("Unsqueeze", [query, g.ints(1)])])])  # (N, S, H)
        scores = g.op(
            "Squeeze", [g.op("MatMul", [energy, g.weight("decoder.attention.v.weight", lambda a: a.T)]), g.ints(2)]
        )  # (N, S)
        context, weights_out = g.attend(scores)
        x = g.op("Concat", [x, context], axis=-1)  # (N, E + H)
    layer_in = g.op("Unsqueeze", [x, g.ints(0)])  # (1, N, I)
    finals: dict[str, list[str]] = {name: [] for name in state_names(c)}
    for k in range(layers):

        def layer_state(name: str, k: int = k) -> str:
            return str(g.op("Slice", [name, g.ints(k), g.ints(k + 1), g.ints(0)]))  # (1, N, H)

        outs = g.rnn(
            c.cell,
            layer_in,
            "decoder.rnn",
            k,
            h,
            initial_h=layer_state("h"),
            initial_c=layer_state("c") if c.cell == "lstm" else "",
        )
        layer_in = g.op("Squeeze", [outs[0], g.ints(1)])  # (1, N, H)
        for name, value in zip(state_names(c), outs[1:], strict=True):
            finals[name].append(value)
    for name, values in finals.items():
        g.op("Concat", values, [f"{name}_out"], axis=0) if len(values) > 1 else g.op(
            "Identity", values, [f"{name}_out"]
        )
    top_out = g.op("Squeeze", [layer_in, g.ints(0)])  # (N, H)
    pre = top_out
    if c.attention == "luong":
        scores = g.op("Squeeze", [g.op("MatMul", ["keys", g.op("Unsqueeze", [top_out, g.ints(2)])]), g.ints(2)])
        context, weights_out = g.attend(scores)  # (N, H), (N, S)
        combined = g.op("Concat", [context, top_out], axis=-1)  # (N, 2H)
        pre = g.op("Tanh", [g.linear(combined, "decoder.attention.w_c", bias=False)])
    out_weight = "decoder.embedding.weight" if c.tie_embeddings else "decoder.out.weight"
    g.op("Gemm", [pre, g.weight(out_weight), g.weight("decoder.out.bias")], ["logits"], transB=1)  # (N, V)
    inputs = [tensor("token", TensorProto.INT64, ["N"])]
    inputs += [tensor(name, TensorProto.FLOAT, [layers, "N", h]) for name in state_names(c)]
    outputs = [tensor("logits", TensorProto.FLOAT, ["N", tgt_vocab_size])]
    outputs += [tensor(f"{name}_out", TensorProto.FLOAT, [layers, "N", h]) for name in state_names(c)]
    if c.attention != "none":
        inputs += [
            tensor("enc", TensorProto.FLOAT, ["N", "S", h]),
            tensor("keys", TensorProto.FLOAT, ["N", "S", h]),
            tensor("mask", TensorProto.BOOL, ["N", "S"]),
        ]
        g.op("Identity", [weights_out], ["attention"])
        outputs.append(tensor("attention", TensorProto.FLOAT, ["N", "S"]))
    return g.model("seq2seq_fit_decoder_step", inputs, outputs, metadata)


def graph_metadata(config: Seq2SeqConfig, src_vocab_size: int, tgt_vocab_size: int) -> dict[str, str]:
    """What each graph records about the model it was built from (the runtime checks it against the JSON files)."""
    return {
        "seq2seq_fit.format": EXPORT_FORMAT,
        "seq2seq_fit.format_version": str(EXPORT_VERSION),
        "seq2seq_fit.config": json.dumps(config.to_dict(), sort_keys=True),
        "seq2seq_fit.src_vocab_size": str(src_vocab_size),
        "seq2seq_fit.tgt_vocab_size": str(tgt_vocab_size),
    }


def io_names(model: Any) -> dict[str, list[str]]:
    """A graph's input and output names, for ``export.json``."""
    return {"inputs": [i.name for i in model.graph.input], "outputs": [o.name for o in model.graph.output]}


def export_onnx(
    directory: str | os.PathLike[str],
    *,
    config: Seq2SeqConfig,
    teacher_forcing: TeacherForcing,
    src_vocab: Vocab | Sequence[str],
    tgt_vocab: Vocab | Sequence[str],
    weights: Mapping[str, np.ndarray],
    extra: Mapping[str, Any] | None = None,
    src_tokenizer: TokenizerLike = None,
    tgt_tokenizer: TokenizerLike = None,
) -> Path:
    """Write an ONNX export directory (created if needed), all or nothing (as ``save_pretrained``).

    Takes the keywords of :func:`seq2seq_fit.model_format.save_pretrained`, which is what
    ``LitSeq2Seq.export_onnx`` and ``Seq2SeqModel.export_onnx`` pass. :class:`seq2seq_fit.serving.OnnxTranslator`
    runs the result with onnxruntime.

    Args:
        directory: the export directory.
        config, teacher_forcing, src_vocab, tgt_vocab, weights, extra, src_tokenizer, tgt_tokenizer: the
            model, as for ``save_pretrained``.

    Returns:
        The directory.

    Raises:
        ValueError: ``weights`` do not fit the config and vocabulary sizes (naming each tensor).
        ImportError: ``onnx`` is not installed (``pip install seq2seq-fit[serve]``).

    Example:
        >>> import tempfile
        >>> from seq2seq_fit.weight_layout import canonical_shapes
        >>> config, tokens = Seq2SeqConfig(hidden_size=4, embedding_dim=2), ["<pad>", "<bos>", "<eos>", "<unk>", "a"]
        >>> weights = {k: np.zeros(s, np.float32) for k, s in canonical_shapes(config, 5, 5).items()}
        >>> out = export_onnx(tempfile.mkdtemp(), config=config, teacher_forcing=TeacherForcing(),
        ...                   src_vocab=tokens, tgt_vocab=tokens, weights=weights)
        >>> sorted(os.listdir(out))
        ['config.json', 'decoder.onnx', 'encoder.onnx', 'export.json', 'tokenizer_config.json', 'vocab.json']
    """
    try:
        import onnx
    except ImportError as err:
        raise ImportError(
            "export_onnx needs the onnx package: pip install 'seq2seq-fit[serve]' (or pip install onnx)"
        ) from err
    src, tgt = as_vocab(src_vocab), as_vocab(tgt_vocab)
    arrays = {key: np.asarray(value, dtype=np.float32) for key, value in weights.items()}
    check_canonical_weights(arrays, config, len(src), len(tgt))
    texts = json_files(config, teacher_forcing, src, tgt, extra, src_tokenizer, tgt_tokenizer)  # checks before work
    metadata = graph_metadata(config, len(src), len(tgt))
    if config.architecture == "transformer":
        from seq2seq_fit.onnx_transformer import build_transformer_decoder, build_transformer_encoder

        encoder = build_transformer_encoder(config, arrays, metadata)
        decoder = build_transformer_decoder(config, arrays, len(tgt), metadata)
    else:
        encoder = build_encoder(config, arrays, metadata)
        decoder = build_decoder(config, arrays, len(tgt), metadata)
    manifest = {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_VERSION,
        "opset": OPSET,
        "encoder": {"file": ENCODER_FILE, **io_names(encoder)},
        "decoder": {"file": DECODER_FILE, **io_names(decoder)},
        "state": state_names(config),
        "memory": memory_names(config),
    }
    config_text = texts.pop(CONFIG_FILE)
    return write_directory(
        directory,
        {
            ENCODER_FILE: lambda path: onnx.save_model(encoder, os.fspath(path)),
            DECODER_FILE: lambda path: onnx.save_model(decoder, os.fspath(path)),
            MANIFEST_FILE: json.dumps(manifest, indent=2) + "\n",
            **texts,
        },
        index=CONFIG_FILE,
        index_content=lambda files: add_file_list(config_text, files),
        writer="export_onnx",
    )


def export_pretrained(model_directory: str | os.PathLike[str], directory: str | os.PathLike[str]) -> Path:
    """Export the ``save_pretrained`` directory ``model_directory`` (from either trainer) to ``directory``.

    Raises:
        ModelFormatError: ``model_directory`` is not a readable model directory (naming the file).
    """
    saved = load_pretrained(model_directory)
    return export_onnx(
        directory,
        config=saved.config,
        teacher_forcing=saved.teacher_forcing,
        src_vocab=saved.src_vocab,
        tgt_vocab=saved.tgt_vocab,
        weights=saved.weights,
        extra=saved.extra,
        src_tokenizer=saved.src_tokenizer,
        tgt_tokenizer=saved.tgt_tokenizer,
    )


__all__ = [
    "DECODER_FILE",
    "ENCODER_FILE",
    "EXPORT_FILES",
    "EXPORT_FORMAT",
    "EXPORT_VERSION",
    "MANIFEST_FILE",
    "export_onnx",
    "export_pretrained",
]
