"""``--config FILE`` for a command line that takes LightningCLI's keys as flags (``keras-seq2seq fit``).

A ``lit-seq2seq fit`` config file (``lit-seq2seq fit --print_config``'s layout: ``trainer:``,
``model: config:``, ``data:``, ``early_stopping:``, ``seed_everything``...) becomes the flags
``--trainer.max_epochs 20 --model.config.hidden_size 384 ...``, put before the command line's own
arguments so that those override the file. The keys that say how Lightning runs rather than what is
trained (:data:`LIGHTNING_ONLY`: the accelerator, the progress bar, the loggers, data-loader workers)
are skipped; any other key the command line does not take is refused, naming it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Any

from seq2seq_fit.cli.environment import installed
from seq2seq_fit.cli.errors import CLIError

#: Keys of a ``lit-seq2seq fit`` config that only say how Lightning runs: skipped by ``keras-seq2seq fit``.
LIGHTNING_ONLY = frozenset(
    {
        "trainer.accelerator", "trainer.strategy", "trainer.devices", "trainer.num_nodes", "trainer.logger",
        "trainer.callbacks", "trainer.enable_progress_bar", "trainer.enable_model_summary",
        "trainer.enable_checkpointing", "trainer.log_every_n_steps", "trainer.num_sanity_val_steps",
        "trainer.deterministic", "trainer.benchmark", "trainer.profiler", "data.num_workers", "data.pin_memory",
        "weights_only",
    }
)  # fmt: skip


def flattened(config: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """The ``(dotted key, value)`` of every leaf of a nested mapping.

    Example:
        >>> list(flattened({"trainer": {"max_epochs": 3}, "seed_everything": 1}))
        [('trainer.max_epochs', 3), ('seed_everything', 1)]
    """
    for key, value in config.items():
        if isinstance(value, Mapping):
            yield from flattened(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def flag_value(value: Any) -> str:
    """A YAML value as a command-line word (``true``/``false`` for booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def config_file_args(path: str, flags: Collection[str], skip: Collection[str] = LIGHTNING_ONLY) -> list[str]:
    """The flags of the config file ``path`` (``--key value`` for each leaf that is not ``None`` or skipped).

    Args:
        path: a YAML file in ``lit-seq2seq fit``'s layout.
        flags: the flags the command line takes (``--trainer.max_epochs``...).
        skip: keys to leave out.

    Raises:
        CLIError: the file cannot be read or is not a mapping, a key is not one of ``flags``, or a value is a list.
    """
    if not installed("yaml"):
        raise CLIError(f"--config {path}: reading a config file needs PyYAML: pip install pyyaml")
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            config = yaml.safe_load(f)
    except OSError as err:
        raise CLIError(f"--config {path}: {err.strerror or err}") from err
    except yaml.YAMLError as err:
        raise CLIError(f"--config {path}: not YAML ({str(err).splitlines()[0]})") from err
    if not isinstance(config, Mapping):
        raise CLIError(f"--config {path}: expected a mapping of options (lit-seq2seq fit --print_config's layout)")
    args: list[str] = []
    for key, value in flattened(config):
        if value is None or key in skip:
            continue
        if f"--{key}" not in flags:
            raise CLIError(f"--config {path}: {key}: not an option of this command (see --help)")
        if isinstance(value, list):
            raise CLIError(f"--config {path}: {key}: got a list, expected one value")
        args += [f"--{key}", flag_value(value)]
    return args


def expand_config(argv: list[str], flags: Collection[str]) -> list[str]:
    """``argv`` with each ``--config FILE`` (or ``--config=FILE``) replaced by its flags, kept before the rest.

    Example:
        >>> expand_config(["--epochs", "2"], {"--epochs"})
        ['--epochs', '2']
    """
    files: list[str] = []
    rest: list[str] = []
    words = iter(argv)
    for word in words:
        if word == "--config":
            path = next(words, None)
            if path is None:
                raise CLIError("--config: expected a file")
            files.append(path)
        elif word.startswith("--config="):
            files.append(word.partition("=")[2])
        else:
            rest.append(word)
    return [arg for path in files for arg in config_file_args(path, flags)] + rest
