"""A model directory from someone else: each costly, broken or hostile file is refused quickly, as one
short ModelFormatError or UnsafeFileError naming the file, before anything big is read or built."""

from __future__ import annotations

import json
import os
import re
import struct
import time

import numpy as np
import pytest
from safetensors.numpy import load_file

from seq2seq_fit import Seq2SeqConfig, TeacherForcing, limits
from seq2seq_fit.errors import ModelFormatError, UnsafeFileError
from seq2seq_fit.model_format import load_pretrained, save_pretrained
from seq2seq_fit.untrusted import parse_json
from seq2seq_fit.vocab import SPECIALS, Vocab
from seq2seq_fit.weight_layout import canonical_shapes

TOKENS = [*SPECIALS, "a", "b", "c"]
CONFIG = Seq2SeqConfig(hidden_size=8, embedding_dim=4)
BIG = 300_000_000  # float32 elements of the hostile tensor: 1.2 GB, never written (a sparse file)


@pytest.fixture
def saved(tmp_path):
    directory = tmp_path / "model"
    rng = np.random.default_rng(0)
    weights = {k: rng.standard_normal(s).astype(np.float32) for k, s in canonical_shapes(CONFIG, 7, 7).items()}
    save_pretrained(
        directory,
        config=CONFIG,
        teacher_forcing=TeacherForcing(),
        src_vocab=TOKENS,
        tgt_vocab=TOKENS,
        weights=weights,
        extra={"seed": 3},
    )
    return directory


def write_safetensors(path, tensors, extra_entries=None, size=None):
    """A safetensors file of ``tensors`` (float32 arrays) plus header ``extra_entries`` whose data lies
    after them; the file is extended to ``size`` bytes without writing them (sparse)."""
    header, offset, chunks = {}, 0, []
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, "<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    for name, (dtype, shape, nbytes) in (extra_entries or {}).items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))
        f.truncate(8 + len(text) + offset if size is None else size)


def refused(error, directory, match=None):
    """The message of ``load_pretrained(directory)``'s refusal, after checking it is quick and short."""
    start = time.perf_counter()
    with pytest.raises(error, match=None if match is None else re.escape(match)) as info:
        load_pretrained(directory)
    assert time.perf_counter() - start < 2
    message = str(info.value)
    assert "\n" not in message and len(message) < 600, message
    return message


def test_a_vocabulary_of_200000_tokens_with_a_duplicate_is_refused_in_linear_time():
    tokens = [*SPECIALS, *(f"t{i}" for i in range(200_000)), "t5"]
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"duplicate tokens \['t5'\]"):
        Vocab(tokens)
    assert time.perf_counter() - start < 2


def test_an_unexpected_huge_tensor_is_refused_from_the_header_without_reading_it(saved):
    path = saved / "model.safetensors"
    write_safetensors(path, load_file(path), {"evil": ("F32", [BIG], 4 * BIG)})
    assert path.stat().st_size > 4 * BIG and path.stat().st_blocks * 512 < 10_000_000  # sparse
    assert "unexpected tensor evil (300000000,)" in refused(ModelFormatError, saved, str(path))


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (("F99", [2], 8), "unknown dtype 'F99'"),
        (("F32", [4], 8), "8 bytes for shape (4,) of F32"),
        (("F32", [-1], 0), "shape [-1]"),
    ],
)
def test_a_malformed_header_entry_is_refused(saved, entry, problem):
    path = saved / "model.safetensors"
    write_safetensors(path, load_file(path), {"odd": entry})
    assert problem in refused(ModelFormatError, saved, str(path))


def test_a_truncated_weights_file_is_refused(saved):
    path = saved / "model.safetensors"
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size - 100)
    assert "lie outside the file" in refused(ModelFormatError, saved, str(path))


def test_a_header_over_the_limit_is_refused(saved):
    path = saved / "model.safetensors"
    path.write_bytes(struct.pack("<Q", 2**40) + b"{}")
    assert "MAX_SAFETENSORS_HEADER_BYTES" in refused(ModelFormatError, saved, str(path))


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused_naming_the_tensor(saved, value):
    path = saved / "model.safetensors"
    weights = load_file(path)
    weights["decoder.out.bias"][2] = value
    write_safetensors(path, weights)
    assert "tensor 'decoder.out.bias' holds 1 NaN or infinite value(s) of 7" in refused(ModelFormatError, saved)


def edit_config(directory, change):
    header = json.loads((directory / "config.json").read_text())
    change(header)
    (directory / "config.json").write_text(json.dumps(header))


def test_a_config_asking_for_a_huge_model_is_refused_before_the_weights_are_read(saved):
    edit_config(saved, lambda h: h["config"].update(hidden_size=20_000))
    message = refused(ModelFormatError, saved, str(saved / "config.json"))
    assert "MAX_PARAMETERS" in message


def test_a_config_that_disagrees_with_the_weights_is_refused_before_building(saved):
    edit_config(saved, lambda h: h["config"].update(hidden_size=6000))
    assert "has shape" in refused(ModelFormatError, saved, str(saved / "model.safetensors"))


def test_the_parameter_limit_can_be_raised(saved, monkeypatch):
    monkeypatch.setattr(limits, "MAX_PARAMETERS", 100)
    assert "more than seq2seq_fit.limits.MAX_PARAMETERS = 100" in refused(ModelFormatError, saved)
    monkeypatch.setattr(limits, "MAX_PARAMETERS", 10**9)
    assert load_pretrained(saved).config == CONFIG


@pytest.mark.parametrize("version", [1.0, True, "1", [1]])
def test_a_format_version_must_be_the_integer_it_claims(saved, version):
    edit_config(saved, lambda h: h.update(format_version=version))
    assert "format_version" in refused(ModelFormatError, saved, str(saved / "config.json"))


@pytest.mark.parametrize("seed", ["abc", -1, 1.5, True, 2**70])
def test_a_bad_seed_in_extra_is_refused(saved, seed):
    edit_config(saved, lambda h: h["extra"].update(seed=seed))
    assert "extra.seed" in refused(ModelFormatError, saved, str(saved / "config.json"))


def test_deeply_nested_json_is_refused_without_recursion_error(saved):
    (saved / "vocab.json").write_text("[" * 100_000 + "]" * 100_000)
    assert "MAX_JSON_DEPTH" in refused(ModelFormatError, saved, str(saved / "vocab.json"))
    nested: list = []
    for _ in range(70):
        nested = [nested]
    (saved / "vocab.json").write_text(json.dumps({"source": TOKENS, "target": TOKENS, "x": nested}))
    assert "nested deeper than 64 levels" in refused(ModelFormatError, saved)


def test_an_integer_past_the_interpreters_digit_limit_is_refused(saved):
    (saved / "config.json").write_text('{"format_version": ' + "9" * 5001 + "}")
    assert "not valid JSON" in refused(ModelFormatError, saved, str(saved / "config.json"))


def test_a_json_file_over_the_size_limit_is_refused_before_reading(saved, monkeypatch):
    monkeypatch.setattr(limits, "MAX_JSON_BYTES", 100)
    assert "MAX_JSON_BYTES = 100" in refused(ModelFormatError, saved, str(saved / "config.json"))


def test_a_huge_config_value_is_quoted_short(saved):
    edit_config(saved, lambda h: h["config"].update({"x" * 300_000: 1}))
    refused(ModelFormatError, saved, str(saved / "config.json"))
    edit_config(saved, lambda h: h.update(config="y" * 300_000))
    refused(ModelFormatError, saved, str(saved / "config.json"))


@pytest.mark.parametrize("name", ["vocab.json", "config.json", "model.safetensors", "tokenizer_config.json"])
def test_a_link_out_of_the_directory_is_refused_and_nothing_of_it_is_shown(saved, tmp_path, name):
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"api_key": "hunter2", "config": {}}))
    (saved / name).unlink()
    os.symlink(secret, saved / name)
    message = refused(UnsafeFileError, saved, str(saved / name))
    assert "api_key" not in message and "hunter2" not in message


def test_a_link_inside_the_directory_is_read(saved):
    os.replace(saved / "vocab.json", saved / "vocab-1.json")
    os.symlink("vocab-1.json", saved / "vocab.json")
    assert load_pretrained(saved).src_vocab.tokens == TOKENS


def test_parse_json_refuses_what_json_loads_cannot_bound():
    with pytest.raises(ModelFormatError, match=r"x\.json: JSON nested deeper"):
        parse_json("{" + '"a":{' * 5000 + "}" * 5001, "x.json")
    with pytest.raises(ModelFormatError, match=r"x\.json: not valid JSON"):
        parse_json(b"\xff", "x.json")


@pytest.mark.parametrize("text", ["null", "5", "true", '"text"'])
def test_parse_json_returns_a_scalar_document_for_the_caller_to_check(text):
    assert parse_json(text, "x.json") == json.loads(text)


@pytest.mark.parametrize("name", ["config.json", "vocab.json", "tokenizer_config.json"])
@pytest.mark.parametrize("text", ["null", "5", "true"])
def test_a_json_file_holding_one_scalar_is_refused_naming_it(saved, name, text):
    (saved / name).write_text(text)
    assert refused(ModelFormatError, saved).startswith(f"{saved / name}: ")


def test_a_safetensors_header_holding_one_scalar_is_refused(saved):
    (saved / "model.safetensors").write_bytes(struct.pack("<Q", 4) + b"null")
    assert refused(ModelFormatError, saved).startswith(f"{saved / 'model.safetensors'}: ")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
@pytest.mark.parametrize("name", ["config.json", "vocab.json", "model.safetensors", "tokenizer_config.json"])
def test_a_fifo_in_place_of_a_model_file_is_refused_without_waiting_for_a_writer(saved, name):
    from tests.core.test_line_reader import call_within

    (saved / name).unlink()
    os.mkfifo(saved / name)
    message = call_within(5.0, lambda: refused(ModelFormatError, saved))
    assert message == f"{saved / name}: is a FIFO (named pipe), expected a regular file"
