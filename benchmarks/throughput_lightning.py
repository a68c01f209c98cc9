"""Lightning side of ``benchmarks.throughput``: ``Trainer.fit`` with ``LitSeq2Seq`` and a hand-written PyTorch loop
over the same ``nn.Module`` (a fresh copy from the same seed, AdamW at 1e-3, the same batches), each step timed from
one training-batch start to the next (synchronised on CUDA)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import lightning.pytorch as pl
import torch

from benchmarks.common import BenchData, StepClock, cudnn_rnn_ran, timed_steps
from lit_seq2seq.system import LitSeq2Seq
from seq2seq_fit import Seq2SeqConfig, TeacherForcing
from seq2seq_fit.precision import lightning_precision

AUTOCAST = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def loops(
    job: dict[str, Any], data: BenchData, order: list[int]
) -> tuple[Callable[[], list[float]], Callable[[], list[float]], Callable[[], bool], dict[str, Any]]:
    """The hand loop's and the trainer's per-step times over the batches ``order`` (warm-up included), a probe
    of whether the hand loop ran a cuDNN RNN kernel, and no extra fields. With ``jit`` the module's decoder is
    compiled in place (``LitSeq2Seq(compile=True)``), exactly what the trainer runs."""
    device = job["device"]
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = bool(job.get("tf32"))
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    def module() -> LitSeq2Seq:
        torch.manual_seed(0)
        config, tf = Seq2SeqConfig.from_dict(job["config"]), TeacherForcing.from_dict(job["teacher_forcing"])
        return LitSeq2Seq(data.src_vocab, data.tgt_vocab, config, tf, lr=1e-3, seed=0, compile=job["jit"])

    steps: list[Callable[[int, dict[str, torch.Tensor]], None]] = []

    def hand() -> list[float]:
        lit = module().to(device)
        model, tf = lit.model, TeacherForcing.from_dict(job["teacher_forcing"])
        optimizer = torch.optim.AdamW(lit.parameters(), lr=1e-3, weight_decay=lit.hparams["weight_decay"])
        scaler = torch.amp.GradScaler(device, enabled=job["precision"] == "fp16")
        generator = torch.Generator(device=device).manual_seed(0)
        dtype = AUTOCAST[job["precision"]]

        def step(i: int, batch: dict[str, torch.Tensor]) -> None:
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            with torch.autocast(device, dtype=dtype) if dtype is not None else contextlib.nullcontext():
                loss, _ = model.loss(batch["source"], batch["source_lengths"], batch["target_in"], batch["target_out"],
                                     tf, float(tf.ratio(i)), generator)  # fmt: skip
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()

        lit.train()
        steps.append(step)
        return timed_steps(data.torch_loader(order), step, sync)

    def fit() -> list[float]:
        class Timer(pl.Callback):
            clock = StepClock(sync)

            def on_train_batch_start(self, trainer: pl.Trainer, lit: pl.LightningModule, batch: Any, i: int) -> None:
                self.clock.tick()

        timer = Timer()
        trainer = pl.Trainer(accelerator="gpu" if device == "cuda" else "cpu", devices=1, max_steps=len(order),
                             precision=lightning_precision(job["precision"]),  # type: ignore[arg-type]
                             logger=False, enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0,
                             callbacks=[timer])  # fmt: skip
        trainer.fit(module(), train_dataloaders=data.torch_loader(order))
        return timer.clock.times

    def cudnn() -> bool:
        return cudnn_rnn_ran(lambda: steps[-1](len(order), next(iter(data.torch_loader()))))

    return hand, fit, cudnn, {}
