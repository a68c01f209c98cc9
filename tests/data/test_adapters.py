"""The Lightning DataModule and the Keras pipeline serve identical batches from the shared core."""

import os
import subprocess
import sys

import numpy as np
import pytest

PY = sys.executable


def run(code: str, **env: str) -> str:
    result = subprocess.run(
        [PY, "-c", code], capture_output=True, text=True, env={**os.environ, **env}, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def test_datamodule_batches_and_epochs():
    from datamodules import Seq2SeqDataModule

    dm = Seq2SeqDataModule("reverse", batch_size=16, corpus_options={"n_train": 100, "n_val": 20, "n_test": 20})
    dm.setup("fit")
    loader = dm.train_dataloader()
    epoch0 = [b["source"].tolist() for b in loader]
    assert sum(len(b) for b in epoch0) == 100
    batch = next(iter(loader))
    assert set(batch) == {"source", "source_lengths", "target_in", "target_out"}
    assert batch["source"].dtype.is_floating_point is False
    assert [b["source"].tolist() for b in loader] == epoch0  # same epoch, same order
    loader.sampler.set_epoch(1)  # what Lightning calls at each epoch start
    assert [b["source"].tolist() for b in loader] != epoch0
    assert len(dm.val_dataloader()) == 2


def test_datamodule_shards_across_ranks():
    from datamodules import Seq2SeqDataModule

    class FakeTrainer:
        world_size = 2

        def __init__(self, rank):
            self.global_rank = rank

    seen, steps = [], []
    for rank in (0, 1):
        dm = Seq2SeqDataModule("reverse", batch_size=8, corpus_options={"n_train": 50})
        dm.trainer = FakeTrainer(rank)  # type: ignore[assignment]
        dm.setup("fit")
        batches = list(dm.train_dataloader())
        steps.append(len(batches))
        seen.append([tuple(row) for b in batches for row in b["source"].tolist()])
    assert steps[0] == steps[1]  # DDP needs the same number of steps on every rank
    assert len(seen[0]) + len(seen[1]) == 50
    train = dm.data.encoded["train"]
    width = max(len(r) for r in seen[0] + seen[1])
    expected = sorted(tuple(np.pad(s, (0, width - len(s))).tolist()) for s in train.sources)
    strip = lambda row: tuple(row) + (0,) * (width - len(row))  # noqa: E731
    assert sorted(strip(r) for r in seen[0] + seen[1]) == expected


@pytest.mark.parametrize("pad_to_multiple", [1, 8])
def test_keras_and_lightning_see_identical_batches(pad_to_multiple):
    from datamodules import KerasData, Seq2SeqDataModule

    kw = {"corpus_options": {"n_train": 64}, "seed": 5, "pad_to_multiple": pad_to_multiple}
    dm = Seq2SeqDataModule("reverse", batch_size=8, **kw)
    dm.setup("fit")
    kd = KerasData("reverse", batch_size=8, **kw)
    seq = kd.train()
    for i, batch in enumerate(dm.train_dataloader()):
        x, y = seq[i]
        np.testing.assert_array_equal(x["source"], batch["source"].numpy())
        np.testing.assert_array_equal(x["target_in"], batch["target_in"].numpy())
        np.testing.assert_array_equal(y, batch["target_out"].numpy())
        assert batch["source"].shape[1] % pad_to_multiple == 0 and batch["target_in"].shape[1] % pad_to_multiple == 0
    seq.on_epoch_end()
    dm.train_dataloader().sampler.set_epoch(1)
    x, _ = seq[0]
    np.testing.assert_array_equal(x["source"], next(iter(dm.train_dataloader()))["source"].numpy())


@pytest.mark.parametrize("backend", ["tensorflow"])
def test_keras_tf_dataset(backend):
    pytest.importorskip("tensorflow")
    out = run(
        "from datamodules import KerasData; d = KerasData('toy', batch_size=2);"
        "ds = d.tf_dataset('train'); print(sum(1 for _ in ds), next(iter(ds))[0]['source'].dtype.name)",
        KERAS_BACKEND=backend,
    )
    assert out == "2 int32"
