"""``Seq2SeqModel.export``: a TensorFlow SavedModel whose default endpoint is greedy decoding.

Keras' own ``Model.export`` traces ``call`` (teacher-forced logits from source *and* target ids),
which is neither what a server needs nor something Keras can trace without a forward pass first.
:func:`export_saved_model` writes instead, with Keras' ``ExportArchive``, one endpoint ``serve``
(also the ``serving_default`` signature) over :meth:`Seq2Seq.generate`, the network's compiled
greedy loop, followed by :func:`finish_ids`. The vocabularies travel with it, as string variables
``src_vocab`` / ``tgt_vocab`` and as ``assets.extra/vocab.json`` and ``assets.extra/config.json``
(the files of ``save_pretrained``). The artifact needs only TensorFlow to run::

    import tensorflow as tf
    served = tf.saved_model.load(path)
    ids = served.serve(tf.constant([[5, 6, 7], [8, 9, 0]]))  # (B, S) int32, 0-padded -> (B, L) int32
    ids = served.signatures["serving_default"](source=...)["output_0"]  # the same, for TF Serving
    target_tokens = [t.decode() for t in served.tgt_vocab[0].numpy()]  # id -> token
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
from keras import ops
from seq2seq_fit.atomic_directory import replace_directory
from seq2seq_fit.decoding import length_budget
from seq2seq_fit.model_format import json_files, write_json_files
from seq2seq_fit.vocab import EOS_ID

if TYPE_CHECKING:
    from keras_seq2seq.seq2seq import Seq2Seq
    from keras_seq2seq.system import Seq2SeqModel

ENDPOINT = "serve"
"""Name of the endpoint (Keras' default); the ``serving_default`` signature is the same function."""
EXTRA_DIRECTORY = "assets.extra"
"""The SavedModel's folder for files that loaders ignore: ``vocab.json`` and ``config.json`` go there."""
KERAS_FORMATS = ("tf_saved_model", "onnx", "openvino", "litert", "torch")
"""The formats ``keras.Model.export`` knows (Keras 3.15)."""


def finish_ids(tokens: Any) -> Any:
    """Greedy tokens ``(B, T)`` of :meth:`Seq2Seq.generate` (``<pad>`` after each row's first ``<eos>``) as
    served: the trailing columns that are ``<pad>`` in every row dropped.

    The result has ``L = max over rows of (position of the first <eos> + 1, or T without one)``
    columns, so a batch whose rows all end early comes back narrow; a batch of no rows keeps none.

    Example:
        >>> import numpy as np
        >>> ids = finish_ids(np.array([[5, 2, 0, 0], [6, 7, 2, 0]]))
        >>> keras.ops.convert_to_numpy(ids).tolist()
        [[5, 2, 0], [6, 7, 2]]
    """
    ids = ops.cast(tokens, "int32")
    is_eos = ops.cast(ops.equal(ids, EOS_ID), "int32")  # (B, T)
    time = ops.shape(ids)[1]
    ended = ops.any(ops.greater(is_eos, 0), axis=1)  # (B,)
    first_eos = ops.cast(ops.argmax(is_eos, axis=1), "int32")  # (B,)
    needed = ops.where(ended, first_eos + 1, time)  # (B,): the row's length, <eos> included
    width = ops.max(ops.concatenate([ops.zeros((1,), "int32"), needed]))  # 0 for no rows
    return ids[:, :width]


def greedy_ids(network: Seq2Seq, source: Any) -> Any:
    """What the endpoint computes: greedy ids ``(B, L)`` for right-padded source ids ``(B, S)``.

    The budget is :func:`~seq2seq_fit.decoding.length_budget` of the padded width ``S``
    (``2 * S + 10`` steps, ``<eos>`` included), then :func:`finish_ids`.
    """
    source = ops.cast(source, "int32")  # (B, S)
    tokens, _ = network.generate(source, max_length=length_budget(ops.shape(source)[1]))  # (B, 2 * S + 10)
    return finish_ids(tokens)


def source_spec(input_signature: Any) -> Any:
    """The endpoint's input: a ``tf.TensorSpec`` named ``source`` of rank 2 and an integer dtype.

    Args:
        input_signature: ``None`` (``(None, None)`` int32: any batch, any width), or one spec (a
            ``keras.InputSpec``, ``tf.TensorSpec`` or ``keras.KerasTensor``; alone or in a list or
            tuple, as Keras takes it), e.g. ``[keras.InputSpec(shape=(None, 32), dtype="int64")]``
            for int64 ids of a fixed width.
    """
    import tensorflow as tf

    if input_signature is None:
        return tf.TensorSpec((None, None), tf.int32, name="source")
    specs = list(input_signature) if isinstance(input_signature, (list, tuple)) else [input_signature]
    spec = specs[0] if len(specs) == 1 else None
    shape, dtype = getattr(spec, "shape", None), getattr(spec, "dtype", None)
    if shape is not None and dtype is not None:
        dtype = tf.as_dtype(keras.backend.standardize_dtype(dtype))
        if len(shape) == 2 and dtype.is_integer:
            return tf.TensorSpec(tuple(shape), dtype, name="source")
    raise ValueError(
        f"Seq2SeqModel.export.input_signature: got {input_signature!r}, expected None or one integer spec of "
        "rank 2 for the (B, S) source ids, e.g. [tf.TensorSpec((None, None), tf.int32)]"
    )


def export_saved_model(
    model: Seq2SeqModel,
    filepath: str | os.PathLike[str],
    format: str = "tf_saved_model",
    verbose: bool | None = None,
    input_signature: Any = None,
    **kwargs: Any,
) -> None:
    """``Seq2SeqModel.export``: write ``model`` as a SavedModel at ``filepath`` whose endpoint
    ``serve`` (and signature ``serving_default``) runs :func:`greedy_ids`, with the vocabularies
    (variable collections ``src_vocab`` and ``tgt_vocab``: one string vector each) and
    ``assets.extra/vocab.json`` and ``config.json`` (as ``save_pretrained`` writes them).

    The SavedModel is built in a hidden sibling directory and swapped in whole
    (:func:`seq2seq_fit.atomic_directory.replace_directory`): a kill or full disk leaves the previous one.

    Args:
        model: the trained model (its network ``model.model`` is tracked; optimizer and trackers are not saved).
        filepath: the SavedModel directory.
        format: ``"tf_saved_model"`` only (see :func:`check_saved_model_args`).
        verbose: print where the artifact is and its endpoint; ``None``: ``True``, as Keras.
        input_signature: the source spec (see :func:`source_spec`).
        **kwargs: none accepted (Keras' are for other backends and formats).

    Raises:
        ValueError: another format or backend, an unknown keyword, a bad path or spec.
    """
    check_saved_model_args(filepath, format, kwargs)
    import tensorflow as tf  # the backend: importable here

    network = model.model
    archive = keras.export.ExportArchive()
    archive.track(network)
    archive.add_endpoint(ENDPOINT, lambda source: greedy_ids(network, source), [source_spec(input_signature)])
    for name, vocab in (("src_vocab", model.src_vocab), ("tgt_vocab", model.tgt_vocab)):
        archive.add_variable_collection(name, [tf.Variable(vocab.tokens, trainable=False, name=name)])
    arguments = model.pretrained_arguments()  # what save_pretrained writes, so the JSON files are the same
    del arguments["weights"]
    texts = json_files(**arguments)

    def build(directory: Path) -> None:
        archive.write_out(os.fspath(directory), verbose=False)  # Keras' message would name the temporary directory
        extra = directory / EXTRA_DIRECTORY
        extra.mkdir(exist_ok=True)
        write_json_files(extra, texts)

    replace_directory(filepath, build)  # a kill or full disk leaves the previous SavedModel or this one
    if verbose is None or verbose:
        print(
            f"Saved artifact at '{os.fspath(filepath)}'. Endpoint {ENDPOINT!r} (signature 'serving_default'): "
            "source ids (B, S) int -> greedy ids (B, L) int32."
        )


def check_saved_model_args(filepath: Any, format: str, kwargs: dict[str, Any]) -> None:
    """Raise ``ValueError`` for what ``Seq2SeqModel.export`` cannot write, naming the value and the fix."""
    if format not in KERAS_FORMATS:
        raise ValueError(f"Seq2SeqModel.export.format: got {format!r}, expected one of {list(KERAS_FORMATS)}")
    if format not in ("tf_saved_model", "onnx"):
        raise ValueError(
            f"Seq2SeqModel.export.format: got {format!r}, expected 'tf_saved_model' (a SavedModel of greedy "
            "decoding, TensorFlow backend) or 'onnx' (Seq2SeqModel.export_onnx's encoder and decoder-step graphs, "
            "which seq2seq_fit.serving.OnnxTranslator runs with greedy, beam or sampling search)"
        )
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise ValueError(
            f"Seq2SeqModel.export: the Keras backend is {backend!r}, expected 'tensorflow' (the SavedModel's "
            "greedy loop is a TensorFlow graph): run with KERAS_BACKEND=tensorflow (save_pretrained here, "
            "Seq2SeqModel.from_pretrained there), or use format='onnx' (Seq2SeqModel.export_onnx), which works on "
            "every backend"
        )
    if kwargs:
        raise ValueError(
            f"Seq2SeqModel.export: got the keyword arguments {sorted(kwargs)}, expected none on the TensorFlow "
            "backend (Keras' is_static and jax2tf_kwargs are for JAX)"
        )
    if not isinstance(filepath, (str, os.PathLike)):
        raise ValueError(f"Seq2SeqModel.export.filepath: got {filepath!r}, expected a str or os.PathLike path")


def check_onnx_args(filepath: Any, input_signature: Any, kwargs: dict[str, Any]) -> None:
    """Raise ``ValueError`` for what ``Seq2SeqModel.export(format="onnx")`` does not take, naming the value."""
    if input_signature is not None:
        raise ValueError(
            f"Seq2SeqModel.export.input_signature: got {input_signature!r}, expected None with format='onnx' "
            "(the graphs take any batch of right-padded int64 source ids)"
        )
    if kwargs:
        raise ValueError(
            f"Seq2SeqModel.export: got the keyword arguments {sorted(kwargs)}, expected none with format='onnx'"
        )
    if not isinstance(filepath, (str, os.PathLike)):
        raise ValueError(f"Seq2SeqModel.export.filepath: got {filepath!r}, expected a str or os.PathLike directory")


__all__ = [
    "ENDPOINT",
    "EXTRA_DIRECTORY",
    "check_onnx_args",
    "check_saved_model_args",
    "export_saved_model",
    "finish_ids",
    "greedy_ids",
    "source_spec",
]
