"""User TSV files: every kind of bad input gets a path:line error or a counted skip."""

import os

import pytest

from datamodules import DataError, load_corpus
from seq2seq_fit import limits


def write(tmp_path, data: bytes, name="pairs.tsv"):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_reads_pairs_ignores_extra_columns_and_splits_deterministically(tmp_path):
    lines = "".join(f"w{i} x\tv{i}\tCC-BY attribution\n" for i in range(300))
    p = write(tmp_path, lines.encode())
    c = load_corpus(p)
    assert len(c.train) + len(c.val) + len(c.test) == 300
    assert 0 < len(c.test) < 60 and 0 < len(c.val) < 40
    assert load_corpus(p).test == c.test
    assert c.train[0][1] == [c.train[0][0][0].replace("w", "v")]


@pytest.mark.parametrize("name", ["chars", "char"])
def test_char_tokenizer_takes_the_core_names(tmp_path, name):
    p = write(tmp_path, b"a b\tcd\n" * 3)
    c = load_corpus(p, tokenizer=name, val_percent=0, test_percent=0)
    assert c.train[0] == (["a", " ", "b"], ["c", "d"])


def test_whitespace_tokenizer_is_the_default_and_a_callable_works(tmp_path):
    p = write(tmp_path, b"a  b\tc-d\n" * 3)
    assert load_corpus(p, val_percent=0, test_percent=0).train[0] == (["a", "b"], ["c-d"])
    c = load_corpus(p, tokenizer=lambda s: s.split("-"), val_percent=0, test_percent=0)
    assert c.train[0] == (["a  b"], ["c", "d"])


def test_unknown_tokenizer_names_the_core_choices(tmp_path):
    p = write(tmp_path, b"a\tb\n")
    with pytest.raises(ValueError, match=r"read_tsv_corpus\.tokenizer: got 'space', expected 'whitespace', 'chars'"):
        load_corpus(p, tokenizer="space")


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        (b"a\tb\nno tab here\nc\td\n", 2, "expected 2 tab-separated fields, found 1"),
        (b"a\tb\n\tonly target\n", 2, "empty source side"),
        (b"a\tb\nc\td\nsource\t \n", 3, "empty target side"),
        (b"a\tb\nbad \xff byte\tx\n", 2, "invalid UTF-8"),
    ],
)
def test_bad_lines_name_path_and_line(tmp_path, content, line, message):
    p = write(tmp_path, content)
    with pytest.raises(DataError, match=message) as err:
        load_corpus(p)
    assert str(err.value).startswith(f"{p}:{line}: ")
    assert err.value.line == line


def test_skip_policy_counts_dropped_lines(tmp_path, caplog):
    p = write(tmp_path, b"a\tb\nno tab\n\tx\nbad\xff\ty\nc\td\n")
    c = load_corpus(p, on_error="skip", val_percent=0, test_percent=0)
    assert len(c.train) == 2
    assert c.stats["skipped_lines"] == 3
    assert "skipped 3 malformed line(s)" in caplog.text


def test_bom_crlf_and_blank_lines_are_accepted(tmp_path):
    p = write(tmp_path, b"\xef\xbb\xbfhello\tbonjour\r\n\r\ncat\tchat\r\n")
    c = load_corpus(p, val_percent=0, test_percent=0)
    assert c.train == [(["hello"], ["bonjour"]), (["cat"], ["chat"])]


def test_whole_file_problems(tmp_path):
    with pytest.raises(DataError, match="file is empty"):
        load_corpus(write(tmp_path, b""))
    with pytest.raises(DataError, match="is a directory"):
        load_corpus(tmp_path)
    with pytest.raises(DataError, match="no such file"):
        load_corpus(tmp_path / "missing.tsv")


def test_a_one_megabyte_line_is_filtered_by_max_length(tmp_path, caplog):
    p = write(tmp_path, b"a\tb\n" + b"x" * 1_000_000 + b"\ty\n")
    c = load_corpus(p, tokenizer="chars", val_percent=0, test_percent=0, max_length=100)
    assert c.train == [(["a"], ["b"])]
    assert "dropped 1 of 2 pairs" in caplog.text


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_lf_crlf_and_a_lone_cr_each_end_a_line(tmp_path, ending):
    p = write(tmp_path, ending.join([b"hello\tbonjour", b"", b"cat\tchat", b"no tab"]) + ending)
    c = load_corpus(p, val_percent=0, test_percent=0, on_error="skip")
    assert c.train == [(["hello"], ["bonjour"]), (["cat"], ["chat"])]
    with pytest.raises(DataError) as err:
        load_corpus(p)
    assert str(err.value).startswith(f"{p}:4: expected 2 tab-separated fields")


def test_a_line_past_max_line_bytes_is_refused_naming_path_line_and_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "MAX_LINE_BYTES", 100)
    p = write(tmp_path, b"a\tb\n" + b"x" * 50 + b"\t" + b"y" * 50 + b"\nc\td\n")
    with pytest.raises(DataError) as err:
        load_corpus(p)
    assert str(err.value) == (
        f"{p}:2: line longer than 100 bytes (seq2seq_fit.limits.MAX_LINE_BYTES; raise it for a file you trust)"
    )
    for data in (b"x" * 101, b"a\tb\r" + b"x" * 101 + b"\r"):  # without an ending at the end, and after a CR
        with pytest.raises(DataError, match="line longer than 100 bytes"):
            load_corpus(write(tmp_path, data))
    assert load_corpus(write(tmp_path, b"x" * 49 + b"\t" + b"y" * 50 + b"\r\n"), val_percent=0, test_percent=0).train


def test_a_line_longer_than_a_chunk_is_read_in_bounded_memory(tmp_path):
    """The default limit: a 4 MB line is refused after reading about 1 MB of it, not the whole file."""
    import tracemalloc

    p = write(tmp_path, b"a\tb\n" + b"x" * (4 * limits.MAX_LINE_BYTES) + b"\ty\n")
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=f"{p}:2: line longer than {limits.MAX_LINE_BYTES} bytes"):
            load_corpus(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3 * limits.MAX_LINE_BYTES, peak


def call_within(seconds, function):
    """What ``function()`` returns, failing the test if it takes over ``seconds`` (in a daemon thread, so a
    regression that blocks cannot hang the suite, nor its exit)."""
    import threading

    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(function()), daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"blocked for over {seconds} s")
    assert outcome, "the call raised (see the thread's exception above)"
    return outcome[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
def test_a_fifo_is_refused_at_once_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "pairs.tsv"
    os.mkfifo(fifo)

    def attempt():
        with pytest.raises(DataError) as err:
            load_corpus(fifo)
        return str(err.value)

    assert call_within(1.0, attempt) == f"{fifo}: is a FIFO (named pipe), expected a regular file"


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero on this platform")
def test_a_device_is_refused_before_reading():
    def attempt():
        with pytest.raises(DataError) as err:
            load_corpus("/dev/zero")
        return str(err.value)

    assert call_within(1.0, attempt) == "/dev/zero: is a character device, expected a regular file"
