"""Resume equivalence: N steps straight == N/2, stop, resume for N/2, bitwise on CPU.

Compared per step: the batch (order resumes mid-epoch), the teacher-forcing coins (the generator
state is checkpointed) and, at the end, every weight. With ``num_workers=1`` the ``DataLoader``
fetches batches ahead of training, so the data module must save how many batches were *trained*,
not how many the sampler handed out; before that fix the resumed run skipped the prefetched ones.
"""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

import lit_seq2seq.encoder_decoder
from tests.helpers.lightning import BatchRecorder, assert_same_weights, quiet_trainer, small_data, small_model, weights

STEPS = 12  # 6 steps per epoch: stopping at 6 is an epoch boundary, at 8 mid-epoch
DRAW_COINS = lit_seq2seq.encoder_decoder.draw_coins
TEACHER_FORCING = {"schedule": "linear", "start": 0.9, "end": 0.2, "decay_steps": 12, "feed": "sample"}


class Run:
    def __init__(self) -> None:
        self.batches = BatchRecorder()
        self.coins: list[torch.Tensor] = []
        self.weights: dict[str, torch.Tensor] = {}


def train(
    monkeypatch: pytest.MonkeyPatch,
    max_steps: int,
    num_workers: int,
    ckpt_dir: Path | None = None,
    save_every: int = 0,
    ckpt_path: str | None = None,
) -> Run:
    run = Run()

    def recording_draw_coins(*args, **kwargs):  # type: ignore[no-untyped-def]
        gold = DRAW_COINS(*args, **kwargs)
        run.coins.append(gold.clone())
        return gold

    monkeypatch.setattr(lit_seq2seq.encoder_decoder, "draw_coins", recording_draw_coins)
    dm = small_data(num_workers=num_workers)
    model = small_model(dm, teacher_forcing=TEACHER_FORCING)
    callbacks: list[pl.Callback] = [run.batches]
    if save_every:
        callbacks.append(ModelCheckpoint(dirpath=ckpt_dir, every_n_train_steps=save_every, save_top_k=-1))
    trainer = quiet_trainer(
        validate=False, max_steps=max_steps, callbacks=callbacks, enable_checkpointing=bool(save_every)
    )
    trainer.fit(model, dm, ckpt_path=ckpt_path)
    run.weights = weights(model)
    return run


@pytest.mark.parametrize("num_workers", [0, 1])
@pytest.mark.parametrize("stop", [6, 8], ids=["epoch-boundary", "mid-epoch"])
def test_stop_and_resume_equals_an_uninterrupted_run_bitwise(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, stop: int, num_workers: int
) -> None:
    full = train(monkeypatch, STEPS, num_workers)
    first = train(monkeypatch, stop, num_workers, ckpt_dir=tmp_path, save_every=stop)
    (ckpt,) = tmp_path.glob(f"*step={stop}.ckpt")
    position = torch.load(ckpt, weights_only=True)["Seq2SeqDataModule"]["train_sampler"]
    trained = {6: (1, 0), 8: (1, 2)}[stop]  # (epoch, batches of it trained); a finished epoch is saved as (e + 1, 0)
    assert (position["epoch"], position["batches_done"]) == trained
    resumed = train(monkeypatch, STEPS, num_workers, ckpt_path=str(ckpt))

    assert [s for s, _ in resumed.batches.rows] == list(range(stop, STEPS))
    assert first.batches.rows == full.batches.rows[:stop]
    assert resumed.batches.rows == full.batches.rows[stop:], "same batches in the same order"
    assert len(resumed.coins) == STEPS - stop
    for step, (a, b) in enumerate(zip(full.coins[stop:], resumed.coins, strict=True), start=stop):
        assert torch.equal(a, b), f"teacher-forcing coins differ at step {step}"
    assert_same_weights(full.weights, resumed.weights)


def test_the_comparison_detects_a_lost_batch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The same check against a checkpoint whose data position is one batch ahead fails."""
    full = train(monkeypatch, STEPS, 0)
    train(monkeypatch, 8, 0, ckpt_dir=tmp_path, save_every=8)
    (ckpt,) = tmp_path.glob("*step=8.ckpt")
    raw = torch.load(ckpt, weights_only=True)
    raw["Seq2SeqDataModule"]["train_sampler"]["batches_done"] += 1  # what prefetching used to save
    ahead = tmp_path / "ahead.ckpt"
    torch.save(raw, ahead)
    resumed = train(monkeypatch, STEPS, 0, ckpt_path=str(ahead))
    assert resumed.batches.rows[0] == (8, full.batches.rows[9][1])
    assert not all(torch.equal(full.weights[k], resumed.weights[k]) for k in full.weights)


def test_coin_state_from_another_device_type_reseeds_with_a_warning() -> None:
    # A CUDA (Philox) generator state cannot be loaded into a CPU generator: resuming a GPU run on the
    # CPU (or the reverse) reseeds the coins from seed + step instead of failing inside training_step.
    def resumed() -> torch.Tensor:
        model = small_model(small_data(), seed=5)
        model.on_load_checkpoint({"coin_rng_state": torch.zeros(16, dtype=torch.uint8), "coin_rng_device": "cuda"})
        with pytest.warns(UserWarning, match="saved on cuda and training resumes on cpu"):
            generator = model.coin_generator
        return torch.rand(4, generator=generator)

    assert torch.equal(resumed(), resumed())
    same_device = small_model(small_data(), seed=5)
    same_device.on_save_checkpoint(checkpoint := {})
    draws = torch.rand(4, generator=same_device.coin_generator)
    same_device.on_load_checkpoint(checkpoint)
    assert torch.equal(torch.rand(4, generator=same_device.coin_generator), draws)
