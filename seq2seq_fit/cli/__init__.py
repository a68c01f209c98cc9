"""The command lines' shared parts, and ``seq2seq-fit`` (the ONNX runtime's command line) itself.

``lit-seq2seq`` and ``keras-seq2seq`` are built from these modules, so the three command lines take
the same options with the same spellings and report errors the same way:

- :mod:`~seq2seq_fit.cli.options`: the option tables (training, data, training recipes, ``translate``, ``export``);
- :mod:`~seq2seq_fit.cli.recipes`: the framework-free rules of the training recipes (budget, early stopping, presets);
- :mod:`~seq2seq_fit.cli.config_file`: ``--config`` in LightningCLI's layout for ``keras-seq2seq fit``;
- :mod:`~seq2seq_fit.cli.value_types`: the argparse types of those options;
- :mod:`~seq2seq_fit.cli.errors`: one-line errors (``<prog>: error: <message>``, exit status 2);
- :mod:`~seq2seq_fit.cli.commands`: ``translate`` and ``export`` around each command line's model loader;
- :mod:`~seq2seq_fit.cli.sources`: the sentences and ``--file`` lines ``translate`` reads;
- :mod:`~seq2seq_fit.cli.environment`: environment variables and installed packages;
- :mod:`~seq2seq_fit.cli.onnx_command`: the ``seq2seq-fit`` command (``python -m seq2seq_fit.cli``).

Framework-free: argparse and the standard library only, so ``--help`` and argument errors start
no framework.
"""

from seq2seq_fit.cli.onnx_command import build_parser, main

__all__ = ["build_parser", "main"]
