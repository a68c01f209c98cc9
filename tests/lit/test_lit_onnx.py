"""Lightning's own ONNX entry point, ``LitSeq2Seq.to_onnx(path)``, writes the project's ONNX export."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lit_seq2seq import LitSeq2Seq
from seq2seq_fit import Vocab

VOCAB = Vocab(["<pad>", "<bos>", "<eos>", "<unk>", *"abcdef"])


def test_to_onnx_writes_what_export_onnx_writes_and_decodes_the_same(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from seq2seq_fit.serving import OnnxTranslator

    torch.manual_seed(0)
    lit = LitSeq2Seq(VOCAB, VOCAB, {"hidden_size": 16, "embedding_dim": 8, "cell": "lstm", "bidirectional": True})
    assert lit.example_input_array is None  # Lightning's to_onnx would need it
    assert lit.to_onnx(tmp_path / "to_onnx") == tmp_path / "to_onnx"
    lit.export_onnx(tmp_path / "export_onnx")
    files = sorted(p.name for p in (tmp_path / "to_onnx").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "export_onnx").iterdir())
    assert {"encoder.onnx", "decoder.onnx", "config.json", "vocab.json"} <= set(files)
    sources = ["a b c", "f e", "d"]
    assert OnnxTranslator(tmp_path / "to_onnx").translate(sources, max_length=6) == lit.translate(sources, max_length=6)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {}, r"to_onnx.file_path: got None, expected a directory"),
        (("x",), {"input_sample": torch.zeros(1, 3)}, r"to_onnx: got \['input_sample'\], expected only file_path"),
        (("x",), {"export_params": True}, r"to_onnx: got \['export_params'\], expected only file_path"),
    ],
)
def test_to_onnx_refuses_what_it_does_not_use(tmp_path: Path, args: tuple, kwargs: dict, message: str) -> None:
    lit = LitSeq2Seq(VOCAB, VOCAB, {"hidden_size": 8, "embedding_dim": 4})
    with pytest.raises(ValueError, match=message):
        lit.to_onnx(*[tmp_path / a for a in args], **kwargs)
    assert not (tmp_path / "x").exists()
