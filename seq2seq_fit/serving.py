"""Run an ONNX export with onnxruntime and numpy only: no torch, TensorFlow, Keras or onnx needed.

:class:`OnnxTranslator` reads a directory written by :func:`seq2seq_fit.onnx_export.export_onnx`
(``LitSeq2Seq.export_onnx``, ``Seq2SeqModel.export_onnx``, ``lit-seq2seq export``,
``keras-seq2seq export`` or ``seq2seq-fit export``) and decodes with the same driver and search as
the two frameworks' ``translate`` (:mod:`seq2seq_fit.translate`, :mod:`seq2seq_fit.search`): the
encoder graph runs once per batch, the decoder graph once per output token (times the beam).

Example:
    >>> import tempfile
    >>> from seq2seq_fit import Seq2SeqConfig, TeacherForcing
    >>> from seq2seq_fit.onnx_export import export_onnx
    >>> from seq2seq_fit.weight_layout import canonical_shapes
    >>> config, tokens = Seq2SeqConfig(hidden_size=4, embedding_dim=2), ["<pad>", "<bos>", "<eos>", "<unk>", "a"]
    >>> rng = np.random.default_rng(0)
    >>> weights = {k: rng.normal(size=s).astype(np.float32) for k, s in canonical_shapes(config, 5, 5).items()}
    >>> directory = export_onnx(tempfile.mkdtemp(), config=config, teacher_forcing=TeacherForcing(),
    ...                         src_vocab=tokens, tgt_vocab=tokens, weights=weights)
    >>> outputs = OnnxTranslator(directory).translate(["a a", "a"], strategy="beam", beam_width=2, max_length=3)
    >>> [len(output) <= 3 for output in outputs]
    [True, True]
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from seq2seq_fit.atomic_directory import check_listed_files
from seq2seq_fit.config import Seq2SeqConfig
from seq2seq_fit.errors import ModelFormatError, shown
from seq2seq_fit.model_format import (
    CONFIG_FILE,
    VOCAB_FILE,
    check_directory,
    read_config,
    read_json,
    read_tokenizers,
    read_vocab,
)
from seq2seq_fit.onnx_export import (  # constants only: that module imports onnx inside its functions alone
    DECODER_FILE,
    ENCODER_FILE,
    EXPORT_FILES,
    EXPORT_FORMAT,
    MANIFEST_FILE,
    STATE_NAMES,
    SUPPORTED_VERSIONS,
)
from seq2seq_fit.onnx_weights import ProtobufError, non_finite_initializer
from seq2seq_fit.pretrained import Translator
from seq2seq_fit.teacher_forcing import TeacherForcing
from seq2seq_fit.untrusted import MAX_LISTED, one_line
from seq2seq_fit.vocab import BOS_ID, UNK_ID, Vocab

#: ``name -> array``: the decoder graph's inputs other than ``token``.
State = dict[str, np.ndarray]


def check_export_directory(directory: str | os.PathLike[str]) -> Path:
    """``directory`` as a path, after checking that it holds every file of an export.

    Raises:
        ModelFormatError: naming the path: not a directory, a ``save_pretrained`` directory (not
            exported yet), or files missing.
    """
    root = Path(directory)
    if root.is_dir() and (root / "model.safetensors").is_file() and not (root / ENCODER_FILE).is_file():
        raise ModelFormatError(
            f"{root}: a save_pretrained model directory, not an ONNX export; export it first: "
            f"seq2seq-fit export --model {root} --out EXPORT_DIR"
        )
    check_directory(root, EXPORT_FILES, kind="an ONNX export directory", writer="export_onnx (or `seq2seq-fit export`)")
    manifest = read_json(root / MANIFEST_FILE)
    version = manifest.get("format_version")
    if manifest.get("format") != EXPORT_FORMAT or type(version) is not int or version not in SUPPORTED_VERSIONS:
        raise ModelFormatError(
            f"{root / MANIFEST_FILE}: format {shown(manifest.get('format'), 40)} version {shown(version, 40)} "
            f"is not supported; this version of seq2seq-fit reads {EXPORT_FORMAT!r} version "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))}"
        )
    for part, file in (("encoder", ENCODER_FILE), ("decoder", DECODER_FILE)):
        graph = manifest.get(part)
        if (
            not isinstance(graph, dict)
            or graph.get("file") != file
            or not all(
                isinstance(graph.get(key), list) and all(isinstance(name, str) for name in graph[key])
                for key in ("inputs", "outputs")
            )
        ):
            raise ModelFormatError(
                f"{root / MANIFEST_FILE}: {part!r} is {shown(graph)}, expected {{'file': {file!r}, 'inputs': [names], "
                "'outputs': [names]}; export again"
            )
    return root


def session(path: Path, threads: int | None, providers: list[Any] | None) -> Any:
    """An onnxruntime session of the graph ``path``; ``ModelFormatError`` if onnxruntime cannot load it."""
    try:
        import onnxruntime as ort
    except ImportError as err:
        raise ImportError(
            "OnnxTranslator needs the onnxruntime package: pip install 'seq2seq-fit[serve]' (or onnxruntime alone)"
        ) from err

    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(
            os.fspath(path), sess_options=options, providers=providers or ["CPUExecutionProvider"]
        )
    except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph/... types
        first = next((line for line in str(err).splitlines() if line.strip()), "")  # the rest: a dump of the graph
        first = re.sub(r"Load model from .*? failed:", "", first, count=1)  # the path is named already
        first = re.sub(r"\S+\.(?:cc|cpp|h):\d+ [^()]*\((?:[^()]|\([^()]*\))*\) ", "", first, count=1)  # C++ source
        raise ModelFormatError(
            f"{path}: onnxruntime cannot load it ({type(err).__name__}: {one_line(first, 200)}); export again"
        ) from err


def run_graph(sess: Any, path: Path | None, outputs: list[str], feeds: dict[str, np.ndarray]) -> list[Any]:
    """``sess.run(outputs, feeds)``; an onnxruntime error (a graph whose shapes do not fit its export) becomes one
    ``ModelFormatError`` line naming the graph ``path``."""
    try:
        return sess.run(outputs, feeds)  # type: ignore[no-any-return]
    except Exception as err:
        if not type(err).__module__.startswith("onnxruntime"):
            raise
        first = next((line for line in str(err).splitlines() if line.strip()), "")
        raise ModelFormatError(
            f"{path or 'the graph'}: onnxruntime cannot run it ({type(err).__name__}: {one_line(first, 200)}); "
            "export again"
        ) from err


def check_metadata(
    path: Path, sess: Any, config: Seq2SeqConfig, src_vocab: Vocab, tgt_vocab: Vocab, directory: Path
) -> None:
    """Raise ``ModelFormatError`` unless the graph ``path`` was exported from the directory's config and
    vocabularies."""
    meta = sess.get_modelmeta().custom_metadata_map
    if meta.get("seq2seq_fit.format") != EXPORT_FORMAT:
        raise ModelFormatError(f"{path}: not a graph exported by seq2seq-fit (no {EXPORT_FORMAT!r} metadata)")
    text = meta.get("seq2seq_fit.config", "{}")
    try:
        graph_config = json.loads(text) if len(text) <= MAX_METADATA_CHARS else None
    except (ValueError, RecursionError):  # malformed, or nested past the interpreter's depth
        graph_config = None
    if not isinstance(graph_config, dict):
        raise ModelFormatError(
            f"{path}: its 'seq2seq_fit.config' metadata is {shown(text)}, expected the JSON object of a config; "
            "export again"
        )
    if graph_config != config.to_dict():
        differ = sorted(
            k for k in set(graph_config) | set(config.to_dict()) if graph_config.get(k) != getattr(config, k, None)
        )
        shown_differ = differ[:MAX_LISTED]
        raise ModelFormatError(
            f"{path}: exported from another model than {directory / CONFIG_FILE} describes (they differ in "
            f"{', '.join(one_line(k, 40) for k in shown_differ)}: graph "
            f"{', '.join(f'{one_line(k, 40)}={shown(graph_config.get(k), 40)}' for k in shown_differ)}"
            f"{f' and {len(differ) - MAX_LISTED} more' if len(differ) > MAX_LISTED else ''}); export again"
        )
    for key, vocab, side in (("src_vocab_size", src_vocab, "source"), ("tgt_vocab_size", tgt_vocab, "target")):
        size = meta.get(f"seq2seq_fit.{key}")
        if size != str(len(vocab)):
            raise ModelFormatError(
                f"{path}: built for a {side} vocabulary of {one_line(str(size), 40)} tokens, but "
                f"{directory / VOCAB_FILE} has {len(vocab)}; export again"
            )


#: Longest ``seq2seq_fit.config`` metadata text a graph may carry (a config is a few hundred characters).
MAX_METADATA_CHARS = 64 * 1024
#: onnxruntime's spelling of the element types of the graphs' inputs and outputs.
INT64, FLOAT, BOOL = "tensor(int64)", "tensor(float)", "tensor(bool)"

#: ``name -> (element type, dims)``: dims are ints the directory's JSON files fix, ``None`` where they vary.
Spec = dict[str, tuple[str, tuple[int | None, ...]]]


def graph_specs(config: Seq2SeqConfig, tgt_vocab_size: int) -> dict[str, tuple[Spec, Spec]]:
    """What each graph must take and give (its ``(inputs, outputs)``) for ``config`` and a target vocabulary
    of ``tgt_vocab_size`` tokens: the names, element types, ranks and the widths the JSON files fix."""
    layers, hidden = config.num_layers, config.hidden_size
    if config.architecture == "transformer":
        return transformer_graph_specs(config, tgt_vocab_size)
    state = {name: (FLOAT, (layers, None, hidden)) for name in STATE_NAMES[: 2 if config.cell == "lstm" else 1]}
    memory: Spec = {}
    if config.attention != "none":
        memory = {name: (FLOAT, (None, None, hidden)) for name in ("enc", "keys")}
        memory["mask"] = (BOOL, (None, None))
    encoder_in: Spec = {"source_ids": (INT64, (None, None)), "lengths": (INT64, (None,))}
    decoder_out: Spec = {"logits": (FLOAT, (None, tgt_vocab_size)), **{f"{k}_out": v for k, v in state.items()}}
    if config.attention != "none":
        decoder_out["attention"] = (FLOAT, (None, None))
    return {
        ENCODER_FILE: (encoder_in, {**state, **memory}),
        DECODER_FILE: ({"token": (INT64, (None,)), **state, **memory}, decoder_out),
    }


def transformer_graph_specs(config: Seq2SeqConfig, tgt_vocab_size: int) -> dict[str, tuple[Spec, Spec]]:
    """:func:`graph_specs` of a Transformer: the cache ``(L, N, NH, T, D)`` (empty, ``T = 0``, from the encoder),
    the cross-attention keys and values ``(N, L, 2, NH, S, D)`` and the mask."""
    layers, heads = config.num_layers, config.num_heads
    d = config.hidden_size // heads
    names = STATE_NAMES[2:]
    first: Spec = {name: (FLOAT, (layers, None, heads, 0, d)) for name in names}
    cache: Spec = {name: (FLOAT, (layers, None, heads, None, d)) for name in names}
    memory: Spec = {"cross_keys": (FLOAT, (None, layers, 2, heads, None, d)), "mask": (BOOL, (None, None))}
    encoder_in: Spec = {"source_ids": (INT64, (None, None)), "lengths": (INT64, (None,))}
    decoder_out: Spec = {"logits": (FLOAT, (None, tgt_vocab_size)), **{f"{k}_out": v for k, v in cache.items()}}
    decoder_out["attention"] = (FLOAT, (None, None))
    return {
        ENCODER_FILE: (encoder_in, {**first, **memory}),
        DECODER_FILE: ({"token": (INT64, (None,)), **cache, **memory}, decoder_out),
    }


def describe_dims(dims: tuple[int | None, ...]) -> str:
    """``(2, N, 12)`` for dims ``(2, None, 12)``."""
    return "(" + ", ".join("N" if d is None else str(d) for d in dims) + ")"


def check_io(path: Path, sess: Any, specs: dict[str, tuple[Spec, Spec]], vocab_file: Path) -> None:
    """Raise ``ModelFormatError`` unless the declared inputs and outputs of the graph ``path`` are
    ``specs[path.name]`` (:func:`graph_specs`): names, element types, ranks, and every width the graph fixes."""
    other = DECODER_FILE if path.name == ENCODER_FILE else ENCODER_FILE
    for side, kind, args in ((0, "inputs", sess.get_inputs()), (1, "outputs", sess.get_outputs())):
        spec = specs[path.name][side]
        names = sorted(arg.name for arg in args)
        if names != sorted(spec):
            swapped = names == sorted(specs[other][side])
            raise ModelFormatError(
                f"{path}: {kind} {shown(names, 120)}, expected {sorted(spec)}"
                + (f" (it is the {other} graph: the two are swapped)" if swapped else "")
                + "; export again"
            )
        for arg in args:
            element, dims = spec[arg.name]
            shape = None if arg.shape is None else list(arg.shape)
            fits = (
                shape is not None
                and len(shape) == len(dims)
                and all(
                    want in (None, got) or not isinstance(got, int)  # each width the graph fixes is the one wanted
                    for got, want in zip(shape, dims, strict=True)
                )
            )
            if arg.type != element or not fits:
                why = f" (the target vocabulary of {vocab_file} has {dims[1]} tokens)" if arg.name == "logits" else ""
                raise ModelFormatError(
                    f"{path}: {kind[:-1]} {arg.name!r} is {arg.type} {shown(shape, 60)}, expected {element} "
                    f"{describe_dims(dims)}{why}; export again"
                )


def check_initializers(path: Path) -> None:
    """Raise ``ModelFormatError`` naming the first float initializer of the graph ``path`` that holds NaN or
    infinite values (read with numpy from a memory map: :mod:`seq2seq_fit.onnx_weights`)."""
    try:
        name = non_finite_initializer(path)
    except (ProtobufError, OSError) as err:
        raise ModelFormatError(
            f"{path}: cannot read its initializers ({one_line(str(err), 200)}); export again"
        ) from err
    if name is not None:
        raise ModelFormatError(
            f"{path}: initializer {shown(name)} holds NaN or infinite values; export a model with finite weights"
        )


class OnnxStepDecoder:
    """The two graphs of an export as the core's ``StepDecoder`` (numpy arrays in and out).

    Args:
        encoder, decoder: onnxruntime sessions of ``encoder.onnx`` and ``decoder.onnx``.
        has_attention: whether the decoder returns attention weights.
        vocab_size: the target vocabulary's size: a step whose logits are not ``(N, vocab_size)`` raises
            ``ModelFormatError`` naming ``path`` (``None``: not checked).
        path: the decoder graph's file, for that error.
    """

    def __init__(
        self, encoder: Any, decoder: Any, has_attention: bool, vocab_size: int | None = None, path: Path | None = None
    ) -> None:
        self.encoder, self.decoder = encoder, decoder
        self.has_attention = has_attention
        self.vocab_size, self.path = vocab_size, path
        self.encoder_path = path.with_name("encoder.onnx") if path is not None else None
        self.state_inputs = [i.name for i in decoder.get_inputs() if i.name != "token"]
        self.recurrent = [name for name in STATE_NAMES if name in self.state_inputs]  # h (and c), or the cache
        # what each step fetches: logits and the new recurrent state, and the attention weights only when asked
        self.step_outputs = ["logits", *(f"{name}_out" for name in self.recurrent)]
        self.encoder_outputs = [o.name for o in encoder.get_outputs()]

    def start(self, source_ids: np.ndarray, lengths: np.ndarray) -> State:
        """Run the encoder on ``source_ids`` (B, S) with ``lengths`` (B,); the decoder's first state."""
        feeds = {
            "source_ids": np.ascontiguousarray(source_ids, dtype=np.int64),
            "lengths": np.ascontiguousarray(lengths, dtype=np.int64),
        }
        outputs = run_graph(self.encoder, self.encoder_path, self.encoder_outputs, feeds)
        values = dict(zip(self.encoder_outputs, outputs, strict=True))
        return {name: values[name] for name in self.state_inputs}

    def step(self, tokens: np.ndarray, state: State, *, attention: bool = True) -> tuple[np.ndarray, State, Any]:
        """One decoder step from ``tokens`` (N,): ``(logits (N, V), new state, attention (N, S) or None)``."""
        feeds = {"token": np.ascontiguousarray(tokens, dtype=np.int64), **state}
        wanted = attention and self.has_attention
        fetched = run_graph(
            self.decoder, self.path, [*self.step_outputs, "attention"] if wanted else self.step_outputs, feeds
        )
        if self.vocab_size is not None and np.shape(fetched[0]) != (len(tokens), self.vocab_size):
            raise ModelFormatError(
                f"{self.path}: gave logits of shape {np.shape(fetched[0])} for {len(tokens)} tokens, expected "
                f"({len(tokens)}, {self.vocab_size}): one score per target token; export again"
            )
        new_state = {**state, **dict(zip(self.recurrent, fetched[1 : 1 + len(self.recurrent)], strict=True))}
        return fetched[0], new_state, fetched[-1] if wanted else None

    def reorder(self, state: State, index: np.ndarray) -> State:
        """The rows ``index`` (N',) of the state (axis 1 of ``h``/``c`` or the cache, axis 0 of the memory)."""
        return {name: np.take(value, index, axis=1 if name in STATE_NAMES else 0) for name, value in state.items()}


def probe(decoder: OnnxStepDecoder, root: Path, specs: dict[str, tuple[Spec, Spec]]) -> None:
    """Run the encoder on a one-token source and one decoder step; ``ModelFormatError`` unless both run and
    every array has the shape :func:`graph_specs` fixes (one row) and the logits are finite."""
    try:
        state = decoder.start(np.array([[UNK_ID]], dtype=np.int64), np.array([1], dtype=np.int64))
        logits, new_state, attention = decoder.step(np.array([BOS_ID], dtype=np.int64), state, attention=True)
    except ModelFormatError:
        raise
    except Exception as err:  # onnxruntime's own errors: the graphs do not fit together
        raise ModelFormatError(
            f"{root}: its graphs do not run together ({type(err).__name__}: {shown(str(err), 160)}); export again"
        ) from err
    produced = {
        ENCODER_FILE: state,
        DECODER_FILE: {"logits": logits, **{f"{k}_out": v for k, v in new_state.items() if k in STATE_NAMES}},
    }
    if attention is not None:
        produced[DECODER_FILE]["attention"] = attention
    for name, arrays in produced.items():
        for key, value in arrays.items():
            dims = specs[name][1][key][1]
            want = tuple(1 if d is None else d for d in dims)
            if np.shape(value) != want:
                raise ModelFormatError(
                    f"{root / name}: gave {key!r} of shape {np.shape(value)} for one source token, expected {want}; "
                    "export again"
                )
    if not np.isfinite(logits).all():
        raise ModelFormatError(
            f"{root / DECODER_FILE}: gave NaN or infinite logits; export a model with finite weights"
        )


class OnnxTranslator(Translator):
    """Translate with an ONNX export: what ``LitSeq2Seq.translate`` and ``Seq2SeqModel.translate`` do,
    with onnxruntime and numpy only.

    Args:
        directory: an export directory (``config.json``, ``vocab.json``, ``encoder.onnx``,
            ``decoder.onnx``, ``export.json``).
        threads: onnxruntime intra-op threads (``None``: its default, every core).
        providers: onnxruntime execution providers (``None``: the CPU).

    Attributes:
        config, teacher_forcing, src_vocab, tgt_vocab: the exported model's, from the directory.
        src_tokenizer, tgt_tokenizer: its tokenizers, from ``tokenizer_config.json`` (whitespace for an
            export without it); a subword tokenizer needs its package (``tokenizers`` or ``sentencepiece``).

    Raises:
        ModelFormatError: the directory is not an export or a file is missing or malformed, or the
            graphs were exported from another config or vocabulary than the JSON files describe;
            the message names the path.
    """

    def __init__(
        self, directory: str | os.PathLike[str], *, threads: int | None = None, providers: list[Any] | None = None
    ) -> None:
        root = check_export_directory(directory)
        self.directory = root
        self.config: Seq2SeqConfig
        self.teacher_forcing: TeacherForcing
        self.config, self.teacher_forcing, self.extra = read_config(root / CONFIG_FILE)
        self.src_vocab, self.tgt_vocab = read_vocab(root / VOCAB_FILE)
        self.src_tokenizer, self.tgt_tokenizer = read_tokenizers(root)
        sessions = []
        specs = graph_specs(self.config, len(self.tgt_vocab))
        for name in (ENCODER_FILE, DECODER_FILE):
            sess = session(root / name, threads, providers)
            check_io(root / name, sess, specs, root / VOCAB_FILE)
            check_initializers(root / name)
            check_metadata(root / name, sess, self.config, self.src_vocab, self.tgt_vocab, root)
            sessions.append(sess)
        check_listed_files(root, CONFIG_FILE, writer="export_onnx", required=EXPORT_FILES)
        has_attention = self.config.attention != "none"
        self.decoder = OnnxStepDecoder(
            sessions[0], sessions[1], has_attention, len(self.tgt_vocab), root / DECODER_FILE
        )
        probe(self.decoder, root, specs)

    def step_decoder(self) -> contextlib.nullcontext[OnnxStepDecoder]:
        """The two graphs as the core's ``StepDecoder``, for the ``translate`` of :class:`Translator`."""
        return contextlib.nullcontext(self.decoder)

    def logits(self, source_ids: np.ndarray, lengths: np.ndarray, target_in: np.ndarray) -> np.ndarray:
        """Teacher-forced logits (B, T, V) of decoder inputs ``target_in`` (B, T), one decoder step per column
        (what the frameworks' ``forward`` returns in eval mode)."""
        state = self.decoder.start(source_ids, lengths)
        steps = []
        for t in range(np.shape(target_in)[1]):
            logits, state, _ = self.decoder.step(np.asarray(target_in)[:, t], state, attention=False)
            steps.append(logits)
        return np.stack(steps, 1)

    def __repr__(self) -> str:
        return f"OnnxTranslator({os.fspath(self.directory)!r})"


__all__ = ["OnnxStepDecoder", "OnnxTranslator", "check_export_directory"]
