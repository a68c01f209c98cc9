"""``Seq2SeqModel.export``: a TensorFlow SavedModel of greedy decoding, served without Keras or this package.

The models are exported once (module fixture) and one fresh interpreter that imports only
TensorFlow and numpy loads every SavedModel and decodes every batch; the tests compare its ids
with ``translate(strategy="greedy")``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import keras
from keras_seq2seq import Seq2SeqModel
from seq2seq_fit.decoding import length_budget
from seq2seq_fit.vocab import BOS_ID, EOS_ID, PAD_ID, SPECIALS, UNK_ID, Vocab
from tests.helpers.keras import BACKEND, run_in_subprocess, tiny_model, to_numpy, toy_data

tensorflow_only = pytest.mark.skipif(BACKEND != "tensorflow", reason="the SavedModel export needs TensorFlow")

VOCAB = Vocab([*SPECIALS, *"abcdefgh"])
EQUAL = [list("abcd"), list("hgfe"), list("aceg"), list("bdfh"), list("ddaa")]  # one width: translate's budget
MIXED = [list("abcde"), list("fgh"), list("a"), list("hgfedcb"), list("bb"), list("cab")]
#: ``name -> (cell, attention, bidirectional, <eos> bias)`` of the random-weight models; the biases give
#: each batch rows that stop early and rows that use the whole budget. The weights are drawn in the order of
#: ``trainable_variables``, so a change to the layer tree changes the outputs and may need other biases
#: (bilstm-luong in today's tree: at 1.5 no equal-width row stops, at 2.5 every row stops at once).
RANDOM = {"gru-bahdanau": ("gru", "bahdanau", False, 0.5), "bilstm-luong": ("lstm", "luong", True, 2.0)}
FORBIDDEN = ("keras", "tf_keras", "keras_seq2seq", "seq2seq_fit", "datamodules", "lit_seq2seq", "torch", "jax")

#: The serving process. ``import tensorflow`` imports Keras whenever it is installed (and goes on
#: without it), so the child makes every FORBIDDEN package unimportable first: the SavedModel must
#: load and run with TensorFlow and numpy alone.
SERVE = """
    import json, sys
    for name in FORBIDDEN:
        sys.modules[name] = None  # import raises ModuleNotFoundError
    import numpy as np
    import tensorflow as tf
    jobs = json.load(open(JOBS))
    results, vocabs = {}, {}
    for name, job in jobs.items():
        served = tf.saved_model.load(job["path"])
        results[name] = []
        vocabs[name] = {
            "variables": [[t.decode() for t in v[0].numpy()] for v in (served.src_vocab, served.tgt_vocab)],
            "file": json.load(open(job["path"] + "/assets.extra/vocab.json")),
        }
        for batch in job["batches"]:
            source = tf.constant(np.array(batch, dtype=np.int32).reshape(len(batch), -1))
            ids = served.serve(source).numpy()
            signature = served.signatures["serving_default"](source=source)["output_0"].numpy()
            assert ids.dtype == np.int32 and np.array_equal(ids, signature), (ids, signature)
            results[name].append(ids.tolist())
    empty = served.serve(tf.zeros((0, 3), tf.int32)).numpy()
    loaded = sorted(m for m, module in sys.modules.items() if m.split(".")[0] in FORBIDDEN and module is not None)
    assert not loaded, loaded
    print(json.dumps({"results": results, "vocabs": vocabs, "empty": list(empty.shape)}))
"""


def untrained(cell: str, attention: str, bidirectional: bool, eos_bias: float = 0.5) -> Seq2SeqModel:
    """Random weights, larger than the default initialisation, ``<eos>`` made likelier (``eos_bias``) and
    ``<pad>``, ``<bos>``, ``<unk>`` unlikely, so outputs vary in length and some rows reach the budget."""
    config = {"embedding_dim": 8, "hidden_size": 16, "cell": cell, "attention": attention}
    model = Seq2SeqModel(VOCAB, VOCAB, {**config, "bidirectional": bidirectional})
    rng = np.random.default_rng(0)
    for v in model.trainable_variables:
        v.assign(rng.uniform(-0.8, 0.8, size=v.shape).astype("float32"))
    bias = model.model.decoder.out.bias
    ids = np.arange(len(VOCAB))
    bias.assign(to_numpy(bias) + eos_bias * (ids == EOS_ID) - 10.0 * np.isin(ids, [PAD_ID, BOS_ID, UNK_ID]))
    return model


def padded(vocab: Vocab, sources: list[list[str]]) -> list[list[int]]:
    """Right-padded source ids ``(B, S)``."""
    width = max(map(len, sources))
    return [[*vocab.encode(s), *[PAD_ID] * (width - len(s))] for s in sources]


def expected_ids(model: Seq2SeqModel, sources: list[list[str]], budget: int | None = None) -> list[list[int]]:
    """What the endpoint must return, from ``translate``: each output's ids, then ``<eos>`` unless the
    output used its whole budget (``budget``, or ``translate``'s per-source ``2 * len + 10``), ``<pad>``
    to the longest row."""
    outputs = model.translate(sources, strategy="greedy", max_length=budget)
    rows = []
    for source, out in zip(sources, outputs, strict=True):
        limit = budget if budget is not None else length_budget(len(source))
        rows.append([*model.tgt_vocab.encode(out), *([EOS_ID] if len(out) < limit else [])])
    width = max(map(len, rows))
    return [[*row, *[PAD_ID] * (width - len(row))] for row in rows]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every model exported, decoded in one fresh TensorFlow-only process: ``name -> {model, cases}``
    with ``cases`` a list of ``(label, sources, endpoint ids, expected ids)``."""
    if BACKEND != "tensorflow":
        pytest.skip("the SavedModel export needs TensorFlow")
    keras.utils.set_random_seed(0)
    root = tmp_path_factory.mktemp("export")
    models: dict[str, tuple[Seq2SeqModel, list[list[str]], list[list[str]]]] = {
        name: (untrained(*spec), EQUAL, MIXED) for name, spec in RANDOM.items()
    }
    data = toy_data()
    fitted = tiny_model(data, attention="luong")  # what a new user tries: fit, then export
    fitted.compile(optimizer=keras.optimizers.Adam(1e-2))
    fitted.fit(data.train(), epochs=2, verbose=0)
    source_ids = to_numpy(data.split("test")[0][0]["source"])
    sources = [data.src_vocab.decode(row) for row in source_ids]
    width = max(map(len, sources))
    models["fitted-gru-luong"] = (fitted, [s for s in sources if len(s) == width], sources)

    jobs: dict[str, Any] = {}
    cases: dict[str, list[tuple[str, list[list[str]], list[list[int]]]]] = {}
    for name, (model, equal, mixed) in models.items():
        model.export(root / name, verbose=False)
        mixed_budget = length_budget(max(map(len, mixed)))
        cases[name] = [
            ("equal widths: translate's budget", equal, expected_ids(model, equal)),
            ("mixed widths: the batch's budget", mixed, expected_ids(model, mixed, mixed_budget)),
            *[(f"alone: {''.join(s)}", [s], expected_ids(model, [s])) for s in mixed],
        ]
        batches = [padded(model.src_vocab, sources) for _, sources, _ in cases[name]]
        jobs[name] = {"path": str(root / name), "batches": batches}
    (root / "jobs.json").write_text(json.dumps(jobs))
    code = SERVE.replace("JOBS", repr(str(root / "jobs.json"))).replace("FORBIDDEN", repr(FORBIDDEN))
    out = json.loads(run_in_subprocess(code).strip().splitlines()[-1])
    return {
        "models": {name: model for name, (model, _, _) in models.items()},
        "cases": {
            name: [(*case, ids) for case, ids in zip(cases[name], out["results"][name], strict=True)] for name in cases
        },
        "vocabs": out["vocabs"],
        "empty": out["empty"],
    }


@tensorflow_only
@pytest.mark.parametrize("name", [*RANDOM, "fitted-gru-luong"])
def test_the_saved_model_decodes_what_greedy_translate_decodes(served: dict[str, Any], name: str) -> None:
    for label, _sources, expected, ids in served["cases"][name]:
        assert ids == expected, label


@tensorflow_only
def test_the_cases_cover_eos_padding_and_the_budget(served: dict[str, Any]) -> None:
    """The comparisons above are only as good as their cases: rows of several lengths, rows that stop
    at ``<eos>`` with ``<pad>`` after it, rows that use the whole budget, and no all-pad column."""
    for name in RANDOM:
        for label, _, _, ids in served["cases"][name][:2]:
            rows = np.array(ids)
            stopped = (rows == EOS_ID).any(axis=1)
            assert stopped.any() and (rows[stopped] == PAD_ID).any(), (name, label)
            assert (rows[:, -1] != PAD_ID).any(), (name, label)  # trailing all-pad columns dropped
            assert len({int((row != PAD_ID).sum()) for row in rows}) > 1, (name, label)
    budget_rows = [
        row
        for name in RANDOM
        for _, sources, _, ids in served["cases"][name]
        for row in ids
        if EOS_ID not in row and len(row) == length_budget(max(map(len, sources)))
    ]
    assert budget_rows, "some row runs to the budget without <eos>"


@tensorflow_only
def test_the_vocabularies_travel_with_the_saved_model(served: dict[str, Any]) -> None:
    for name, model in served["models"].items():
        vocabs = served["vocabs"][name]
        tokens = [model.src_vocab.tokens, model.tgt_vocab.tokens]
        assert vocabs["variables"] == tokens
        assert vocabs["file"] == {"source": tokens[0], "target": tokens[1]}


@tensorflow_only
def test_an_empty_batch_gives_no_rows(served: dict[str, Any]) -> None:
    assert served["empty"] == [0, 0]


@tensorflow_only
def test_the_endpoint_takes_the_input_signature(tmp_path: Path) -> None:
    import tensorflow as tf

    model = untrained("gru", "bahdanau", False)
    model.export(tmp_path / "int64", verbose=False, input_signature=[keras.InputSpec(shape=(None, 5), dtype="int64")])
    served = tf.saved_model.load(str(tmp_path / "int64"))
    spec = served.signatures["serving_default"].structured_input_signature[1]["source"]
    assert spec.shape.as_list() == [None, 5] and spec.dtype == tf.int64
    source = padded(VOCAB, MIXED[:1])
    assert served.serve(tf.constant(source, tf.int64)).numpy().tolist() == expected_ids(model, MIXED[:1])


@tensorflow_only
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"format": "savedmodel"}, r"format: got 'savedmodel', expected one of"),
        ({"format": "keras"}, r"format: got 'keras', expected one of"),
        ({"is_static": True}, r"got the keyword arguments \['is_static'\], expected none"),
        (
            {"input_signature": [keras.InputSpec(shape=(None, None, 3), dtype="int32")]},
            r"input_signature: got .*rank 2",
        ),
        (
            {"input_signature": [keras.InputSpec(shape=(None, None), dtype="float32")]},
            r"input_signature: got .*integer",
        ),
    ],
)
def test_bad_arguments_are_named(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    model = untrained("gru", "luong", False)
    with pytest.raises(ValueError, match=message):
        model.export(tmp_path / "model", verbose=False, **kwargs)
    assert not (tmp_path / "model").exists()


def test_export_format_onnx_writes_the_onnx_export_on_every_backend(tmp_path: Path) -> None:
    """Keras' own entry point, ``model.export(path, format="onnx")``, writes what ``export_onnx`` writes."""
    pytest.importorskip("onnxruntime")
    from seq2seq_fit.serving import OnnxTranslator

    model = untrained("lstm", "luong", True)
    model.export(tmp_path / "export", format="onnx", verbose=False)
    model.export_onnx(tmp_path / "export_onnx")
    files = sorted(p.name for p in (tmp_path / "export").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "export_onnx").iterdir())
    assert {"encoder.onnx", "decoder.onnx", "config.json", "vocab.json"} <= set(files)
    sources = [" ".join(s) for s in MIXED]
    assert OnnxTranslator(tmp_path / "export").translate(sources) == model.translate(sources)
    with pytest.raises(ValueError, match=r"input_signature: got .*expected None with format='onnx'"):
        model.export(tmp_path / "other", format="onnx", input_signature=[keras.InputSpec(shape=(None, 5))])
    with pytest.raises(ValueError, match=r"keyword arguments \['is_static'\], expected none with format='onnx'"):
        model.export(tmp_path / "other", format="onnx", is_static=True)
    assert not (tmp_path / "other").exists()


def test_other_backends_are_refused_with_a_pointer_to_export_onnx(tmp_path: Path) -> None:
    """On JAX or torch the SavedModel cannot hold the greedy loop: a clear error, nothing written."""
    code = f"""
        import keras
        from keras_seq2seq import Seq2SeqModel
        from seq2seq_fit.vocab import SPECIALS
        model = Seq2SeqModel([*SPECIALS, "a"], [*SPECIALS, "a"], {{"embedding_dim": 4, "hidden_size": 4}})
        try:
            model.export({str(tmp_path / "model")!r})
        except ValueError as error:
            print(keras.backend.backend(), "|", error)
    """
    backend = BACKEND if BACKEND != "tensorflow" else "torch"
    out = run_in_subprocess(code, env={"KERAS_BACKEND": backend}).strip().splitlines()[-1]
    assert out.startswith(f"{backend} | Seq2SeqModel.export: the Keras backend is '{backend}', expected 'tensorflow'")
    assert "export_onnx" in out
    assert not (tmp_path / "model").exists()
