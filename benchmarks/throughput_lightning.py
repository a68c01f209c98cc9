"""Lightning side of the throughput benchmark: ``Trainer.fit`` vs a hand-written loop, decoder modes.

Measures per-step wall time as the interval between consecutive training-batch starts (so data
loading, the optimiser, logging and the trainer's own bookkeeping all count), the median after
warm-up, synchronised on CUDA. The trainer and the hand-written loop train the same ``nn.Module``
(a fresh copy from the same seed) on the same batches, in alternating rounds.

Used by ``benchmarks/throughput.py``; run that.
"""

from __future__ import annotations

import contextlib
import platform
import resource
import statistics
import time
from dataclasses import dataclass
from typing import Any

import lightning.pytorch as pl
import torch

from benchmarks.common import BenchData, flops_per_target_token
from lit_seq2seq.model import masked_cross_entropy
from lit_seq2seq.module import LitSeq2Seq
from lit_seq2seq.scheduled_sampling import draw_gold
from seq2seq_fit import Seq2SeqConfig, TeacherForcing

PRECISIONS = {"fp32": "32-true", "bf16": "bf16-mixed", "fp16": "16-mixed"}
AUTOCAST = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def versions() -> dict[str, str]:
    info = {
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
        self.device = device
        self.times: list[float] = []
        self._last: float | None = None

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, idx: int) -> None:
        _sync(self.device)
        now = time.perf_counter()
        if self._last is not None:
            self.times.append(now - self._last)
        self._last = now


def _peak_memory_mb(device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Variant:
    """One row of the benchmark: model config, teacher forcing, precision, compilation."""

    name: str
    config: Seq2SeqConfig
    teacher_forcing: TeacherForcing
    precision: str = "fp32"
    compile: bool = False


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
    """Per-step times of ``Trainer.fit`` over ``warmup + steps`` steps (the first ``warmup`` dropped)."""
    module = _module(variant, data)
    timer = _StepTimer(device)
    trainer = pl.Trainer(
        accelerator="gpu" if device == "cuda" else "cpu",
        devices=1,
        precision=PRECISIONS[variant.precision],  # type: ignore[arg-type]
        max_steps=warmup + steps + 1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        callbacks=[timer],
    )
    trainer.fit(module, train_dataloaders=data.torch_loader())
    return timer.times[warmup:]


def run_hand_loop(variant: Variant, data: BenchData, device: str, warmup: int, steps: int) -> list[float]:
    """Per-step times of a plain PyTorch loop over the same ``nn.Module``, data and optimiser."""
    module = _module(variant, data).to(device)
    model = torch.compile(module.model) if variant.compile else module.model
    tf = variant.teacher_forcing
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler(device, enabled=variant.precision == "fp16")
    generator = torch.Generator(device=device).manual_seed(0)
    dtype = AUTOCAST[variant.precision]
    times: list[float] = []
    last: float | None = None
    module.train()
    for step, batch in enumerate(data.torch_loader()):
        _sync(device)
        now = time.perf_counter()
        if last is not None:
            times.append(now - last)
        last = now
        if step > warmup + steps:
            break
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        ratio = float(tf.ratio(step))
        gold = draw_gold(batch["target_in"], ratio, tf.granularity, generator)
        autocast = torch.autocast(device, dtype=dtype) if dtype is not None else contextlib.nullcontext()
        with autocast:
            logits = model.scheduled_forward(
                batch["source"], batch["source_lengths"], batch["target_in"], gold, tf, ratio, generator
            )
            loss = masked_cross_entropy(logits, batch["target_out"], variant.config.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    return times[warmup : warmup + steps]


def measure(
    variant: Variant, data: BenchData, device: str, warmup: int, steps: int, rounds: int, trainer_too: bool
) -> dict[str, Any]:
    """Alternate hand loop and trainer ``rounds`` times; medians, ratios, tokens/s, memory."""
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    hand: list[float] = []
    fit: list[float] = []
    for _ in range(rounds):
        hand += run_hand_loop(variant, data, device, warmup, steps)
        if trainer_too:
            fit += run_trainer(variant, data, device, warmup, steps)
    hand_s = statistics.median(hand)
    row: dict[str, Any] = {
        "framework": "lightning",
        "variant": variant.name,
        "config": variant.config.to_dict(),
        "teacher_forcing": variant.teacher_forcing.to_dict(),
        "precision": variant.precision,
        "compile": variant.compile,
        "device": device,
        "hand_step_ms": 1000 * hand_s,
        "hand_steps_per_s": 1 / hand_s,
        "target_tokens_per_s": data.target_tokens_per_batch / hand_s,
        "pad_ratio": data.pad_ratio,
        "peak_memory_mb": _peak_memory_mb(device),
        "model_tflops_per_s": 3
        * flops_per_target_token(variant.config, data)
        * data.target_tokens_per_batch
        / hand_s
        / 1e12,
        "cudnn_fused_rnn": device == "cuda" and torch.backends.cudnn.enabled,
        "n_steps": len(hand),
    }
    if trainer_too:
        fit_s = statistics.median(fit)
        row.update({"trainer_step_ms": 1000 * fit_s, "trainer_overhead": fit_s / hand_s - 1})
    return row
