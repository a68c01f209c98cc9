"""The mirror between ``lit_seq2seq`` and ``keras_seq2seq``, held as a contract.

One ``Seq2SeqConfig`` is one model behind two trainers, so the two shells must keep the same public
signatures and exports, and each may import only the core, the data layer and its own framework.
(The two CLIs' option sets are compared in ``test_cli_contract.py``, the logged metric names in
the scores tests.)
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("lightning")
pytest.importorskip("keras")

from keras_seq2seq import Seq2Seq as KerasNetwork
from keras_seq2seq import Seq2SeqModel
from lit_seq2seq import LitSeq2Seq
from lit_seq2seq import Seq2Seq as TorchNetwork

ROOT = Path(__file__).resolve().parent.parent

#: Keyword-only constructor arguments that exist on one side only, and why.
ONLY_LIGHTNING = {
    "lr": "Keras takes its optimizer (learning rate included) in compile()",
    "weight_decay": "the same: part of the Keras optimizer",
    "warmup_steps": "Keras: keras_seq2seq.WarmupCosineDecay, the optimizer's schedule",
    "lr_decay_steps": "the same",
    "min_lr_ratio": "the same",
    "compile": "torch.compile; Keras compiles in compile(jit_compile=...)",
}
ONLY_KERAS = {"kwargs": "keras.Model's own arguments (name, dtype)"}

#: Methods both model classes have with the same parameters and defaults.
MIRRORED_METHODS = ("translate", "save_pretrained", "from_pretrained", "export_onnx")

#: Functions of ``lit_seq2seq.batch`` and ``keras_seq2seq.batch`` with the same parameters and defaults
#: (``from_hugging_face`` also as the core's numpy version).
MIRRORED_BATCH_FUNCTIONS = ("from_hugging_face", "check_first_batch")

#: Public names both packages export for the same thing.
MIRRORED_EXPORTS = (
    "BahdanauAttention",
    "Decoder",
    "Encoder",
    "LuongAttention",
    "Seq2Seq",
    "TrainingThroughput",
    "UnsafeFileError",
    "masked_cross_entropy",
    "masked_softmax",
)

#: Methods of the two ``Seq2Seq`` networks that mean the same thing: Lightning name -> Keras name
#: (a Keras layer's forward pass is ``call``).
NETWORK_METHODS = {
    "encode": "encode",
    "forward": "call",
    "scheduled_forward": "scheduled_forward",
    "loss": "loss",
    "generate": "generate",
}

#: Network parameters that exist on one side only, and why.
NETWORK_ONLY_LIGHTNING = {
    "source_lengths": "Keras counts the lengths from the padding inside the encoder (its RNN layers read the "
    "whole padded width; torch packs the sequences by length)",
    "generator": "Keras draws coins and Gumbel noise from the network's own SeedGenerator, a variable that "
    "lives inside the compiled train step; torch passes a torch.Generator",
    "ratio@scheduled_forward": "the one-call teacher-forced path: torch decides it from the ratio (a host float); "
    "in a compiled Keras step the ratio is a tensor, so Keras decides it from the schedule on the host",
}
NETWORK_ONLY_KERAS = {"training": "the Keras layer convention for dropout; torch uses module.train()/eval()"}

#: Top-level modules each package must never import.
FORBIDDEN_IMPORTS = {
    "seq2seq_fit": {"torch", "lightning", "torchmetrics", "keras", "tensorflow", "jax", "lit_seq2seq", "keras_seq2seq"},
    "datamodules": {"lit_seq2seq", "keras_seq2seq"},
    "lit_seq2seq": {"keras", "tensorflow", "jax", "keras_seq2seq"},
    "keras_seq2seq": {"lightning", "torchmetrics", "lit_seq2seq"},
}


def described(fn: Callable[..., Any]) -> list[tuple[str, str, Any]]:
    """``(name, kind, default)`` of every parameter but ``self``/``cls``."""
    return [
        (p.name, p.kind.name, p.default)
        for p in inspect.signature(fn).parameters.values()
        if p.name not in ("self", "cls")
    ]


def test_constructors_take_the_same_positional_arguments() -> None:
    lit = [p for p in described(LitSeq2Seq.__init__) if p[1] == "POSITIONAL_OR_KEYWORD"]
    keras_side = [p for p in described(Seq2SeqModel.__init__) if p[1] == "POSITIONAL_OR_KEYWORD"]
    assert lit == keras_side
    assert [name for name, _, _ in lit] == ["src_vocab", "tgt_vocab", "config", "teacher_forcing"]


def test_constructor_keywords_agree_where_both_sides_have_them() -> None:
    lit = {name: default for name, kind, default in described(LitSeq2Seq.__init__) if kind != "POSITIONAL_OR_KEYWORD"}
    other = {
        name: default for name, kind, default in described(Seq2SeqModel.__init__) if kind != "POSITIONAL_OR_KEYWORD"
    }
    shared = lit.keys() & other.keys()
    assert "seed" in shared
    assert lit["src_tokenizer"] is lit["tgt_tokenizer"] is None, "no tokenizer given: whitespace, on both sides"
    assert {name: lit[name] for name in shared} == {name: other[name] for name in shared}
    assert lit.keys() - shared == ONLY_LIGHTNING.keys(), "a Lightning-only argument not listed in ONLY_LIGHTNING"
    assert other.keys() - shared == ONLY_KERAS.keys(), "a Keras-only argument not listed in ONLY_KERAS"


@pytest.mark.parametrize("method", MIRRORED_METHODS)
def test_mirrored_methods_have_the_same_signature(method: str) -> None:
    assert described(getattr(LitSeq2Seq, method)) == described(getattr(Seq2SeqModel, method))


def test_translate_uses_the_models_tokenizer_unless_told_and_can_return_text() -> None:
    for cls in (LitSeq2Seq, Seq2SeqModel):
        parameters = inspect.signature(cls.translate).parameters
        assert parameters["tokenizer"].default is None and parameters["detokenize"].default is False, cls
    from seq2seq_fit.serving import OnnxTranslator

    assert described(OnnxTranslator.translate) == described(LitSeq2Seq.translate), "the ONNX runtime's translate too"


@pytest.mark.parametrize("name", MIRRORED_BATCH_FUNCTIONS)
def test_the_batch_adapters_have_the_same_signature(name: str) -> None:
    import keras_seq2seq.batch
    import lit_seq2seq.batch
    import seq2seq_fit.batch

    lit, keras_side = getattr(lit_seq2seq.batch, name), getattr(keras_seq2seq.batch, name)
    assert described(lit) == described(keras_side)
    core = getattr(seq2seq_fit.batch, name, None)
    if core is not None:
        assert described(core) == described(lit)


@pytest.mark.parametrize("method", sorted(NETWORK_METHODS))
def test_the_two_networks_have_the_same_methods(method: str) -> None:
    """Same parameter names, kinds and defaults, once each side's framework-only parameters
    (listed with the reason above) are left out."""

    def shared(fn: Callable[..., Any], only: dict[str, str]) -> list[tuple[str, str, Any]]:
        return [p for p in described(fn) if p[0] not in only and f"{p[0]}@{method}" not in only]

    lit = shared(getattr(TorchNetwork, method), NETWORK_ONLY_LIGHTNING)
    keras_side = shared(getattr(KerasNetwork, NETWORK_METHODS[method]), NETWORK_ONLY_KERAS)
    assert lit == keras_side
    assert lit[0][0] == "source"


def test_the_two_networks_are_built_from_the_same_arguments() -> None:
    lit = [name for name, _, _ in described(TorchNetwork.__init__)]
    keras_side = [name for name, kind, _ in described(KerasNetwork.__init__) if kind == "POSITIONAL_OR_KEYWORD"]
    assert lit == keras_side == ["config", "src_vocab_size", "tgt_vocab_size"]


@pytest.mark.parametrize("name", MIRRORED_EXPORTS)
def test_both_packages_export_the_mirrored_names(name: str) -> None:
    import keras_seq2seq
    import lit_seq2seq

    assert name in lit_seq2seq.__all__ and name in keras_seq2seq.__all__
    lit_obj, keras_obj = getattr(lit_seq2seq, name), getattr(keras_seq2seq, name)
    if isinstance(lit_obj, type) and issubclass(lit_obj, Exception):
        assert lit_obj is keras_obj, "one error class for the same failure"


def imported_packages(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports (inside functions too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN_IMPORTS))
def test_each_package_imports_only_what_the_layering_allows(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN_IMPORTS[package])
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    assert {path: bad for path, bad in offenders.items() if bad} == {}


@pytest.mark.parametrize("name", ["gold_probability", "applied_ratio", "fed_from_model", "mix_inputs"])
def test_the_scheduled_sampling_functions_have_the_same_signature(name: str) -> None:
    import keras_seq2seq.scheduled_sampling
    import lit_seq2seq.scheduled_sampling

    lit, keras_side = getattr(lit_seq2seq.scheduled_sampling, name), getattr(keras_seq2seq.scheduled_sampling, name)
    assert described(lit) == described(keras_side)


def test_both_sides_log_the_applied_position_ratio_under_one_name() -> None:
    """``tf_ratio_applied`` (Lightning ``train/tf_ratio_applied``) only with a position schedule: a model
    without one keeps exactly the logs and the Keras tracker state it had."""
    from seq2seq_fit.teacher_forcing import APPLIED_RATIO_METRIC

    tokens = ["<pad>", "<bos>", "<eos>", "<unk>", "a"]
    config = {"hidden_size": 8, "embedding_dim": 8}
    by_position = {"schedule": "linear", "position_schedule": "linear"}
    assert APPLIED_RATIO_METRIC == "tf_ratio_applied"
    assert APPLIED_RATIO_METRIC in [m.name for m in Seq2SeqModel(tokens, tokens, config, by_position).metrics]
    assert APPLIED_RATIO_METRIC not in [m.name for m in Seq2SeqModel(tokens, tokens, config).metrics]
    # Lightning's side is read from a real run: tests/lit/test_lit_scheduled_sampling.py (module_logs_the_applied_ratio)
