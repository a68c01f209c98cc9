"""Keras side of ``benchmarks.throughput`` (one child process per backend): ``Seq2SeqModel.fit`` on a ``PyDataset``
of the fixed batches, timed between ``on_train_batch_begin`` calls, and a hand-written loop over the same layers,
optimiser (Adam at 1e-3; a ``LossScaleOptimizer`` under ``mixed_float16``, as ``compile`` does) and batches through
the model's ``training_loss``: a ``tf.function`` on TensorFlow, a ``jax.jit``-ted stateless step on JAX, plain
``backward()`` on torch. ``jit`` is ``compile(jit_compile=...)`` (XLA, or ``torch.compile`` on torch).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.common import BenchData, StepClock, cudnn_rnn_ran, timed_steps, versions
from seq2seq_fit.precision import keras_dtype_policy


def sync(model: Any, backend: str) -> None:
    """Wait for the step dispatched last: the optimiser's step counter (TensorFlow), ``fit``'s state (JAX), CUDA."""
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


class HandLoop:
    """A training step written by hand over ``model``'s layers and optimiser; ``loop(x, y)`` runs one."""

    def __init__(self, model: Any, backend: str) -> None:
        self.model, self.backend = model, backend
        model.optimizer.build(model.trainable_variables)

    def reset(self) -> None:
        """Start a timed run (JAX: from the model's variables)."""

    def sync(self) -> None:
        sync(self.model, self.backend)

    def cudnn_rnn(self, x: Any, y: Any) -> bool | None:
        return None  # not probed on TensorFlow


class TensorFlowHandLoop(HandLoop):
    """``tf.function`` step: ``GradientTape`` over ``training_loss``, then ``apply_gradients``."""

    def __init__(self, model: Any, jit: bool) -> None:
        import tensorflow as tf

        super().__init__(model, "tensorflow")
        weights, optimizer = model.trainable_variables, model.optimizer
        ids = tf.TensorSpec([None, None], tf.int32)  # (B, S) / (B, T), every length dynamic

        @tf.function(input_signature=[{"source": ids, "target_in": ids}, ids], jit_compile=jit)
        def step(x: Any, y: Any) -> Any:
            with tf.GradientTape() as tape:
                loss, _ = model.training_loss(x, y)
                scaled = optimizer.scale_loss(loss)
            optimizer.apply_gradients(zip(tape.gradient(scaled, weights), weights, strict=True))
            return loss

        self.step = step

    def __call__(self, x: dict[str, np.ndarray], y: np.ndarray) -> None:
        self.step(x, y)


class JaxHandLoop(HandLoop):
    """Stateless step ``(trainable, non_trainable, optimizer) -> new state`` under ``jax.jit`` (state donated, as
    ``fit`` does), or op by op without ``jit``."""

    def __init__(self, model: Any, jit: bool) -> None:
        import jax

        import keras

        super().__init__(model, "jax")
        optimizer = model.optimizer

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
        import jax.numpy as jnp

        m = self.model  # copied: the jitted step donates its state
        variables = (m.trainable_variables, m.non_trainable_variables, m.optimizer.variables)
        self.state = tuple([jnp.array(v.value, copy=True) for v in group] for group in variables)

    def __call__(self, x: dict[str, np.ndarray], y: np.ndarray) -> None:
        _, self.state = self.step(self.state, x, y)

    def sync(self) -> None:
        import jax

        jax.block_until_ready(self.state)

    def cudnn_rnn(self, x: Any, y: Any) -> bool | None:
        """Whether the lowered step calls a cuDNN RNN (``jax.experimental.rnn``, Keras' LSTM path)."""
        import jax

        return "cudnn_rnn" in jax.jit(self._step).lower(self.state, x, y).as_text()


class TorchHandLoop(HandLoop):
    """Plain PyTorch loop over the Keras layers: ``training_loss``, ``backward``, ``optimizer.apply``."""

    def __init__(self, model: Any, jit: bool) -> None:
        import torch

        super().__init__(model, "torch")
        weights, optimizer = model.trainable_variables, model.optimizer

        def step(x: Any, y: Any) -> Any:
            model.zero_grad()
            loss, _ = model.training_loss(x, y)
            optimizer.scale_loss(loss).backward()
            with torch.no_grad():
                optimizer.apply([v.value.grad for v in weights], weights)
            return loss

        self.step = torch.compile(step) if jit else step

    def __call__(self, x: dict[str, np.ndarray], y: np.ndarray) -> None:
        from keras import ops

        self.step({k: ops.convert_to_tensor(v) for k, v in x.items()}, ops.convert_to_tensor(y))

    def cudnn_rnn(self, x: Any, y: Any) -> bool | None:
        import torch

        return torch.cuda.is_available() and cudnn_rnn_ran(lambda: self(x, y))


HAND_LOOPS: dict[str, Any] = {"tensorflow": TensorFlowHandLoop, "jax": JaxHandLoop, "torch": TorchHandLoop}


def build_model(job: dict[str, Any], data: BenchData) -> Any:
    """A compiled ``Seq2SeqModel`` from seed 0 under the job's dtype policy."""
    import keras
    from keras_seq2seq import Seq2SeqModel
    from seq2seq_fit import Seq2SeqConfig, TeacherForcing

    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy(keras_dtype_policy(job["precision"]))
    try:
        config, tf = Seq2SeqConfig.from_dict(job["config"]), TeacherForcing.from_dict(job["teacher_forcing"])
        model = Seq2SeqModel(data.src_vocab, data.tgt_vocab, config, tf, seed=0)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), jit_compile=job["jit"])
    finally:
        keras.config.set_dtype_policy("float32")
    return model


def run_fit(model: Any, backend: str, batches: list[Any]) -> list[float]:
    """Per-step times of ``model.fit`` over ``batches`` (warm-up included)."""
    import keras

    class Batches(keras.utils.PyDataset):  # type: ignore[misc]
        def __len__(self) -> int:
            return len(batches)

        def __getitem__(self, index: int) -> Any:
            return batches[index]

    class StepTimer(keras.callbacks.Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.clock = StepClock(lambda: sync(self.model, backend))

        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            self.clock.tick()

    timer = StepTimer()
    model.fit(Batches(), epochs=1, verbose=0, callbacks=[timer], shuffle=False)
    return timer.clock.times


def loops(
    job: dict[str, Any], data: BenchData, order: list[int]
) -> tuple[Callable[[], list[float]], Callable[[], list[float]], Callable[[], bool | None], dict[str, Any]]:
    """The hand loop's and ``fit``'s per-step times over the batches ``order`` (warm-up included), a probe of
    whether the hand loop runs a cuDNN RNN, and the row's Keras fields (dtype policy, loss scaling)."""
    import keras

    backend, device = job["backend"], job["device"]
    if keras.backend.backend() != backend:
        raise RuntimeError(f"KERAS_BACKEND={backend} but keras runs {keras.backend.backend()}")
    if device == "cuda" and "gpu" not in versions(backend):
        raise RuntimeError(f"--device cuda: the Keras {backend} backend sees no GPU")
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
