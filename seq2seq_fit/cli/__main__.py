"""``python -m seq2seq_fit.cli``: the ``seq2seq-fit`` command."""

from seq2seq_fit.cli.onnx_command import main

main()
