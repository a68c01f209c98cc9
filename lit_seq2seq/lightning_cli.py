"""``Seq2SeqCLI``: the ``LightningCLI`` behind ``lit-seq2seq fit/validate/test/predict``.

Kept apart from :mod:`lit_seq2seq.cli` so that ``lit-seq2seq translate`` (and its ``--help``)
imports neither Lightning nor torch until it loads a model.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable
from dataclasses import fields
from typing import Any, NoReturn

from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from lit_seq2seq.system import LitSeq2Seq
from seq2seq_fit.cli.errors import CLIError, checked_input, fail
from seq2seq_fit.cli.options import lightning_trainer_defaults
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
        for side in ("src_vocab", "tgt_vocab"):
            parser.link_arguments(f"data.{side}", f"model.{side}", compute_fn=vocab_tokens, apply_on="instantiate")
        for side in ("src_tokenizer", "tgt_tokenizer"):  # the corpus's tokenizers travel with the model
            parser.link_arguments(f"data.{side}", f"model.{side}", compute_fn=tokenizer_data, apply_on="instantiate")

    def instantiate_classes(self) -> None:
        """Build the model, data and trainer; a config or argument check that fails is the user's error
        (one line naming the flag), while an error later, during training, keeps its traceback."""
        try:
            with checked_input():
                super().instantiate_classes()
        except CLIError as err:
            raise CLIError(one_line_message(str(err), lightning_flag)) from err.__cause__
