"""A checkpoint from someone else: one whose config asks for a model bigger than its weights, one with NaN
weights or a truncated file is refused quickly as one ModelFormatError naming the file, before any model
of that size is built; the command line prints it as one line with exit status 2."""

from __future__ import annotations

import io
import struct
import time
import zipfile
from pathlib import Path

import lightning
import pytest
import torch

from lit_seq2seq import LitSeq2Seq
from lit_seq2seq.cli import main
from seq2seq_fit import limits
from seq2seq_fit.errors import ModelFormatError, UnsafeFileError
from tests.helpers import error_line

TOKENS = ["<pad>", "<bos>", "<eos>", "<unk>", "a", "b", "c"]
CONFIG = {"hidden_size": 8, "embedding_dim": 4}


def save(path: Path, model: LitSeq2Seq, **hparams: object) -> Path:
    torch.save(
        {"state_dict": model.state_dict(), "hyper_parameters": {**dict(model.hparams), **hparams},
         "pytorch-lightning_version": lightning.__version__},
        path,
    )  # fmt: skip
    return path


@pytest.fixture
def model() -> LitSeq2Seq:
    torch.manual_seed(0)
    return LitSeq2Seq(TOKENS, TOKENS, CONFIG)


def refused(path: Path, match: str) -> str:
    start = time.perf_counter()
    with pytest.raises(ModelFormatError) as info:
        LitSeq2Seq.load_from_checkpoint(path, map_location="cpu")
    assert time.perf_counter() - start < 2
    message = str(info.value)
    assert message.startswith(f"{path}: ") and match in message, message
    assert "\n" not in message and len(message) < 600
    return message


@pytest.mark.parametrize("hidden_size", [6000, 20_000])
def test_a_config_bigger_than_the_weights_is_refused_before_the_model_is_built(model, tmp_path, hidden_size):
    path = save(tmp_path / "big.ckpt", model, config={**model.config.to_dict(), "hidden_size": hidden_size})
    refused(path, "has shape" if hidden_size == 6000 else "MAX_PARAMETERS")


def test_the_parameter_limit_applies_and_can_be_raised(model, tmp_path, monkeypatch):
    path = save(tmp_path / "model.ckpt", model)
    monkeypatch.setattr(limits, "MAX_PARAMETERS", 100)
    refused(path, "more than seq2seq_fit.limits.MAX_PARAMETERS = 100")
    monkeypatch.setattr(limits, "MAX_PARAMETERS", 10**9)
    assert LitSeq2Seq.load_from_checkpoint(path, map_location="cpu").config == model.config


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_naming_the_tensor(model, tmp_path, value):
    with torch.no_grad():
        model.model.decoder.out.bias[1] = value
    refused(save(tmp_path / "nan.ckpt", model), "tensor model.decoder.out.bias holds 1 NaN or infinite value(s)")


def test_an_unexpected_tensor_is_refused(model, tmp_path):
    state = {**model.state_dict(), "model.evil": torch.zeros(3)}
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": state, "hyper_parameters": dict(model.hparams)}, path)
    refused(path, "unexpected tensor evil (3,)")


def test_a_truncated_checkpoint_is_one_named_error(model, tmp_path, capsys):
    path = save(tmp_path / "model.ckpt", model)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    refused(path, "not a LitSeq2Seq checkpoint (")
    line = error_line(main, ["translate", "--model", str(path), "a b"], capsys)
    assert line.startswith(f"lit-seq2seq translate: error: --model {path}: not a LitSeq2Seq checkpoint (")


def test_a_checkpoint_in_a_file_object_is_checked_and_loads(model, tmp_path):
    buffer = io.BytesIO(save(tmp_path / "model.ckpt", model).read_bytes())
    loaded = LitSeq2Seq.load_from_checkpoint(buffer, map_location="cpu")
    assert torch.equal(loaded.model.decoder.out.bias, model.model.decoder.out.bias)


def test_a_model_directory_linking_out_is_one_line_from_the_command_line(model, tmp_path, capsys):
    directory = tmp_path / "model"
    model.save_pretrained(directory)
    secret = tmp_path / "secret.json"
    secret.write_text('{"api_key": "hunter2"}')
    (directory / "vocab.json").unlink()
    (directory / "vocab.json").symlink_to(secret)
    line = error_line(main, ["translate", "--model", str(directory), "a b"], capsys)
    assert line.startswith(f"lit-seq2seq translate: error: {directory / 'vocab.json'}: a link that leads out of")
    assert "api_key" not in line and "hunter2" not in line


def short_refusal(path: Path, error: type[Exception] = ModelFormatError) -> str:
    with pytest.raises(error) as info:
        LitSeq2Seq.load_from_checkpoint(path, map_location="cpu")
    message = str(info.value)
    assert type(info.value) is error and message.startswith(f"{path}: ") and "\n" not in message, message
    assert len(message.removeprefix(f"{path}: ")) <= 250, message  # short whatever the file's path
    return message


@pytest.mark.parametrize(
    ("key", "value"), [("lr", 0.0), ("compile", None), ("seed", float("nan")), ("seed", [[1, [2]]]), ("lr", "x" * 2000)]
)
def test_a_stored_hyper_parameter_the_constructor_refuses_is_named_with_the_file(model, tmp_path, key, value):
    message = short_refusal(save(tmp_path / "model.ckpt", model, **{key: value}))
    assert f"hyper-parameter {key}: LitSeq2Seq.{key}: got " in message


def test_a_bad_keyword_argument_stays_the_callers_error(model, tmp_path):
    path = save(tmp_path / "model.ckpt", model)
    with pytest.raises(ValueError, match=r"^LitSeq2Seq\.lr: got 0\.0") as info:
        LitSeq2Seq.load_from_checkpoint(path, map_location="cpu", lr=0.0)
    assert not isinstance(info.value, ModelFormatError)


@pytest.mark.parametrize("value", [{"kind": {"a": {"b": "x" * 900}}}, {"kind": "x" * 5000}])
def test_a_bad_stored_tokenizer_is_quoted_short(model, tmp_path, value):
    message = short_refusal(save(tmp_path / "model.ckpt", model, tgt_tokenizer=value))
    assert "hyper-parameter tgt_tokenizer: LitSeq2Seq.tgt.tokenizer: got {'kind': " in message


@pytest.mark.parametrize("state", [7, [], "x", torch.zeros(3), torch.zeros(3, dtype=torch.uint8)])
def test_a_coin_rng_state_that_is_no_generator_state_is_refused(model, tmp_path, state):
    path = tmp_path / "model.ckpt"
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams), "coin_rng_state": state,
                "coin_rng_device": "cpu", "pytorch-lightning_version": lightning.__version__}, path)  # fmt: skip
    assert "coin_rng_state: got " in short_refusal(path)


@pytest.mark.parametrize("version", ["bad", 3, None, "missing"])
def test_a_bad_or_missing_lightning_version_is_refused(model, tmp_path, version):
    checkpoint = {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams)}
    if version != "missing":
        checkpoint["pytorch-lightning_version"] = version
    torch.save(checkpoint, tmp_path / "model.ckpt")
    assert "pytorch-lightning_version: got " in short_refusal(tmp_path / "model.ckpt")


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool])
def test_a_weight_that_is_not_floating_point_is_refused_naming_it(model, tmp_path, dtype):
    state = {**model.state_dict(), "model.decoder.out.bias": model.model.decoder.out.bias.detach().to(dtype)}
    path = tmp_path / "model.ckpt"
    torch.save({"state_dict": state, "hyper_parameters": dict(model.hparams),
                "pytorch-lightning_version": lightning.__version__}, path)  # fmt: skip
    assert "tensor 'model.decoder.out.bias' is " in short_refusal(path)


def test_a_token_that_is_not_a_string_is_refused(model, tmp_path):
    message = short_refusal(save(tmp_path / "model.ckpt", model, src_vocab=[*TOKENS[:4], None, *TOKENS[5:]]))
    assert "hyper_parameters.src_vocab[4]: got None, expected a token string" in message


def test_a_corrupt_member_is_one_named_error(model, tmp_path):
    path = save(tmp_path / "model.ckpt", model)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:  # a weight's storage, whose size then no longer matches the pickle
        member = max((i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    entry = data.rindex(member.filename.encode()) - 46  # its central directory entry (the name is last there)
    data[entry + 20 : entry + 28] = struct.pack("<II", 64, 64)  # its sizes in the central directory
    path.write_bytes(bytes(data))
    message = short_refusal(path)
    assert "not a LitSeq2Seq checkpoint (" in message or "does not match its CRC-32" in message, message


class Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("ran",))


def test_pickled_objects_are_refused_in_one_short_line(model, tmp_path):
    path = save(tmp_path / "model.ckpt", model, payload=Payload())
    message = short_refusal(path, UnsafeFileError)
    assert "pickled Python objects (GLOBAL 'print')" in message and "weights_only=False" in message


def test_bytes_changed_after_saving_are_refused_by_the_members_checksums(tmp_path) -> None:
    """A few bytes overwritten inside a weight's data would load as another model: the zip's CRC-32 catches it."""
    path = tmp_path / "m.ckpt"
    module = LitSeq2Seq(TOKENS, TOKENS, {"hidden_size": 8, "embedding_dim": 4})
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
                "pytorch-lightning_version": lightning.__version__}, path)  # fmt: skip
    LitSeq2Seq.load_from_checkpoint(path, map_location="cpu")  # the file as written loads
    with zipfile.ZipFile(path) as archive:
        member = max(archive.infolist(), key=lambda info: info.file_size if "/data/" in info.filename else 0)
    data = bytearray(path.read_bytes())
    name_length, extra_length = struct.unpack_from("<HH", data, member.header_offset + 26)  # the local header's
    start = member.header_offset + 30 + name_length + extra_length
    data[start : start + 8] = bytes(8)
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFormatError, match=r"m\.ckpt: member .* does not match its CRC-32"):
        LitSeq2Seq.load_from_checkpoint(path, map_location="cpu")
