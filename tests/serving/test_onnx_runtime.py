"""The ONNX export and its onnxruntime runner on their own: files, errors, input handling, and a
process that imports nothing but numpy and onnxruntime (framework parity is in tests/parity)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from seq2seq_fit import ModelFormatError, Seq2SeqConfig, TeacherForcing, UnknownTokensWarning
from seq2seq_fit.model_format import save_pretrained
from seq2seq_fit.onnx_export import EXPORT_FILES, export_onnx, export_pretrained
from seq2seq_fit.serving import OnnxTranslator
from seq2seq_fit.vocab import EOS_ID
from seq2seq_fit.weight_layout import canonical_shapes
from tests.helpers import REPO, child_env

SOURCE_TOKENS = ["<pad>", "<bos>", "<eos>", "<unk>", *"abcdefgh"]
TARGET_TOKENS = ["<pad>", "<bos>", "<eos>", "<unk>", *"ABCDEFGHIJ"]
CONFIG = Seq2SeqConfig(cell="lstm", embedding_dim=8, hidden_size=12, bidirectional=True, attention="bahdanau")
WORDS = ["a b c", "h g", "d", "e f g h a b", "c c"]


def random_weights(config: Seq2SeqConfig, seed: int = 0) -> dict[str, np.ndarray]:
    """Canonical weights of ``U(-0.8, 0.8)`` (large enough that outputs vary with the source), ``<eos>`` made rarer."""
    rng = np.random.default_rng(seed)
    shapes = canonical_shapes(config, len(SOURCE_TOKENS), len(TARGET_TOKENS))
    weights = {key: rng.uniform(-0.8, 0.8, shape).astype(np.float32) for key, shape in shapes.items()}
    weights["decoder.out.bias"][EOS_ID] -= 1.0
    return weights


def model_arguments(config: Seq2SeqConfig = CONFIG, seed: int = 0) -> dict:
    return {
        "config": config,
        "teacher_forcing": TeacherForcing(),
        "src_vocab": SOURCE_TOKENS,
        "tgt_vocab": TARGET_TOKENS,
        "weights": random_weights(config, seed),
        "extra": {"seed": seed},
    }


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    return export_onnx(tmp_path_factory.mktemp("export"), **model_arguments())


@pytest.fixture(scope="module")
def runner(export_dir):
    return OnnxTranslator(export_dir, threads=1)


def test_export_directory_holds_the_graphs_the_json_files_and_a_manifest(export_dir):
    assert sorted(p.name for p in export_dir.iterdir()) == sorted([*EXPORT_FILES, "tokenizer_config.json"])
    manifest = json.loads((export_dir / "export.json").read_text())
    assert manifest["encoder"]["inputs"] == ["source_ids", "lengths"]
    assert manifest["decoder"]["inputs"] == ["token", "h", "c", "enc", "keys", "mask"]
    assert manifest["decoder"]["outputs"] == ["logits", "h_out", "c_out", "attention"]
    assert json.loads((export_dir / "vocab.json").read_text()) == {"source": SOURCE_TOKENS, "target": TARGET_TOKENS}
    assert json.loads((export_dir / "config.json").read_text())["config"] == CONFIG.to_dict()


def test_runner_reads_config_and_vocabularies(runner):
    assert runner.config == CONFIG
    assert runner.src_vocab.tokens == SOURCE_TOKENS and runner.tgt_vocab.tokens == TARGET_TOKENS


def test_outputs_vary_with_the_source_and_do_not_depend_on_batching(runner):
    outputs = runner.translate(WORDS)
    assert len({tuple(o) for o in outputs}) > 1, "random weights should give different outputs"
    assert all(set(o) <= set(TARGET_TOKENS[3:]) for o in outputs)
    assert runner.translate(WORDS, batch_size=1) == outputs
    assert [runner.translate([w])[0] for w in WORDS] == outputs
    beam = runner.translate(WORDS, strategy="beam", beam_width=4, length_penalty=0.6)
    assert runner.translate(WORDS, strategy="beam", beam_width=4, length_penalty=0.6, batch_size=2) == beam
    assert runner.translate(WORDS, strategy="beam", beam_width=1) == outputs, "beam width 1 is greedy"
    sample = {"strategy": "sample", "seed": 3, "temperature": 0.8}
    assert runner.translate(WORDS, **sample) == runner.translate(WORDS, **sample, batch_size=1)


def test_token_lists_attention_and_max_length(runner):
    assert runner.translate([w.split() for w in WORDS]) == runner.translate(WORDS)
    outputs, weights = runner.translate(WORDS, return_attention=True)
    for word, output, w in zip(WORDS, outputs, weights, strict=True):
        assert w.shape == (len(output), len(word.split())) and w.dtype == np.float32
        assert np.allclose(w.sum(1), 1.0, atol=1e-5)
    assert all(len(o) <= 2 for o in runner.translate(WORDS, max_length=2))
    assert runner.translate(list("abc"), tokenizer="chars") == runner.translate(["a", "b", "c"])


def test_unknown_tokens_read_as_unk_with_one_warning(runner):
    with pytest.warns(UnknownTokensWarning, match=r"1 of 2 sources .*'zz'"):
        outputs = runner.translate(["a zz b", "c"])
    assert outputs[0] == runner.translate([["a", "<unk>", "b"]])[0]


def test_empty_batch_and_empty_source(runner):
    assert runner.translate([]) == []
    assert runner.translate(["", "a"])[0] == []


def test_bad_arguments_are_named(runner):
    with pytest.raises(ValueError, match=r"translate.beam_width: got 0"):
        runner.translate(WORDS, strategy="beam", beam_width=0)
    with pytest.raises(ValueError, match=r"translate.sources: got 'a b'"):
        runner.translate("a b")


def test_export_from_a_model_directory_equals_the_direct_export(tmp_path, runner):
    save_pretrained(tmp_path / "model", **model_arguments())
    exported = export_pretrained(tmp_path / "model", tmp_path / "export")
    assert OnnxTranslator(exported).translate(WORDS, strategy="beam") == runner.translate(WORDS, strategy="beam")


def copy_export(export_dir, target):
    target.mkdir()
    for path in export_dir.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    return target


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda d: d / "encoder.onnx", r"encoder.onnx: not an ONNX export directory \(a file\)"),
        (lambda d: d / "nowhere", r"nowhere: not an ONNX export directory \(nothing there\)"),
    ],
)
def test_not_a_directory(export_dir, setup, message):
    with pytest.raises(ModelFormatError, match=message):
        OnnxTranslator(setup(export_dir))


def test_a_model_directory_is_not_an_export(tmp_path):
    save_pretrained(tmp_path, **model_arguments())
    with pytest.raises(ModelFormatError, match=r"a save_pretrained model directory, not an ONNX export.*seq2seq-fit"):
        OnnxTranslator(tmp_path)


def test_missing_graph_is_named(export_dir, tmp_path):
    broken = copy_export(export_dir, tmp_path / "broken")
    (broken / "decoder.onnx").unlink()
    with pytest.raises(ModelFormatError, match=r"broken/decoder.onnx: missing"):
        OnnxTranslator(broken)


def test_corrupt_graph_is_named(export_dir, tmp_path):
    broken = copy_export(export_dir, tmp_path / "broken")
    (broken / "decoder.onnx").write_bytes(b"not a graph")
    with pytest.raises(ModelFormatError, match=r"broken/decoder.onnx: onnxruntime cannot load it"):
        OnnxTranslator(broken)


def test_vocabulary_that_does_not_match_the_graphs(export_dir, tmp_path):
    broken = copy_export(export_dir, tmp_path / "broken")
    vocab = json.loads((broken / "vocab.json").read_text())
    vocab["target"].append("K")
    (broken / "vocab.json").write_text(json.dumps(vocab))
    with pytest.raises(ModelFormatError, match=r"encoder.onnx: built for a target vocabulary of 14 tokens, but .*"):
        OnnxTranslator(broken)


def test_config_that_does_not_match_the_graphs(export_dir, tmp_path):
    broken = copy_export(export_dir, tmp_path / "broken")
    header = json.loads((broken / "config.json").read_text())
    header["config"]["attention"] = "luong"
    (broken / "config.json").write_text(json.dumps(header))
    with pytest.raises(ModelFormatError, match=r"exported from another model .*attention.*graph attention='bahdanau'"):
        OnnxTranslator(broken)


def test_unknown_export_format_version(export_dir, tmp_path):
    broken = copy_export(export_dir, tmp_path / "broken")
    (broken / "export.json").write_text(json.dumps({"format": "seq2seq-fit-onnx", "format_version": 9}))
    with pytest.raises(ModelFormatError, match=r"export.json: format 'seq2seq-fit-onnx' version 9 is not supported"):
        OnnxTranslator(broken)


def test_exporting_without_onnx_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"seq2seq-fit\[serve\]"):
        export_onnx(tmp_path, **model_arguments())


def test_a_fresh_process_translates_with_numpy_and_onnxruntime_only(export_dir, runner, tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("\n".join(WORDS) + "\n")
    script = textwrap.dedent(
        f"""
        import json, sys
        from seq2seq_fit.serving import OnnxTranslator
        sources = open({str(words)!r}).read().splitlines()
        runner = OnnxTranslator({str(export_dir)!r})
        outputs = [runner.translate(sources), runner.translate(sources, strategy="beam", beam_width=3)]
        heavy = sorted({{m.split(".")[0] for m in sys.modules}} & {{"torch", "tensorflow", "keras", "jax", "onnx",
                       "safetensors", "lightning", "lit_seq2seq", "keras_seq2seq", "datamodules"}})
        print(json.dumps({{"outputs": outputs, "heavy": heavy, "ort": "onnxruntime" in sys.modules}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["heavy"] == [] and result["ort"]
    assert result["outputs"] == [runner.translate(WORDS), runner.translate(WORDS, strategy="beam", beam_width=3)]
