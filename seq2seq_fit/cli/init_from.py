"""``--init_from DIR`` of both ``fit`` commands: fine-tune the model of a ``save_pretrained`` directory.

The directory gives the config, the vocabularies (the data is encoded with them), the tokenizers
and the weights; the command line gives everything about training (teacher forcing, optimizer,
schedules, epochs), which starts fresh: step 0, epoch 0, a new optimizer. A config option or
``--preset`` that disagrees with the directory is refused in one line naming both values. A run
that resumes from its own checkpoint (``--ckpt_path last``) loads that checkpoint's weights over
these, so an interrupted fine-tune continues where it stopped, not from ``DIR`` again. Each
framework side only copies the weights into its network (``load_canonical_weights``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any

from seq2seq_fit.cli.errors import CLIError
from seq2seq_fit.cli.recipes import preset_config
from seq2seq_fit.config import Seq2SeqConfig

if TYPE_CHECKING:  # the model format (numpy) is read only when a fit starts: --help imports none of it
    from seq2seq_fit.model_format import PretrainedModel
    from seq2seq_fit.tokenizer import Tokenizer


def read_init_from(
    directory: str | os.PathLike[str], preset: str | None = None, given: Mapping[str, Any] | None = None
) -> PretrainedModel:
    """The model of ``--init_from``, checked against the config options given beside it.

    Args:
        directory: a ``save_pretrained`` directory of either framework.
        preset: ``--preset``, or ``None``.
        given: the ``Seq2SeqConfig`` fields set on the command line (``--hidden_size``, ...).

    Raises:
        CLIError: ``--preset`` or a config option differs from the directory's config, naming the
            field and both values (``Seq2SeqConfig.hidden_size``, which each command line spells as
            its flag).
        ModelFormatError: the directory is not a readable model directory (naming the file).

    Example:
        >>> read_init_from("no-such-model")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        seq2seq_fit.errors.ModelFormatError: no-such-model: ...
    """
    from seq2seq_fit.model_format import load_pretrained

    saved = load_pretrained(directory)
    wanted = dict(given or {})
    source = "the command line"
    if preset:
        wanted = asdict(preset_config(preset, wanted))
        source = f"--preset {preset}"
    saved_fields = asdict(saved.config)
    for f in fields(Seq2SeqConfig):
        if f.name in wanted and wanted[f.name] != saved_fields[f.name]:
            raise CLIError(
                f"--init_from {os.fspath(directory)}: Seq2SeqConfig.{f.name}: got {wanted[f.name]!r} from {source}, "
                f"but the model has {saved_fields[f.name]!r}; a fine-tune keeps the model's config, so drop "
                f"{'--preset' if preset else 'the option'} or start without --init_from"
            )
    return saved


def init_data_options(
    saved: PretrainedModel, corpus: str | os.PathLike[str], corpus_options: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The data arguments that encode ``corpus`` with the model's vocabularies (and, for a TSV file read
    without a ``tokenizer`` option, its tokenizers): ``src_vocab``, ``tgt_vocab`` and ``corpus_options``
    of ``Seq2SeqDataModule`` and ``KerasData``, plain data only.

    Example:
        >>> from seq2seq_fit.model_format import PretrainedModel
        >>> from seq2seq_fit.teacher_forcing import TeacherForcing
        >>> from seq2seq_fit.vocab import Vocab
        >>> vocab = Vocab(["<pad>", "<bos>", "<eos>", "<unk>", "a"])
        >>> saved = PretrainedModel(Seq2SeqConfig(), TeacherForcing(), vocab, vocab, {})
        >>> options = init_data_options(saved, "toy", None)  # a built-in corpus: its own tokenizers
        >>> options["src_vocab"][4:], options["corpus_options"]
        (['a'], None)
    """
    options = dict(corpus_options or {})
    tokenizer_given = any(key in options for key in ("tokenizer", "src_tokenizer", "tgt_tokenizer"))
    if os.path.isfile(corpus) and not tokenizer_given:  # a TSV file: split it as the model does
        options["src_tokenizer"] = saved.src_tokenizer.to_dict()
        options["tgt_tokenizer"] = saved.tgt_tokenizer.to_dict()
    return {
        "src_vocab": list(saved.src_vocab.tokens),
        "tgt_vocab": list(saved.tgt_vocab.tokens),
        "corpus_options": options or None,
    }


def check_init_tokenizers(
    directory: str | os.PathLike[str], saved: PretrainedModel, src_tokenizer: Tokenizer, tgt_tokenizer: Tokenizer
) -> None:
    """Refuse data whose tokenizers are not the model's: its tokens would not be the ones it learned.

    Raises:
        CLIError: naming the side and both tokenizers.

    Example:
        >>> from seq2seq_fit.model_format import PretrainedModel
        >>> from seq2seq_fit.teacher_forcing import TeacherForcing
        >>> from seq2seq_fit.tokenizer import as_tokenizer
        >>> from seq2seq_fit.vocab import Vocab
        >>> vocab = Vocab(["<pad>", "<bos>", "<eos>", "<unk>", "a"])
        >>> saved = PretrainedModel(Seq2SeqConfig(), TeacherForcing(), vocab, vocab, {})
        >>> check_init_tokenizers("m", saved, as_tokenizer("chars"), as_tokenizer(None))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        seq2seq_fit.cli.errors.CLIError: --init_from m: the data splits the source with CharsTokenizer(), the model ...
    """
    for side, data, model in (
        ("source", src_tokenizer, saved.src_tokenizer),
        ("target", tgt_tokenizer, saved.tgt_tokenizer),
    ):
        if data != model:
            raise CLIError(
                f"--init_from {os.fspath(directory)}: the data splits the {side} with {data!r}, the model with "
                f"{model!r}; give the corpus the model's tokenizer or start without --init_from"
            )


__all__ = ["check_init_tokenizers", "init_data_options", "read_init_from"]
