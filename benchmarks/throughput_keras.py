"""Keras side of ``benchmarks.throughput`` (one child process per backend): ``Seq2SeqModel.fit`` on a ``PyDataset``
of the fixed batches, timed between ``on_train_batch_begin`` calls, and a hand-written loop over the same layers,
optimiser (Adam at 1e-3; a ``LossScaleOptimizer`` under ``mixed_float16``, as ``compile`` does) and batches through
the model's ``training_loss``: a ``tf.function`` on TensorFlow, a ``jax.jit``-ted stateless step on JAX, plain
``backward()`` on torch. ``jit`` is ``compile(jit_compile=...)`` (XLA, or ``torch.compile`` on torch).
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from typing import Any

import numpy as np

from seq2seq_fit.precision import keras_dtype_policy


def versions(backend: str, device: str) -> dict[str, str]:
    import keras

    info = {"framework": "keras", "python": platform.python_version(), "numpy": np.__version__,
            "keras": keras.__version__, "backend": backend}  # fmt: skip
    if backend == "tensorflow":
        import tensorflow as tf

        build = tf.sysconfig.get_build_info()
        info |= {"tensorflow": tf.__version__, "cuda": str(build.get("cuda_version")),
                 "cudnn": str(build.get("cudnn_version")),
                 "gpu": str([d.name for d in tf.config.list_physical_devices("GPU")])}  # fmt: skip
    elif backend == "jax":
        import jax
        import jaxlib

        info |= {"jax": jax.__version__, "jaxlib": jaxlib.__version__, "jax_platform": jax.default_backend()}
        info |= {"gpu": jax.devices()[0].device_kind} if device == "cuda" else {}
    elif backend == "torch":
        import torch

        cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        info |= {"torch": torch.__version__, "cuda": str(torch.version.cuda), "cudnn": str(cudnn),
                 "cpu_threads": str(torch.get_num_threads())}  # fmt: skip
        info |= {"gpu": torch.cuda.get_device_name(0)} if device == "cuda" else {}
    return info


def check_device(backend: str, device: str) -> None:
    """Fail early when Keras runs another backend than the job's, or ``--device cuda`` was asked but the
    backend sees no GPU."""
    import keras

    if keras.backend.backend() != backend:
        raise RuntimeError(f"KERAS_BACKEND={backend} but keras runs {keras.backend.backend()}")
    if device != "cuda":
        return
    if backend == "jax":
        import jax

        ok = jax.default_backend() == "gpu"
    elif backend == "torch":
        import torch

        ok = torch.cuda.is_available()
    else:
        import tensorflow as tf

        ok = bool(tf.config.list_physical_devices("GPU"))
    if not ok:
        raise RuntimeError(f"--device cuda: the Keras {backend} backend sees no GPU")


class TensorFlowHandLoop:
    """``tf.function`` step: ``GradientTape`` over ``training_loss``, then ``apply_gradients``."""

    def __init__(self, model: Any, jit: bool) -> None:
        import tensorflow as tf

        self.model = model
        weights = model.trainable_variables
        optimizer = model.optimizer
        optimizer.build(weights)
        ids = tf.TensorSpec([None, None], tf.int32)  # (B, S) / (B, T), every length dynamic

        @tf.function(input_signature=[{"source": ids, "target_in": ids}, ids], jit_compile=jit)
        def step(x: Any, y: Any) -> Any:
            with tf.GradientTape() as tape:
                loss, _ = model.training_loss(x, y)
                scaled = optimizer.scale_loss(loss)
            grads = tape.gradient(scaled, weights)
            optimizer.apply_gradients(zip(grads, weights, strict=True))
            return loss

        self.step = step

    def reset(self) -> None:
        pass

    def __call__(self, x: dict[str, np.ndarray], y: np.ndarray) -> None:
        self.step(x, y)

    def sync(self) -> None:
        self.model.optimizer.iterations.numpy()

    def cudnn_rnn(self, x: Any, y: Any) -> bool | None:
        return None  # not probed on TensorFlow


class JaxHandLoop:
    """Stateless step ``(trainable, non_trainable, optimizer) -> new state`` under ``jax.jit``
    (state donated, as ``fit`` does), or op by op without ``jit``."""

    def __init__(self, model: Any, jit: bool) -> None:
        import jax

        import keras

        self.model = model
        optimizer = model.optimizer
        optimizer.build(model.trainable_variables)

        def loss_fn(trainable: Any, non_trainable: Any, optimizer_vars: Any, x: Any, y: Any) -> Any:
            mapping = [
                *zip(model.trainable_variables, trainable, strict=True),
                *zip(model.non_trainable_variables, non_trainable, strict=True),
                *zip(optimizer.variables, optimizer_vars, strict=True),
            ]
            with keras.StatelessScope(state_mapping=mapping) as scope:
                loss, _ = model.training_loss(x, y)
                scaled = optimizer.scale_loss(loss)
            return scaled, (loss, [scope.get_current_value(v) for v in model.non_trainable_variables])

        def step(state: Any, x: Any, y: Any) -> Any:
            trainable, non_trainable, optimizer_vars = state
            grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
            (_, (loss, non_trainable)), grads = grad_fn(trainable, non_trainable, optimizer_vars, x, y)
            trainable, optimizer_vars = optimizer.stateless_apply(optimizer_vars, grads, trainable)
            return loss, (trainable, non_trainable, optimizer_vars)

        self._step = step
        self.step = jax.jit(step, donate_argnums=0) if jit else step
        self.state: Any = None

    def reset(self) -> None:
        """Start from the model's variables (copied: the jitted step donates its state)."""
        import jax.numpy as jnp

        def copy(variables: list[Any]) -> list[Any]:
            return [jnp.array(v.value, copy=True) for v in variables]

        m = self.model
        self.state = (copy(m.trainable_variables), copy(m.non_trainable_variables), copy(m.optimizer.variables))

    def __call__(self, x: dict[str, np.ndarray], y: np.ndarray) -> None:
        _, self.state = self.step(self.state, x, y)

    def sync(self) -> None:
        import jax

        jax.block_until_ready(self.state)

    def cudnn_rnn(self, x: Any, y: Any) -> bool | None:
        """Whether the lowered step calls a cuDNN RNN (``jax.experimental.rnn``, Keras' LSTM path)."""
        import jax

        return "cudnn_rnn" in jax.jit(self._step).lower(self.state, x, y).as_text()


class TorchHandLoop:
    """Plain PyTorch loop over the Keras layers: ``training_loss``, ``backward``, ``optimizer.apply``."""

    def __init__(self, model: Any, jit: bool) -> None:
        import torch

        self.model = model
        weights = model.trainable_variables
        optimizer = model.optimizer
        optimizer.build(weights)

        def step(x: Any, y: Any) -> Any:
            model.zero_grad()
            loss, _ = model.training_loss(x, y)
            optimizer.scale_loss(loss).backward()
            grads = [v.value.grad for v in weights]
            with torch.no_grad():
                optimizer.apply(grads, weights)
            return loss

        self.step = torch.compile(step) if jit else step

    def reset(self) -> None:
        pass

    def __call__(self, x: dict[str, np.ndarray], y: np.ndarray) -> None:
        from keras import ops

        self.step({k: ops.convert_to_tensor(v) for k, v in x.items()}, ops.convert_to_tensor(y))

    def sync(self) -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def cudnn_rnn(self, x: Any, y: Any) -> bool | None:
        import torch

        if not torch.cuda.is_available():
            return False
        from benchmarks.common import cudnn_rnn_ran

        return cudnn_rnn_ran(lambda: self(x, y))


HAND_LOOPS: dict[str, Any] = {"tensorflow": TensorFlowHandLoop, "jax": JaxHandLoop, "torch": TorchHandLoop}


def sync_fit(model: Any, backend: str) -> None:
    """Wait for the step ``fit`` dispatched last (the same waits as the hand loops)."""
    if backend == "jax":
        import jax

        state = getattr(model, "_jax_state", None) or {}  # a TrackedDict of TrackedLists: not a pytree
        jax.block_until_ready([list(values) for values in state.values()])
    elif backend == "tensorflow":
        model.optimizer.iterations.numpy()
    else:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()


def build_model(job: dict[str, Any], data: Any) -> Any:
    """A compiled ``Seq2SeqModel`` from seed 0 under the job's dtype policy."""
    import keras
    from keras_seq2seq import Seq2SeqModel
    from seq2seq_fit import Seq2SeqConfig, TeacherForcing

    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy(keras_dtype_policy(job["precision"]))
    try:
        model = Seq2SeqModel(
            data.src_vocab,
            data.tgt_vocab,
            Seq2SeqConfig.from_dict(job["config"]),
            TeacherForcing.from_dict(job["teacher_forcing"]),
            seed=0,
        )
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), jit_compile=job["jit"])
    finally:
        keras.config.set_dtype_policy("float32")
    return model


def run_fit(model: Any, backend: str, batches: list[Any]) -> list[float]:
    """Per-step times of ``model.fit`` over ``batches`` (warm-up included)."""
    import keras
    from benchmarks.common import StepClock

    class Batches(keras.utils.PyDataset):  # type: ignore[misc]
        def __len__(self) -> int:
            return len(batches)

        def __getitem__(self, index: int) -> Any:
            return batches[index]

    class StepTimer(keras.callbacks.Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.clock = StepClock(lambda: sync_fit(self.model, backend))

        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            self.clock.tick()

    timer = StepTimer()
    model.fit(Batches(), epochs=1, verbose=0, callbacks=[timer], shuffle=False)
    return timer.clock.times


def loops(
    job: dict[str, Any], backend: str, device: str, data: Any, order: list[int]
) -> tuple[Callable[[], list[float]], Callable[[], list[float]], Callable[[], bool | None], dict[str, Any]]:
    """The hand loop's and ``fit``'s per-step times over the batches ``order`` (warm-up included), a probe of
    whether the hand loop runs a cuDNN RNN, and the row's Keras fields (dtype policy, loss scaling)."""
    from benchmarks.common import timed_steps

    check_device(backend, device)
    if device == "cuda" and backend == "torch":
        import torch

        torch.cuda.reset_peak_memory_stats()
    batches = data.keras_batches(order)
    hand_model = build_model(job, data)
    loop = HAND_LOOPS[backend](hand_model, bool(job["jit"]))
    fit_model = build_model(job, data) if job["trainer_too"] else None

    def hand() -> list[float]:
        loop.reset()
        return timed_steps(batches, lambda i, batch: loop(*batch), loop.sync)

    extra = {"dtype_policy": keras_dtype_policy(job["precision"]),
             "jit_compile_effective": None if fit_model is None else bool(fit_model.jit_compile),
             "loss_scale_optimizer": type(hand_model.optimizer).__name__ == "LossScaleOptimizer"}  # fmt: skip
    return hand, lambda: run_fit(fit_model, backend, batches), lambda: loop.cudnn_rnn(*batches[0]), extra
