"""Same weights, same validation batches: Lightning and Keras log the same evaluation scores."""

from __future__ import annotations

import tempfile

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import keras
from keras_seq2seq.system import Seq2SeqModel
from seq2seq_fit import EVAL_METRICS, metric_name
from seq2seq_fit.decoding import length_budget
from seq2seq_fit.vocab import BOS_ID, EOS_ID, PAD_ID
from tests.helpers.keras import BACKEND
from tests.helpers.parity import CASES, TOKENS, lit_model

#: One configuration per cell and attention family (each rerun on every Keras backend).
SCORED_CASES = ["gru-bahdanau-bi", "lstm-luong-general-uni", "gru-none-uni"]


def pad(rows: list[list[int]]) -> np.ndarray:
    width = max(len(r) for r in rows)
    return np.array([r + [PAD_ID] * (width - len(r)) for r in rows], dtype="int64")


def validation_batches(lit) -> list[dict[str, np.ndarray]]:
    """Three batches of 4 pairs: half the references are the model's own greedy output (so exact
    match, BLEU and token accuracy are neither 0 nor 100), and one source comes back in a later
    batch with a second reference (multi-reference scoring)."""
    rng = np.random.default_rng(0)
    sources = [list(rng.integers(4, len(TOKENS), rng.integers(1, 7))) for _ in range(11)]
    sources.append(sources[1])  # a second reference for source 1
    own = lit.translate([[TOKENS[i] for i in s] for s in sources], max_length=length_budget(max(map(len, sources))))
    targets = []
    for i, (source, output) in enumerate(zip(sources, own, strict=True)):
        mine = [TOKENS.index(t) for t in output][: length_budget(len(source)) - 1]
        other = list(rng.integers(4, len(TOKENS), rng.integers(1, 6)))
        targets.append(mine if i % 2 == 0 else other)
    batches = []
    for start in range(0, 12, 4):
        src, tgt = sources[start : start + 4], targets[start : start + 4]
        batches.append(
            {
                "source": pad(src),
                "source_lengths": np.array([len(s) for s in src], dtype="int64"),
                "target_in": pad([[BOS_ID, *t] for t in tgt]),
                "target_out": pad([[*t, EOS_ID] for t in tgt]),
            }
        )
    return batches


def lightning_scores(lit, batches) -> dict[str, float]:
    loader = DataLoader([{k: torch.from_numpy(v) for k, v in b.items()} for b in batches], batch_size=None)
    trainer = pl.Trainer(
        accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False,
    )  # fmt: skip
    return {k: float(v) for k, v in trainer.validate(lit, dataloaders=loader, verbose=False)[0].items()}


class KerasBatches(keras.utils.PyDataset):  # type: ignore[misc]
    """The same batches for ``Seq2SeqModel.evaluate`` (a PyDataset: batches of several widths)."""

    def __init__(self, batches: list[dict[str, np.ndarray]]) -> None:
        super().__init__()
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        b = self.batches[index]
        x = {"source": b["source"].astype("int32"), "target_in": b["target_in"].astype("int32")}
        return x, b["target_out"].astype("int32")


def keras_scores(model, batches) -> dict[str, float]:
    model.compile(optimizer="adam")
    logs = model.evaluate(KerasBatches(batches), verbose=0, return_dict=True)
    return {metric_name(k, "val", "keras"): float(v) for k, v in logs.items()}


def eager_twins(config):
    """:func:`twins` whose ``<eos>`` bias is raised, so most untrained greedy outputs end within their budget."""
    lit = lit_model(config)
    with torch.no_grad():
        lit.model.decoder.out.bias[EOS_ID] += 2.0
    with tempfile.TemporaryDirectory() as directory:
        lit.save_pretrained(directory)
        return lit, Seq2SeqModel.from_pretrained(directory)


@pytest.mark.parametrize("case", SCORED_CASES)
def test_both_sides_log_the_same_scores(case):
    lit, model = eager_twins(CASES[case])
    batches = validation_batches(lit)
    lit_logs, keras_logs = lightning_scores(lit, batches), keras_scores(model, batches)
    assert set(lit_logs) == {metric_name(m, "val", "lightning") for m in EVAL_METRICS}
    assert set(keras_logs) == {metric_name(m, "val", "keras") for m in EVAL_METRICS}
    for name in EVAL_METRICS:
        mine, theirs = lit_logs[metric_name(name, "val", "lightning")], keras_logs[metric_name(name, "val", "keras")]
        tolerance = {"rel": 1e-4} if name in ("loss", "ppl") else {"rel": 1e-6, "abs": 1e-6}  # float32 logging
        assert theirs == pytest.approx(mine, **tolerance), f"{BACKEND} {case} {name}"
    # the case is not trivial: some sources right, some wrong, one scored against two references
    assert 0.0 < lit_logs["val/exact_match"] < 100.0 and 0.0 < lit_logs["val/token_acc"] < 100.0
    assert 0.0 < lit_logs["val/bleu"] < 100.0
