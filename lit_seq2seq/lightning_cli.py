"""``Seq2SeqCLI``: the ``LightningCLI`` behind ``lit-seq2seq fit/validate/test/predict``.

Kept apart from :mod:`lit_seq2seq.cli` so that ``lit-seq2seq translate`` (and its ``--help``)
imports neither Lightning nor torch until it loads a model.
"""

from __future__ import annotations

import logging
import re
import warnings
from typing import Any, NoReturn

from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from datamodules.lightning import Seq2SeqDataModule
from lit_seq2seq.module import LitSeq2Seq
from seq2seq_fit.cli_options import fail, lightning_trainer_defaults
from seq2seq_fit.vocab import Vocab


def vocab_tokens(vocab: Vocab) -> list[str]:
    """The token list of a data module's vocabulary (what the model stores)."""
    return vocab.tokens


class OneLineArgumentParser(LightningArgumentParser):
    """A ``LightningArgumentParser`` whose errors are one line on stderr, exit status 2."""

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        text = re.sub(r":\s*\n\s*", ": ", str(message).strip())
        text = "; ".join(line.strip() for line in text.splitlines() if line.strip())
        prog = self.prog.replace(" [options]", "")  # a subcommand's prog: "lit-seq2seq [options] fit"
        fail(prog, f"{text} (see {prog} --help)")


class Seq2SeqCLI(LightningCLI):
    """``LightningCLI`` for :class:`LitSeq2Seq` and :class:`Seq2SeqDataModule` with linked vocabularies.

    Args:
        args: the command line, without the program name.
        debug: parser errors in jsonargparse's own form (usage and message) instead of one line.
        **kwargs: more ``LightningCLI`` arguments.
    """

    def __init__(self, args: list[str], *, debug: bool = False, **kwargs: Any) -> None:
        if not debug:  # start-up noise: "Seed set to 0" before anything can fail
            logging.getLogger("lightning.fabric.utilities.seed").setLevel(logging.WARNING)
        with warnings.catch_warnings():
            # lit-seq2seq always passes its command line (less --debug) as args, also when it is sys.argv.
            warnings.filterwarnings("ignore", message="LightningCLI's args parameter", category=UserWarning)
            super().__init__(
                LitSeq2Seq,
                Seq2SeqDataModule,
                args=args,
                seed_everything_default=0,
                auto_configure_optimizers=False,
                save_config_kwargs={"overwrite": True},
                trainer_defaults=lightning_trainer_defaults(),
                parser_class=LightningArgumentParser if debug else OneLineArgumentParser,
                **kwargs,
            )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        for side in ("src_vocab", "tgt_vocab"):
            parser.link_arguments(f"data.{side}", f"model.{side}", compute_fn=vocab_tokens, apply_on="instantiate")
