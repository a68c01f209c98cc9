"""``lit-seq2seq``: the command line, built on ``LightningCLI``, plus ``translate``.

Example:
    lit-seq2seq fit --data.corpus cmudict --model.config.attention luong --trainer.max_epochs 3
    lit-seq2seq fit --config run.yaml
    lit-seq2seq fit --print_config > run.yaml
    lit-seq2seq translate --ckpt_path runs/demo/checkpoints/last.ckpt --tokenizer char python keras

The vocabularies are built by the data module and linked into the model when both are
instantiated, so they are never given on the command line. ``fit``, ``validate``, ``test`` and
``predict`` are LightningCLI's; ``translate`` (decode sentences with a checkpoint) is dispatched
before LightningCLI is built and takes the options of ``keras-seq2seq translate``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import overload

from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from datamodules.lightning import Seq2SeqDataModule
from datamodules.vocab import Vocab
from lit_seq2seq.checkpoint_io import UnsafeCheckpointError
from lit_seq2seq.module import LitSeq2Seq
from seq2seq_fit.config import parse_bool
from seq2seq_fit.decoding import STRATEGIES
from seq2seq_fit.tokenizer import ALIASES, TOKENIZERS

DESCRIPTION = (
    "Train, evaluate and use LitSeq2Seq models: fit, validate, test and predict (LightningCLI), and translate "
    "(decode sentences with a checkpoint, below)."
)
TRANSLATE_USAGE = (
    "lit-seq2seq translate --ckpt_path CKPT [options] SENTENCE ...: decode sentences (or a --file of them) with a "
    "trained checkpoint; see lit-seq2seq translate --help"
)


def vocab_tokens(vocab: Vocab) -> list[str]:
    """The token list of a data module's vocabulary (what the model stores)."""
    return vocab.tokens


class Seq2SeqCLI(LightningCLI):
    """``LightningCLI`` for :class:`LitSeq2Seq` and :class:`Seq2SeqDataModule` with linked vocabularies."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        for side in ("src_vocab", "tgt_vocab"):
            parser.link_arguments(f"data.{side}", f"model.{side}", compute_fn=vocab_tokens, apply_on="instantiate")


def build_translate_parser() -> argparse.ArgumentParser:
    """Options of ``lit-seq2seq translate`` (named as in ``keras-seq2seq translate``; ``-`` or ``_`` alike)."""
    parser = argparse.ArgumentParser(
        prog="lit-seq2seq translate",
        description="Decode sentences with a LitSeq2Seq checkpoint; prints one line of tokens per sentence.",
    )
    parser.add_argument(
        "--ckpt_path", "--ckpt-path", "--model", dest="ckpt_path", required=True, metavar="CKPT",
        help="a .ckpt file written by Trainer.fit / ModelCheckpoint (loaded with weights_only=True)",
    )  # fmt: skip
    parser.add_argument("--file", default=None, help="also translate the lines of this UTF-8 file (- for stdin)")
    parser.add_argument("--strategy", choices=STRATEGIES, default="greedy")
    parser.add_argument("--beam_width", "--beam-width", type=int, default=5)
    parser.add_argument("--length_penalty", "--length-penalty", type=float, default=0.0, help="GNMT alpha")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top_k", "--top-k", type=int, default=None)
    parser.add_argument("--max_length", "--max-length", type=int, default=None)
    parser.add_argument(
        "--tokenizer", choices=(*TOKENIZERS, *ALIASES), default="whitespace",
        help="how sentences are split: words (whitespace) or characters (char)",
    )  # fmt: skip
    parser.add_argument("--batch_size", "--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=None, help="seed of --strategy sample")
    parser.add_argument("--device", default="cpu", help="where to decode: cpu, cuda, cuda:1, mps (default cpu)")
    parser.add_argument(
        "--weights_only", "--weights-only", type=parse_bool, default=True, metavar="BOOL",
        help="false unpickles Python objects in the checkpoint: only for a file you trust (default true)",
    )  # fmt: skip
    parser.add_argument(
        "--show-attention", "--show_attention", dest="show_attention", metavar="PNG", default=None,
        help="write an attention heat map of the first sentence to this PNG file (needs matplotlib)",
    )  # fmt: skip
    parser.add_argument("sentences", nargs="*", metavar="SENTENCE")
    return parser


def read_sources(args: argparse.Namespace) -> list[str]:
    """The sentences of the command line, then the lines of ``--file`` (one source per line)."""
    sources = list(args.sentences)
    if args.file is not None:
        if args.file == "-":
            text = sys.stdin.read()
        else:
            try:
                text = Path(args.file).read_text(encoding="utf-8")
            except OSError as err:
                raise SystemExit(f"lit-seq2seq translate: --file {args.file}: {err.strerror or err}") from err
        sources.extend(text.splitlines())
    if not sources:
        raise SystemExit("lit-seq2seq translate: nothing to translate: give sentences or --file PATH")
    return sources


def load_checkpoint(args: argparse.Namespace) -> LitSeq2Seq:
    """The model of ``--ckpt_path``, with errors that name the file and the fix."""
    path = Path(args.ckpt_path)
    if not path.is_file():
        raise SystemExit(f"lit-seq2seq translate: --ckpt_path {path}: no such checkpoint file")
    try:
        return LitSeq2Seq.load_from_checkpoint(path, map_location=args.device, weights_only=args.weights_only)
    except UnsafeCheckpointError as err:
        raise SystemExit(f"lit-seq2seq translate: {err}; here: --weights_only false") from err
    except (KeyError, RuntimeError, TypeError, ValueError) as err:
        raise SystemExit(f"lit-seq2seq translate: --ckpt_path {path}: not a LitSeq2Seq checkpoint ({err})") from err


def run_translate(argv: list[str]) -> list[str]:
    """``lit-seq2seq translate``: the output lines (tokens joined by spaces), one per source."""
    args = build_translate_parser().parse_args(argv)
    sources = read_sources(args)
    model = load_checkpoint(args)
    if args.show_attention and model.config.attention == "none":
        raise SystemExit(
            f"lit-seq2seq translate: --show-attention: {args.ckpt_path} has attention='none', so there are no "
            "attention weights to draw; leave out --show-attention"
        )
    model.eval()
    options = {
        "strategy": args.strategy, "beam_width": args.beam_width, "length_penalty": args.length_penalty,
        "temperature": args.temperature, "top_k": args.top_k, "max_length": args.max_length,
        "tokenizer": args.tokenizer, "batch_size": args.batch_size, "seed": args.seed,
    }  # fmt: skip
    try:
        # One call for the lines and the heat map, so the picture shows the first printed line.
        result = model.translate(sources, return_attention=args.show_attention is not None, **options)
    except ValueError as err:  # an option out of range, named by translate's argument check
        raise SystemExit(f"lit-seq2seq translate: {err}") from err
    outputs, attention = result if isinstance(result, tuple) else (result, [])
    if args.show_attention:
        write_attention(args.show_attention, sources[0], args.tokenizer, outputs[0], attention[0].numpy())
    return [" ".join(tokens) for tokens in outputs]


def write_attention(path: str, source: str, tokenizer: str, output: list[str], weights: object) -> None:
    """Draw the attention of one source (``weights`` (len(output), S)) to a PNG file."""
    from seq2seq_fit.plots import plot_attention
    from seq2seq_fit.tokenizer import split_tokens

    plot_attention(
        weights, split_tokens(source, tokenizer), output, path=path, title=f"{source!r} -> {' '.join(output)}"
    )
    print(f"wrote {path}", file=sys.stderr)


@overload
def main(args: None = None) -> None: ...
@overload
def main(args: list[str]) -> Seq2SeqCLI | list[str]: ...
def main(args: list[str] | None = None) -> Seq2SeqCLI | list[str] | None:
    """Entry point of the ``lit-seq2seq`` console script.

    Args:
        args: parse these instead of ``sys.argv``. Called so (from Python) it returns the
            ``Seq2SeqCLI`` of ``fit``/``validate``/``test``/``predict``, or the output lines of
            ``translate``; as the console script (``args=None``) it returns ``None``, which
            ``sys.exit`` reads as success.
    """
    argv = sys.argv[1:] if args is None else list(args)
    if argv[:1] == ["translate"]:
        lines = run_translate(argv[1:])
        print("\n".join(lines))
        return lines if args is not None else None
    cli = Seq2SeqCLI(
        LitSeq2Seq,
        Seq2SeqDataModule,
        args=args,
        seed_everything_default=0,
        auto_configure_optimizers=False,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"description": DESCRIPTION, "epilog": f"The translate subcommand: {TRANSLATE_USAGE}."},
    )
    return cli if args is not None else None


if __name__ == "__main__":
    main()
