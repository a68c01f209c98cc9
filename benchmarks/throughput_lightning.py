"""Lightning side of the throughput benchmark: ``Trainer.fit`` vs a hand-written loop, decoder modes.

Measures per-step wall time as the interval between consecutive training-batch starts (so data
loading, the optimiser, logging and the trainer's own bookkeeping all count), the median over one
timed pass of the batches after warm-up, synchronised on CUDA. The trainer and the hand-written
loop train the same ``nn.Module`` (a fresh copy from the same seed) with the same optimiser (AdamW,
lr 1e-3, no weight decay) on the same batches, in alternating rounds. With ``torch.compile`` the
warm-up is a whole pass over the batches, so every padded shape is compiled before timing.

Used by ``benchmarks/throughput.py``; run that.
"""

from __future__ import annotations

import contextlib
import platform
from dataclasses import dataclass
from typing import Any

import lightning.pytorch as pl
import torch

from benchmarks.common import BenchData, StepClock, cudnn_rnn_ran, peak_rss_mb, step_fields, timed_steps
from lit_seq2seq.system import LitSeq2Seq
from seq2seq_fit import Seq2SeqConfig, TeacherForcing
from seq2seq_fit.precision import lightning_precision

AUTOCAST = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def versions() -> dict[str, str]:
    info = {
        "framework": "lightning",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": pl.__version__,
        "cuda": str(torch.version.cuda),
        "cudnn": str(torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None),
        "cpu_threads": str(torch.get_num_threads()),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


class _StepTimer(pl.Callback):
    def __init__(self, device: str) -> None:
        self.clock = StepClock(lambda: _sync(device))

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, idx: int) -> None:
        self.clock.tick()


def _peak_memory_mb(device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return peak_rss_mb()


@dataclass
class Variant:
    """One row of the benchmark: model config, teacher forcing, precision, compilation."""

    name: str
    config: Seq2SeqConfig
    teacher_forcing: TeacherForcing
    precision: str = "fp32"
    compile: bool = False

    def warmup_steps(self, data: BenchData, warmup: int) -> int:
        """``warmup``, or a whole pass over the batches when compiling (every shape compiled once)."""
        return max(warmup, len(data.batches)) if self.compile else warmup


def _module(variant: Variant, data: BenchData, seed: int = 0) -> LitSeq2Seq:
    torch.manual_seed(seed)
    return LitSeq2Seq(
        data.src_vocab,
        data.tgt_vocab,
        variant.config,
        variant.teacher_forcing,
        lr=1e-3,
        seed=seed,
        compile=variant.compile,
    )


def run_trainer(variant: Variant, data: BenchData, device: str, warmup: int, steps: int) -> list[float]:
    """Per-step times of ``Trainer.fit`` over ``data.order(warmup, steps)``, warm-up included."""
    order = data.order(warmup, steps)
    module = _module(variant, data)
    timer = _StepTimer(device)
    trainer = pl.Trainer(
        accelerator="gpu" if device == "cuda" else "cpu",
        devices=1,
        precision=lightning_precision(variant.precision),  # type: ignore[arg-type]
        max_steps=len(order),
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        callbacks=[timer],
    )
    trainer.fit(module, train_dataloaders=data.torch_loader(order))
    return timer.clock.times


def run_hand_loop(variant: Variant, data: BenchData, device: str, warmup: int, steps: int) -> tuple[list[float], bool]:
    """Per-step times (warm-up included) of a plain PyTorch loop over the same ``nn.Module``, data
    and optimiser, and whether a cuDNN RNN kernel ran (one extra step under the profiler, CUDA only).

    With ``variant.compile`` the module's decoder is compiled in place (``LitSeq2Seq(compile=True)``),
    exactly what the trainer runs.
    """
    module = _module(variant, data).to(device)
    model = module.model
    tf = variant.teacher_forcing
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-3, weight_decay=module.hparams["weight_decay"])
    scaler = torch.amp.GradScaler(device, enabled=variant.precision == "fp16")
    generator = torch.Generator(device=device).manual_seed(0)
    dtype = AUTOCAST[variant.precision]

    def train_step(step: int, batch: dict[str, torch.Tensor]) -> None:
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        ratio = float(tf.ratio(step))
        autocast = torch.autocast(device, dtype=dtype) if dtype is not None else contextlib.nullcontext()
        with autocast:
            loss, _ = model.loss(
                batch["source"], batch["source_lengths"], batch["target_in"], batch["target_out"], tf, ratio, generator
            )
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    module.train()
    order = data.order(warmup, steps)
    times = timed_steps(data.torch_loader(order), train_step, lambda: _sync(device))
    cudnn = False
    if device == "cuda":
        cudnn = cudnn_rnn_ran(lambda: train_step(len(order), next(iter(data.torch_loader()))))
    return times, cudnn


def measure(
    variant: Variant, data: BenchData, device: str, warmup: int, steps: int, rounds: int, trainer_too: bool
) -> dict[str, Any]:
    """Alternate hand loop and trainer ``rounds`` times; medians, ratios, tokens/s, memory."""
    if device == "cpu" and variant.precision == "fp16":
        # Lightning would silently train in bf16 while the hand loop autocasts to fp16.
        raise ValueError("fp16 on CPU: Lightning does not support 16-mixed there (it falls back to bf16-mixed)")
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    warmup = variant.warmup_steps(data, warmup)
    hand: list[float] = []
    fit: list[float] = []
    warm: dict[str, list[float]] = {"hand": [], "trainer": []}
    cudnn = False
    for i in range(rounds):
        times, cudnn = run_hand_loop(variant, data, device, warmup, steps)
        hand += times[warmup:]
        warm["hand"] += times[:warmup] if i == 0 else []
        if trainer_too:
            times = run_trainer(variant, data, device, warmup, steps)
            fit += times[warmup:]
            warm["trainer"] += times[:warmup] if i == 0 else []
    row: dict[str, Any] = {
        "framework": "lightning",
        "backend": "torch",
        "variant": variant.name,
        "config": variant.config.to_dict(),
        "teacher_forcing": variant.teacher_forcing.to_dict(),
        "precision": variant.precision,
        "compile": variant.compile,
        "compiler": "torch.compile" if variant.compile else None,
        "device": device,
        "peak_memory_mb": _peak_memory_mb(device),
        "peak_memory_kind": "torch.cuda.max_memory_allocated" if device == "cuda" else "process peak RSS so far",
        "cudnn_rnn": cudnn,
        "warmup": warmup,
        "rounds": rounds,
        "times_ms": {"hand": [1000 * t for t in hand], "trainer": [1000 * t for t in fit]},
        "warmup_ms": {k: [1000 * t for t in v] for k, v in warm.items()},
        **step_fields(variant.config, data, hand, fit),
    }
    return row
