"""The mirror between ``lit_seq2seq`` and ``keras_seq2seq``, held as a contract.

One ``Seq2SeqConfig`` is one model behind two trainers, so the two shells must keep the same public
signatures and exports, and each may import only the core, the data layer and its own framework.
Down to the layers: each layer class lives in the same file on both sides, takes the same
constructor arguments, owns its weights in the same sub-layers, and the two networks give the same
``generate`` outputs on the same weights, as do the systems' ``predict``. (The two CLIs' option
sets are compared in ``test_cli_contract.py``, the logged metric names in the scores tests.)
"""

from __future__ import annotations

import ast
import importlib
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
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
    "Transformer",
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
    "keras_seq2seq": {"lightning", "pytorch_lightning", "torchmetrics", "lit_seq2seq"},
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
    from seq2seq_fit import GenerationConfig

    assert GenerationConfig().tokenizer is None and GenerationConfig().detokenize is False
    for cls in (LitSeq2Seq, Seq2SeqModel):
        assert [name for name, _, _ in described(cls.translate)] == ["sources", "generation_config", "overrides"], cls
    from seq2seq_fit.serving import OnnxTranslator

    assert described(OnnxTranslator.translate) == described(LitSeq2Seq.translate), "the ONNX runtime's translate too"


@pytest.mark.parametrize(
    "bad",
    [{"config": 5}, {"config": {"hidden_size": 0}}, {"teacher_forcing": {"start": 2.0}}, {"seed": -1},
     {"src_vocab": None}, {"tgt_vocab": ["a"]}, {"src_tokenizer": "bpe"}],
)  # fmt: skip
def test_both_systems_check_their_arguments_alike(bad: dict[str, Any]) -> None:
    from types import MappingProxyType

    arguments = {"src_vocab": SRC_TOKENS, "tgt_vocab": TGT_TOKENS, "config": MappingProxyType({"hidden_size": 8})}
    assert LitSeq2Seq(**arguments).config == Seq2SeqModel(**arguments).config, "a read-only mapping on both sides"
    messages = []
    for cls in (LitSeq2Seq, Seq2SeqModel):
        with pytest.raises(ValueError) as error:
            cls(**{**arguments, **bad})
        messages.append(str(error.value).replace(cls.__name__, "<system>"))
    assert messages[0] == messages[1]


@pytest.mark.parametrize("method", [*MIRRORED_METHODS, "pretrained_arguments"])
def test_the_surface_around_the_network_is_written_once(method: str) -> None:
    from seq2seq_fit.serving import OnnxTranslator

    for cls in (LitSeq2Seq, Seq2SeqModel, *([OnnxTranslator] if method == "translate" else [])):
        owner = next(k for k in cls.__mro__ if method in vars(k))
        assert owner.__module__ == "seq2seq_fit.pretrained", f"{cls.__name__}.{method} written again in {owner}"


@pytest.mark.parametrize("method", ["step_decoder", "canonical_weights", "load_canonical_weights"])
def test_each_system_supplies_the_adapter_of_the_shared_surface(method: str) -> None:
    for cls in (LitSeq2Seq, Seq2SeqModel):
        owner = next(k for k in cls.__mro__ if method in vars(k))
        assert owner is cls, f"{cls.__name__}.{method} missing"
    assert described(getattr(LitSeq2Seq, method)) == described(getattr(Seq2SeqModel, method))


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


# -- the layers -----------------------------------------------------------------------------------

#: Each layer class and the file (module of both packages) that holds it.
LAYER_FILES = {
    "Encoder": "encoder",
    "Decoder": "decoder",
    "LuongAttention": "luong_attention",
    "BahdanauAttention": "bahdanau_attention",
    "Seq2Seq": "seq2seq",
    "Memory": "decoder",
    "masked_softmax": "masked_softmax",
    "masked_cross_entropy": "seq2seq",
}

#: Layer constructor arguments that exist on the Keras side only, and why.
LAYER_ONLY_KERAS = {
    "seed": "the seed of a Keras SeedGenerator (dropout masks, coins): a variable inside the compiled step; "
    "torch draws from the global generator or a torch.Generator",
    "kwargs": "keras.layers.Layer's own arguments (name, dtype)",
}

#: Methods of each layer that mean the same thing: Lightning name -> Keras name.
LAYER_METHODS = {
    "Encoder": {"forward": "call"},
    "Decoder": {"forward": "call", "step": "step", "keys": "keys"},
    "LuongAttention": {"forward": "call", "keys": "keys"},
    "BahdanauAttention": {"forward": "call", "keys": "keys"},
}
LAYER_ONLY_LIGHTNING_PARAMETERS = {"lengths": NETWORK_ONLY_LIGHTNING["source_lengths"]}
LAYER_ONLY_KERAS_PARAMETERS = {
    "training": NETWORK_ONLY_KERAS["training"],
    "noise": "dropout masks drawn before a compiled Keras loop starts (no random state changes inside it)",
}

#: Where the frameworks hold one weight-owning layer differently: Keras path -> its torch path.
KERAS_LAYER_PATHS = {
    "encoder.rnn_reverse": "encoder.rnn",  # torch's one nn.GRU/LSTM holds every layer and direction
    "decoder.output_bias": "decoder.out",  # tied: Keras multiplies by the embedding, owns only the bias
}

#: Configurations that together build every optional layer (attention kinds and scores, LSTM,
#: two layers, bidirectional, tied embeddings).
TREE_CONFIGS = {
    "gru-luong-general": {"attention": "luong", "luong_score": "general"},
    "lstm-luong-dot-tied-2": {
        "cell": "lstm",
        "attention": "luong",
        "luong_score": "dot",
        "tie_embeddings": True,
        "embedding_dim": 16,
        "num_layers": 2,
    },
    "gru-bahdanau-bi-2": {"attention": "bahdanau", "bidirectional": True, "num_layers": 2},
    "lstm-none-bi": {"cell": "lstm", "attention": "none", "bidirectional": True},
}
#: What to add to the ``<eos>`` bias of each case so that rows end at different steps.
EOS_BIAS = {"gru-luong-general": 1.5, "lstm-luong-dot-tied-2": 3.0, "gru-bahdanau-bi-2": 2.0, "lstm-none-bi": 0.5}


def layer_classes(name: str) -> tuple[Any, Any]:
    """The Lightning and Keras objects called ``name``, each from its package's file for it."""
    lit = importlib.import_module(f"lit_seq2seq.{LAYER_FILES[name]}")
    keras_side = importlib.import_module(f"keras_seq2seq.{LAYER_FILES[name]}")
    return getattr(lit, name), getattr(keras_side, name)


@pytest.mark.parametrize("name", sorted(LAYER_FILES))
def test_each_layer_lives_in_the_file_of_the_same_name_on_both_sides(name: str) -> None:
    import keras_seq2seq
    import lit_seq2seq

    lit, keras_side = layer_classes(name)
    assert getattr(lit_seq2seq, name) is lit and getattr(keras_seq2seq, name) is keras_side


@pytest.mark.parametrize("name", ["Encoder", "Decoder", "LuongAttention", "BahdanauAttention", "Seq2Seq"])
def test_layer_constructors_take_the_same_arguments_in_the_same_order(name: str) -> None:
    lit, keras_side = layer_classes(name)
    keras_parameters = [p for p in described(keras_side.__init__) if p[0] not in LAYER_ONLY_KERAS]
    lit_parameters = described(lit.__init__)
    assert [p[0] for p in lit_parameters] == [p[0] for p in keras_parameters]
    assert [p[2] for p in lit_parameters] == [p[2] for p in keras_parameters], "the same defaults"


def test_memory_has_the_same_fields_in_the_same_order() -> None:
    lit, keras_side = layer_classes("Memory")
    assert lit._fields == keras_side._fields == ("enc", "mask", "keys")


@pytest.mark.parametrize(
    ("name", "method"), [(name, method) for name, methods in LAYER_METHODS.items() for method in methods]
)
def test_layer_methods_take_the_same_arguments(name: str, method: str) -> None:
    lit, keras_side = layer_classes(name)
    lit_parameters = [p for p in described(getattr(lit, method)) if p[0] not in LAYER_ONLY_LIGHTNING_PARAMETERS]
    keras_method = getattr(keras_side, LAYER_METHODS[name][method])
    keras_parameters = [p for p in described(keras_method) if p[0] not in LAYER_ONLY_KERAS_PARAMETERS]
    assert lit_parameters == keras_parameters


def torch_layer_paths(network: Any) -> set[str]:
    """Paths of the torch modules that own parameters themselves (``bridge``, ``decoder.attention.w_c``)."""
    return {name for name, module in network.named_modules() if list(module.parameters(recurse=False))}


def keras_layer_paths(layer: Any, prefix: str = "") -> Iterator[str]:
    """Attribute paths of the Keras layers (and lone variables) that own weights inside the package's
    own layers, lists of layers merged into one path (``encoder.rnn``)."""
    import keras

    own = ("Seq2Seq", "Encoder", "Decoder", "LuongAttention", "BahdanauAttention")
    # On the torch backend a Keras layer is a torch.nn.Module: its sub-layers live in _modules, not in vars()
    attributes = {**vars(layer), **getattr(layer, "_modules", {})}
    for name, value in attributes.items():
        if name.startswith("_"):
            continue
        children = value if isinstance(value, list) else [value]
        for child in children:
            path = f"{prefix}{name}"
            if isinstance(child, keras.Variable) and child.trainable:
                yield path
            elif isinstance(child, keras.layers.Layer) and type(child).__name__ in own:
                yield from keras_layer_paths(child, f"{path}.")
            elif isinstance(child, keras.layers.Layer) and child.weights:
                yield path


@pytest.mark.parametrize("case", sorted(TREE_CONFIGS))
def test_both_networks_own_their_weights_in_the_same_layers(case: str) -> None:
    config = {"hidden_size": 16, "embedding_dim": 8, **TREE_CONFIGS[case]}
    lit = TorchNetwork(config, 11, 12)
    keras_side = KerasNetwork(config, 11, 12)
    keras_paths = {KERAS_LAYER_PATHS.get(path, path) for path in keras_layer_paths(keras_side)}
    assert keras_paths == torch_layer_paths(lit)


SOURCE = np.array([[4, 5, 6, 7, 8], [9, 10, 4, 0, 0], [6, 0, 0, 0, 0], [7, 8, 9, 10, 0]], dtype="int32")
SRC_TOKENS = ["<pad>", "<bos>", "<eos>", "<unk>", *"abcdefg"]
TGT_TOKENS = [*SRC_TOKENS, "h"]


def twin_networks(case: str) -> tuple[Any, Any, dict[str, np.ndarray]]:
    """A torch network of ``TREE_CONFIGS[case]`` with every weight from ``U(-0.8, 0.8)`` (the ``<eos>`` bias
    raised by ``EOS_BIAS[case]``), its Keras twin, and their canonical weights."""
    import torch

    from keras_seq2seq.pretrained import load_canonical_weights
    from seq2seq_fit.vocab import EOS_ID

    config = {"hidden_size": 16, "embedding_dim": 8, **TREE_CONFIGS[case]}
    torch.manual_seed(0)
    lit = TorchNetwork(config, len(SRC_TOKENS), len(TGT_TOKENS)).eval()
    with torch.no_grad():
        for p in lit.parameters():
            p.uniform_(-0.8, 0.8)
        lit.decoder.out.bias[EOS_ID] += EOS_BIAS[case]  # rows end at different steps
    weights = {k: v.numpy() for k, v in lit.state_dict().items()}
    keras_side = KerasNetwork(config, len(SRC_TOKENS), len(TGT_TOKENS))
    load_canonical_weights(keras_side, weights)
    return lit, keras_side, weights


@pytest.mark.parametrize("case", sorted(TREE_CONFIGS))
def test_both_networks_generate_the_same_tokens_and_attention_from_the_same_weights(case: str) -> None:
    """Greedy ``generate`` on identical weights: the same ids (``<pad>`` after each row's ``<eos>``,
    ``max_length`` columns), the same attention weights (``None`` on both sides without attention)."""
    import torch

    from seq2seq_fit.vocab import EOS_ID
    from tests.helpers.keras import to_numpy

    lit, keras_side, _ = twin_networks(case)
    lit_tokens, lit_attention = lit.generate(torch.from_numpy(SOURCE).long(), max_length=7)
    keras_tokens, keras_attention = keras_side.generate(SOURCE, max_length=7)
    assert lit_tokens.shape == (4, 7)
    np.testing.assert_array_equal(lit_tokens.numpy(), to_numpy(keras_tokens))
    ends = {row.index(EOS_ID) if EOS_ID in row else None for row in lit_tokens.tolist()}
    assert len(ends) > 1 and ends != {None}, "rows that end at different steps (padding after <eos> compared)"
    if lit_attention is None:
        assert keras_attention is None
    else:
        np.testing.assert_allclose(lit_attention.numpy(), to_numpy(keras_attention), atol=1e-5)


@pytest.mark.parametrize(
    "case",
    [case if case == "lstm-none-bi" else pytest.param(case, marks=pytest.mark.slow) for case in sorted(TREE_CONFIGS)],
)
def test_both_systems_predict_the_same_ids_from_the_same_weights(case: str) -> None:
    """``LitSeq2Seq.predict_step`` (what ``trainer.predict`` collects) and ``Seq2SeqModel.predict``: the
    greedy ids ``(B, 2 * S + 10)``, ``<pad>`` after each row's ``<eos>``."""
    import torch

    from keras_seq2seq.pretrained import load_canonical_weights

    lit, _, weights = twin_networks(case)
    system = LitSeq2Seq(SRC_TOKENS, TGT_TOKENS, lit.config).eval()
    system.model.load_state_dict(lit.state_dict())
    model = Seq2SeqModel(SRC_TOKENS, TGT_TOKENS, lit.config)
    load_canonical_weights(model.model, weights)
    batch = {"source": torch.from_numpy(SOURCE).long(), "source_lengths": torch.from_numpy((SOURCE != 0).sum(1))}
    lit_predicted = system.predict_step(batch, 0).numpy()
    assert lit_predicted.shape == (4, 2 * 5 + 10)
    np.testing.assert_array_equal(lit_predicted, np.asarray(model.predict({"source": SOURCE}, verbose=0)))


#: Arguments each side must refuse with the same message: (class, args, kwargs).
BAD_LAYER_ARGUMENTS = {
    "config not a mapping": ("Seq2Seq", ("big", 6, 7), {}),
    "config field": ("Seq2Seq", ({"cell": "rnn"}, 6, 7), {}),
    "vocabulary size": ("Seq2Seq", ({}, 0, 7), {}),
    "encoder cell": ("Encoder", (10,), {"cell": "rnn"}),
    "odd bidirectional width": ("Encoder", (10,), {"hidden_size": 7, "bidirectional": True}),
    "decoder attention": ("Decoder", (10,), {"attention": "additive"}),
    "tied widths": ("Decoder", (10,), {"embedding_dim": 4, "hidden_size": 6, "tie_embeddings": True}),
    "luong score": ("LuongAttention", (4,), {"score": "cosine"}),
}


@pytest.mark.parametrize("case", sorted(BAD_LAYER_ARGUMENTS))
def test_both_sides_refuse_the_same_layer_arguments_with_the_same_message(case: str) -> None:
    name, args, kwargs = BAD_LAYER_ARGUMENTS[case]
    messages = []
    for cls in layer_classes(name):
        with pytest.raises(ValueError) as refused:
            cls(*args, **kwargs)
        messages.append(str(refused.value))
    assert messages[0] == messages[1]


def test_both_networks_take_a_read_only_mapping_as_config() -> None:
    from types import MappingProxyType

    config = MappingProxyType({"hidden_size": 8, "embedding_dim": 4, "attention": "bahdanau"})
    assert TorchNetwork(config, 6, 7).config == KerasNetwork(config, 6, 7).config


# -- the Transformer ------------------------------------------------------------------------------

#: The Transformer's layers, each in ``transformer_layers`` on both sides.
TRANSFORMER_LAYERS = (
    "MultiHeadAttention",
    "FeedForward",
    "EncoderBlock",
    "DecoderBlock",
    "TransformerEncoder",
    "TransformerDecoder",
)
#: Methods of the Transformer layers that mean the same thing: Lightning name -> Keras name.
TRANSFORMER_LAYER_METHODS = {
    "MultiHeadAttention": {"forward": "call", "project": "project"},
    "TransformerDecoder": {"forward": "call", "step": "step", "keys": "keys"},
}
TRANSFORMER_CONFIGS = {
    "proj-2": {"embedding_dim": 8, "num_layers": 2},
    "tied": {"embedding_dim": 16, "tie_embeddings": True},
}


def transformer_classes(name: str) -> tuple[Any, Any]:
    """The Lightning and Keras Transformer objects called ``name``, from each package's transformer files."""
    module = "transformer" if name == "Transformer" else "transformer_layers"
    lit = importlib.import_module(f"lit_seq2seq.{module}")
    keras_side = importlib.import_module(f"keras_seq2seq.{module}")
    return getattr(lit, name), getattr(keras_side, name)


@pytest.mark.parametrize("name", ["Transformer", *TRANSFORMER_LAYERS])
def test_transformer_layers_take_the_same_arguments(name: str) -> None:
    lit, keras_side = transformer_classes(name)
    keras_parameters = [p for p in described(keras_side.__init__) if p[0] not in LAYER_ONLY_KERAS]
    assert described(lit.__init__) == keras_parameters


@pytest.mark.parametrize(
    ("name", "method"), [(name, method) for name, methods in TRANSFORMER_LAYER_METHODS.items() for method in methods]
)
def test_transformer_layer_methods_take_the_same_arguments(name: str, method: str) -> None:
    lit, keras_side = transformer_classes(name)
    keras_method = getattr(keras_side, TRANSFORMER_LAYER_METHODS[name][method])
    keras_parameters = [p for p in described(keras_method) if p[0] not in LAYER_ONLY_KERAS_PARAMETERS]
    assert described(getattr(lit, method)) == keras_parameters


@pytest.mark.parametrize("method", sorted(NETWORK_METHODS))
def test_the_transformers_have_the_methods_of_the_rnn_networks(method: str) -> None:
    lit, keras_side = transformer_classes("Transformer")
    for network, rnn in ((lit, TorchNetwork), (keras_side, KerasNetwork)):
        name = method if network is lit else NETWORK_METHODS[method]
        assert described(getattr(network, name)) == described(getattr(rnn, name)), network


@pytest.mark.parametrize("case", sorted(TRANSFORMER_CONFIGS))
def test_both_transformers_own_their_weights_in_the_same_layers(case: str) -> None:
    from keras_seq2seq.pretrained import keras_slots

    config = {"architecture": "transformer", "hidden_size": 16, "num_heads": 2, **TRANSFORMER_CONFIGS[case]}
    lit, keras_side = transformer_classes("Transformer")
    keras_paths = {KERAS_LAYER_PATHS.get(slot, slot) for slot in keras_slots(keras_side(config, 11, 12))}
    assert keras_paths == torch_layer_paths(lit(config, 11, 12))


def test_both_transformers_refuse_an_rnn_config_alike() -> None:
    messages = []
    for cls in transformer_classes("Transformer"):
        with pytest.raises(ValueError) as refused:
            cls({"hidden_size": 8}, 6, 7)
        messages.append(str(refused.value))
    assert messages[0] == messages[1]
