"""``Seq2SeqCLI``: the ``LightningCLI`` behind ``lit-seq2seq fit/validate/test/predict``.

Kept apart from :mod:`lit_seq2seq.cli` so that ``lit-seq2seq translate`` (and its ``--help``)
imports neither Lightning nor torch until it loads a model.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import asdict, fields
from typing import Any, NoReturn

import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from lit_seq2seq.callbacks import EarlyStopping
from lit_seq2seq.system import LitSeq2Seq
from seq2seq_fit.cli.errors import CLIError, checked_input, fail
from seq2seq_fit.cli.init_from import check_init_tokenizers, init_data_options, read_init_from
from seq2seq_fit.cli.options import RECIPE_OPTIONS, lightning_trainer_defaults
from seq2seq_fit.cli.recipes import monitored_metric, preset_config
from seq2seq_fit.config import Seq2SeqConfig
from seq2seq_fit.data_layer import require_data_layer
from seq2seq_fit.teacher_forcing import TeacherForcing
from seq2seq_fit.tokenizer import Tokenizer
from seq2seq_fit.vocab import Vocab

#: The LightningCLI section of a config or teacher-forcing field that jsonargparse names by itself.
FIELD_SECTIONS = {
    **{f.name: "model.teacher_forcing" for f in fields(TeacherForcing)},
    **{f.name: "model.config" for f in fields(Seq2SeqConfig)},
}


def lightning_flag(key: str) -> str:
    """The flag of a jsonargparse key: ``hidden_size`` (a nested parser's) is ``--model.config.hidden_size``."""
    if "." not in key and key in FIELD_SECTIONS:
        return f"--{FIELD_SECTIONS[key]}.{key}"
    return f"--{key}"


#: jsonargparse's names of the types it expected, as a person would say them.
_EXPECTED = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}


def one_line_message(message: str, resolve: Callable[[str], str] = lambda key: f"--{key}") -> str:
    r"""A jsonargparse parser or instantiation error as one line that names the flag.

    A union error keeps only the reasons that are not "Expected a <class ...>" of the other union
    members; ``Parser key "k": Expected a <class 'int'>. Got value: x`` becomes
    ``<resolve(k)>: got 'x', expected an integer``.

    Example:
        >>> one_line_message('Parser key "max_epochs":\n  Expected a <class \'int\'>. Got value: ten')
        "--max_epochs: got 'ten', expected an integer"
        >>> one_line_message('Parser key "trainer.max_epochs":\n  Does not validate against any of the Union '
        ...                  "subtypes\nErrors:\n  - Expected a <class 'int'>\n  - Expected a <class 'NoneType'>\n"
        ...                  "Given value type: <class 'str'>\nGiven value: ten")
        "--trainer.max_epochs: got 'ten', expected an integer"
        >>> one_line_message("Does not validate against any of the Union subtypes\nErrors:\n"
        ...                  "  - Seq2SeqConfig.hidden_size: got 0, expected an integer >= 1\n"
        ...                  "  - Expected a <class 'dict'>\nGiven value: Namespace(hidden_size=0)")
        'Seq2SeqConfig.hidden_size: got 0, expected an integer >= 1'
    """
    text = str(message).strip()
    key_match = re.match(r'Parser key "([\w.]+)":\s*', text)
    body = text[key_match.end() :] if key_match else text
    reasons = [line.strip()[2:] for line in body.splitlines() if line.strip().startswith("- ")]
    useful = [r for r in reasons if not r.startswith("Expected a ")]
    given = re.search(r"^\s*Given value: (.*)$", body, flags=re.MULTILINE)
    typed = re.match(r"Expected a <class '(\w+)'>\. Got value: (.*)", body, flags=re.DOTALL)
    if useful:
        body = "; ".join(dict.fromkeys(useful))
        if re.match(r"\w+\.\w+: ", body):  # names its argument itself (Seq2SeqConfig.hidden_size: ...)
            key_match = None
    elif reasons and given:
        kinds = [m.group(1) for r in reasons if (m := re.match(r"Expected a <class '(\w+)'>", r))]
        expected = " or ".join(_EXPECTED.get(k, f"a {k}") for k in kinds if k != "NoneType") or "another value"
        body = f"got {given.group(1).strip()!r}, expected {expected}"
    elif typed:
        body = f"got {typed.group(2).strip()!r}, expected {_EXPECTED.get(typed.group(1), f'a {typed.group(1)}')}"
    body = re.sub(r":\s*\n\s*", ": ", body)
    body = "; ".join(line.strip() for line in body.splitlines() if line.strip())
    return f"{resolve(key_match.group(1))}: {body}" if key_match else body


def given_config_fields(config: Any) -> dict[str, Any]:
    """The fields of a parsed ``model.config`` that differ from :class:`Seq2SeqConfig`'s defaults (what
    ``--model.config.*`` set beside ``--preset``); none for ``None``."""
    if config is None:
        return {}
    values = vars(config) if hasattr(config, "__dict__") and not isinstance(config, dict) else dict(config)
    values = {key: value for key, value in values.items() if not key.startswith("__")}
    defaults = {f.name: f.default for f in fields(Seq2SeqConfig)}
    return {key: value for key, value in values.items() if key in defaults and value != defaults[key]}


def run_checkpoints(root: str, monitor: str | None, mode: str = "min") -> list[ModelCheckpoint]:
    """The checkpoints of ``lit-seq2seq fit``: ``<root>/checkpoints/last.ckpt`` after every epoch (what
    ``--ckpt_path last`` resumes, the same directory whatever the logger's version) and, with ``monitor``,
    ``best.ckpt`` (the best epoch by it, for ``--restore_best_weights``). Two callbacks: a monitored
    ``ModelCheckpoint`` writes ``last.ckpt`` only in the epochs it writes a best one. ``save_top_k=0``: no
    ``epoch=N-step=M.ckpt`` copy of ``last.ckpt`` beside it."""
    directory = os.path.join(root, "checkpoints")
    checkpoints = [ModelCheckpoint(dirpath=directory, save_top_k=0, save_last=True)]
    if monitor is not None:
        metric = monitored_metric(monitor, "lightning")
        checkpoints.append(ModelCheckpoint(dirpath=directory, monitor=metric, mode=mode, filename="best"))
    return checkpoints


def vocab_tokens(vocab: Vocab) -> list[str]:
    """The token list of a data module's vocabulary (what the model stores)."""
    return vocab.tokens


def tokenizer_data(tokenizer: Tokenizer) -> dict[str, Any]:
    """The plain data of a data module's tokenizer (what the model stores in its checkpoint)."""
    return tokenizer.to_dict()


class OneLineArgumentParser(LightningArgumentParser):
    """A ``LightningArgumentParser`` whose errors are one line on stderr naming the flag, exit status 2."""

    #: The command that prefixes the line (``lit-seq2seq fit``); set per command by :class:`Seq2SeqCLI`.
    command = "lit-seq2seq"

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        fail(self.command, f"{one_line_message(message, lightning_flag)} (see {self.command} --help)")


class Seq2SeqCLI(LightningCLI):
    """``LightningCLI`` for :class:`LitSeq2Seq` and :class:`Seq2SeqDataModule` with linked vocabularies and
    tokenizers (the data module's ``src_tokenizer`` / ``tgt_tokenizer`` become the model's).

    Args:
        args: the command line, without the program name.
        debug: parser errors in jsonargparse's own form (usage and message) instead of one line.
        command: the command that one-line errors start with (``lit-seq2seq fit``).
        **kwargs: more ``LightningCLI`` arguments.
    """

    def __init__(self, args: list[str], *, debug: bool = False, command: str = "lit-seq2seq", **kwargs: Any) -> None:
        # The data layer is imported here, not with the module, and checked first (a project's own package
        # named ``datamodules`` is refused in one line).
        require_data_layer()
        from datamodules.lightning import Seq2SeqDataModule

        parser_class = type("OneLineArgumentParser", (OneLineArgumentParser,), {"command": command})
        if not debug:  # start-up noise: "Seed set to 0" before anything can fail
            logging.getLogger("lightning.fabric.utilities.seed").setLevel(logging.WARNING)
        with warnings.catch_warnings():
            # lit-seq2seq always passes its command line (less --debug) as args, also when it is sys.argv.
            warnings.filterwarnings("ignore", message="LightningCLI's args parameter", category=UserWarning)
            # --ckpt_path last on a run's first start: nothing to resume yet, as intended
            warnings.filterwarnings("ignore", message=r".*ckpt_path=\"last\"\) is set, but there is no last checkpoint")
            super().__init__(
                LitSeq2Seq,
                Seq2SeqDataModule,
                args=args,
                seed_everything_default=0,
                auto_configure_optimizers=False,
                save_config_kwargs={"overwrite": True},
                trainer_defaults=lightning_trainer_defaults(),
                parser_class=LightningArgumentParser if debug else parser_class,
                **kwargs,
            )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # The training recipes of seq2seq_fit.cli.options.RECIPE_OPTIONS (trainer.max_time is the Trainer's own).
        parser.add_lightning_class_args(EarlyStopping, "early_stopping")
        recipes = {o.lightning: o for o in RECIPE_OPTIONS if o.lightning is not None}
        parser.set_defaults({key: o.default for key, o in recipes.items() if key.startswith("early_stopping.")})
        kinds: dict[str, Any] = {
            "restore_best_weights": bool, "preset": str | None, "init_from": str | None, "save_pretrained": str | None,
        }  # fmt: skip
        for key, kind in kinds.items():
            parser.add_argument(f"--{key}", type=kind, default=recipes[key].default, help=recipes[key].help)
        for side in ("src_vocab", "tgt_vocab"):
            parser.link_arguments(f"data.{side}", f"model.{side}", compute_fn=vocab_tokens, apply_on="instantiate")
        for side in ("src_tokenizer", "tgt_tokenizer"):  # the corpus's tokenizers travel with the model
            parser.link_arguments(f"data.{side}", f"model.{side}", compute_fn=tokenizer_data, apply_on="instantiate")

    def before_instantiate_classes(self) -> None:
        """Check the recipe options and apply ``--preset`` (its config, with the ``--model.config.*`` values
        that differ from the defaults on top), before anything is built."""
        config = self.config[self.subcommand] if self.subcommand else self.config
        with checked_input():
            if config.get("restore_best_weights") and not config.get("early_stopping.monitor"):
                raise CLIError(
                    "--restore_best_weights: needs --early_stopping.monitor, the metric that says which is best"
                )
            if config.get("init_from"):
                self._init_from(config)
            elif config.get("preset"):
                preset = preset_config(config["preset"], given_config_fields(config.get("model.config")))
                config["model.config"] = asdict(preset)

    def _init_from(self, config: Any) -> None:
        """``--init_from DIR``: the directory's config, and its vocabularies and tokenizers for the data."""
        given = given_config_fields(config.get("model.config"))
        self.init_from = read_init_from(config["init_from"], config.get("preset"), given)
        config["model.config"] = asdict(self.init_from.config)
        data = init_data_options(self.init_from, config["data.corpus"], config.get("data.corpus_options"))
        for key, value in data.items():
            config[f"data.{key}"] = value

    def instantiate_trainer(self, **kwargs: Any) -> Any:
        """The trainer, with :func:`run_checkpoints` unless the command line brings its own ``ModelCheckpoint``."""
        config = self._get(self.config_init, "trainer", default={})
        callbacks = config.get("callbacks") or []
        callbacks = list(callbacks) if isinstance(callbacks, list) else [callbacks]
        if config.get("enable_checkpointing") is not False and not any(
            isinstance(cb, ModelCheckpoint) for cb in callbacks
        ):
            monitor = self._get(self.config, "early_stopping.monitor") if self._restore_best() else None
            mode = self._get(self.config, "early_stopping.mode")
            callbacks += run_checkpoints(config.get("default_root_dir") or os.getcwd(), monitor, mode)
        kwargs.setdefault("callbacks", callbacks)
        return super().instantiate_trainer(**kwargs)

    def _restore_best(self) -> bool:
        return bool(self._get(self.config_init, "restore_best_weights", default=False))

    def after_fit(self) -> None:
        """``--restore_best_weights``: load the best epoch's weights; ``--save_pretrained DIR``: write the model."""
        if self._restore_best():
            monitored = [cb for cb in self.trainer.checkpoint_callbacks if getattr(cb, "monitor", None)]
            best = getattr(monitored[0], "best_model_path", "") if monitored else ""
            if best:
                state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
                self.model.load_state_dict(state)
        directory = self._get(self.config_init, "save_pretrained")
        if directory and self.trainer.is_global_zero:
            self.model.save_pretrained(directory)

    def instantiate_classes(self) -> None:
        """Build the model, data and trainer; a config or argument check that fails is the user's error
        (one line naming the flag), while an error later, during training, keeps its traceback. With
        ``--init_from`` the model starts from the directory's weights (a checkpoint that ``--ckpt_path``
        resumes loads over them)."""
        try:
            with checked_input():
                super().instantiate_classes()
                saved = getattr(self, "init_from", None)
                if saved is not None:
                    check_init_tokenizers(
                        self._get(self.config, "init_from"), saved, self.datamodule.src_tokenizer,
                        self.datamodule.tgt_tokenizer,
                    )  # fmt: skip
                    self.model.load_canonical_weights(saved.weights)
        except CLIError as err:
            raise CLIError(one_line_message(str(err), lightning_flag)) from err.__cause__
