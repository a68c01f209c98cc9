"""The option tables the command lines are built from: training, data and ``translate``.

``lit-seq2seq translate``, ``keras-seq2seq translate`` and ``seq2seq-fit translate`` (the ONNX
runtime's) add :data:`TRANSLATE_OPTIONS` to their parsers, so they take the same options with the
same spellings (``--beam_width`` and ``--beam-width`` alike), defaults and choices.
:data:`TRAINING_OPTIONS` and :data:`DATA_OPTIONS` mean the same thing in both ``fit``s:
``keras-seq2seq fit`` adds them as flags (also accepted in the Lightning spelling,
``--trainer.max_epochs``, ``--data.corpus``), ``lit-seq2seq fit`` takes them as its LightningCLI
keys (:attr:`Option.lightning`) with these defaults.

Framework-free: argparse and the standard library only, so ``--help`` and argument errors start
no framework.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from seq2seq_fit.cli.recipes import batch_limit, max_time
from seq2seq_fit.cli.value_types import (
    bounded_float,
    bounded_int,
    checked_by_translate,
    corpus_tokenizer_name,
    tokenizer_name,
)
from seq2seq_fit.config import parse_bool
from seq2seq_fit.decoding import STRATEGIES
from seq2seq_fit.precision import PRECISIONS
from seq2seq_fit.presets import PRESETS


@dataclass(frozen=True)
class Option:
    """One command-line option: ``--name`` (also ``--name-with-dashes``) and its aliases.

    Attributes:
        name: the Python name (``beam_width``); also the ``argparse`` ``dest``.
        default: the value when the option is not given.
        type: converts the text (an argparse ``type``); ``None`` keeps the string.
        help: one line for ``--help``.
        choices: the accepted values, or ``None``.
        aliases: more spellings, without the ``--`` (``lr`` for ``learning_rate``).
        metavar: the placeholder in ``--help``.
        lightning: the LightningCLI key of the same setting (``trainer.max_epochs``), ``fit`` options only.

    Example:
        >>> Option("beam_width", 5, aliases=("beam",)).flags
        ['--beam_width', '--beam-width', '--beam']
    """

    name: str
    default: Any
    type: Callable[[str], Any] | None = None
    help: str = ""
    choices: tuple[str, ...] | None = None
    aliases: tuple[str, ...] = ()
    metavar: str | None = None
    lightning: str | None = None

    @property
    def flags(self) -> list[str]:
        """``--name``, ``--name-with-dashes`` and the aliases in both spellings, each once."""
        flags: list[str] = []
        for name in (self.name, *self.aliases):
            for flag in (f"--{name}", f"--{name.replace('_', '-')}"):
                if flag not in flags:
                    flags.append(flag)
        return flags

    def add_to(self, parser: Any, *more_flags: str) -> None:
        """Add this option to an ``argparse`` parser or argument group (``more_flags``: more spellings)."""
        default = "" if self.default is None else f" (default {self.default})"
        flags = list(dict.fromkeys((*self.flags, *more_flags)))
        parser.add_argument(
            *flags, dest=self.name, default=self.default, type=self.type, choices=self.choices,
            metavar=self.metavar, help=self.help + default,
        )  # fmt: skip


def add_fit_options(parser: Any, options: Iterable[Option]) -> None:
    """Add ``options`` to a ``fit`` parser in both spellings: ``--name`` and ``--<lightning key>``."""
    for option in options:
        option.add_to(parser, *([f"--{option.lightning}"] if option.lightning else []))


#: ``translate`` in both command lines (the keyword arguments of ``seq2seq_fit.translate.translate``).
TRANSLATE_OPTIONS: tuple[Option, ...] = (
    Option(
        "file",
        None,
        metavar="PATH",
        help="also translate the lines of this UTF-8 file, one source a line (- for stdin)",
    ),
    Option("strategy", "greedy", choices=STRATEGIES, help="greedy, sample or beam"),
    Option("beam_width", 5, checked_by_translate("beam_width", int), "hypotheses kept by --strategy beam"),
    Option("length_penalty", 0.0, checked_by_translate("length_penalty", float), "GNMT alpha ranking finished beams"),
    Option("temperature", 1.0, checked_by_translate("temperature", float), "softmax temperature of --strategy sample"),
    Option("top_k", None, checked_by_translate("top_k", int), "sample only from the k most likely tokens"),
    Option(
        "max_length",
        None,
        checked_by_translate("max_length", int),
        "most output tokens, <eos> included (default: 2 * source length + 10)",
    ),
    Option(
        "tokenizer",
        None,
        tokenizer_name,
        "how sources are split, instead of the model's own tokenizer: words (whitespace), characters "
        "(chars, char), or a tokenizer.json / sentencepiece .model file",
        metavar="TOKENIZER",
    ),
    Option("batch_size", 64, checked_by_translate("batch_size", int), "sources decoded together"),
    Option("seed", None, checked_by_translate("seed", int), "seed of --strategy sample"),
    Option(
        "show_attention",
        None,
        metavar="PNG",
        help="write an attention heat map of the first source to this PNG file (needs matplotlib)",
    ),
)

#: The data of ``fit``: the arguments of ``datamodules``' ``Seq2SeqDataModule`` / ``KerasData`` that both
#: command lines take (``lightning`` is the LightningCLI key, ``data.corpus_options.*`` for how a TSV is read).
DATA_OPTIONS: tuple[Option, ...] = (
    Option("corpus", "toy", help="toy, cmudict, reverse, ... or a TSV path", metavar="CORPUS", lightning="data.corpus"),
    Option("batch_size", 64, bounded_int(1), "training batch size", metavar="N", lightning="data.batch_size"),
    Option(
        "max_length",
        None,
        bounded_int(1),
        "longest source or target kept, in tokens (default: no limit)",
        metavar="N",
        lightning="data.max_length",
    ),
    Option(
        "on_error",
        None,
        choices=("error", "skip"),
        help="malformed lines of a TSV corpus: error (the default) or skip",
        lightning="data.corpus_options.on_error",
    ),
    Option(
        "tokenizer",
        None,
        corpus_tokenizer_name,
        "how the lines of a TSV corpus are split, each side on its own: whitespace (words, the default), chars "
        "(char), bpe or unigram (a subword tokenizer trained on the side's train split, --vocab_size pieces), "
        "or a tokenizer.json / sentencepiece .model file",
        metavar="TOKENIZER",
        lightning="data.corpus_options.tokenizer",
    ),
    Option(
        "vocab_size",
        None,
        bounded_int(8),
        "pieces of a bpe / unigram tokenizer trained on the data (default 1000)",
        metavar="N",
        lightning="data.corpus_options.vocab_size",
    ),
)

#: Shows the traceback of an error instead of one line, and the framework's start-up logs.
DEBUG_OPTION = Option("debug", False, help="on an error, show the traceback; show the framework's start-up logs")

#: Training options that mean the same thing in both ``fit``s; ``lightning`` is the LightningCLI key.
TRAINING_OPTIONS: tuple[Option, ...] = (
    Option("epochs", 10, bounded_int(1), "training epochs", aliases=("max_epochs",), lightning="trainer.max_epochs"),
    Option(
        "learning_rate",
        1e-3,
        bounded_float(0.0, low_open=True),
        "peak learning rate of AdamW",
        aliases=("lr",),
        lightning="model.lr",
    ),
    Option("warmup_steps", 0, bounded_int(0), "linear learning-rate warm-up steps", lightning="model.warmup_steps"),
    Option(
        "lr_decay_steps",
        0,
        bounded_int(0),
        "cosine learning-rate decay over this many steps after the warm-up (0: constant)",
        lightning="model.lr_decay_steps",
    ),
    Option(
        "min_lr_ratio",
        0.0,
        bounded_float(0.0),
        "learning rate at the end of the decay, as a fraction of the peak",
        lightning="model.min_lr_ratio",
    ),
    Option(
        "gradient_clip_val",
        1.0,
        bounded_float(0.0),
        "clip the global gradient norm to this (0: no clipping)",
        aliases=("global_clipnorm",),
        lightning="trainer.gradient_clip_val",
    ),
    Option(
        "precision",
        "32",
        choices=tuple(PRECISIONS),
        help="32 (fp32), 16-mixed (fp16, loss-scaled) or bf16-mixed (bf16)",
        aliases=("mixed_precision",),
        lightning="trainer.precision",
    ),
    Option(
        "limit_val_batches",
        None,
        batch_limit,
        "validation batches each epoch: a fraction of the split in (0, 1] or a count, the first ones (default: all)",
        metavar="LIMIT",
        lightning="trainer.limit_val_batches",
    ),
    Option(
        "seed",
        0,
        bounded_int(0),
        "seed of the weights, the data order and the teacher-forcing coins",
        lightning="seed_everything",
    ),
)


#: The training recipes of both ``fit``s (the benchmarks' runs are these options): a wall-clock budget, early
#: stopping and the best epoch's weights, resumable; a named model size; a model directory to fine-tune; the model
#: directory written at the end.
RECIPE_OPTIONS: tuple[Option, ...] = (
    Option(
        "max_time",
        None,
        max_time,
        "stop training after this wall-clock budget, DD:HH:MM:SS; a resumed run counts the time spent before",
        metavar="DD:HH:MM:SS",
        lightning="trainer.max_time",
    ),
    Option(
        "early_stopping_monitor",
        None,
        help="stop when this validation metric stops improving: val/wer (also spelled val_wer), val/loss, "
        "val/exact_match, ... (default: no early stopping)",
        metavar="METRIC",
        lightning="early_stopping.monitor",
    ),
    Option(
        "early_stopping_patience",
        3,
        bounded_int(1),
        "validations in a row without improvement that stop training",
        metavar="N",
        lightning="early_stopping.patience",
    ),
    Option(
        "early_stopping_mode",
        "min",
        choices=("min", "max"),
        help="min: lower is better (val/wer, val/loss), max: higher is better (val/bleu)",
        lightning="early_stopping.mode",
    ),
    Option(
        "early_stopping_min_delta",
        0.0,
        bounded_float(0.0),
        "smallest change of the metric that counts as an improvement",
        lightning="early_stopping.min_delta",
    ),
    Option(
        "restore_best_weights",
        False,
        parse_bool,
        "at the end keep the weights of the best validation epoch by --early_stopping.monitor",
        metavar="BOOL",
        lightning="restore_best_weights",
    ),
    Option(
        "preset",
        None,
        choices=tuple(PRESETS),
        help="a named model size of seq2seq_fit.presets; model config options given beside it override its fields",
        lightning="preset",
    ),
    Option(
        "init_from",
        None,
        metavar="DIR",
        help="start from the weights of this save_pretrained directory (either framework's): its config, "
        "vocabularies and tokenizers; the optimizer, schedules and epochs start fresh (a fine-tune)",
        lightning="init_from",
    ),
    Option(
        "save_pretrained",
        None,
        metavar="DIR",
        help="after training, write the model (the best epoch's with --restore_best_weights) as a save_pretrained "
        "directory",
        lightning="save_pretrained",
    ),
)


def lightning_trainer_defaults() -> dict[str, Any]:
    """The ``Trainer`` defaults of :data:`TRAINING_OPTIONS` for ``LightningCLI(trainer_defaults=...)``."""
    keys = {o.lightning: o.default for o in TRAINING_OPTIONS if o.lightning is not None}
    return {key.removeprefix("trainer."): value for key, value in keys.items() if key.startswith("trainer.")}


def add_translate_options(parser: argparse.ArgumentParser) -> None:
    """Add :data:`TRANSLATE_OPTIONS`, ``--debug`` and the positional sources to ``parser``."""
    for option in TRANSLATE_OPTIONS:
        option.add_to(parser)
    add_debug_option(parser)
    parser.add_argument("sentences", nargs="*", metavar="SENTENCE", help="sources to translate")


def add_debug_option(parser: Any) -> None:
    """Add ``--debug`` (:data:`DEBUG_OPTION`, a switch) to ``parser``."""
    parser.add_argument(*DEBUG_OPTION.flags, action="store_true", help=DEBUG_OPTION.help)


#: ``export`` in the three command lines: where the ONNX export is written.
OUT_OPTION = Option(
    "out",
    None,
    metavar="DIR",
    help="the export directory (created if needed): config.json, vocab.json, encoder.onnx, decoder.onnx, export.json",
)


def add_export_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--out`` (required) and ``--debug`` to an ``export`` parser."""
    parser.add_argument(*OUT_OPTION.flags, dest=OUT_OPTION.name, required=True, metavar=OUT_OPTION.metavar,
                        help=OUT_OPTION.help)  # fmt: skip
    add_debug_option(parser)
