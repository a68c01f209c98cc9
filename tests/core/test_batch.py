"""The batch contract: collate, the Hugging Face adapter and the one-line errors of ``check_batch``."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from seq2seq_fit import InputError, check_batch, collate, collate_pairs, from_hugging_face
from seq2seq_fit.batch import LAYOUT, dtype_name

PAIRS = [([5, 6, 7], [8, 9]), ([10], [11, 12, 13])]


def hugging_face(pairs: list[tuple[list[int], list[int]]], pad_id: int = 1) -> dict[str, np.ndarray]:
    """What ``DataCollatorForSeq2Seq`` makes of ``pairs`` (targets end with <eos> = 2; labels padded with -100)."""
    s = max(len(x) for x, _ in pairs)
    t = max(len(y) for _, y in pairs) + 1
    input_ids = np.array([x + [pad_id] * (s - len(x)) for x, _ in pairs])
    mask = np.array([[1] * len(x) + [0] * (s - len(x)) for x, _ in pairs])
    labels = np.array([y + [2] + [-100] * (t - len(y) - 1) for _, y in pairs])
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


def test_collate_pads_right_and_adds_bos_and_eos() -> None:
    batch = collate_pairs(PAIRS)
    assert batch["source"].tolist() == [[5, 6, 7], [10, 0, 0]]
    assert batch["source_lengths"].tolist() == [3, 1]
    assert batch["target_in"].tolist() == [[1, 8, 9, 0], [1, 11, 12, 13]]
    assert batch["target_out"].tolist() == [[8, 9, 2, 0], [11, 12, 13, 2]]
    assert all(a.dtype == np.int64 for a in batch.values())


def test_collate_rounds_widths_up_to_the_multiple() -> None:
    batch = collate([np.array([5])], [np.array([6])], pad_to_multiple=8)
    assert batch["source"].shape == (1, 8) and batch["target_in"].shape == (1, 8)


def test_datamodules_still_export_the_same_collate() -> None:
    import datamodules
    from datamodules import batching

    assert datamodules.collate is batching.collate is collate


def test_collate_refuses_an_empty_batch_and_targets_with_eos() -> None:
    with pytest.raises(InputError, match="empty batch"):
        collate([], [])
    with pytest.raises(InputError, match=r"item 1: the target ends with <eos> \(2\)"):
        collate_pairs([([5], [6]), ([5], [6, 2])])
    with pytest.raises(InputError, match="item 0 is int, expected a"):
        collate_pairs([5])  # type: ignore[list-item]


def test_from_hugging_face_on_a_hand_made_batch() -> None:
    batch = from_hugging_face(
        {
            "input_ids": np.array([[5, 6, 1], [7, 1, 1]]),  # the tokenizer's own pad id (1) is masked out
            "attention_mask": np.array([[1, 1, 0], [1, 0, 0]]),
            "labels": np.array([[8, 9, 2], [10, 2, -100]]),
            "decoder_input_ids": np.zeros((2, 3), dtype=np.int64),  # ignored
        }
    )
    assert sorted(batch) == ["source", "source_lengths", "target_in", "target_out"]
    assert batch["source"].tolist() == [[5, 6, 0], [7, 0, 0]]
    assert batch["source_lengths"].tolist() == [2, 1]
    assert batch["target_in"].tolist() == [[1, 8, 9], [1, 10, 0]]
    assert batch["target_out"].tolist() == [[8, 9, 2], [10, 2, 0]]


def test_from_hugging_face_equals_collate_on_the_same_pairs() -> None:
    ours, theirs = collate_pairs(PAIRS), from_hugging_face(hugging_face(PAIRS))
    assert {k: v.tolist() for k, v in theirs.items()} == {k: v.tolist() for k, v in ours.items()}


def test_from_hugging_face_without_labels_or_mask() -> None:
    batch = from_hugging_face({"input_ids": np.array([[5, 6], [7, 0]])})
    assert sorted(batch) == ["source", "source_lengths"]
    assert batch["source_lengths"].tolist() == [2, 1]


def test_check_batch_names_the_layout() -> None:
    assert check_batch(collate_pairs(PAIRS)) == "seq2seq_fit"
    assert check_batch(hugging_face(PAIRS)) == "hugging_face"
    assert check_batch({"source": np.zeros((2, 3), "int32")}, targets=False, lengths=False) == "seq2seq_fit"
    assert check_batch({"input_ids": np.ones((2, 3), "int64")}, targets=False) == "hugging_face"


def broken(key: str, value: Any) -> dict[str, Any]:
    batch: dict[str, Any] = dict(collate_pairs(PAIRS))
    batch[key] = value
    return batch


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ((np.zeros((2, 3)), np.zeros((2, 3))), "step: got a tuple of 2 items as the batch; expected a dict {source"),
        ({"src": np.zeros((2, 3))}, "step: the batch has keys ['src'], missing 'source'; expected a dict"),
        (
            {k: v for k, v in collate_pairs(PAIRS).items() if k != "target_in"},
            "step: the batch has keys ['source', 'source_lengths', 'target_out'], missing 'target_in';",
        ),
        (
            broken("target_in", np.zeros((2, 4), "float32")),
            "step: batch['target_in'] is float32 with shape (2, 4), expected integer ids of shape (B, T);",
        ),
        (
            broken("source_lengths", np.zeros((2, 1), "int64")),
            "step: batch['source_lengths'] is int64 with shape (2, 1), expected integer ids of shape (B,);",
        ),
        (
            broken("target_out", np.zeros((2, 5), "int64")),
            "step: batch['target_out'] has shape (2, 5) and batch['target_in'] (2, 4): their T must agree;",
        ),
        (
            broken("source_lengths", np.zeros(3, "int64")),
            "step: batch['source_lengths'] has shape (3,) and batch['source'] (2, 3): their B must agree;",
        ),
        (
            broken("target_out", np.array([[8, 9, 2, -100], [11, 12, 13, 2]])),
            "step: batch['target_out'] holds -100, expected ids >= 0 padded with 0; -100 is Hugging Face's label "
            "padding: pass {input_ids, attention_mask, labels} as they are;",
        ),
        (
            {**hugging_face(PAIRS), "labels": np.array([[8, 9, -100, -100], [11, 12, 13, -100]])},
            "step: batch['labels'] row 0 ends with 9, expected <eos> (2): tokenize the targets with the "
            "end-of-sequence token appended, at id 2",
        ),
        (
            {**hugging_face(PAIRS), "attention_mask": np.array([[1, 1, 1], [0, 0, 1]])},
            "step: batch['attention_mask'] row 1 is left-padded; expected right padding (tokenize with "
            "padding_side='right')",
        ),
        (
            {**hugging_face(PAIRS), "labels": np.array([[8, 9, 2, -1], [11, 12, 13, 2]])},
            "step: batch['labels'] holds -1, expected ids >= 0 padded with -100",
        ),
        (
            {"input_ids": np.ones((2, 3), "int64"), "attention_mask": np.ones((2, 3))},
            "step: the batch has keys ['attention_mask', 'input_ids'], missing 'labels';",
        ),
        (
            {**hugging_face(PAIRS), "attention_mask": np.ones((2, 3), "float32")},
            "step: batch['attention_mask'] is float32 with shape (2, 3), expected integer ids of shape (B, S);",
        ),
    ],
)
def test_check_batch_raises_one_line_naming_the_key(batch: Any, message: str) -> None:
    with pytest.raises(InputError) as info:
        check_batch(batch, where="step")
    text = str(info.value)
    assert text.startswith(message), text
    assert "\n" not in text
    if message.endswith(";"):  # the errors of keys, dtypes and shapes end with the expected layout
        assert text.endswith(LAYOUT)


def test_check_batch_accepts_a_bool_attention_mask() -> None:
    batch = hugging_face(PAIRS)
    batch["attention_mask"] = batch["attention_mask"].astype(bool)
    assert check_batch(batch) == "hugging_face"


def test_check_batch_reads_symbolic_shapes_and_framework_dtypes() -> None:
    """Unknown sizes (a traced graph's ``None``) are skipped; dtypes are read as torch and TF spell them."""

    def symbolic(shape: tuple[int | None, ...], dtype: Any) -> SimpleNamespace:
        return SimpleNamespace(shape=shape, dtype=dtype)

    torch_int = type("dtype", (), {"__str__": lambda self: "torch.int64"})()
    batch = {
        "source": symbolic((None, None), torch_int),
        "source_lengths": symbolic((None,), SimpleNamespace(name="int32")),
        "target_in": symbolic((None, 7), "int32"),
        "target_out": symbolic((4, None), "int32"),
    }
    assert check_batch(batch) == "seq2seq_fit"
    assert dtype_name(batch["source"]) == "int64"
    batch["target_out"] = symbolic((None, None, None), "int32")
    with pytest.raises(InputError, match=r"batch\['target_out'\] is int32 with shape \(None, None, None\)"):
        check_batch(batch)


def test_records_of_a_user_batch_score_each_target_as_its_own_reference() -> None:
    """Scores need nothing but the batches: a source seen once is scored against its own target; a source
    that repeats with another target is scored against both (multi-reference, as for CMUdict)."""
    from seq2seq_fit import Vocab
    from seq2seq_fit.scores import eval_records, free_running_scores

    vocab = Vocab(["<pad>", "<bos>", "<eos>", "<unk>", *"abcdefgh"])
    batch = collate_pairs([([4], [5]), ([6], [7]), ([4], [8])])
    hypotheses = np.array([[5, 2], [8, 2], [5, 2]])  # right, wrong, and the first source's output again
    scores = free_running_scores(eval_records(batch["source"], hypotheses, batch["target_out"]), vocab)
    assert scores["exact_match"] == 50.0  # sources (4) and (6): (4) matches one of its two targets
    assert scores["token_acc"] == pytest.approx(100 * 4 / 6)  # per pair: 2 + 1 + 1 of 2 + 2 + 2 tokens
