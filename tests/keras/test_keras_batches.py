"""``Seq2SeqModel.fit`` on a user's own data: numpy dicts, ``tf.data``, a ``PyDataset``, a torch ``DataLoader``
with ``collate_pairs``, the Hugging Face layout, and the one-line error of a wrong first batch.

Runs on every backend (``test_keras_backends.py`` runs this file under JAX and torch); on JAX, where
each new step costs an XLA compile, the default run keeps the ``user_data`` tests.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import keras
from keras_seq2seq import Seq2SeqModel
from keras_seq2seq.batch import from_hugging_face as keras_from_hugging_face
from seq2seq_fit import InputError, Vocab, collate_pairs
from seq2seq_fit import from_hugging_face as numpy_from_hugging_face
from seq2seq_fit.scores import eval_records, free_running_scores
from tests.helpers.keras import BACKEND

VOCAB = Vocab(["<pad>", "<bos>", "<eos>", "<unk>", *"abcdefgh"])
METRICS = ["fed_from_model", "loss", "tf_ratio"]
#: A compiled fit costs about 10 s of tracing on TensorFlow (more with XLA on JAX), an eager torch one a
#: fraction of a second: these tests run by default on torch and under ``slow`` on the other backends.
compiled_slow = pytest.mark.slow if BACKEND != "torch" else pytest.mark.usefixtures()
VAL_METRICS = ["val_bleu", "val_exact_match", "val_loss", "val_per", "val_ppl", "val_token_acc", "val_wer"]


def reverse_pairs(n: int = 16, seed: int = 0) -> list[tuple[list[int], list[int]]]:
    """``(source_ids, target_ids)`` pairs of the reversal task, ids 4..11, lengths 1..5."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(n):
        source = rng.integers(4, len(VOCAB), size=int(rng.integers(1, 6))).tolist()
        pairs.append((source, source[::-1]))
    return pairs


def hugging_face(pairs: list[tuple[list[int], list[int]]]) -> dict[str, np.ndarray]:
    """``DataCollatorForSeq2Seq``'s layout: ``input_ids`` padded with the tokenizer's pad id (5 here: the mask
    decides), ``attention_mask``, ``labels`` = target + <eos> padded with -100."""
    s = max(len(x) for x, _ in pairs)
    t = max(len(y) for _, y in pairs) + 1
    return {
        "input_ids": np.array([x + [5] * (s - len(x)) for x, _ in pairs]),
        "attention_mask": np.array([[1] * len(x) + [0] * (s - len(x)) for x, _ in pairs]),
        "labels": np.array([y + [2] + [-100] * (t - 1 - len(y)) for _, y in pairs]),
    }


def model() -> Seq2SeqModel:
    m = Seq2SeqModel(VOCAB, VOCAB, {"embedding_dim": 8, "hidden_size": 8}, seed=0)
    m.compile(optimizer="adam")
    return m


@compiled_slow
def test_fit_on_a_numpy_dict_of_the_four_keys_with_validation() -> None:
    batch = dict(collate_pairs(reverse_pairs()))
    history = model().fit(batch, batch_size=8, epochs=1, verbose=0, validation_data=batch)
    assert sorted(history.history) == METRICS + VAL_METRICS


def test_user_data_tf_dataset_of_dicts() -> None:
    tf = pytest.importorskip("tensorflow")
    dataset = tf.data.Dataset.from_tensor_slices(dict(collate_pairs(reverse_pairs()))).batch(8)
    history = model().fit(dataset, epochs=2, verbose=0)
    assert sorted(history.history) == METRICS and len(history.history["loss"]) == 2


@compiled_slow
def test_fit_on_a_py_dataset_of_dicts() -> None:
    pairs = reverse_pairs()

    class Pairs(keras.utils.PyDataset):  # type: ignore[misc]
        def __len__(self) -> int:
            return 2

        def __getitem__(self, index: int) -> dict[str, np.ndarray]:
            return dict(collate_pairs(pairs[8 * index : 8 * index + 8]))

    history = model().fit(Pairs(), epochs=2, verbose=0)
    assert sorted(history.history) == METRICS and len(history.history["loss"]) == 2


def test_user_data_torch_dataloader_with_collate_pairs() -> None:
    """Keras' own adapter turns a batch into a tuple (losing a dict's keys) on TensorFlow and JAX: fit
    reads the loader through ``LoaderSequence`` there, and takes it as it is on torch."""
    data = pytest.importorskip("torch.utils.data")
    loader = data.DataLoader(reverse_pairs(), batch_size=8, shuffle=True, collate_fn=collate_pairs)
    history = model().fit(loader, epochs=2, verbose=0)
    assert sorted(history.history) == METRICS and len(history.history["loss"]) == 2


@compiled_slow
def test_the_current_x_y_form_keeps_working() -> None:
    batch = collate_pairs(reverse_pairs())
    x = {"source": batch["source"].astype("int32"), "target_in": batch["target_in"].astype("int32")}
    history = model().fit(x, batch["target_out"].astype("int32"), batch_size=8, epochs=1, verbose=0)
    assert sorted(history.history) == METRICS


def test_hugging_face_batches_give_our_loss_and_convert_like_the_core() -> None:
    pairs = reverse_pairs()
    hf, ours = hugging_face(pairs), collate_pairs(pairs)
    converted = keras_from_hugging_face(hf)
    core = numpy_from_hugging_face(hf)
    assert {k: keras.ops.convert_to_numpy(v).tolist() for k, v in converted.items()} == {
        k: v.tolist() for k, v in core.items()
    }
    m = model()
    theirs = m.evaluation_stats(hf, None)
    mine = m.evaluation_stats(dict(ours), None)
    for key in ("loss", "tokens", "hypotheses"):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(theirs[key]), keras.ops.convert_to_numpy(mine[key]))


@compiled_slow
def test_fit_on_hugging_face_numpy_dicts() -> None:
    hf = hugging_face(reverse_pairs())
    history = model().fit(hf, batch_size=8, epochs=1, verbose=0)
    assert sorted(history.history) == METRICS


@compiled_slow
def test_validation_scores_of_a_user_loader_score_each_pair() -> None:
    """Without our data layer, the free-running scores are the core's scores of the loader's own pairs:
    the greedy ids of ``predict`` against each target (sources that repeat would share their targets)."""
    batch = dict(collate_pairs(reverse_pairs()))
    m = model()
    scores = m.evaluate(batch, batch_size=16, verbose=0, return_dict=True)
    hypotheses = m.predict(batch, batch_size=16, verbose=0)
    expected = free_running_scores(eval_records(batch["source"], hypotheses, batch["target_out"]), VOCAB)
    assert {k: scores[k] for k in expected} == pytest.approx(expected)


def without(key: str) -> dict[str, Any]:
    return {k: v for k, v in collate_pairs(reverse_pairs()).items() if k != key}


def float_target_in() -> dict[str, Any]:
    batch = dict(collate_pairs(reverse_pairs()))
    batch["target_in"] = batch["target_in"].astype("float32")
    return batch


def test_user_data_wrong_batch_is_one_input_error() -> None:
    """A wrong first batch stops ``fit`` with one line naming the key, whatever the input pipeline."""
    tf = pytest.importorskip("tensorflow")
    with pytest.raises(InputError, match=r"^Seq2SeqModel.fit: the batch has keys \[.*\], missing 'target_in'; "):
        model().fit(without("target_in"), batch_size=8, epochs=1, verbose=0)
    dataset = tf.data.Dataset.from_tensor_slices(float_target_in()).batch(8)
    with pytest.raises(InputError, match=r"^Seq2SeqModel.train_step: batch\['target_in'\] is float32 with shape "):
        model().fit(dataset, epochs=1, verbose=0)
    batch = collate_pairs(reverse_pairs())
    pairs = tf.data.Dataset.from_tensor_slices((batch["source"], batch["target_out"])).batch(8)
    with pytest.raises(InputError, match=r"^Seq2SeqModel.train_step: got a (tuple|list) of 2 items as the batch; "):
        model().fit(pairs, epochs=1, verbose=0)


def test_predict_takes_source_ids_our_dicts_and_hugging_face_inputs() -> None:
    pairs = reverse_pairs(8)
    m = model()
    ours = m.predict(dict(collate_pairs(pairs)), verbose=0)
    hf = m.predict({k: v for k, v in hugging_face(pairs).items() if k != "labels"}, verbose=0)
    np.testing.assert_array_equal(ours, hf)


@compiled_slow
def test_the_check_runs_once_per_step_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    import keras_seq2seq.system as module

    calls: list[str] = []
    check = module.check_first_batch
    monkeypatch.setattr(
        module, "check_first_batch", lambda data, where, *a: calls.append(where) or check(data, where, *a)
    )
    batch = dict(collate_pairs(reverse_pairs()))
    model().fit(batch, batch_size=4, epochs=2, verbose=0, validation_data=batch)
    assert calls == ["Seq2SeqModel.train_step", "Seq2SeqModel.test_step"]
