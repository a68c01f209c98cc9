"""Model quality on a real task: grapheme-to-phoneme on CMUdict (split and scoring: benchmarks/README.md).

Trains the same config under each teacher-forcing variant and seed with early stopping on dev
WER, then scores the test words with greedy decoding and beam search (width 5), any-reference
WER and closest-reference PER. Writes ``results/g2p_<tag>.json`` / ``.md`` and a learning-curve
PNG, and prints the published numbers beside ours (they use a different split).

Both frameworks train the same way: AdamW (weight decay 0, LitSeq2Seq's default) at ``--lr`` with
a linear warm-up over the first 200 steps, then (``--lr-schedule cosine``, the default) a cosine
decay to ``--min-lr-ratio`` of it at the end of epoch ``--max-epochs`` (``seq2seq_fit.lr_factor``:
``LitSeq2Seq(lr_decay_steps=...)`` and ``keras_seq2seq.WarmupCosineDecay``), gradients clipped to
global norm 1, early stopping on the greedy dev WER of the first ``--val-batches`` dev batches
(patience ``--patience``), the best epoch's weights restored for testing. The budget is
``--max-epochs`` epochs (the same optimizer steps in both frameworks, whatever the machine's load),
capped by a wall-clock ``--minutes`` per run. Pick ``--max-epochs`` so that a run ends inside
``--minutes``: a run the clock stops never reaches the end of its learning-rate decay.

Runs survive the end of a session. Each run trains in its folder
``results/g2p_<tag>_runs/<variant>_s<seed>/``: Lightning writes ``ckpt/last.ckpt`` every epoch and
resumes from it, Keras keeps ``backup/`` (``BackupAndRestore``), and ``state.json`` holds what
those checkpoints lack (dev curve, sessions; for Keras the seconds spent, early-stopping and best
values, compile counts). Run the same command again to resume an unfinished run; a finished run
(its ``result.json``) is read, not retrained; a run folder written with other settings is refused;
``--fresh`` starts over. Each finished run also writes ``results/g2p_<tag>-<variant>-s<seed>.json``
at once (commit it as it lands; ``--combine`` merges such files), and ``results/g2p_<tag>.*`` is
rewritten after every run. Keras runs record how often XLA compiled (JAX) or TensorFlow traced the
train/test/predict functions and the seconds (``compiles``), and the padded batch shapes trained
on (``train_shapes``).

``make bench-g2p`` runs the CPU set (both frameworks, 3 seeds) and merges it with ``--combine``.

    python -m benchmarks.g2p --framework lightning --max-epochs 30 --minutes 10 --seeds 0 1 2   # on a GPU
    python -m benchmarks.g2p --framework lightning --preset cpu --max-epochs 7 --minutes 60 --threads 1 \
        --val-batches 0.25
    python -m benchmarks.g2p --framework keras --backend jax --max-epochs 30 --minutes 10 --seeds 0 1 2   # on a GPU
    python -m benchmarks.g2p --framework keras --backend torch --preset cpu --max-epochs 7 --minutes 60 --threads 1 \
        --val-batches 0.25
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import (
    COMPILE_KINDS,
    RESULTS,
    allowed_cpus,
    keras_env,
    markdown_table,
    pin_cpus,
    set_backend_threads,
    write_results,
)
from seq2seq_fit import Seq2SeqConfig, TeacherForcing, g2p_scores
from seq2seq_fit.precision import PRECISIONS, keras_dtype_policy, lightning_precision
from seq2seq_fit.presets import PRESETS

VARIANTS: dict[str, TeacherForcing] = {
    "teacher-forcing": TeacherForcing(),
    "ss-sequential": TeacherForcing(schedule="linear", start=1.0, end=0.75, decay_steps=8000, mode="sequential"),
    "ss-parallel": TeacherForcing(schedule="linear", start=1.0, end=0.75, decay_steps=8000, mode="parallel"),
}

#: Linear learning-rate warm-up steps (both frameworks).
WARMUP_STEPS = 200


def lr_decay_steps(args: argparse.Namespace, steps_per_epoch: int) -> int:
    """Cosine decay from the end of the warm-up to the end of epoch ``--max-epochs`` (0: constant)."""
    if args.lr_schedule == "constant":
        return 0
    return max(1, args.max_epochs * min(steps_per_epoch, args.limit_train_batches or steps_per_epoch) - WARMUP_STEPS)


#: The peer package's published figures on this project's split, all 12,533 test words.
G2P_EN = {"version": "2.1.0", "model": "GRU-256 encoder-decoder, no attention", "wer": 27.08, "per": 8.01}

PUBLISHED = [
    ("Sequitur G2P (joint n-gram)", "24.5", "5.9"),
    ("Phonetisaurus (WFST)", "24.4", "-"),
    ("Yao & Zweig 2015, encoder-decoder LSTM", "~28.6", "~7.6"),
    ("Yao & Zweig 2015, bi-directional LSTM", "23.6", "5.5"),
    ("Toshniwal & Livescu 2016, attention (single)", "~21.7", "~5.0"),
    ("CMUSphinx g2p-seq2seq, LSTM 2x512", "23.3", "-"),
    ("Sun et al. 2019, transformer + distillation", "19.9", "4.6"),
]


#: Files of a run folder (``results/g2p_<tag>_runs/<variant>_s<seed>/``). ``state.json``: the
#: training state the frameworks' own checkpoints do not hold (dev curve, sessions, and for Keras the
#: elapsed seconds, early-stopping and best-checkpoint state, compile counts), written at every epoch
#: end; ``result.json``: the finished run's row (a run that has one is read, not retrained).
STATE_FILE, RESULT_FILE = "state.json", "result.json"


class Interrupted(SystemExit):
    """Raised after epoch ``--stop-after-epoch`` (its checkpoint written): a session cut off there;
    the process exits with status 3."""

    def __init__(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)
        super().__init__(3)


#: The arguments a run's training depends on (besides framework, variant and seed): a run folder
#: trained with other values is not resumed (``--minutes`` may grow, to give a cut-off run more time).
TRAINING_ARGS = ("preset", "batch_size", "lr", "lr_schedule", "min_lr_ratio", "max_epochs", "limit_train_batches",
                 "precision", "val_batches", "patience")  # fmt: skip


def differences(saved: dict[str, Any], now: dict[str, Any]) -> str:
    """``key: [there] there, [now] now`` for the keys whose values differ."""
    changed = sorted(k for k in now if saved.get(k) != now[k])
    return f"{', '.join(changed)}: {[saved.get(k) for k in changed]} there, {[now[k] for k in changed]} now"


def check_training(out: Path, state: dict[str, Any], framework: str, variant: str, seed: int, args: Any) -> None:
    """Refuse to resume a run folder trained with other settings; record this run's settings in ``state``."""
    training = {
        "framework": framework,
        "variant": variant,
        "seed": seed,
        **{k: getattr(args, k) for k in TRAINING_ARGS},
    }
    saved = state.get("training")
    if saved is not None and saved != training:
        raise SystemExit(
            f"g2p.py: {out / STATE_FILE} belongs to a run with other settings ({differences(saved, training)}); "
            f"resume it with the same settings, or start over (benchmarks.g2p --fresh, or delete {out})"
        )
    state["training"] = training


def lightning_run_callbacks(out: Path, state: dict[str, Any], stop_after_epoch: int) -> Any:
    """A Lightning callback that records the dev curve and each session's starting point in
    ``state.json`` and, with ``stop_after_epoch > 0``, ends the process after that epoch."""
    import lightning.pytorch as pl

    from benchmarks.common import write_json

    class RunState(pl.Callback):  # type: ignore[misc]
        def on_train_start(self, trainer: Any, pl_module: Any) -> None:
            # after the checkpoint was restored: where this session starts
            session = {"epoch": trainer.current_epoch, "step": trainer.global_step, "started": time.time()}
            state.setdefault("sessions", []).append(session)
            write_json(out / STATE_FILE, state)

        def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
            if trainer.sanity_checking or "val/wer" not in trainer.callback_metrics:
                return
            point = {"step": float(trainer.global_step), "epoch": float(trainer.current_epoch),
                     "val_wer": float(trainer.callback_metrics["val/wer"])}  # fmt: skip
            state["curve"] = [c for c in state.get("curve", []) if c["epoch"] != point["epoch"]] + [point]
            write_json(out / STATE_FILE, state)

        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            # at the start of the next epoch: ModelCheckpoint (the last callback) has saved last.ckpt
            if stop_after_epoch and trainer.current_epoch >= stop_after_epoch:
                raise Interrupted(f"g2p.py: stopped after epoch {trainer.current_epoch} (--stop-after-epoch)")

    return RunState()


def train_lightning(
    variant: str, seed: int, args: argparse.Namespace, out: Path, stop_after_epoch: int = 0
) -> tuple[Any, list[dict[str, float]], float]:
    """Train with ``Trainer.fit``; returns the best-on-dev module, the dev curve and training seconds.

    Resumable: ``out/ckpt/last.ckpt`` is written at every epoch end (atomically, by the module's
    ``SafeCheckpointIO``) and a later call with the same ``out`` resumes from it
    (``trainer.fit(ckpt_path=...)``). The checkpoint holds the callbacks' state, so the resumed run
    keeps the wall-clock budget already spent (``Timer``), the early-stopping count and best score,
    and the best checkpoint (``ModelCheckpoint``'s best score and ``best.ckpt``). Once ``fit`` has
    returned, ``state.json`` says so and a later call only loads ``best.ckpt``. The training seconds
    are the ``Timer``'s (``trainer.fit``'s training loop, all sessions).
    """
    import lightning.pytorch as pl
    import torch
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, Timer
    from lightning.pytorch.loggers import CSVLogger

    from benchmarks.common import read_json, write_json
    from datamodules import Seq2SeqDataModule
    from lit_seq2seq import LitSeq2Seq

    pl.seed_everything(seed, verbose=False)
    if args.threads:
        torch.set_num_threads(args.threads)
    out.mkdir(parents=True, exist_ok=True)
    state = read_json(out / STATE_FILE)
    check_training(out, state, "lightning", variant, seed, args)
    dm = Seq2SeqDataModule(
        "cmudict", batch_size=args.batch_size, seed=seed, num_workers=args.workers, pad_to_multiple=args.pad_to_multiple
    )
    dm.setup("fit")
    module = LitSeq2Seq(
        dm.src_vocab, dm.tgt_vocab, PRESETS[args.preset], VARIANTS[variant], lr=args.lr, warmup_steps=WARMUP_STEPS,
        lr_decay_steps=lr_decay_steps(args, len(dm.train_dataloader())), min_lr_ratio=args.min_lr_ratio, seed=seed,
    )  # fmt: skip
    ckpt_dir = out / "ckpt"
    best = ModelCheckpoint(
        dirpath=ckpt_dir, monitor="val/wer", mode="min", save_top_k=1, filename="best", save_last=True
    )
    last = ckpt_dir / f"{ModelCheckpoint.CHECKPOINT_NAME_LAST}.ckpt"
    if not state.get("trained"):
        logger = CSVLogger(out, name="logs")  # one version folder per session
        trainer = pl.Trainer(
            accelerator=args.accelerator,
            devices=1,
            precision=lightning_precision(args.precision),
            max_epochs=args.max_epochs,
            max_time=timedelta(minutes=args.minutes),
            gradient_clip_val=1.0,
            limit_val_batches=args.val_batches,
            limit_train_batches=args.limit_train_batches or 1.0,
            callbacks=[
                best,
                EarlyStopping(monitor="val/wer", mode="min", patience=args.patience),
                lightning_run_callbacks(out, state, stop_after_epoch),
            ],
            logger=logger,
            enable_model_summary=False,
            num_sanity_val_steps=0,
        )
        resume = last if last.exists() else None
        if resume:
            print(f"resuming from {resume}", flush=True)
        trainer.fit(module, datamodule=dm, ckpt_path=resume)
        timer = next(cb for cb in trainer.callbacks if isinstance(cb, Timer))
        state.update(
            trained=True,
            train_seconds=timer.time_elapsed("train"),
            steps=trainer.global_step,
            best_path=best.best_model_path,
        )
        write_json(out / STATE_FILE, state)
    weights = state.get("best_path") or (str(last) if last.exists() else None)
    if weights:
        module = LitSeq2Seq.load_from_checkpoint(weights, map_location="cpu")
    module = module.to("cuda" if torch.cuda.is_available() and args.accelerator != "cpu" else "cpu").eval()
    return module, state.get("curve", []), float(state["train_seconds"])


def val_batch_count(total: int, limit: float) -> int:
    """Dev batches used under Lightning's ``limit_val_batches`` rule: a value in ``(0, 1]`` is a
    fraction (``int(total * limit)``), a whole number above 1 a count (at most ``total``)."""
    if 0.0 < limit <= 1.0:
        count = int(total * limit)
    elif limit > 1.0 and limit % 1.0 == 0.0:
        count = min(total, int(limit))
    else:
        raise SystemExit(f"g2p.py: --val-batches: got {limit}, expected a fraction in (0, 1] or a whole number > 1")
    if count == 0:
        raise SystemExit(f"g2p.py: --val-batches {limit} of {total} dev batches is none; use at least {1 / total:.4f}")
    return count


def default_backend(accelerator: str) -> str:
    """The fastest installed Keras backend for the G2P training step on this kind of machine.

    On a CPU machine JAX (XLA), then torch, then TensorFlow: ``results/throughput_cpu.md`` (2 threads,
    G2P model, batch 128) measured 51.7 ms/step on JAX with XLA, 55.9 on torch, 57.1 on TensorFlow
    with XLA (77.8 without; Lightning 41.7). With the ``cpu-large`` model at batch 256, each process
    pinned to one CPU that another training run also used, a steady step took 1.45 s on JAX, 1.60 s
    on torch and 4.1 s on TensorFlow with XLA (alone on its CPU: 0.66 s on JAX, 0.51 s for Lightning). The
    price is XLA's compile per padded batch shape (about 10-17 s each for the train step on 2 busy
    cores). ``--pad-to-multiple`` (default 4, both frameworks, so they train on the same batches)
    bounds the shapes: 16 distinct ``(batch, S, T)`` in 20 epochs of CMUdict at batch 256, the last,
    smaller batch included, for 1.34 / 1.20 padded cells per source / target token; 8 gives 9 shapes
    but 1.50 / 1.39 cells, 1 gives 80 shapes and 1.13 / 1.03 (:func:`padding_report`). Each run's JSON
    lists ``train_shapes`` and ``compiles``. On a GPU machine TensorFlow if it is a CUDA build, else JAX.
    """
    installed = [b for b in ("tensorflow", "jax", "torch") if importlib.util.find_spec(b) is not None]
    if not installed:
        raise SystemExit("g2p.py: --framework keras needs TensorFlow, JAX or torch installed")
    gpu = accelerator != "cpu" and shutil.which("nvidia-smi") is not None
    if not gpu:
        return next(b for b in ("jax", "torch", "tensorflow") if b in installed)
    if "tensorflow" in installed:
        import tensorflow as tf

        if not tf.test.is_built_with_cuda():
            installed.remove("tensorflow")
    return installed[0]


def configure_keras(args: argparse.Namespace) -> tuple[str, str]:
    """Pick the Keras backend and its threads before Keras is imported; returns ``(backend, device)``."""
    backend = args.backend or default_backend(args.accelerator)
    if "keras" in sys.modules and os.environ.get("KERAS_BACKEND", "tensorflow") != backend:
        raise SystemExit(f"g2p.py: Keras was imported before --backend {backend} could take effect")
    os.environ.update(keras_env(backend, args.accelerator == "cpu", args.threads))
    import keras

    set_backend_threads(backend, args.threads)

    device = "cpu"
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            device = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    elif backend == "jax":
        import jax

        if jax.default_backend() != "cpu":
            device = jax.devices()[0].device_kind
    else:
        import torch

        if torch.cuda.is_available():
            device = torch.cuda.get_device_name(0)
    assert keras.backend.backend() == backend
    return backend, device


def use_jax_cache(folder: Path) -> None:
    """Let JAX keep every compiled executable in ``folder`` (its persistent compilation cache) and
    load it from there in a later process. A run's first session still compiles each padded batch
    shape (the ``compiles`` seconds of its JSON); a session that resumes it, cut off by the end of a
    session or Ctrl-C, loads them in a fraction of a second each instead of compiling them again
    (10-35 s per train shape for ``cpu-large`` on one core, the other one busy). Different runs do not share a
    folder, so each run's first compile is counted in full."""
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    compilation_cache.reset_cache()  # JAX opens its cache once per process: the next compile opens this folder


def keras_jit_compile(option: str, accelerator: str) -> bool | str:
    """``jit_compile`` for ``model.compile``. ``auto``: off for TensorFlow on the CPU (seen with the
    cpu preset, 1 thread: the same 0.2 s per step, but an XLA compile of 20-28 s per new batch shape
    against 3-5 s of tracing), Keras' own choice otherwise (XLA on JAX, where it is needed)."""
    if option != "auto":
        return option == "true"
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if accelerator == "cpu" or not tf.config.list_physical_devices("GPU"):
            return False
    return "auto"


def padded_batches(
    prepared: Any, steps: int, limit: int = 0, multiple: int | None = None
) -> Iterator[tuple[Any, int, int]]:
    """``(ids, S, T)`` of the first ``steps`` training batches of ``prepared`` (a ``PreparedData``):
    the rows and the padded source and target lengths, from the shared sampler's lengths (nothing
    collated), rounded up to ``multiple`` (default: the data's ``pad_to_multiple``). ``limit > 0``:
    the first ``limit`` batches of each epoch (``--limit-train-batches``, epoch 0's)."""
    import numpy as np

    enc, sampler = prepared.encoded["train"], prepared.sampler("train")
    multiple = multiple or prepared.pad_to_multiple
    src, tgt = np.asarray(enc.source_lengths), np.asarray(enc.target_lengths)
    epoch = 0
    while steps > 0:
        batches = sampler.batches(0)[:limit] if limit else sampler.batches(epoch)  # FirstBatches: the same each epoch
        for ids in batches[:steps]:
            ids = np.asarray(ids)
            s_len = -(-int(src[ids].max()) // multiple) * multiple
            t_len = -(-(int(tgt[ids].max()) + 1) // multiple) * multiple
            yield ids, s_len, t_len
        steps -= len(batches)
        epoch += 1


def train_shapes(data: Any, steps: int, limit: int) -> list[list[int]]:
    """Distinct padded ``[batch, S, T]`` shapes of the first ``steps`` training batches of ``data``
    (``KerasData``): the shapes a compiled Keras train step saw (:func:`padded_batches`)."""
    shapes = {(len(ids), s_len, t_len) for ids, s_len, t_len in padded_batches(data.data, steps, limit)}
    return [list(shape) for shape in sorted(shapes)]


def padding_report(batch_size: int, epochs: int, multiples: Sequence[int] = (1, 2, 4, 8)) -> str:
    """For each ``pad_to_multiple``: the distinct training-batch shapes in ``epochs`` epochs of CMUdict and
    the padded cells per real token (source, and target with ``<eos>``), what a step computes over.

    ``python -m benchmarks.g2p --padding-report`` (batch 256, 20 epochs) printed: multiple 1: 80 shapes,
    1.133 / 1.028 cells per token; 2: 33, 1.200 / 1.087; 4: 16, 1.335 / 1.204; 8: 9, 1.497 / 1.387.
    """
    import numpy as np

    from datamodules.prepared import PreparedData

    prepared = PreparedData("cmudict", batch_size=batch_size, seed=0)
    prepared.setup()
    enc = prepared.encoded["train"]
    src, tgt = np.asarray(enc.source_lengths), np.asarray(enc.target_lengths) + 1
    steps = epochs * len(prepared.sampler("train").batches(0))
    lines = [f"CMUdict train, batch {batch_size}, {epochs} epochs ({steps} batches)"]
    for multiple in multiples:
        shapes, cells, real = set(), np.zeros(2), np.zeros(2)
        for ids, s_len, t_len in padded_batches(prepared, steps, multiple=multiple):
            shapes.add((len(ids), s_len, t_len))
            cells += (len(ids) * s_len, len(ids) * t_len)
            real += (src[ids].sum(), tgt[ids].sum())
        ratio = cells / real
        lines.append(
            f"pad_to_multiple {multiple}: {len(shapes)} shapes; padded cells per token: source {ratio[0]:.3f}, "
            f"target {ratio[1]:.3f}"
        )
    return "\n".join(lines)


def train_keras(
    variant: str, seed: int, args: argparse.Namespace, out: Path, stop_after_epoch: int = 0
) -> tuple[Any, list[dict[str, float]], float]:
    """Train with ``model.fit``; returns the best-on-dev model, the dev curve and training seconds.

    The Keras counterpart of :func:`train_lightning`: validation logs ``val_wer`` (greedy, on the
    first ``--val-batches`` dev batches, the batches of ``val_loss``) to the epoch logs, where
    ``EarlyStopping`` and ``ModelCheckpoint`` find it, and ``CSVLogger`` writes the curve.

    Resumable: ``keras.callbacks.BackupAndRestore`` keeps the weights, the optimizer (its step
    counter included) and the finished epochs in ``out/backup``; a later call with the same ``out``
    continues from there. What it does not keep is in ``state.json`` and restored here: the training
    seconds already spent (``TimeBudget``), ``EarlyStopping``'s wait count and best value and
    ``ModelCheckpoint``'s best ``val_wer`` (Keras resets both at ``on_train_begin``, so a resumed run
    would otherwise stop late and overwrite ``best.weights.h5`` with a worse epoch), the compile
    counts of the earlier sessions. Once ``fit`` has returned, ``state.json`` says so and a later call
    only loads ``best.weights.h5``. Also recorded there: the distinct padded batch shapes trained on.
    """
    import keras
    from benchmarks.common import CompileCounter, add_compile_counts, read_json, write_json
    from datamodules.keras import KerasData
    from keras import ops
    from keras_seq2seq import (
        AtomicModelCheckpoint,
        Seq2SeqModel,
        TrainingThroughput,
        make_optimizer,
    )

    class FirstBatches(keras.utils.PyDataset):  # type: ignore[misc]
        """The first ``count`` batches of a sequence, the same ones every epoch (``validation_steps``
        would continue where the previous validation stopped)."""

        def __init__(self, sequence: Any, count: int) -> None:
            super().__init__()
            self.sequence, self.count = sequence, count

        def __len__(self) -> int:
            return self.count

        def __getitem__(self, index: int) -> Any:
            return self.sequence[index]

    class TimeBudget(keras.callbacks.Callback):  # type: ignore[misc]
        """Stops training once ``minutes`` of training have passed, ``spent`` seconds of them in earlier
        sessions (Lightning's ``max_time``); the epoch in progress is still validated. Also logs
        ``step`` (optimizer steps so far)."""

        def __init__(self, minutes: float, spent: float) -> None:
            super().__init__()
            self.seconds, self.spent = 60.0 * minutes, spent

        def on_train_begin(self, logs: Any = None) -> None:
            self.start = time.perf_counter()

        def elapsed(self) -> float:
            return self.spent + time.perf_counter() - self.start

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if self.elapsed() > self.seconds:
                self.model.stop_training = True

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.on_train_batch_end(0)
            if logs is not None:
                logs["step"] = int(ops.convert_to_numpy(self.model.optimizer.iterations))

    class ResumedEarlyStopping(keras.callbacks.EarlyStopping):  # type: ignore[misc]
        """``EarlyStopping`` that starts from the wait count and best value of ``state``."""

        def __init__(self, saved: dict[str, Any], **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.saved = saved

        def on_train_begin(self, logs: Any = None) -> None:
            super().on_train_begin(logs)
            if self.saved:
                self.wait, self.best, self.best_epoch = self.saved["wait"], self.saved["best"], self.saved["best_epoch"]

    class SaveState(keras.callbacks.Callback):  # type: ignore[misc]
        """Writes ``state.json`` at each epoch end, after ``BackupAndRestore`` (listed before it)."""

        def on_train_begin(self, logs: Any = None) -> None:
            step = int(ops.convert_to_numpy(self.model.optimizer.iterations))
            epoch = self.model._initial_epoch or 0  # set by BackupAndRestore when it restored a backup
            state.setdefault("sessions", []).append({"epoch": epoch, "step": step, "started": time.time()})
            write_json(out / STATE_FILE, state)

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            logs = logs or {}
            if logs.get("val_wer") is not None:
                point = {"step": float(logs["step"]), "epoch": float(epoch), "val_wer": float(logs["val_wer"])}
                state["curve"] = [c for c in state.get("curve", []) if c["epoch"] != epoch] + [point]
            state.update(
                epochs_done=epoch + 1,
                train_seconds=budget.elapsed(),
                best_val_wer=None if checkpoint.best in (None, float("inf")) else float(checkpoint.best),
                early_stopping={"wait": stopping.wait, "best": stopping.best, "best_epoch": stopping.best_epoch},
                compiles=add_compile_counts(compiles_before, counter.result(self.model)),
            )
            state["early_stopping"]["best"] = None if stopping.best is None else float(stopping.best)
            write_json(out / STATE_FILE, state)
            if stop_after_epoch and epoch + 1 >= stop_after_epoch:
                raise Interrupted(f"g2p.py: stopped after epoch {epoch + 1} (--stop-after-epoch)")

    out.mkdir(parents=True, exist_ok=True)
    state = read_json(out / STATE_FILE)
    check_training(out, state, f"keras-{keras.backend.backend()}", variant, seed, args)
    if keras.backend.backend() == "jax" and args.jax_cache == "run":
        use_jax_cache(out / "xla_cache")
    keras.utils.set_random_seed(seed)
    keras.config.set_dtype_policy(keras_dtype_policy(args.precision))
    data = KerasData("cmudict", batch_size=args.batch_size, seed=seed, pad_to_multiple=args.pad_to_multiple)
    model = Seq2SeqModel(data.src_vocab, data.tgt_vocab, PRESETS[args.preset], VARIANTS[variant], seed=seed)
    # LitSeq2Seq's optimizer (torch.optim.AdamW, eps 1e-8) with Lightning's gradient_clip_val=1.0.
    train = data.train()
    optimizer = make_optimizer(args.lr, WARMUP_STEPS, lr_decay_steps(args, len(train)), args.min_lr_ratio, 1.0)
    model.compile(optimizer=optimizer, jit_compile=keras_jit_compile(args.jit_compile, args.accelerator))
    val = data.val()
    n_val = val_batch_count(len(val), args.val_batches)
    best_path, log_path = out / "best.weights.h5", out / "history.csv"
    if not state.get("trained"):
        backend = keras.backend.backend()
        counter = CompileCounter(backend)
        compiles_before = state.get("compiles")
        budget = TimeBudget(args.minutes, state.get("train_seconds", 0.0))
        stopping = ResumedEarlyStopping(
            state.get("early_stopping"), monitor="val_wer", mode="min", patience=args.patience
        )
        checkpoint = AtomicModelCheckpoint(
            str(best_path), monitor="val_wer", mode="min", save_best_only=True, save_weights_only=True,
            initial_value_threshold=state.get("best_val_wer"),
        )  # fmt: skip
        callbacks = [  # the ones that add to the epoch logs first (val_wer comes from evaluate itself)
            TrainingThroughput(),
            budget,
            stopping,
            checkpoint,
            keras.callbacks.CSVLogger(str(log_path), append=True),
            keras.callbacks.BackupAndRestore(backup_dir=str(out / "backup"), delete_checkpoint=False),
            SaveState(),
        ]
        limited = 0 < args.limit_train_batches < len(train)
        counter.start()
        try:
            model.fit(
                FirstBatches(train, args.limit_train_batches) if limited else train,
                validation_data=FirstBatches(val, n_val), epochs=args.max_epochs, callbacks=callbacks, verbose=2,
            )  # fmt: skip
        finally:
            counter.stop()
        steps = int(ops.convert_to_numpy(model.optimizer.iterations))
        state.update(
            trained=True,
            train_seconds=budget.elapsed(),
            steps=steps,
            compiles=add_compile_counts(compiles_before, counter.result(model)),
            train_shapes=train_shapes(data, steps, args.limit_train_batches if limited else 0),
        )
        write_json(out / STATE_FILE, state)
    elif not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)  # the weights files hold the optimizer's too
    if best_path.exists():
        model.load_weights(str(best_path))
    return model, state.get("curve", []), float(state["train_seconds"])


def evaluate(model: Any, args: argparse.Namespace) -> dict[str, float]:
    """Test WER/PER with greedy decoding and beam 5 (any-reference WER, closest-reference PER)."""
    from datamodules import load_corpus

    sources, references = load_corpus("cmudict").references("test")
    if args.test_words:
        sources, references = sources[: args.test_words], references[: args.test_words]
    scores: dict[str, float] = {}
    for name, kwargs in (("greedy", {"strategy": "greedy"}), ("beam5", {"strategy": "beam", "beam_width": 5})):
        start = time.perf_counter()
        hyps = model.translate(sources, batch_size=512, **kwargs)
        s = g2p_scores(hyps, references)
        scores[f"{name}_wer"], scores[f"{name}_per"] = s.wer, s.per
        scores[f"{name}_decode_s"] = time.perf_counter() - start
    scores["test_words"] = len(sources)
    return scores


#: Test scores of a run, shown in the table as "mean ± sd".
SCORE_KEYS = ("greedy_wer", "greedy_per", "beam5_wer", "beam5_per")
#: Summarised per (framework, variant): mean and sample standard deviation over the seeds.
SUMMARY_KEYS = (*SCORE_KEYS, "train_minutes", "epochs")


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and sample standard deviation over the seeds of each (framework, variant); with one
    seed the deviation is ``None`` and the table shows the value alone."""
    summary = []
    for framework, variant in dict.fromkeys((r["framework"], r["variant"]) for r in runs):
        rs = [r for r in runs if r["framework"] == framework and r["variant"] == variant]
        row: dict[str, Any] = {"framework": framework, "variant": variant, "seeds": len(rs)}
        for key in SUMMARY_KEYS:
            values = [float(r[key]) for r in rs]
            row[key] = statistics.mean(values)
            row[key + "_sd"] = statistics.stdev(values) if len(values) > 1 else None  # undefined for one seed
        for key in SCORE_KEYS:
            sd = row[key + "_sd"]
            row[key + "_text"] = f"{row[key]:.2f}" if sd is None else f"{row[key]:.2f} ± {sd:.2f}"
        compiles = [r["compiles"] for r in rs if r.get("compiles")]
        if compiles:  # Keras: compiles or traces of the train/test/predict functions, mean over the seeds
            row["compiles_text"] = "/".join(
                format(statistics.mean(c.get(kind, 0) for c in compiles), "g") for kind in COMPILE_KINDS
            )
            seconds = [c["seconds"] for c in compiles if c.get("seconds") is not None]
            row["compile_s"] = statistics.mean(seconds) if seconds else None
        summary.append(row)
    return summary


def results_table(title: str, summary: list[dict[str, Any]], config: Seq2SeqConfig, test_words: int) -> str:
    """The Markdown results: ours (mean ± sd over seeds), then the published numbers."""
    cols = [
        ("framework", "framework", ""),
        ("variant", "teacher forcing", ""),
        ("seeds", "seeds", "d"),
        ("greedy_wer_text", "WER greedy %", ""),
        ("greedy_per_text", "PER greedy %", ""),
        ("beam5_wer_text", "WER beam5 %", ""),
        ("beam5_per_text", "PER beam5 %", ""),
        ("epochs", "epochs", ".1f"),
        ("train_minutes", "train min", ".1f"),
        ("compiles_text", "compiles train/test/predict", ""),
        ("compile_s", "compile s", ".1f"),
    ]
    table = f"# {title}\n\nSplit: the fixed CMUdict split of benchmarks/README.md (12,533 test words"
    table += f"{', first ' + str(test_words) if test_words else ''}). Config: `{config}`.\n"
    table += "Mean ± sample standard deviation over the seeds; train min is wall time, machine load included "
    table += "(compiles included); compiles: times Keras' train/test/predict functions were compiled (XLA on JAX) or "
    table += "traced (TensorFlow), and their seconds (`benchmarks.common.CompileCounter`; none on torch).\n\n"
    table += markdown_table(summary, cols)
    table += f"\nPeer, measured on the same split: `g2p_en` {G2P_EN['version']} ({G2P_EN['model']}), "
    table += (
        f"WER {G2P_EN['wer']:.2f} %, PER {G2P_EN['per']:.2f} % (greedy; it saw most of the test words in training).\n"
    )
    table += "\nPublished (older standard split, 12,000 test words: compare loosely)\n\n"
    table += "| system | WER % | PER % |\n|---|---|---|\n"
    table += "".join(f"| {n} | {w} | {p} |\n" for n, w, p in PUBLISHED)
    return table


def plot_curves(runs: list[dict[str, Any]], path: Path) -> None:
    try:
        from seq2seq_fit.plots import _pyplot

        plt = _pyplot()
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(6.5, 3.8), dpi=120)
    for framework, variant in dict.fromkeys((r["framework"], r["variant"]) for r in runs):
        curves = [r["curve"] for r in runs if r["framework"] == framework and r["variant"] == variant and r["curve"]]
        if not curves:
            continue
        n = min(len(c) for c in curves)  # early stopping may end a seed sooner
        steps = [statistics.mean(c[i]["step"] for c in curves) for i in range(n)]
        wers = [[c[i]["val_wer"] for c in curves] for i in range(n)]
        label = f"{framework} {variant} ({len(curves)} seed{'s' if len(curves) > 1 else ''})"
        (line,) = ax.plot(steps, [statistics.mean(w) for w in wers], marker="o", ms=3, label=label)
        if len(curves) > 1:
            ax.fill_between(steps, [min(w) for w in wers], [max(w) for w in wers], color=line.get_color(), alpha=0.2)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("dev WER % (greedy)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("CMUdict G2P learning curves")
    fig.tight_layout()
    fig.savefig(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--framework", default="lightning", choices=["lightning", "keras"])
    parser.add_argument(
        "--backend", choices=["tensorflow", "jax", "torch"], default=None,
        help="Keras backend (default: the fastest for this step: jax on a CPU machine; on a GPU one tensorflow if "
        "it is a CUDA build, else jax)",
    )  # fmt: skip
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--preset",
        default="gpu",
        choices=list(PRESETS),
        help="model (seq2seq_fit.presets.PRESETS, where each one is described)",
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="wall-clock cap on the training of each run")
    parser.add_argument("--max-epochs", type=int, default=40, help="training budget per run, in epochs")
    parser.add_argument(
        "--lr-schedule", choices=["cosine", "constant"], default="cosine",
        help="after the warm-up: cosine decay to --min-lr-ratio at the end of --max-epochs, or constant",
    )  # fmt: skip
    parser.add_argument("--min-lr-ratio", type=float, default=0.05, help="final learning rate / --lr (cosine)")
    parser.add_argument("--limit-train-batches", type=int, default=0, help="batches per epoch (0: all; smoke tests)")
    parser.add_argument("--patience", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument(
        "--pad-to-multiple", type=int, default=4,
        help="round padded batch lengths up to a multiple of this, in both frameworks (the same batches; a compiled "
        "Keras step sees few shapes)",
    )  # fmt: skip
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--precision", default="32-true", choices=list(PRECISIONS), help="seq2seq_fit.precision name")
    parser.add_argument("--accelerator", default="auto")
    parser.add_argument("--jit-compile", default="auto", choices=["auto", "true", "false"], help="Keras only")
    parser.add_argument(
        "--jax-cache", default="run", choices=["run", "off"],
        help="Keras on JAX: keep XLA's compiled steps in the run folder (xla_cache/), so a resumed run loads them "
        "instead of compiling again (run), or compile in every session (off)",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (torch, TF intra/inter-op, XLA)")
    parser.add_argument(
        "--cpus", default=None,
        help="run on these CPUs only (taskset -c syntax: 0, 0,1, 0-3); two runs side by side each take their own",
    )  # fmt: skip
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument(
        "--val-batches", type=float, default=1.0,
        help="dev batches for dev loss/WER, as Lightning's limit_val_batches: fraction in (0, 1] or a count",
    )  # fmt: skip
    parser.add_argument("--test-words", type=int, default=0, help="score only the first N test words (0: all)")
    parser.add_argument("--tag", default="")
    parser.add_argument(
        "--fresh", action="store_true",
        help="discard the run folders' checkpoints and scores and train from scratch (default: resume an unfinished "
        "run from its last epoch, read a finished one)",
    )  # fmt: skip
    parser.add_argument(
        "--stop-after-epoch", type=int, default=0, metavar="N",
        help="end the process (status 3) after epoch N's checkpoint, unscored: a session cut off there (resume tests)",
    )  # fmt: skip
    parser.add_argument(
        "--padding-report", action="store_true",
        help="train nothing: print the batch shapes and padding of each --pad-to-multiple over 20 epochs",
    )  # fmt: skip
    parser.add_argument(
        "--combine", nargs="+", metavar="TAG", default=None,
        help="train nothing: merge the runs of results/g2p_TAG.json files into results/g2p_<--tag>.*",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.combine:
        if not args.tag:
            parser.error("--combine needs --tag, the name of the merged results")
        combine(args.combine, args.tag)
        return
    if args.padding_report:
        print(padding_report(args.batch_size, 20))
        return

    pin_cpus(args.cpus)
    if args.framework == "keras":
        backend, device = configure_keras(args)
        import keras

        framework, train, versions = f"keras-{backend}", train_keras, {"keras": keras.__version__, "backend": backend}
    else:
        import torch

        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() and args.accelerator != "cpu" else "cpu"
        framework, train, versions = "lightning", train_lightning, {"torch": torch.__version__}
    tag = args.tag or f"{args.framework}-{'gpu' if device != 'cpu' else 'cpu'}"
    workdir = RESULTS / f"g2p_{tag}_runs"
    meta = {
        "device": device,
        "args": vars(args),
        "config": PRESETS[args.preset].to_dict(),
        "variants": {k: VARIANTS[k].to_dict() for k in args.variants},
        "cpus": allowed_cpus(),
        **versions,
    }
    runs: list[dict[str, Any]] = []
    for variant in args.variants:
        for seed in args.seeds:
            print(f"== {framework} {variant} seed {seed} on {device}", flush=True)
            runs.append(one_run(framework, train, variant, seed, args, workdir / f"{variant}_s{seed}"))
            print({k: v for k, v in runs[-1].items() if k != "curve"}, flush=True)
            # each run's own file at once (to commit as it lands), and the table of the runs so far
            write_results(f"g2p_{tag}-{variant}-s{seed}", [runs[-1]], meta, None)
            table = results_table(
                f"CMUdict G2P on {device} ({tag})", summarise(runs), PRESETS[args.preset], args.test_words
            )
            write_results(f"g2p_{tag}", runs + summarise(runs), meta, table)
            plot_curves(runs, RESULTS / f"g2p_{tag}_curves.png")
    print(table)


def run_protocol(framework: str, variant: str, args: argparse.Namespace) -> dict[str, Any]:
    """What a finished run's scores depend on: reading one scored otherwise is refused (``--fresh``
    trains it again)."""
    return {"framework": framework, "variant": variant, "preset": args.preset,
            **{key: getattr(args, key) for key in PROTOCOL_ARGS}}  # fmt: skip


def one_run(framework: str, train: Any, variant: str, seed: int, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Train (or resume) and score one run in its folder ``out``; a run with a ``result.json`` there
    is read, not retrained. ``--fresh`` discards the folder first."""
    from benchmarks.common import read_json, write_json

    if args.fresh and out.exists():
        shutil.rmtree(out)
    protocol = run_protocol(framework, variant, args)
    done = read_json(out / RESULT_FILE)
    if done and done["protocol"] != protocol:
        raise SystemExit(
            f"g2p.py: {out / RESULT_FILE} was written by a run with other settings "
            f"({differences(done['protocol'], protocol)}); pass --fresh to discard it and train again"
        )
    if done:
        print(f"read {out / RESULT_FILE} (trained before; --fresh retrains it)", flush=True)
        return dict(done["run"])
    model, curve, seconds = train(variant, seed, args, out, stop_after_epoch=args.stop_after_epoch)
    state = read_json(out / STATE_FILE)
    scores = evaluate(model, args)
    run = {
        "framework": framework,
        "variant": variant,
        "seed": seed,
        "train_minutes": seconds / 60,
        "epochs": len(curve),
        "steps": state.get("steps"),
        "sessions": len(state.get("sessions", [])),
        "pad_to_multiple": args.pad_to_multiple,
        "curve": curve,
        **scores,
    }
    if "compiles" in state:
        run["compiles"] = state["compiles"]
        run["train_shapes"] = state.get("train_shapes")
    write_json(out / RESULT_FILE, {"protocol": protocol, "run": run})
    return run


#: Arguments that change what a run's scores mean (how it was trained or scored): ``--combine``
#: refuses to average runs that differ in any of them.
PROTOCOL_ARGS = ("test_words", "max_epochs", "lr", "lr_schedule", "min_lr_ratio", "batch_size", "patience",
                 "val_batches", "limit_train_batches", "precision")  # fmt: skip


def combine(tags: list[str], out: str) -> None:
    """One table and one plot from the runs of several result files (``g2p_<tag>.json``), e.g. one
    file per variant or per framework, run at different times or on several machines."""
    runs: list[dict[str, Any]] = []
    metas: list[dict[str, Any]] = []
    for tag in tags:
        path = RESULTS / f"g2p_{tag}.json"
        if not path.exists():
            raise SystemExit(f"g2p.py --combine: {path} does not exist")
        data = json.loads(path.read_text())
        runs += [row for row in data["rows"] if "seed" in row]
        metas.append(data["meta"])
    configs = {json.dumps(m["config"], sort_keys=True) for m in metas}
    if len(configs) != 1:
        raise SystemExit(f"g2p.py --combine: the files hold different model configs: {sorted(configs)}")
    for key in PROTOCOL_ARGS:
        values = {json.dumps(m["args"].get(key)) for m in metas}
        if len(values) != 1:
            raise SystemExit(
                f"g2p.py --combine: the files hold different --{key.replace('_', '-')}: {sorted(values)} "
                "(runs of different training budgets or protocols are not seeds of one result)"
            )
    devices = sorted({m["device"] for m in metas})
    config = Seq2SeqConfig(**metas[0]["config"])
    test_words = metas[0]["args"]["test_words"]
    summary = summarise(runs)
    table = results_table(f"CMUdict G2P on {', '.join(devices)} ({out})", summary, config, test_words)
    table += "\nCombined from " + ", ".join(f"`g2p_{t}.json`" for t in tags) + ".\n"
    print(table)
    meta = {"device": devices, "combined": tags, "config": metas[0]["config"], "sources": metas}
    write_results(f"g2p_{out}", runs + summary, meta, table)
    plot_curves(runs, RESULTS / f"g2p_{out}_curves.png")


if __name__ == "__main__":
    main()
