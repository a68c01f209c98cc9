"""Reading lines of a corpus or ``--file`` in bounded memory: regular files and stdin only, LF, CRLF or CR."""

from __future__ import annotations

import io
import os
import random
import re
import sys
import threading

import pytest

from seq2seq_fit import limits, line_reader
from seq2seq_fit.cli.errors import CLIError
from seq2seq_fit.cli.sources import read_sources
from seq2seq_fit.line_reader import iter_lines


def call_within(seconds, function):
    """What ``function()`` returns, failing the test if it takes over ``seconds`` (in a daemon thread, so a
    regression that blocks cannot hang the suite, nor its exit)."""
    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(function()), daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"blocked for over {seconds} s")
    assert outcome, "the call raised (see the thread's exception above)"
    return outcome[0]


def refusal(path):
    """The message of the ``CLIError`` that ``read_sources([], path)`` raises."""
    with pytest.raises(CLIError) as err:
        read_sources([], path)
    return str(err.value)


def fail(line, problem):
    return ValueError(f"{line}: {problem}")


def test_every_line_ending_ends_a_line_wherever_the_chunks_fall(monkeypatch):
    monkeypatch.setattr(line_reader, "CHUNK_BYTES", 3)  # CRLF split across two reads, among others
    rng = random.Random(0)
    for _ in range(300):
        data = bytes(rng.choice(b"ab\r\n") for _ in range(rng.randrange(12)))
        expected = re.split(rb"\r\n|\r|\n", data)
        if expected[-1] == b"":
            expected.pop()  # a final line ending ends the last line, it does not start another
        got = [line for _, line in iter_lines(io.BytesIO(data).read, fail)]
        assert got == expected, data


def test_a_file_reads_one_source_a_line_with_any_line_ending(tmp_path):
    path = tmp_path / "sources.txt"
    path.write_bytes(b"\xef\xbb\xbfone\r\ntwo\rthree\n\nfour")
    assert read_sources(["zero"], str(path)) == ["zero", "one", "two", "three", "", "four"]


def test_a_line_past_max_line_bytes_is_refused_naming_file_line_and_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "MAX_LINE_BYTES", 10)
    path = tmp_path / "sources.txt"
    path.write_bytes(b"short\n" + b"x" * 11 + b"\n")
    assert refusal(str(path)) == (
        f"--file {path}:2: line longer than 10 bytes (seq2seq_fit.limits.MAX_LINE_BYTES; raise it for a file you trust)"
    )
    path.write_bytes(b"short\n" + b"x" * 10 + b"\n")
    assert read_sources([], str(path)) == ["short", "x" * 10]


def test_invalid_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "sources.txt"
    path.write_bytes(b"fine\nbad \xff\n")
    assert refusal(str(path)) == f"--file {path}:2: invalid UTF-8 at byte 4 (b'\\xff')"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
def test_a_fifo_is_refused_at_once_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "sources.txt"
    os.mkfifo(fifo)
    message = call_within(1.0, lambda: refusal(str(fifo)))
    assert message == f"--file {fifo}: is a FIFO (named pipe), expected a regular file"


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero on this platform")
def test_a_device_is_refused_before_reading():
    message = call_within(1.0, lambda: refusal("/dev/zero"))
    assert message == "--file /dev/zero: is a character device, expected a regular file"


def test_a_directory_and_a_missing_file_are_refused(tmp_path):
    assert refusal(str(tmp_path)) == f"--file {tmp_path}: is a directory, expected a regular file"
    assert refusal(str(tmp_path / "nowhere")) == f"--file {tmp_path / 'nowhere'}: No such file or directory"


class Stdin(io.TextIOWrapper):
    """A text stdin over ``data`` bytes, as the interpreter's (with a ``buffer``)."""

    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data), encoding="utf-8")


@pytest.mark.parametrize("replaced", [Stdin, lambda data: io.StringIO(data.decode())], ids=["stdin", "StringIO"])
def test_stdin_lines_are_bounded_too(monkeypatch, replaced):
    monkeypatch.setattr(sys, "stdin", replaced(b"one\r\ntwo\rthree\n"))
    assert read_sources([], "-") == ["one", "two", "three"]
    monkeypatch.setattr(limits, "MAX_LINE_BYTES", 10)
    monkeypatch.setattr(sys, "stdin", replaced(b"one\n" + b"y" * 11))
    assert refusal("-") == (
        "--file -:2: line longer than 10 bytes (seq2seq_fit.limits.MAX_LINE_BYTES; raise it for a file you trust)"
    )
