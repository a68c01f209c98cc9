"""A handed-over ONNX export whose graphs or metadata do not fit its JSON files is refused when it opens,
with one ``ModelFormatError`` naming the file (and the input, output or initializer)."""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from seq2seq_fit import ModelFormatError
from seq2seq_fit.onnx_export import export_onnx
from seq2seq_fit.serving import OnnxTranslator
from tests.serving.test_onnx_runtime import TARGET_TOKENS, copy_export, model_arguments


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    return export_onnx(tmp_path_factory.mktemp("export"), **model_arguments())


def refusal(directory) -> str:
    with pytest.raises(ModelFormatError) as err:
        OnnxTranslator(directory, threads=1)
    message = str(err.value)
    assert "\n" not in message and len(message) < 600, message
    return message


def edit_graph(path, change) -> None:
    model = onnx.load(str(path))
    change(model)
    onnx.save_model(model, str(path))


def set_metadata(model, key: str, value: str) -> None:
    for prop in model.metadata_props:
        if prop.key == key:
            prop.value = value


@pytest.mark.parametrize("extra_tokens", [2, -2], ids=["wider", "narrower"])
def test_a_decoder_whose_logits_width_disagrees_with_vocab_json_is_refused(export_dir, tmp_path, extra_tokens):
    tokens = [*TARGET_TOKENS, "K", "L"] if extra_tokens > 0 else TARGET_TOKENS[:-2]
    other = export_onnx(
        tmp_path / "other",
        **{**model_arguments(), "tgt_vocab": tokens, "weights": None} | {"weights": resized_weights(len(tokens))},
    )
    broken = copy_export(export_dir, tmp_path / "broken")
    (broken / "decoder.onnx").write_bytes((other / "decoder.onnx").read_bytes())
    edit_graph(broken / "decoder.onnx", lambda m: set_metadata(m, "seq2seq_fit.tgt_vocab_size", "14"))
    message = refusal(broken)
    assert message.startswith(f"{broken / 'decoder.onnx'}: output 'logits' is tensor(float) ['N', {len(tokens)}]")
    assert "has 14 tokens" in message and str(broken / "vocab.json") in message


def resized_weights(tgt_vocab_size: int) -> dict:
    from seq2seq_fit.weight_layout import canonical_shapes
    from tests.serving.test_onnx_runtime import CONFIG, SOURCE_TOKENS

    rng = np.random.default_rng(1)
    shapes = canonical_shapes(CONFIG, len(SOURCE_TOKENS), tgt_vocab_size)
    return {key: rng.uniform(-0.8, 0.8, shape).astype(np.float32) for key, shape in shapes.items()}


def test_swapped_graphs_are_refused_when_they_open(export_dir, tmp_path):
    broken = copy_export(export_dir, tmp_path / "broken")
    encoder, decoder = (broken / "encoder.onnx").read_bytes(), (broken / "decoder.onnx").read_bytes()
    (broken / "encoder.onnx").write_bytes(decoder)
    (broken / "decoder.onnx").write_bytes(encoder)
    message = refusal(broken)
    assert message.startswith(f"{broken / 'encoder.onnx'}: inputs ")
    assert "(it is the decoder.onnx graph: the two are swapped)" in message


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ({"format": "seq2seq-fit-onnx", "format_version": "1"}, "format 'seq2seq-fit-onnx' version '1' is not"),
        ({"format": "seq2seq-fit-onnx", "format_version": True}, "format 'seq2seq-fit-onnx' version True is not"),
        ({"format": "seq2seq-fit-onnx", "format_version": 1.0}, "format 'seq2seq-fit-onnx' version 1.0 is not"),
        ({"format": ["x"] * 500, "format_version": 1}, "format ['x', 'x',"),
        ({"encoder": "x"}, "'encoder' is 'x', expected {'file': 'encoder.onnx', 'inputs': [names]"),
        ({"decoder": {"file": "decoder.onnx", "inputs": "token", "outputs": []}}, "'decoder' is {'file'"),
        ({"decoder": {"file": "../elsewhere.onnx", "inputs": [], "outputs": []}}, "'decoder' is {'file'"),
    ],
)
def test_bad_export_json_entries_are_refused_naming_the_file(export_dir, tmp_path, manifest, message):
    broken = copy_export(export_dir, tmp_path / "broken")
    data = json.loads((broken / "export.json").read_text())
    (broken / "export.json").write_text(json.dumps({**data, **manifest}))
    got = refusal(broken)
    assert got.startswith(f"{broken / 'export.json'}: ") and message in got, got


@pytest.mark.parametrize("text", ["[1, 2]", "{not json", "[" * 100_000])
def test_bad_config_metadata_in_a_graph_is_refused_naming_the_graph(export_dir, tmp_path, text):
    broken = copy_export(export_dir, tmp_path / "broken")
    edit_graph(broken / "encoder.onnx", lambda m: set_metadata(m, "seq2seq_fit.config", text))
    assert refusal(broken).startswith(
        f"{broken / 'encoder.onnx'}: its 'seq2seq_fit.config' metadata is {text[:10]!r}"[:-1]
    )


@pytest.mark.parametrize(
    ("graph", "initializer", "value"),
    [("decoder.onnx", "decoder.out.bias", np.nan), ("encoder.onnx", "encoder.embedding.weight", -np.inf)],
)
def test_non_finite_initializers_are_refused_naming_graph_and_initializer(
    export_dir, tmp_path, graph, initializer, value
):
    broken = copy_export(export_dir, tmp_path / "broken")

    def poison(model):
        for i, tensor in enumerate(model.graph.initializer):
            if tensor.name == initializer:
                array = numpy_helper.to_array(tensor).copy()
                array.flat[-1] = value
                model.graph.initializer[i].CopyFrom(numpy_helper.from_array(array, initializer))

    edit_graph(broken / graph, poison)
    assert refusal(broken) == (
        f"{broken / graph}: initializer {initializer!r} holds NaN or infinite values; export a model with "
        "finite weights"
    )


def test_non_finite_external_data_inside_the_export_is_refused(export_dir, tmp_path):
    broken = copy_export(export_dir, tmp_path / "broken")
    model = onnx.load(str(broken / "decoder.onnx"))
    for i, tensor in enumerate(model.graph.initializer):
        if tensor.name == "decoder.out.weight":  # over size_threshold bytes: stored in weights.bin
            array = numpy_helper.to_array(tensor).copy()
            array[0, 0] = np.inf
            model.graph.initializer[i].CopyFrom(numpy_helper.from_array(array, tensor.name))
    onnx.save_model(model, str(broken / "decoder.onnx"), save_as_external_data=True, location="weights.bin",
                    size_threshold=256)  # fmt: skip
    assert (broken / "weights.bin").stat().st_size > 600, "decoder.out.weight is stored outside the graph"
    assert refusal(broken) == (
        f"{broken / 'decoder.onnx'}: initializer 'decoder.out.weight' holds NaN or infinite values; export a model "
        "with finite weights"
    )


def test_an_untouched_export_still_opens(export_dir):
    assert OnnxTranslator(export_dir, threads=1).translate(["a b"], max_length=3)


def rename_output(model) -> None:
    model.graph.output[0].name = "renamed"


def opset_99(model) -> None:
    model.opset_import[0].version = 99


@pytest.mark.parametrize(
    ("change", "reason"),
    [(rename_output, "Graph output (renamed) does not exist"), (opset_99, "Opset 99 is under development")],
    ids=["renamed output", "opset 99"],
)
def test_a_graph_onnxruntime_cannot_load_is_refused_in_one_short_line(export_dir, tmp_path, change, reason):
    broken = copy_export(export_dir, tmp_path / "broken")
    edit_graph(broken / "decoder.onnx", change)
    message = refusal(broken)
    assert message.startswith(f"{broken / 'decoder.onnx'}: onnxruntime cannot load it (") and reason in message
    assert len(message) <= 300 + len(str(broken)), message


def test_a_huge_vocabulary_size_in_graph_metadata_is_quoted_short(export_dir, tmp_path):
    broken = copy_export(export_dir, tmp_path / "broken")
    edit_graph(broken / "encoder.onnx", lambda m: set_metadata(m, "seq2seq_fit.tgt_vocab_size", "9" * 5001))
    message = refusal(broken)
    assert message.startswith(f"{broken / 'encoder.onnx'}: built for a target vocabulary of 9999")
    assert "9" * 100 not in message and len(message) < 400, message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
@pytest.mark.parametrize("name", ["config.json", "vocab.json", "encoder.onnx", "decoder.onnx", "export.json"])
def test_a_fifo_in_place_of_an_export_file_is_refused_without_waiting_for_a_writer(export_dir, tmp_path, name):
    from tests.core.test_line_reader import call_within

    broken = copy_export(export_dir, tmp_path / "broken")
    (broken / name).unlink()
    os.mkfifo(broken / name)
    message = call_within(5.0, lambda: refusal(broken))
    assert message == f"{broken / name}: is a FIFO (named pipe), expected a regular file"


def test_a_graph_whose_shapes_do_not_fit_its_export_fails_in_one_line_at_run_time(export_dir, tmp_path):
    """A decoder whose ``token`` input is fixed to one row opens (its probe decodes one source) but cannot
    decode two: onnxruntime's run error is one ``ModelFormatError`` line naming the graph."""
    broken = copy_export(export_dir, tmp_path / "broken")
    edit_graph(
        broken / "decoder.onnx", lambda m: m.graph.input[0].type.tensor_type.shape.dim[0].ClearField("dim_param")
    )
    edit_graph(
        broken / "decoder.onnx", lambda m: setattr(m.graph.input[0].type.tensor_type.shape.dim[0], "dim_value", 1)
    )
    config = json.loads((broken / "config.json").read_text())
    del config["files"]  # an export without the file list (as before it existed) is not hash-checked
    (broken / "config.json").write_text(json.dumps(config))
    translator = OnnxTranslator(broken, threads=1)
    with pytest.raises(ModelFormatError) as err:
        translator.translate([["a", "b"], ["b", "a"]], max_length=3)
    message = str(err.value)
    assert message.startswith(f"{broken / 'decoder.onnx'}: onnxruntime cannot run it (")
    assert "\n" not in message and len(message) < 400, message
