"""Same weights: ``trainer.predict`` (Lightning) and ``model.predict`` (Keras) return the same greedy ids.

Both give per batch the ``(B, 2 * S + 10)`` ids of ``Seq2Seq.generate`` (``<bos>`` left out, each
row's first ``<eos>`` kept, ``<pad>`` after it): Lightning a list of int64 tensors, one per batch,
Keras one numpy array. The systems only call ``generate``, compared on every configuration by the
network tests, so a covering subset of configurations suffices here.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from tests.helpers.keras import BACKEND
from tests.helpers.lightning import quiet_trainer
from tests.helpers.parity import CASES, COVERING_CASES, FULL_MATRIX_BACKEND, SOURCE, twins

#: Compiling the greedy loop of ``predict`` takes seconds per configuration on TensorFlow and JAX.
SLOW = () if BACKEND == FULL_MATRIX_BACKEND else (pytest.mark.slow,)


@pytest.mark.parametrize("case", [pytest.param(case, marks=SLOW) for case in COVERING_CASES])
def test_predict_gives_the_same_greedy_ids_on_both_sides(case: str) -> None:
    lit, model = twins(CASES[case])
    lengths = (SOURCE != 0).sum(1)
    batch = {"source": torch.from_numpy(SOURCE).long(), "source_lengths": torch.from_numpy(lengths).long()}
    predictions = quiet_trainer().predict(lit, DataLoader([batch], batch_size=None))
    assert predictions is not None and len(predictions) == 1
    lit_ids = predictions[0]
    keras_ids = model.predict({"source": SOURCE}, verbose=0)
    assert isinstance(lit_ids, torch.Tensor) and isinstance(keras_ids, np.ndarray)
    assert lit_ids.shape == keras_ids.shape == (len(SOURCE), 2 * SOURCE.shape[1] + 10)
    np.testing.assert_array_equal(lit_ids.numpy(), keras_ids)
    sources = [[lit.src_vocab.tokens[i] for i in row if i] for row in SOURCE]
    budget = {"max_length": keras_ids.shape[1]}  # the batch's budget, as predict gives every row
    assert [model.tgt_vocab.decode(row) for row in keras_ids] == model.translate(sources, **budget)
