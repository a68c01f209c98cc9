"""``keras-seq2seq``: train and use :class:`~keras_seq2seq.Seq2SeqModel` from the command line.

Example:
    keras-seq2seq fit --corpus cmudict --attention luong --epochs 3 --mixed-precision bf16 --backend jax
    keras-seq2seq translate --model model.keras --tokenizer char hello world

Option names follow ``lit-seq2seq`` where they mean the same thing: the config and teacher-forcing
fields by name (``--hidden_size``, ``--attention``, ``--schedule``, ``--decay_steps``...), also
accepted in the Lightning spelling (``--model.config.hidden_size``,
``--model.teacher_forcing.schedule``, ``--data.corpus``, ``--trainer.max_epochs``). The backend is
chosen before Keras is imported. ``fit`` logs ``loss``, ``tf_ratio``, ``fed_from_model``,
``tokens_per_s`` and ``val_loss``, ``val_ppl``, ``val_wer``, ``val_per``... to ``OUTPUT/history.csv``
and to TensorBoard under ``--log-dir`` (default ``OUTPUT/logs``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from dataclasses import MISSING, fields
from typing import Any

from seq2seq_fit import Seq2SeqConfig, TeacherForcing
from seq2seq_fit.config import parse_bool

BACKENDS = ("tensorflow", "jax", "torch")
PRECISIONS = {"32": "float32", "fp32": "float32", "fp16": "mixed_float16", "16-mixed": "mixed_float16",
              "bf16": "mixed_bfloat16", "bf16-mixed": "mixed_bfloat16"}  # fmt: skip


def add_dataclass_options(group: Any, cls: type, lightning_prefix: str, skip: tuple[str, ...] = ()) -> None:
    """One option per field of ``cls`` (``--name`` and ``--<lightning_prefix>.name``)."""
    for f in fields(cls):
        if f.name in skip:
            continue
        default = f.default if f.default is not MISSING else None
        kind = {bool: parse_bool, int: int, float: float}.get(type(default), str)
        if f.name == "k":
            kind = float
        group.add_argument(
            f"--{f.name}", f"--{lightning_prefix}.{f.name}", dest=f"{cls.__name__}.{f.name}", type=kind,
            default=None, help=f"{cls.__name__}.{f.name} (default {default!r})",
        )  # fmt: skip


def dataclass_kwargs(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    prefix = f"{cls.__name__}."
    return {k[len(prefix) :]: v for k, v in vars(args).items() if k.startswith(prefix) and v is not None}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="keras-seq2seq", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    fit = sub.add_parser("fit", help="train a model, evaluate it on the test split, save it")
    fit.add_argument("--backend", choices=BACKENDS, default=None, help="Keras backend (default: KERAS_BACKEND)")
    data = fit.add_argument_group("data")
    data.add_argument("--corpus", "--data.corpus", default="toy", help="toy, cmudict, reverse, ... or a TSV path")
    data.add_argument("--batch_size", "--batch-size", "--data.batch_size", type=int, default=64)
    data.add_argument("--max_length", "--max-length", "--data.max_length", type=int, default=None)
    data.add_argument("--seed", "--seed_everything", type=int, default=0)
    add_dataclass_options(fit.add_argument_group("model (Seq2SeqConfig)"), Seq2SeqConfig, "model.config")
    add_dataclass_options(
        fit.add_argument_group("scheduled teacher forcing (TeacherForcing)"), TeacherForcing, "model.teacher_forcing"
    )
    train = fit.add_argument_group("training")
    train.add_argument("--epochs", "--max_epochs", "--trainer.max_epochs", type=int, default=10)
    train.add_argument("--learning_rate", "--lr", "--model.lr", type=float, default=1e-3)
    train.add_argument(
        "--warmup_steps", "--model.warmup_steps", type=int, default=0, help="linear learning-rate warm-up steps"
    )
    train.add_argument(
        "--lr_decay_steps", "--model.lr_decay_steps", type=int, default=0,
        help="cosine learning-rate decay over this many steps after the warm-up (0: constant)",
    )  # fmt: skip
    train.add_argument(
        "--min_lr_ratio", "--model.min_lr_ratio", type=float, default=0.0,
        help="learning rate at the end of the decay, as a fraction of --learning_rate",
    )  # fmt: skip
    train.add_argument(
        "--gradient_clip_val", "--global_clipnorm", "--clipnorm", "--trainer.gradient_clip_val", dest="clipnorm",
        type=float, default=1.0, help="clip the global gradient norm (Keras global_clipnorm, as Lightning clips)",
    )  # fmt: skip
    train.add_argument(
        "--mixed-precision", "--mixed_precision", "--precision", "--trainer.precision", dest="precision",
        choices=sorted(PRECISIONS), default="32", help="fp16 (loss-scaled), bf16 or 32",
    )  # fmt: skip
    train.add_argument("--jit_compile", "--jit-compile", choices=("auto", "true", "false"), default="auto")
    train.add_argument("--steps_per_epoch", type=int, default=None)
    train.add_argument("--output", "--default_root_dir", default="keras_seq2seq_run", help="run directory")
    train.add_argument(
        "--log-dir", "--log_dir", default=None,
        help="TensorBoard event files (default OUTPUT/logs; 'none': no TensorBoard); the CSV log is OUTPUT/history.csv",
    )  # fmt: skip
    train.add_argument(
        "--scores-every", "--scores_every", type=int, default=1,
        help="greedy-decode the validation split every N epochs for val_wer / val_per (0: never)",
    )  # fmt: skip
    train.add_argument("--verbose", type=int, default=2)

    tr = sub.add_parser("translate", help="decode sentences with a saved .keras model")
    tr.add_argument("--backend", choices=BACKENDS, default=None)
    tr.add_argument("--model", required=True, help="path of a .keras file")
    tr.add_argument("--strategy", choices=("greedy", "sample", "beam"), default="greedy")
    tr.add_argument("--beam_width", type=int, default=5)
    tr.add_argument("--length_penalty", type=float, default=0.0)
    tr.add_argument("--temperature", type=float, default=1.0)
    tr.add_argument("--top_k", type=int, default=None)
    tr.add_argument("--max_length", type=int, default=None)
    tr.add_argument("--tokenizer", choices=("whitespace", "char"), default="whitespace")
    tr.add_argument(
        "--show-attention",
        "--show_attention",
        metavar="PNG",
        default=None,
        help="write an attention heat map of the first sentence to this PNG file (needs matplotlib)",
    )
    tr.add_argument("sentences", nargs="+")
    return parser


def select_backend(backend: str | None, argv: list[str] | None) -> None:
    """Make Keras run on ``backend``; it must be chosen before Keras is imported.

    Importing ``keras_seq2seq`` (which the console script does before calling :func:`main`)
    imports Keras on ``KERAS_BACKEND``. When that is another backend, the command restarts itself
    with ``KERAS_BACKEND=backend``; called with explicit ``argv`` (from Python) it raises instead.
    """
    if backend is None:
        return
    os.environ["KERAS_BACKEND"] = backend
    if "keras" not in sys.modules:
        return
    import keras

    if keras.backend.backend() == backend:
        return
    if argv is not None:
        raise SystemExit(
            f"keras-seq2seq: --backend {backend} but Keras is already running on {keras.backend.backend()!r}; "
            f"set KERAS_BACKEND={backend} before starting Python"
        )
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-m", "keras_seq2seq.cli", *sys.argv[1:]])


def run_fit(args: argparse.Namespace) -> dict[str, Any]:
    import keras
    from datamodules.keras import KerasData
    from keras_seq2seq.atomic_model_checkpoint import AtomicModelCheckpoint
    from keras_seq2seq.callbacks import TrainingThroughput, ValidationScores
    from keras_seq2seq.learning_rate import WarmupCosineDecay
    from keras_seq2seq.seq2seq_model import Seq2SeqModel
    from seq2seq_fit import exact_match, g2p_scores

    keras.utils.set_random_seed(args.seed)
    keras.config.set_dtype_policy(PRECISIONS[args.precision])
    config = Seq2SeqConfig(**dataclass_kwargs(args, Seq2SeqConfig))
    teacher_forcing = TeacherForcing(**dataclass_kwargs(args, TeacherForcing))
    data = KerasData(args.corpus, batch_size=args.batch_size, max_length=args.max_length, seed=args.seed)
    model = Seq2SeqModel(data.src_vocab, data.tgt_vocab, config, teacher_forcing, seed=args.seed)
    jit = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
    # LitSeq2Seq's optimizer: torch.optim.AdamW (weight decay 0, eps 1e-8) under the same schedule.
    schedule = WarmupCosineDecay(args.learning_rate, args.warmup_steps, args.lr_decay_steps, args.min_lr_ratio)
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=0.0, epsilon=1e-8, global_clipnorm=args.clipnorm)
    model.compile(optimizer=optimizer, jit_compile=jit)
    os.makedirs(args.output, exist_ok=True)
    # The callbacks that add to the epoch logs come before the ones that read them.
    callbacks: list[Any] = [TrainingThroughput()]
    if args.scores_every > 0:
        callbacks.insert(0, ValidationScores.from_data(data, "val", every=args.scores_every))
    callbacks += [
        keras.callbacks.BackupAndRestore(os.path.join(args.output, "backup"), double_checkpoint=True),
        AtomicModelCheckpoint(os.path.join(args.output, "model.keras")),
        keras.callbacks.CSVLogger(os.path.join(args.output, "history.csv")),
    ]
    log_dir = args.log_dir or os.path.join(args.output, "logs")
    if log_dir.lower() != "none":
        if importlib.util.find_spec("tensorflow") is None:
            print("keras-seq2seq: TensorFlow is not installed; no TensorBoard logs", file=sys.stderr)
        else:
            callbacks.append(keras.callbacks.TensorBoard(log_dir))
    model.fit(
        data.train(), epochs=args.epochs, validation_data=data.val(), callbacks=callbacks,
        steps_per_epoch=args.steps_per_epoch, verbose=args.verbose,
    )  # fmt: skip
    sources, references = data.references("test")
    hypotheses = model.translate(sources, batch_size=256)
    scores = g2p_scores(hypotheses, references)
    summary = {
        "backend": keras.backend.backend(),
        "corpus": data.corpus.name,
        "test_words": scores.words,
        "test_exact_match": exact_match(hypotheses, [r[0] for r in references]),
        "test_wer": scores.wer,
        "test_per": scores.per,
        "model": os.path.join(args.output, "model.keras"),
    }
    model.save(summary["model"])
    return summary


def run_translate(args: argparse.Namespace) -> list[str]:
    from keras_seq2seq import load_model

    model = load_model(args.model)
    outputs = model.translate(
        args.sentences, strategy=args.strategy, beam_width=args.beam_width, length_penalty=args.length_penalty,
        temperature=args.temperature, top_k=args.top_k, max_length=args.max_length, tokenizer=args.tokenizer,
    )  # fmt: skip
    if args.show_attention:
        import numpy as np

        from keras_seq2seq.seq2seq_model import split_tokens
        from seq2seq_fit.plots import plot_attention

        greedy, attention = model.translate(args.sentences[:1], tokenizer=args.tokenizer, return_attention=True)
        source = split_tokens(args.sentences[0], args.tokenizer)
        plot_attention(
            np.asarray(attention[0], dtype="float32"), source, greedy[0], path=args.show_attention,
            title=f"{args.sentences[0]!r} -> {' '.join(greedy[0])}",
        )  # fmt: skip
        print(f"wrote {args.show_attention}", file=sys.stderr)
    return [" ".join(tokens) for tokens in outputs]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``keras-seq2seq`` console script."""
    args = build_parser().parse_args(argv)
    select_backend(args.backend, argv)
    if args.command == "fit":
        if args.scores_every < 0:
            raise SystemExit(f"keras-seq2seq: --scores-every: got {args.scores_every}, expected an integer >= 0")
        print(json.dumps(run_fit(args), ensure_ascii=False))
    else:
        print("\n".join(run_translate(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
