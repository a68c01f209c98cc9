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
from typing import Any

import lightning.pytorch as pl
import torch

from benchmarks.common import BenchData, StepClock, alternate, cudnn_rnn_ran, peak_memory, timed_steps
from lit_seq2seq.system import LitSeq2Seq
from seq2seq_fit import Seq2SeqConfig, TeacherForcing
from seq2seq_fit.precision import lightning_precision

AUTOCAST = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def versions(backend: str, device: str) -> dict[str, str]:
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


def _module(job: dict[str, Any], data: BenchData, seed: int = 0) -> LitSeq2Seq:
    torch.manual_seed(seed)
    config, tf = Seq2SeqConfig.from_dict(job["config"]), TeacherForcing.from_dict(job["teacher_forcing"])
    return LitSeq2Seq(data.src_vocab, data.tgt_vocab, config, tf, lr=1e-3, seed=seed, compile=job["jit"])


def run_trainer(job: dict[str, Any], data: BenchData, device: str, order: list[int]) -> list[float]:
    """Per-step times of ``Trainer.fit`` over the batches ``order``, warm-up included."""
    module = _module(job, data)
    timer = _StepTimer(device)
    trainer = pl.Trainer(
        accelerator="gpu" if device == "cuda" else "cpu",
        devices=1,
        precision=lightning_precision(job["precision"]),  # type: ignore[arg-type]
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


def run_hand_loop(
    job: dict[str, Any], data: BenchData, device: str, order: list[int], cudnn: list[bool]
) -> list[float]:
    """Per-step times (warm-up included) of a plain PyTorch loop over the same ``nn.Module``, data and
    optimiser; appends to ``cudnn`` whether a cuDNN RNN kernel ran (one extra step under the profiler,
    CUDA only). With ``jit`` the module's decoder is compiled in place (``LitSeq2Seq(compile=True)``),
    exactly what the trainer runs."""
    module = _module(job, data).to(device)
    model, tf = module.model, TeacherForcing.from_dict(job["teacher_forcing"])
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-3, weight_decay=module.hparams["weight_decay"])
    scaler = torch.amp.GradScaler(device, enabled=job["precision"] == "fp16")
    generator = torch.Generator(device=device).manual_seed(0)
    dtype = AUTOCAST[job["precision"]]

    def train_step(step: int, batch: dict[str, torch.Tensor]) -> None:
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        autocast = torch.autocast(device, dtype=dtype) if dtype is not None else contextlib.nullcontext()
        with autocast:
            loss, _ = model.loss(batch["source"], batch["source_lengths"], batch["target_in"], batch["target_out"], tf,
                                 float(tf.ratio(step)), generator)  # fmt: skip
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    module.train()
    times = timed_steps(data.torch_loader(order), train_step, lambda: _sync(device))
    if device == "cuda":
        cudnn.append(cudnn_rnn_ran(lambda: train_step(len(order), next(iter(data.torch_loader())))))
    return times


def measure(job: dict[str, Any], backend: str, device: str, data: BenchData) -> dict[str, Any]:
    """One row: alternate hand loop and trainer ``rounds`` times; medians, ratios, tokens/s, memory."""
    if device == "cpu" and job["precision"] == "fp16":
        # Lightning would silently train in bf16 while the hand loop autocasts to fp16.
        raise ValueError("fp16 on CPU: Lightning does not support 16-mixed there (it falls back to bf16-mixed)")
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    warmup = max(job["warmup"], len(data.batches)) if job["jit"] else job["warmup"]
    order = data.order(warmup, job["steps"])
    cudnn: list[bool] = []
    fit = (lambda: run_trainer(job, data, device, order)) if job["trainer_too"] else None
    timing = alternate(job, data, warmup, lambda: run_hand_loop(job, data, device, order, cudnn), fit)
    memory, memory_kind = peak_memory("torch", device)
    return {
        "framework": "lightning",
        "backend": "torch",
        "variant": job["name"],
        "config": job["config"],
        "teacher_forcing": job["teacher_forcing"],
        "precision": job["precision"],
        "compile": job["jit"],
        "compiler": "torch.compile" if job["jit"] else None,
        "device": device,
        "peak_memory_mb": memory,
        "peak_memory_kind": memory_kind,
        "cudnn_rnn": bool(cudnn and cudnn[-1]),
        **timing,
    }
