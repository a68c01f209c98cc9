"""The Lightning side on a CUDA GPU: where tensors live, checkpoints across devices, cuDNN, host syncs.

Marked ``gpu`` and skipped without CUDA: ``make bench-gpu`` runs them on a lent device
(``pytest -m gpu``). Mixed precision with a real CUDA ``GradScaler`` is tested in
``tests/reliability/test_rel_lit_precision.py`` and ``tests/lit/test_lit_precision.py``.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.profiler import ProfilerActivity, profile
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

import lit_seq2seq.seq2seq
from lit_seq2seq import LitSeq2Seq, Seq2Seq
from lit_seq2seq.scheduled_sampling import draw_coins as DRAW_COINS
from seq2seq_fit import Seq2SeqConfig, TeacherForcing
from tests.helpers.lightning import quiet_trainer, random_batch, small_data, small_model, weights

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

TORCH_DIR = str(Path(torch.__file__).parent)
PROJECT_DIRS = tuple(
    str(Path(__file__).resolve().parents[2] / p) for p in ("lit_seq2seq", "seq2seq_fit", "datamodules")
)


def cuda_batch(**kwargs: Any) -> dict[str, torch.Tensor]:
    return {k: v.cuda() for k, v in random_batch(**kwargs).items()}


# -- device placement --------------------------------------------------------------------------


def project_site() -> str | None:
    """``file:line: code`` of the innermost caller outside torch, if it is this package's code;
    ``None`` when that caller is Lightning or anything else (their tensors are not the module's)."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if not name.startswith(TORCH_DIR):
            if not name.startswith(PROJECT_DIRS):
                return None
            import linecache

            return f"{Path(name).name}:{frame.f_lineno}: {linecache.getline(name, frame.f_lineno).strip()}"
        frame = frame.f_back  # type: ignore[assignment]
    return None


class HostTensors(TorchDispatchMode):
    """Records every op called from this package's code that leaves a tensor on the host: a CPU
    tensor of one or more dimensions, or any copy from the GPU to the host (a sync). 0-dim CPU
    tensors that do not come from the GPU are Python scalars wrapped for a kernel call."""

    #: Host tensors by design: cuDNN's packed RNN takes the lengths (batch sizes) on the host.
    ALLOWED = re.compile(r"^encoder\.py:\d+: .*(pack_padded_sequence|pad_packed_sequence|self\.rnn\(packed\))")

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        outs = [t for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
        ins = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        from_gpu = any(t.is_cuda for t in ins)
        host = [t for t in outs if t.device.type == "cpu" and (t.dim() > 0 or from_gpu)]
        if host:
            site = project_site()
            if site is not None and not self.ALLOWED.match(site):
                self.found.append(f"{func}: {site}")
        return out


class PlacementProbe(pl.Callback):
    """Runs the training step and backward of every batch under :class:`HostTensors`."""

    def __init__(self) -> None:
        self.mode: HostTensors | None = None
        self.found: list[str] = []
        self.batch_devices: set[str] = set()
        self.grad_devices: set[str] = set()

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, i: int) -> None:
        self.batch_devices |= {v.device.type for v in batch.values()}
        self.mode = HostTensors()
        self.mode.__enter__()

    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: Any) -> None:
        self.close()
        self.grad_devices |= {p.grad.device.type for p in pl_module.parameters() if p.grad is not None}

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        self.close()

    def close(self) -> None:
        if self.mode is not None:
            self.mode.__exit__(None, None, None)
            self.found += self.mode.found
            self.mode = None


@pytest.mark.parametrize(
    "attention,mode,precision",
    [("luong", "parallel", "32-true"), ("luong", "parallel", "16-mixed"), ("bahdanau", "sequential", "bf16-mixed"),
     ("none", "sequential", "32-true")],
)  # fmt: skip
def test_every_tensor_a_training_step_creates_is_on_the_gpu(attention: str, mode: str, precision: str) -> None:
    dm = small_data()
    model = small_model(dm, config={"embedding_dim": 12, "hidden_size": 16, "attention": attention})
    model.teacher_forcing = TeacherForcing(start=0.5, mode=mode)
    probe = PlacementProbe()
    trainer = quiet_trainer(validate=False, accelerator="gpu", max_steps=3, precision=precision, callbacks=[probe])
    trainer.fit(model, dm)
    assert probe.batch_devices == {"cuda"}
    assert probe.found == [], "host tensors made by the module (coins, masks, lengths...): " + "; ".join(probe.found)
    assert probe.grad_devices == {"cuda"}
    assert model.coin_generator.device.type == "cuda"
    assert {t.device.type for t in [*model.parameters(), *model.buffers()]} == {"cuda"}


# -- checkpoints across devices ----------------------------------------------------------------


def test_a_checkpoint_saved_on_the_gpu_loads_and_trains_on_the_cpu_and_back(tmp_path: Path) -> None:
    dm = small_data()
    gpu_trainer = quiet_trainer(validate=False, accelerator="gpu", max_steps=3, default_root_dir=tmp_path)
    gpu_module = small_model(dm)
    gpu_trainer.fit(gpu_module, dm)
    gpu_ckpt = tmp_path / "gpu.ckpt"
    gpu_trainer.save_checkpoint(gpu_ckpt)

    cpu_module = LitSeq2Seq.load_from_checkpoint(gpu_ckpt, map_location="cpu")
    assert {p.device.type for p in cpu_module.parameters()} == {"cpu"}
    expected = {k: v.cpu() for k, v in weights(gpu_module).items()}
    assert all(torch.equal(expected[k], v) for k, v in weights(cpu_module).items())
    batch = random_batch(src_vocab_size=len(dm.src_vocab), tgt_vocab_size=len(dm.tgt_vocab))
    with torch.no_grad():
        on_cpu = cpu_module.eval()(batch["source"], batch["source_lengths"], batch["target_in"])
        on_gpu = gpu_module.eval()(*(batch[k].cuda() for k in ("source", "source_lengths", "target_in")))
    torch.testing.assert_close(on_cpu, on_gpu.cpu(), atol=1e-4, rtol=1e-4)

    cpu_trainer = quiet_trainer(validate=False, accelerator="cpu", max_steps=5, default_root_dir=tmp_path)
    cpu_trainer.fit(cpu_module, dm, ckpt_path=gpu_ckpt)  # resumes the GPU run on the CPU
    assert cpu_trainer.global_step == 5 and cpu_module.coin_generator.device.type == "cpu"
    cpu_ckpt = tmp_path / "cpu.ckpt"
    cpu_trainer.save_checkpoint(cpu_ckpt)

    back = LitSeq2Seq.load_from_checkpoint(cpu_ckpt)
    back_trainer = quiet_trainer(validate=False, accelerator="gpu", max_steps=7, default_root_dir=tmp_path)
    back_trainer.fit(back, dm, ckpt_path=cpu_ckpt)  # and back on the GPU
    assert back_trainer.global_step == 7 and back.coin_generator.device.type == "cuda"
    assert all(torch.isfinite(p).all() and p.is_cuda for p in back.parameters())


def coins_of_a_gpu_run(
    monkeypatch: pytest.MonkeyPatch, max_steps: int, callbacks: list[pl.Callback], ckpt_path: Path | None = None
) -> list[torch.Tensor]:
    """The teacher-forcing coins of every step of a small GPU run (moved to the host afterwards)."""
    coins: list[torch.Tensor] = []

    def recording_draw_coins(*args: Any, **kwargs: Any) -> torch.Tensor:
        gold = DRAW_COINS(*args, **kwargs)
        coins.append(gold)
        return gold

    monkeypatch.setattr(lit_seq2seq.seq2seq, "draw_coins", recording_draw_coins)
    dm = small_data()
    trainer = quiet_trainer(validate=False, accelerator="gpu", max_steps=max_steps, callbacks=callbacks,
                            enable_checkpointing=bool(callbacks))  # fmt: skip
    trainer.fit(small_model(dm), dm, ckpt_path=ckpt_path)
    assert all(c.is_cuda for c in coins)
    return [c.cpu() for c in coins]


def test_a_gpu_run_resumed_mid_epoch_draws_the_same_coins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    whole = coins_of_a_gpu_run(monkeypatch, 10, [])
    saver = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=8, save_top_k=-1)
    coins_of_a_gpu_run(monkeypatch, 8, [saver])
    (ckpt,) = tmp_path.glob("*step=8.ckpt")
    resumed = coins_of_a_gpu_run(monkeypatch, 10, [], ckpt_path=ckpt)
    assert len(resumed) == 2
    for step, (a, b) in enumerate(zip(whole[8:], resumed, strict=True), start=8):
        assert torch.equal(a, b), f"teacher-forcing coins differ at step {step}"


# -- the cuDNN paths ---------------------------------------------------------------------------

#: ``aten`` ops of the RNN implementations that are not cuDNN's.
NOT_CUDNN = ("aten::_thnn_fused_lstm_cell", "aten::_thnn_fused_gru_cell", "aten::lstm_cell", "aten::gru_cell")


def rnn_profile(fn: Callable[[], Any]) -> tuple[Counter[str], list[str]]:
    """Counts of every op under ``fn()`` and the names of the CUDA kernels it launched."""
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    ops = Counter(e.name for e in prof.events())
    kernels = [e.name for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    return ops, kernels


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_the_encoder_teacher_forcing_and_every_parallel_pass_run_cudnn(cell: str, precision: str) -> None:
    torch.manual_seed(0)
    config = Seq2SeqConfig(cell=cell, embedding_dim=32, hidden_size=64, num_layers=2, bidirectional=True)
    model = Seq2Seq(config, 11, 13).cuda().train()
    batch = cuda_batch(b=8, s=9, t=7)
    generator = torch.Generator(device="cuda").manual_seed(0)
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    cases = [("teacher forcing", TeacherForcing(), 1.0, 2)]
    cases += [(f"parallel K={k}", TeacherForcing(start=0.5, mode="parallel", passes=k), 0.5, 2 + k) for k in (1, 2)]
    for name, tf, ratio, forward_calls in cases:

        def step(tf: TeacherForcing = tf, ratio: float = ratio) -> None:
            with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
                loss, _ = model.loss(batch["source"], batch["source_lengths"], batch["target_in"],
                                     batch["target_out"], tf, ratio, generator)  # fmt: skip
            loss.backward()

        step()  # cuDNN plans and workspaces
        ops, kernels = rnn_profile(step)
        # encoder + one decoder call per pass; gradients flow through the encoder and the last pass only
        assert ops["aten::_cudnn_rnn"] == forward_calls, f"{name}: {dict(ops)}"
        assert ops["aten::_cudnn_rnn_backward"] == 2, f"{name}: {dict(ops)}"
        assert not [op for op in NOT_CUDNN if ops[op]], f"{name}: a non-cuDNN RNN ran"
        assert any(re.search("rnn|lstm|gru", k, re.IGNORECASE) for k in kernels), f"{name}: {sorted(set(kernels))}"
        assert not [k for k in kernels if re.search(r"(lstm|gru)_cell_(forward|backward)", k)], name


# -- host synchronisations of the sequential loop ----------------------------------------------


def host_syncs(fn: Callable[[], Any]) -> int:
    """Synchronising CUDA calls under ``fn()``, counted by ``torch.cuda.set_sync_debug_mode``."""
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


@pytest.mark.parametrize(
    "cell,attention,feed", [("lstm", "luong", "argmax"), ("gru", "bahdanau", "argmax"), ("lstm", "luong", "sample")]
)
def test_the_sequential_loop_does_not_sync_with_the_host_per_step(cell: str, attention: str, feed: str) -> None:
    torch.manual_seed(0)
    model = Seq2Seq(Seq2SeqConfig(cell=cell, attention=attention, embedding_dim=16, hidden_size=32), 11, 13).cuda()
    tf = TeacherForcing(start=0.5, mode="sequential", feed=feed)
    generator = torch.Generator(device="cuda").manual_seed(0)

    def step(t: int) -> Callable[[], None]:
        batch = cuda_batch(b=8, s=9, t=t)

        def run() -> None:
            loss, _ = model.loss(batch["source"], batch["source_lengths"], batch["target_in"], batch["target_out"],
                                 tf, 0.5, generator)  # fmt: skip
            loss.backward()

        return run

    step(6)()  # warm-up
    short, long = host_syncs(step(6)), host_syncs(step(30))
    assert long == short, f"{long - short} more host syncs for 24 more decoder steps ({short} at 6 steps)"
