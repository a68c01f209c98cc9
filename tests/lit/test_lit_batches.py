"""``LitSeq2Seq`` on a user's own ``DataLoader``: our layout via ``collate_pairs``, the Hugging Face layout,
and the one-line error of a wrong first batch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import lit_seq2seq.system
from lit_seq2seq import LitSeq2Seq
from lit_seq2seq.batch import from_hugging_face as torch_from_hugging_face
from seq2seq_fit import InputError, Vocab, collate_pairs
from seq2seq_fit import from_hugging_face as numpy_from_hugging_face
from seq2seq_fit.decoding import length_budget
from seq2seq_fit.scores import eval_records, free_running_scores
from tests.helpers.lightning import TINY, quiet_trainer

VOCAB = Vocab(["<pad>", "<bos>", "<eos>", "<unk>", *"abcdefgh"])


def reverse_pairs(n: int = 24, seed: int = 0) -> list[tuple[list[int], list[int]]]:
    """``(source_ids, target_ids)`` pairs of the reversal task, ids 4..11, lengths 1..5."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(n):
        source = rng.integers(4, len(VOCAB), size=int(rng.integers(1, 6))).tolist()
        pairs.append((source, source[::-1]))
    return pairs


def hugging_face_collate(pairs: list[tuple[list[int], list[int]]]) -> dict[str, torch.Tensor]:
    """What ``DataCollatorForSeq2Seq`` makes: ``input_ids`` padded with the tokenizer's pad id (here 5, a
    real token, to show that the mask decides), ``attention_mask``, ``labels`` = target + <eos> padded with -100."""
    s = max(len(x) for x, _ in pairs)
    t = max(len(y) for _, y in pairs) + 1
    return {
        "input_ids": torch.tensor([x + [5] * (s - len(x)) for x, _ in pairs]),
        "attention_mask": torch.tensor([[1] * len(x) + [0] * (s - len(x)) for x, _ in pairs]),
        "labels": torch.tensor([y + [2] + [-100] * (t - 1 - len(y)) for _, y in pairs]),
    }


def model(seed: int = 0) -> LitSeq2Seq:
    torch.manual_seed(seed)
    return LitSeq2Seq(VOCAB, VOCAB, TINY, seed=seed)


def test_own_dataloader_with_collate_pairs_fits_and_validates() -> None:
    train = DataLoader(reverse_pairs(), batch_size=4, shuffle=True, collate_fn=collate_pairs)
    val = DataLoader(reverse_pairs(8, seed=1), batch_size=4, collate_fn=collate_pairs)
    trainer = quiet_trainer(max_epochs=1)
    trainer.fit(model(), train, val)
    assert trainer.global_step == 6
    metrics = trainer.callback_metrics
    assert {"train/loss", "val/loss", "val/exact_match", "val/bleu", "val/wer"} <= set(metrics)
    assert float(metrics["train/tokens_per_s"]) > 0  # the throughput callback reads the converted batch


def test_hugging_face_batches_convert_like_the_core() -> None:
    batch = hugging_face_collate(reverse_pairs(6))
    theirs = torch_from_hugging_face(batch)
    core = numpy_from_hugging_face({k: v.numpy() for k, v in batch.items()})
    assert {k: v.tolist() for k, v in theirs.items()} == {k: v.tolist() for k, v in core.items()}


def test_hugging_face_layout_trains_to_the_same_loss_as_ours() -> None:
    pairs = reverse_pairs()
    results = []
    for collate in (collate_pairs, hugging_face_collate):
        loader = DataLoader(pairs, batch_size=4, collate_fn=collate)
        trainer = quiet_trainer(max_epochs=1, limit_val_batches=2)
        lit = model()
        trainer.fit(lit, loader, loader)
        results.append(
            (float(trainer.callback_metrics["train/loss"]), float(trainer.callback_metrics["val/loss"]), lit)
        )
    (ours_train, ours_val, ours), (hf_train, hf_val, hf) = results
    assert hf_train == pytest.approx(ours_train, abs=1e-6)
    assert hf_val == pytest.approx(ours_val, abs=1e-6)
    for a, b in zip(ours.parameters(), hf.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_predict_takes_hugging_face_inputs_without_labels() -> None:
    def inputs_only(pairs: list[tuple[list[int], list[int]]]) -> dict[str, torch.Tensor]:
        return {k: v for k, v in hugging_face_collate(pairs).items() if k != "labels"}

    pairs = reverse_pairs(8)
    trainer, lit = quiet_trainer(), model()
    hf = trainer.predict(lit, DataLoader(pairs, batch_size=4, collate_fn=inputs_only))
    ours = trainer.predict(lit, DataLoader(pairs, batch_size=4, collate_fn=collate_pairs))
    assert len(hf) == len(ours) == 2 and all(torch.equal(a, b) for a, b in zip(hf, ours, strict=True))


def tuples(pairs: list[tuple[list[int], list[int]]]) -> tuple[np.ndarray, np.ndarray]:
    batch = collate_pairs(pairs)
    return batch["source"], batch["target_out"]


def without_target_in(pairs: list[tuple[list[int], list[int]]]) -> dict[str, Any]:
    return {k: v for k, v in collate_pairs(pairs).items() if k != "target_in"}


def labels_as_target_out(pairs: list[tuple[list[int], list[int]]]) -> dict[str, Any]:
    hf = hugging_face_collate(pairs)
    batch = dict(collate_pairs(pairs))
    batch["target_out"] = hf["labels"]
    return batch


def float_source(pairs: list[tuple[list[int], list[int]]]) -> dict[str, Any]:
    batch = dict(collate_pairs(pairs))
    batch["source"] = batch["source"].astype(np.float32)
    return batch


@pytest.mark.parametrize(
    ("collate", "message"),
    [
        (tuples, "LitSeq2Seq.training_step: got a tuple of 2 items as the batch; expected a dict {source"),
        (
            without_target_in,
            "LitSeq2Seq.training_step: the batch has keys ['source', 'source_lengths', 'target_out'], "
            "missing 'target_in'; expected a dict",
        ),
        (
            labels_as_target_out,
            "LitSeq2Seq.training_step: batch['target_out'] holds -100, expected ids >= 0 padded with 0; -100 is "
            "Hugging Face's label padding",
        ),
        (float_source, "LitSeq2Seq.training_step: batch['source'] is float32 with shape (4, 5), expected integer"),
    ],
)
def test_a_wrong_first_batch_is_one_input_error_naming_the_key(collate: Any, message: str) -> None:
    loader = DataLoader(reverse_pairs(), batch_size=4, collate_fn=collate)
    with pytest.raises(InputError) as info:
        quiet_trainer(max_steps=1, validate=False).fit(model(), loader)
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)


def test_the_check_runs_once_per_stage_not_per_step(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    check = lit_seq2seq.system.check_first_batch
    monkeypatch.setattr(
        lit_seq2seq.system,
        "check_first_batch",
        lambda batch, where, **kw: calls.append(where) or check(batch, where, **kw),
    )
    loader = DataLoader(reverse_pairs(), batch_size=4, collate_fn=collate_pairs)
    trainer = quiet_trainer(max_epochs=2, limit_val_batches=2, num_sanity_val_steps=1)
    trainer.fit(model(), loader, loader)
    assert trainer.global_step == 12
    assert calls == ["LitSeq2Seq.validation_step", "LitSeq2Seq.training_step", "LitSeq2Seq.validation_step"]


def test_validation_scores_of_a_user_loader_score_each_pair() -> None:
    """Without our data layer, the free-running scores are the core's scores of the loader's own pairs: the
    greedy decode (each source given its length budget) against each target."""
    pairs = reverse_pairs(8)
    batch = {k: torch.as_tensor(v) for k, v in collate_pairs(pairs).items()}
    lit = model()
    (scores,) = quiet_trainer().validate(lit, DataLoader(pairs, batch_size=8, collate_fn=collate_pairs), verbose=False)
    with torch.no_grad():
        budget = length_budget(int(batch["source_lengths"].max()))
        hypotheses, _ = lit.model.generate(batch["source"], batch["source_lengths"], max_length=budget)
    expected = free_running_scores(eval_records(batch["source"], hypotheses, batch["target_out"]), VOCAB)
    assert {name: scores[f"val/{name}"] for name in expected} == pytest.approx(expected)
