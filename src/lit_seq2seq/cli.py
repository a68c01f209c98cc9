"""``lit-seq2seq``: the command line, built on ``LightningCLI``.

Example:
    lit-seq2seq fit --data.corpus cmudict --model.config.attention luong --trainer.max_epochs 3
    lit-seq2seq fit --config run.yaml
    lit-seq2seq fit --print_config > run.yaml

The vocabularies are built by the data module and linked into the model when both are
instantiated, so they are never given on the command line.
"""

from __future__ import annotations

from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from datamodules.lightning import Seq2SeqDataModule
from datamodules.vocab import Vocab
from lit_seq2seq.module import LitSeq2Seq


def vocab_tokens(vocab: Vocab) -> list[str]:
    """The token list of a data module's vocabulary (what the model stores)."""
    return vocab.tokens


class Seq2SeqCLI(LightningCLI):
    """``LightningCLI`` for :class:`LitSeq2Seq` and :class:`Seq2SeqDataModule` with linked vocabularies."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        for side in ("src_vocab", "tgt_vocab"):
            parser.link_arguments(f"data.{side}", f"model.{side}", compute_fn=vocab_tokens, apply_on="instantiate")


def main(args: list[str] | None = None) -> Seq2SeqCLI:
    """Entry point of the ``lit-seq2seq`` console script (``args``: parse these instead of ``sys.argv``)."""
    return Seq2SeqCLI(
        LitSeq2Seq,
        Seq2SeqDataModule,
        args=args,
        seed_everything_default=0,
        auto_configure_optimizers=False,
        save_config_kwargs={"overwrite": True},
    )


if __name__ == "__main__":
    main()
