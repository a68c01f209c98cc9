"""``keras-seq2seq``: train and use :class:`~keras_seq2seq.Seq2SeqModel` from the command line.

Example:
    keras-seq2seq fit --corpus cmudict --attention luong --epochs 3 --mixed-precision bf16 --backend jax
    keras-seq2seq fit --corpus pairs.tsv --tokenizer bpe --vocab_size 8000 --epochs 10
    keras-seq2seq fit --backend jax --config benchmarks/configs/g2p-smoke.yaml --output runs/g2p-smoke-keras
    keras-seq2seq fit --preset cpu --max_time 00:02:00:00 --early_stopping.monitor val/wer \
        --early_stopping.patience 4 --restore_best_weights true --save_pretrained g2p-model
    keras-seq2seq fit --corpus cmudict --init_from g2p-model --mode parallel --start 0.75 --save_pretrained g2p-ss
    keras-seq2seq translate --model model.keras hello world
    keras-seq2seq export --model model.keras --out model-onnx

Option names follow ``lit-seq2seq`` where they mean the same thing: the config and teacher-forcing
fields by name (``--hidden_size``, ``--attention``, ``--schedule``, ``--decay_steps``...), also
accepted in the Lightning spelling (``--model.config.hidden_size``,
``--model.teacher_forcing.schedule``, ``--data.corpus``, ``--trainer.max_epochs``). The backend is
chosen before Keras is imported, and ``--help`` and argument errors import no framework. Errors
are one line on stderr with exit status 2 (``--debug`` shows the traceback and the framework's
start-up logs). ``fit`` logs ``loss``, ``tf_ratio``, ``fed_from_model``,
``tokens_per_s`` and ``val_loss``, ``val_ppl``, ``val_token_acc``, ``val_exact_match``, ``val_bleu``,
``val_wer``, ``val_per`` to ``OUTPUT/history.csv``
and to TensorBoard under ``--log-dir`` (default ``OUTPUT/logs``).

The training recipes are those of ``lit-seq2seq fit``, by the same names: ``--trainer.max_time``
(also ``--max_time``), ``--early_stopping.monitor/patience/mode/min_delta`` (``val/wer`` or
``val_wer``), ``--restore_best_weights`` (``OUTPUT/model.keras`` and ``--save_pretrained DIR`` then
hold the best epoch's weights), ``--preset``, ``--init_from DIR`` (fine-tune a ``save_pretrained``
directory of either framework). ``OUTPUT/backup`` keeps the last finished epoch with the
recipes' state (time spent, early-stopping count, best value), so the same command run again after
an interruption resumes there (``--ckpt_path last``, the default; ``none`` starts over), and a run
that stopped early stays stopped. ``--config FILE`` reads a ``lit-seq2seq fit`` config file.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import MISSING, fields
from typing import Any

from seq2seq_fit.cli.commands import export_command, require_model_path, run_translate
from seq2seq_fit.cli.config_file import expand_config
from seq2seq_fit.cli.environment import installed, quiet_framework_logs, restored_environment
from seq2seq_fit.cli.errors import CLIError, OneLineParser, checked_input, cli_errors
from seq2seq_fit.cli.init_from import check_init_tokenizers, init_data_options, read_init_from
from seq2seq_fit.cli.options import (
    DATA_OPTIONS,
    RECIPE_OPTIONS,
    TRAINING_OPTIONS,
    add_debug_option,
    add_export_options,
    add_fit_options,
    add_translate_options,
)
from seq2seq_fit.cli.recipes import limited_batches, monitored_metric, preset_config
from seq2seq_fit.cli.sources import read_sources
from seq2seq_fit.cli.value_types import bounded_int
from seq2seq_fit.config import Seq2SeqConfig, parse_bool
from seq2seq_fit.data_layer import require_data_layer
from seq2seq_fit.teacher_forcing import TeacherForcing, check_compatible

PROG = "keras-seq2seq"
BACKENDS = ("tensorflow", "jax", "torch")
#: This command line's spelling of the keyword arguments that errors name in their hints.
FLAGS = {"on_error": "--on_error"}
#: The flag prefix of the argument checks' owners: ``Seq2SeqConfig.hidden_size`` is ``--hidden_size``.
OWNERS = {"Seq2SeqConfig": "--", "TeacherForcing": "--"}


def add_dataclass_options(group: Any, cls: type, lightning_prefix: str) -> None:
    """One option per field of ``cls`` (``--name`` and ``--<lightning_prefix>.name``)."""
    for f in fields(cls):
        default = f.default if f.default is not MISSING else None
        kind = {bool: parse_bool, int: int, float: float}.get(type(default), str)
        if f.name in ("k", "position_k"):  # None by default (picked per schedule), a float when given
            kind = float
        group.add_argument(
            f"--{f.name}", f"--{lightning_prefix}.{f.name}", dest=f"{cls.__name__}.{f.name}", type=kind,
            default=None, help=f"{cls.__name__}.{f.name} (default {default!r})",
        )  # fmt: skip


def dataclass_kwargs(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The options of ``cls``'s fields that were given, by field name."""
    prefix = f"{cls.__name__}."
    return {k[len(prefix) :]: v for k, v in vars(args).items() if k.startswith(prefix) and v is not None}


def build_parser() -> argparse.ArgumentParser:
    """The ``keras-seq2seq`` parser; building and using it imports no framework."""
    parser = OneLineParser(prog=PROG, description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    fit = sub.add_parser("fit", help="train a model, evaluate it on the test split, save it")
    fit.add_argument("--backend", choices=BACKENDS, default=None, help="Keras backend (default: KERAS_BACKEND)")
    fit.add_argument(
        "--config", metavar="FILE", action="append",
        help="a lit-seq2seq fit config file (its layout: trainer:, model: config:, data:, early_stopping:); the "
        "options on the command line override it; the keys that only say how Lightning runs are skipped",
    )  # fmt: skip
    add_debug_option(fit)
    add_fit_options(fit.add_argument_group("data (named as in lit-seq2seq fit)"), DATA_OPTIONS)
    add_dataclass_options(fit.add_argument_group("model (Seq2SeqConfig)"), Seq2SeqConfig, "model.config")
    add_dataclass_options(
        fit.add_argument_group("scheduled teacher forcing (TeacherForcing)"), TeacherForcing, "model.teacher_forcing"
    )
    train = fit.add_argument_group("training (named as in lit-seq2seq fit)")
    add_fit_options(train, TRAINING_OPTIONS)
    train.add_argument("--jit_compile", "--jit-compile", choices=("auto", "true", "false"), default="auto")
    train.add_argument(
        "--steps_per_epoch", "--steps-per-epoch", "--trainer.limit_train_batches", type=bounded_int(1), default=None,
        help="training batches per epoch (default: the whole split)",
    )  # fmt: skip
    train.add_argument(
        "--pad_to_multiple", "--data.pad_to_multiple", type=bounded_int(1), default=8,
        help="round padded batch lengths up to a multiple of this (default 8: a compiled step sees few shapes)",
    )  # fmt: skip
    add_fit_options(fit.add_argument_group("training recipes (named as in lit-seq2seq fit)"), RECIPE_OPTIONS)
    train.add_argument(
        "--ckpt_path", "--ckpt-path", choices=("last", "none"), default="last",
        help="last (the default): continue from OUTPUT/backup when it is there, so the same command run again after "
        "an interruption resumes (lit-seq2seq fit --ckpt_path last); none: start over",
    )  # fmt: skip
    train.add_argument(
        "--output", "--default_root_dir", "--trainer.default_root_dir", default="keras_seq2seq_run",
        help="run directory",
    )  # fmt: skip
    train.add_argument(
        "--log-dir", "--log_dir", default=None,
        help="TensorBoard event files (default OUTPUT/logs; 'none': no TensorBoard); the CSV log is OUTPUT/history.csv",
    )  # fmt: skip
    train.add_argument("--verbose", type=int, default=2)

    tr = sub.add_parser("translate", help="decode sentences with a saved model; prints one line per sentence")
    tr.add_argument("--backend", choices=BACKENDS, default=None, help="Keras backend (default: KERAS_BACKEND)")
    tr.add_argument(
        "--model", required=True, metavar="PATH",
        help="a .keras file (model.save, ModelCheckpoint) or a save_pretrained directory",
    )  # fmt: skip
    add_translate_options(tr)

    ex = sub.add_parser(
        "export", help="write a saved model as an ONNX export for seq2seq-fit translate; prints the directory"
    )
    ex.add_argument("--backend", choices=BACKENDS, default=None, help="Keras backend (default: KERAS_BACKEND)")
    ex.add_argument(
        "--model", required=True, metavar="PATH",
        help="a .keras file (model.save, ModelCheckpoint) or a save_pretrained directory",
    )  # fmt: skip
    add_export_options(ex)
    return parser


def subcommand_parser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The parser of the subcommand ``name``."""
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return action.choices[name]  # type: ignore[no-any-return]


def select_backend(backend: str | None) -> None:
    """Make Keras run on ``backend``; it must be chosen before Keras is imported."""
    if backend is None:
        return
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != backend:
            raise CLIError(
                f"--backend {backend}: Keras is already running on {keras.backend.backend()!r}; "
                f"set KERAS_BACKEND={backend} before starting Python"
            )
    os.environ["KERAS_BACKEND"] = backend


@contextmanager
def quiet_stderr(debug: bool) -> Iterator[None]:
    """Send what C++ code writes to stderr (TensorFlow's oneDNN and absl lines at import) to /dev/null."""
    if debug:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def start_keras(args: argparse.Namespace) -> None:
    """Import Keras on ``--backend`` (and register every class) without the backend's start-up noise."""
    select_backend(args.backend)
    quiet_framework_logs(args.debug)
    try:
        with quiet_stderr(args.debug):
            import keras_seq2seq

            keras_seq2seq.load_all()  # type: ignore[attr-defined]
    except ModuleNotFoundError as err:  # the backend's package is not installed
        backend = args.backend or os.environ.get("KERAS_BACKEND", "tensorflow")
        raise CLIError(f"Keras backend {backend!r}: {err}; install it or choose another with --backend") from err


def model_settings(args: argparse.Namespace) -> tuple[Seq2SeqConfig, TeacherForcing]:
    """The config and teacher forcing of ``fit``'s options, checked (framework-free, before Keras starts).

    Raises:
        CLIError: a value the config or the schedule refuses (named as its flag by ``OWNERS``).
    """
    with checked_input():
        given = dataclass_kwargs(args, Seq2SeqConfig)
        if args.init_from:  # the directory's config; a --preset or config option that differs is refused
            config = read_init_from(args.init_from, args.preset, given).config
        else:
            config = preset_config(args.preset, given) if args.preset else Seq2SeqConfig(**given)
        if args.early_stopping_monitor is not None:
            monitored_metric(args.early_stopping_monitor, "keras")
        elif args.restore_best_weights:
            raise CLIError("--restore_best_weights: needs --early_stopping.monitor, the metric that says which is best")
        teacher_forcing = TeacherForcing(**dataclass_kwargs(args, TeacherForcing))
        check_compatible(config, teacher_forcing)
    return config, teacher_forcing


def corpus_options(args: argparse.Namespace) -> dict[str, Any] | None:
    """``KerasData(corpus_options=...)`` of the data options given that ``lit-seq2seq fit`` reads as
    ``--data.corpus_options.*`` (``--tokenizer``, ``--vocab_size``, ``--on_error``)."""
    prefix = "data.corpus_options."
    options = {o.name: getattr(args, o.name) for o in DATA_OPTIONS if (o.lightning or "").startswith(prefix)}
    return {key: value for key, value in options.items() if value is not None} or None


def run_fit(args: argparse.Namespace) -> dict[str, Any]:
    """``keras-seq2seq fit``: train, score the test split, save; returns the summary printed as JSON."""
    import keras
    from datamodules.keras import KerasData
    from keras_seq2seq.atomic_model_checkpoint import AtomicModelCheckpoint, atomic_save
    from keras_seq2seq.callbacks import (
        BestWeights,
        EarlyStopping,
        ResumableBackup,
        TimeBudget,
        TrainingThroughput,
    )
    from keras_seq2seq.learning_rate import make_optimizer
    from keras_seq2seq.system import Seq2SeqModel
    from seq2seq_fit.model_format import load_pretrained
    from seq2seq_fit.precision import keras_dtype_policy

    keras.utils.set_random_seed(args.seed)
    keras.config.set_dtype_policy(keras_dtype_policy(args.precision))
    config, teacher_forcing = model_settings(args)
    saved = load_pretrained(args.init_from) if args.init_from else None  # checked by model_settings
    data_options: dict[str, Any] = {"corpus_options": corpus_options(args)}
    if saved is not None:  # the data encoded with the model's vocabularies and tokenizers
        data_options = init_data_options(saved, args.corpus, data_options["corpus_options"])
    with checked_input():  # the data and the model check their arguments; training errors keep their traceback
        data = KerasData(
            args.corpus, batch_size=args.batch_size, max_length=args.max_length, seed=args.seed,
            pad_to_multiple=args.pad_to_multiple, **data_options,
        )  # fmt: skip
        model = Seq2SeqModel(
            data.src_vocab, data.tgt_vocab, config, teacher_forcing, seed=args.seed,
            src_tokenizer=data.src_tokenizer, tgt_tokenizer=data.tgt_tokenizer,
        )  # fmt: skip
        if saved is not None:  # OUTPUT/backup, when a rerun resumes, loads over these weights
            check_init_tokenizers(args.init_from, saved, data.src_tokenizer, data.tgt_tokenizer)
            model.load_canonical_weights(saved.weights)
        jit = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
        optimizer = make_optimizer(
            args.learning_rate, args.warmup_steps, args.lr_decay_steps, args.min_lr_ratio, args.gradient_clip_val
        )
        model.compile(optimizer=optimizer, jit_compile=jit)
    try:
        os.makedirs(args.output, exist_ok=True)
    except OSError as err:
        raise CLIError(f"--output {args.output}: {err.strerror or err}") from err
    backup = os.path.join(args.output, "backup")
    if args.ckpt_path == "none" and os.path.isdir(backup):
        shutil.rmtree(backup)
    resumed = os.path.isdir(backup)
    # The recipes' state (budget spent, early-stopping count, best value) is saved with the backup.
    recipes: list[Any] = [TimeBudget(args.max_time)] if args.max_time else []
    if args.early_stopping_monitor is not None:
        rule = {"mode": args.early_stopping_mode, "min_delta": args.early_stopping_min_delta}
        recipes.append(EarlyStopping(args.early_stopping_monitor, patience=args.early_stopping_patience, **rule))
        if args.restore_best_weights:
            best = os.path.join(args.output, "best.weights.h5")
            recipes.append(BestWeights(best, args.early_stopping_monitor, **rule))
    # The callbacks that add to the epoch logs come before the ones that read them.
    callbacks: list[Any] = [
        TrainingThroughput(),
        *recipes,
        ResumableBackup(backup, recipes, double_checkpoint=True, delete_checkpoint=False),
        AtomicModelCheckpoint(os.path.join(args.output, "model.keras")),
        keras.callbacks.CSVLogger(os.path.join(args.output, "history.csv"), append=resumed),
    ]
    log_dir = args.log_dir or os.path.join(args.output, "logs")
    if log_dir.lower() != "none":
        if not installed("tensorflow"):
            print(f"{PROG} fit: warning: TensorFlow is not installed; no TensorBoard logs", file=sys.stderr)
        else:
            callbacks.append(keras.callbacks.TensorBoard(log_dir))
    model.fit(
        data.train(), epochs=args.epochs, validation_data=validation_batches(data.val(), args.limit_val_batches),
        callbacks=callbacks, steps_per_epoch=args.steps_per_epoch, verbose=args.verbose,
    )  # fmt: skip
    scores = model.evaluate(data.test(), return_dict=True, verbose=0)  # seq2seq_fit.scores.EVAL_METRICS
    summary = {
        "backend": keras.backend.backend(),
        "corpus": data.corpus.name,
        **{f"test_{name}": value for name, value in scores.items()},
        "model": os.path.join(args.output, "model.keras"),
    }
    atomic_save(model, summary["model"])  # the best epoch's weights with --restore_best_weights
    if args.save_pretrained:
        model.save_pretrained(args.save_pretrained)
        summary["save_pretrained"] = args.save_pretrained
    return summary


def validation_batches(sequence: Any, limit: float | None) -> Any:
    """The first batches of ``sequence`` under ``--trainer.limit_val_batches`` (the same ones every epoch, as
    Lightning's ``limit_val_batches``; ``validation_steps`` would go on where the last validation stopped)."""
    if limit is None:
        return sequence
    import keras

    count = limited_batches(len(sequence), limit)

    class FirstBatches(keras.utils.PyDataset):  # type: ignore[misc]
        def __len__(self) -> int:
            return count

        def __getitem__(self, index: int) -> Any:
            return sequence[index]

    return FirstBatches()


def keras_default_backend() -> str:
    """The backend Keras starts on without ``KERAS_BACKEND``: its ``keras.json``'s, else ``tensorflow`` (read
    without importing Keras)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as f:
            backend = json.load(f).get("backend")
    except (OSError, ValueError, AttributeError):
        backend = None
    return backend if backend in BACKENDS else "tensorflow"


def recorded_backend(path: str) -> str | None:
    """The backend a ``.keras`` file was trained on (``Seq2SeqModel.get_config()["backend"]``), read from the
    archive without Keras; ``None`` for a directory, another file or a file saved before it was recorded."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open("config.json") as f:
            backend = json.load(f)["config"].get("backend")
    except (OSError, KeyError, ValueError, AttributeError, TypeError, zipfile.BadZipFile):
        return None
    return backend if backend in BACKENDS else None


def choose_backend(args: argparse.Namespace) -> None:
    """Pick the backend of ``translate`` / ``export`` when neither ``--backend`` nor ``KERAS_BACKEND`` does.

    The backend the ``--model`` file was trained on when it is installed (the same numerics), else
    Keras' default when installed, else the first installed of tensorflow, jax, torch: a model trained
    with ``--backend jax`` runs where TensorFlow is not installed.

    Raises:
        CLIError: no backend is installed.
    """
    if args.backend is not None or os.environ.get("KERAS_BACKEND") or "keras" in sys.modules:
        return
    default = keras_default_backend()
    for backend in (recorded_backend(args.model), default, *BACKENDS):
        if backend is not None and installed(backend):
            if backend != default:
                os.environ["KERAS_BACKEND"] = backend
            return
    raise CLIError(
        f"--model {args.model}: no Keras backend is installed (tensorflow, jax or torch): "
        "pip install 'seq2seq-fit[tf]' (or 'seq2seq-fit[jax]', or torch)"
    )


def load_saved_model(path: str) -> Any:
    """The model of ``--model`` (``translate``, ``export``): a ``.keras`` file or a ``save_pretrained`` directory.

    Raises:
        CLIError: the file is not a ``.keras`` archive of a ``Seq2SeqModel``.
    """
    if os.path.isdir(path):
        from keras_seq2seq.system import Seq2SeqModel

        return Seq2SeqModel.from_pretrained(path)
    from seq2seq_fit.errors import ModelFormatError
    from seq2seq_fit.untrusted import check_regular_file

    try:
        check_regular_file(path)  # a FIFO would block the open forever
    except ModelFormatError as err:
        raise CLIError(f"--model {err}") from err
    if not zipfile.is_zipfile(path):
        raise CLIError(f"--model {path}: not a .keras file (not a zip archive) or a model directory")
    from keras_seq2seq.safe_loading import load_model

    try:
        with checked_input():
            model = load_model(path)
    except (CLIError, KeyError, zipfile.BadZipFile) as err:
        raise CLIError(f"--model {path}: not a Seq2SeqModel .keras file ({err})") from err
    if not callable(getattr(model, "translate", None)):
        raise CLIError(f"--model {path}: a {type(model).__name__}, not a Seq2SeqModel")
    return model


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``keras-seq2seq`` console script: exit status 0, or 2 after a one-line error."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--debug"]:  # keras-seq2seq --debug fit ...: the subcommand's --debug
        argv = [*argv[1:], "--debug"]
    parser = build_parser()
    if argv[:1] == ["fit"] and any(word == "--config" or word.startswith("--config=") for word in argv):
        fit_flags = {flag for action in subcommand_parser(parser, "fit")._actions for flag in action.option_strings}
        with cli_errors(f"{PROG} fit", debug="--debug" in argv):
            argv = ["fit", *expand_config(argv[1:], fit_flags)]
    args = parser.parse_args(argv)
    prog = f"{PROG} {args.command}"
    with cli_errors(prog, debug=args.debug, flags=FLAGS, owners=OWNERS), restored_environment():
        sources: list[str] = []
        if args.command == "translate":  # a bad --file or --model fails before Keras starts
            sources = read_sources(args.sentences, args.file)
            require_model_path(args.model, "file or directory")
            choose_backend(args)
        elif args.command == "export":

            def load_exporter() -> Any:  # only for a .keras file: the core exports a model directory alone
                choose_backend(args)
                start_keras(args)
                return load_saved_model(args.model).export_onnx

            export_command(args, load_exporter)
            return 0
        else:
            model_settings(args)  # --hidden_size 0, --schedule bogus: refused before Keras starts
            require_data_layer()  # so is a project's own ``datamodules`` package first on sys.path
        start_keras(args)
        if args.command == "fit":
            print(json.dumps(run_fit(args), ensure_ascii=False))
        else:
            print("\n".join(run_translate(prog, args, sources, load_saved_model)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
