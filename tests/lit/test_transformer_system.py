"""``LitSeq2Seq`` with ``architecture="transformer"``: training, scheduled sampling logs, search, model files, CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch

from datamodules import Seq2SeqDataModule
from lit_seq2seq import LitSeq2Seq
from lit_seq2seq.cli import main
from lit_seq2seq.transformer import Transformer
from seq2seq_fit import GenerationConfig
from tests.helpers.lightning import StepRecorder, quiet_trainer, small_data

#: The module fixture: a memorised model, its data and its checkpoint.
Memorised = tuple[LitSeq2Seq, Seq2SeqDataModule, Path]
TRANSFORMER = {"architecture": "transformer", "hidden_size": 16, "embedding_dim": 16, "num_heads": 2}
QUIET = [
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
    "--trainer.logger=false",
    "--trainer.accelerator=cpu",
]


def transformer_system(dm: Seq2SeqDataModule, **kwargs: Any) -> LitSeq2Seq:
    torch.manual_seed(0)
    options: dict[str, Any] = {"config": TRANSFORMER, "lr": 0.02, "seed": 5}
    options.update(kwargs)
    return LitSeq2Seq(dm.src_vocab, dm.tgt_vocab, **options)


@pytest.fixture(scope="module")
def memorised(tmp_path_factory: pytest.TempPathFactory) -> Memorised:
    """A one-layer Transformer trained 40 steps on the four toy pairs (enough to memorise them), and its checkpoint."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        dm = Seq2SeqDataModule("toy", batch_size=4)
        model = transformer_system(dm)
        trainer = quiet_trainer(max_steps=40, validate=False)
        trainer.fit(model, dm)
        checkpoint = tmp_path_factory.mktemp("transformer") / "model.ckpt"
        trainer.save_checkpoint(checkpoint)
    finally:
        torch.set_num_threads(threads)
    return model, dm, checkpoint


def test_the_config_builds_a_transformer() -> None:
    dm = Seq2SeqDataModule("toy", batch_size=4)
    assert isinstance(transformer_system(dm).model, Transformer)
    assert not isinstance(transformer_system(dm, config={"hidden_size": 16}).model, Transformer)


def test_a_tiny_transformer_memorises_the_toy_corpus(memorised: Memorised) -> None:
    model, dm, _ = memorised
    sources = [" ".join(s) for s, _ in dm.corpus.train]
    targets = [t for _, t in dm.corpus.train]
    assert model.translate(sources) == targets
    assert model.translate(sources, strategy="beam", beam_width=3) == targets


def test_greedy_search_generate_and_beam_of_one_agree(memorised: Memorised) -> None:
    model, dm, _ = memorised
    sources = [["나는", "배가"], ["텐서플로우는", "매우"], ["고프다"]]
    greedy = model.translate(sources, max_length=6)
    assert model.translate(sources, strategy="beam", beam_width=1, max_length=6) == greedy
    for source, expected in zip(sources, greedy, strict=True):
        ids = torch.tensor([dm.src_vocab.encode(source)])
        tokens, _ = model.model.eval().generate(ids, max_length=6)
        assert dm.tgt_vocab.decode(tokens[0].tolist()) == expected
    outputs, attention = model.translate(sources, max_length=6, return_attention=True)  # type: ignore[misc]
    assert [getattr(a, "shape", None) for a in attention] == [
        (len(o), len(s)) for o, s in zip(outputs, sources, strict=True)
    ]


@pytest.mark.parametrize("passes", [1, 2])
def test_parallel_scheduled_sampling_trains_and_logs_its_coins(passes: int) -> None:
    dm = small_data(n_train=16)
    schedule = {"schedule": "linear", "start": 1.0, "end": 0.0, "decay_steps": 4, "mode": "parallel", "passes": passes}
    model = transformer_system(dm, teacher_forcing=schedule)
    recorder = StepRecorder()
    quiet_trainer(validate=False, max_steps=4, callbacks=[recorder]).fit(model, dm)
    steps, ratios, fed, losses = zip(*recorder.rows, strict=True)
    assert steps == (1, 2, 3, 4)
    assert ratios == pytest.approx([1.0, 0.75, 0.5, 0.25])
    assert fed[0] == 0.0 and fed[-1] > 0.3, "the decaying schedule feeds the model its own tokens"
    assert all(torch.isfinite(torch.tensor(losses)))


def test_sequential_scheduled_sampling_and_a_position_schedule_train() -> None:
    dm = small_data(n_train=8)
    schedule = {"start": 0.5, "mode": "sequential", "position_schedule": "linear", "position_k": 4}
    model = transformer_system(dm, teacher_forcing=schedule)
    trainer = quiet_trainer(validate=False, max_steps=2)
    trainer.fit(model, dm)
    assert 0.0 < float(trainer.callback_metrics["train/tf_ratio_applied"]) < 1.0
    assert float(trainer.callback_metrics["train/fed_from_model"]) > 0.0


def test_predict_returns_the_greedy_ids_of_generate(memorised: Memorised) -> None:
    model, dm, _ = memorised
    dm.setup("test")
    predicted = quiet_trainer().predict(model, dataloaders=dm.test_dataloader())
    assert isinstance(predicted, list) and len(predicted) == 1
    ids = predicted[0]
    assert isinstance(ids, torch.Tensor)
    batch = next(iter(dm.test_dataloader()))
    expected, _ = model.model.generate(torch.as_tensor(batch["source"]))
    assert torch.equal(ids, expected)


def test_bf16_mixed_precision_trains_on_cpu() -> None:
    dm = small_data(n_train=8)
    model = transformer_system(dm, teacher_forcing={"start": 0.5, "mode": "parallel"})
    trainer = quiet_trainer(max_steps=2, precision="bf16-mixed", limit_val_batches=1)
    trainer.fit(model, dm)
    assert trainer.global_step == 2
    assert torch.isfinite(trainer.callback_metrics["train/loss"]) and torch.isfinite(
        trainer.callback_metrics["val/loss"]
    )
    assert next(model.model.parameters()).dtype == torch.float32, "mixed precision keeps float32 weights"


def test_save_pretrained_and_checkpoints_round_trip(memorised: Memorised, tmp_path: Path) -> None:
    model, dm, checkpoint = memorised
    model.save_pretrained(tmp_path / "model")
    again = LitSeq2Seq.from_pretrained(tmp_path / "model")
    assert isinstance(again.model, Transformer)
    batch = next(iter(dm.test_dataloader()))
    source = torch.as_tensor(batch["source"])
    target_in = torch.as_tensor(batch["target_in"])
    torch.testing.assert_close(again.model.eval()(source, None, target_in), model.model.eval()(source, None, target_in))
    sources = [" ".join(s) for s, _ in dm.corpus.train]
    beam = GenerationConfig(strategy="beam", beam_width=3)
    assert again.translate(sources, beam) == model.translate(sources, beam)
    loaded = LitSeq2Seq.load_from_checkpoint(checkpoint)
    assert loaded.translate(sources, beam) == model.translate(sources, beam)


def test_fit_a_transformer_from_the_command_line(tmp_path: Path) -> None:
    cli = main(
        [
            "fit",
            "--data.corpus=toy",
            "--data.batch_size=4",
            "--model.config.architecture=transformer",
            "--model.config.hidden_size=16",
            "--model.config.embedding_dim=8",
            "--model.config.num_heads=2",
            "--model.config.ffn_size=32",
            "--model.teacher_forcing.mode=parallel",
            "--trainer.max_steps=2",
            "--trainer.limit_val_batches=1",
            f"--trainer.default_root_dir={tmp_path}",
            *QUIET,
        ]
    )
    assert isinstance(cli.model.model, Transformer)
    assert cli.model.config.feed_forward_size == 32 and cli.model.config.num_heads == 2
    assert cli.trainer.global_step == 2
    assert "val/wer" in cli.trainer.callback_metrics, "validation decodes with the cached step"


@pytest.mark.slow
def test_learns_to_reverse_sequences() -> None:
    """Sequences of 5-10 symbols out of 10, 5000 training pairs, 6 epochs of a 2-layer width-64 Transformer
    (80.8% exact match when measured; a few minutes of one CPU core)."""
    pl.seed_everything(0)
    dm = Seq2SeqDataModule("reverse", batch_size=64)
    config = {**TRANSFORMER, "hidden_size": 64, "embedding_dim": 64, "num_heads": 4, "num_layers": 2, "ffn_size": 128}
    model = LitSeq2Seq(dm.src_vocab, dm.tgt_vocab, config, lr=3e-3, warmup_steps=100)
    trainer = quiet_trainer(max_epochs=6, gradient_clip_val=1.0, limit_val_batches=0)
    trainer.fit(model, dm)
    metrics = trainer.test(model, dm, verbose=False)[0]
    assert metrics["test/exact_match"] >= 75.0, metrics
