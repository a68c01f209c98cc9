"""``PretrainedSystem``: what ``LitSeq2Seq`` and ``Seq2SeqModel`` do around their network, written once.

The model directory (:meth:`~PretrainedSystem.save_pretrained`, :meth:`~PretrainedSystem.from_pretrained`),
the ONNX export (:meth:`~PretrainedSystem.export_onnx`) and :meth:`~PretrainedSystem.translate` are
the same for both systems, as Hugging Face's ``PreTrainedModel`` holds them for every model. A
system mixes this class in and supplies only its adapter:

- the attributes its constructor sets: ``config``, ``teacher_forcing``, ``src_vocab``, ``tgt_vocab``,
  ``src_tokenizer``, ``tgt_tokenizer`` and ``seed``; its constructor takes
  ``(src_vocab, tgt_vocab, config, teacher_forcing, *, src_tokenizer, tgt_tokenizer, seed, ...)``;
- :meth:`~Translator.step_decoder`: its network one token at a time for the core's search
  (a :class:`seq2seq_fit.translate.StepDecoder`, used as a context manager);
- :meth:`~PretrainedSystem.canonical_weights` and :meth:`~PretrainedSystem.load_canonical_weights`:
  its network's weights to and from the canonical numpy arrays of :mod:`seq2seq_fit.model_format`.

``translate`` alone is :class:`Translator`, which ``seq2seq_fit.serving.OnnxTranslator`` also is.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from seq2seq_fit.config import Seq2SeqConfig, as_config, check_int
from seq2seq_fit.errors import shown
from seq2seq_fit.generation_config import GenerationConfig
from seq2seq_fit.model_format import load_pretrained, save_pretrained
from seq2seq_fit.teacher_forcing import TeacherForcing, as_teacher_forcing, check_compatible
from seq2seq_fit.tokenizer import Tokenizer, as_tokenizer, check_tokenizer_vocab
from seq2seq_fit.translate import Source, StepDecoder, translate
from seq2seq_fit.vocab import Vocab, as_vocab

System = TypeVar("System", bound="PretrainedSystem")


class Translator:
    """``translate`` over a :meth:`step_decoder`: what both systems and ``OnnxTranslator`` share.

    A subclass sets ``src_vocab``, ``tgt_vocab``, ``src_tokenizer`` and ``tgt_tokenizer`` and supplies
    :meth:`step_decoder`.
    """

    src_vocab: Vocab
    tgt_vocab: Vocab
    src_tokenizer: Tokenizer
    tgt_tokenizer: Tokenizer

    def step_decoder(self) -> AbstractContextManager[StepDecoder]:
        """The network as the core's :class:`~seq2seq_fit.translate.StepDecoder`, in inference mode
        inside the ``with`` block."""
        raise NotImplementedError

    def translate(
        self, sources: Sequence[Source], generation_config: GenerationConfig | None = None, **overrides: Any
    ) -> list[list[str]] | list[str] | tuple[list[Any], list[np.ndarray]]:
        """Decode strings or token lists to target token lists, or text (inference mode, no gradients).

        String sources are split by the model's ``src_tokenizer`` unless the ``tokenizer`` option
        overrides it; ``detokenize=True`` returns each output as text, joined by ``tgt_tokenizer``.
        The same for ``LitSeq2Seq``, ``Seq2SeqModel`` and ``OnnxTranslator``: the core's driver
        :func:`seq2seq_fit.translate.translate` does the work.

        Args:
            sources: strings or token lists.
            generation_config: the options (:class:`~seq2seq_fit.GenerationConfig`; ``None``: greedy,
                each source given its length budget).
            **overrides: fields of :class:`~seq2seq_fit.GenerationConfig` (``strategy="beam"``,
                ``max_length=20``...) replacing those of ``generation_config``; another name is a
                ``TypeError`` naming the allowed ones.

        Returns:
            Token lists (or strings with ``detokenize``); with ``return_attention`` also per source a
            float32 array ``(len(output), len(source))`` of attention weights.
        """
        with self.step_decoder() as decoder:
            return translate(  # type: ignore[no-any-return]
                decoder,
                self.src_vocab,
                self.tgt_vocab,
                sources,
                generation_config,
                src_tokenizer=self.src_tokenizer,
                tgt_tokenizer=self.tgt_tokenizer,
                **overrides,
            )


class PretrainedSystem(Translator):
    """The shared surface of both systems: model directory, ONNX export and ``translate`` (see the module)."""

    config: Seq2SeqConfig
    teacher_forcing: TeacherForcing
    seed: int

    # -- the adapter a system supplies (and Translator.step_decoder) ----------------------------

    def canonical_weights(self) -> dict[str, np.ndarray]:
        """The network's weights as float32 numpy arrays in the canonical layout (PyTorch's names and shapes)."""
        raise NotImplementedError

    def load_canonical_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        """Copy canonical ``weights`` (checked by ``load_pretrained``) into the network."""
        raise NotImplementedError

    # -- written once for both -----------------------------------------------------------------

    def init_system(
        self,
        owner: str,
        src_vocab: Vocab | Sequence[str],
        tgt_vocab: Vocab | Sequence[str],
        config: Seq2SeqConfig | Mapping[str, Any] | None,
        teacher_forcing: TeacherForcing | Mapping[str, Any] | None,
        src_tokenizer: Any,
        tgt_tokenizer: Any,
        seed: int,
    ) -> None:
        """Check the constructor arguments both systems take, and set them as attributes: the same
        coercion and the same one-line ``ValueError`` s (naming ``owner``, the argument and the value) on
        both sides. Called by each constructor before it builds its network.

        Example:
            >>> PretrainedSystem().init_system("Model", ["<pad>"], [], None, None, None, None, 0)
            Traceback (most recent call last):
            ...
            ValueError: Vocab: the first tokens must be ['<pad>', '<bos>', '<eos>', '<unk>'], got ['<pad>']
        """
        for name, vocab in (("src_vocab", src_vocab), ("tgt_vocab", tgt_vocab)):
            if not isinstance(vocab, Vocab) and (isinstance(vocab, str) or not isinstance(vocab, Sequence)):
                raise ValueError(f"{owner}.{name}: got {shown(vocab)}, expected a Vocab or its token list")
        self.src_vocab, self.tgt_vocab = as_vocab(src_vocab), as_vocab(tgt_vocab)
        self.config = as_config(config, name=f"{owner}.config")
        self.teacher_forcing = as_teacher_forcing(teacher_forcing, name=f"{owner}.teacher_forcing")
        check_compatible(self.config, self.teacher_forcing)
        self.src_tokenizer = as_tokenizer(src_tokenizer, owner=f"{owner}.src")
        self.tgt_tokenizer = as_tokenizer(tgt_tokenizer, owner=f"{owner}.tgt")
        check_tokenizer_vocab(owner, "source", self.src_tokenizer, self.src_vocab.tokens)
        check_tokenizer_vocab(owner, "target", self.tgt_tokenizer, self.tgt_vocab.tokens)
        check_int(owner, "seed", seed, 0)
        self.seed = seed

    def save_pretrained(self, directory: str | os.PathLike[str]) -> None:
        """Write the model as a framework-neutral directory that either system's ``from_pretrained`` reads.

        ``config.json`` (config, teacher forcing, seed), ``vocab.json``, the tokenizer files
        (``tokenizer_config.json``, and a subword tokenizer's own file) and ``model.safetensors``
        (the weights in the canonical layout); see :mod:`seq2seq_fit.model_format`. Training state
        (optimizer, step, random-generator states) is not saved: checkpoints are for that.

        Args:
            directory: the model directory (created if needed; its files are replaced atomically).
        """
        save_pretrained(directory, **self.pretrained_arguments())

    def export_onnx(self, directory: str | os.PathLike[str]) -> Path:
        """Write the model for ``seq2seq_fit.serving.OnnxTranslator``: an encoder and a one-step decoder graph.

        The directory holds what :meth:`save_pretrained` writes but the weights (``config.json``,
        ``vocab.json``, the tokenizer files), plus ``encoder.onnx``, ``decoder.onnx`` and
        ``export.json``; see :func:`seq2seq_fit.onnx_export.export_onnx` and docs/serving.md. The
        graphs are built from the canonical weights with ``onnx``'s own operators, without tracing
        the model, so exporting needs ``onnx`` (the ``[serve]`` extra), and running them needs only
        numpy and onnxruntime.

        Args:
            directory: the export directory (created if needed).

        Returns:
            The export directory.
        """
        from seq2seq_fit.onnx_export import export_onnx  # here: onnx only for those who export

        return export_onnx(directory, **self.pretrained_arguments())

    def pretrained_arguments(self) -> dict[str, Any]:
        """The keywords of ``seq2seq_fit.model_format.save_pretrained`` for this model (config, teacher
        forcing, vocabularies, tokenizers, canonical weights, seed): what :meth:`save_pretrained` and
        :meth:`export_onnx` write."""
        return {
            "config": self.config,
            "teacher_forcing": self.teacher_forcing,
            "src_vocab": self.src_vocab,
            "tgt_vocab": self.tgt_vocab,
            "weights": self.canonical_weights(),
            "extra": {"seed": int(self.seed)},
            "src_tokenizer": self.src_tokenizer,
            "tgt_tokenizer": self.tgt_tokenizer,
        }

    @classmethod
    def from_pretrained(cls: type[System], directory: str | os.PathLike[str], **kwargs: Any) -> System:
        """The model of a directory written by either system's :meth:`save_pretrained`.

        Args:
            directory: the model directory.
            **kwargs: the constructor's other keyword arguments (``LitSeq2Seq``'s ``lr``, ``compile``...,
                ``Seq2SeqModel``'s ``name``, ``dtype``...); ``seed`` and the tokenizers default to the saved ones.

        Returns:
            The model (a Keras one built and not compiled).

        Raises:
            ModelFormatError: a file is missing or malformed, the format version is unknown, or a
                tensor does not fit the config and vocabularies (the message names file and tensor).
        """
        saved = load_pretrained(directory)
        kwargs.setdefault("seed", int(saved.extra.get("seed", 0)))
        kwargs.setdefault("src_tokenizer", saved.src_tokenizer)
        kwargs.setdefault("tgt_tokenizer", saved.tgt_tokenizer)
        model = cls(saved.src_vocab, saved.tgt_vocab, saved.config, saved.teacher_forcing, **kwargs)  # type: ignore[call-arg]
        model.load_canonical_weights(saved.weights)
        return model


__all__ = ["PretrainedSystem", "Translator"]
