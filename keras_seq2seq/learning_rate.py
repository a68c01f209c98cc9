"""``WarmupCosineDecay``: ``LitSeq2Seq``'s learning-rate schedule as a Keras ``LearningRateSchedule``."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops
from seq2seq_fit import check_lr_schedule, lr_factor
from seq2seq_fit.config import check_float


@keras.saving.register_keras_serializable(package="keras_seq2seq")
class WarmupCosineDecay(keras.optimizers.schedules.LearningRateSchedule):  # type: ignore[misc]
    """Linear warm-up, then an optional cosine decay: ``learning_rate * seq2seq_fit.lr_factor(step)``.

    Evaluated at ``optimizer.iterations`` (the steps done before this one), it gives optimizer step
    ``k`` the learning rate that ``LitSeq2Seq(lr=..., warmup_steps=..., lr_decay_steps=...,
    min_lr_ratio=...)`` gives it, so the same settings train the same way in both frameworks.

    Args:
        learning_rate: peak learning rate (after the warm-up).
        warmup_steps: linear warm-up over this many steps (0: none).
        lr_decay_steps: cosine decay over this many steps after the warm-up (0: constant).
        min_lr_ratio: learning rate at the end of the decay, as a fraction of ``learning_rate``.

    Example:
        >>> schedule = WarmupCosineDecay(1e-3, warmup_steps=100, lr_decay_steps=900, min_lr_ratio=0.1)
        >>> optimizer = keras.optimizers.AdamW(schedule, weight_decay=0.0)
        >>> round(float(schedule(49)), 6), round(float(schedule(10**6)), 6)
        (0.0005, 0.0001)
    """

    def __init__(
        self, learning_rate: float, warmup_steps: int = 0, lr_decay_steps: int = 0, min_lr_ratio: float = 0.0
    ) -> None:
        check_float("WarmupCosineDecay", "learning_rate", learning_rate, 0.0, float("inf"), low_open=True)
        check_lr_schedule("WarmupCosineDecay", warmup_steps, lr_decay_steps, min_lr_ratio)
        self.learning_rate = float(learning_rate)
        self.warmup_steps = int(warmup_steps)
        self.lr_decay_steps = int(lr_decay_steps)
        self.min_lr_ratio = float(min_lr_ratio)

    def __call__(self, step: Any) -> Any:
        factor = lr_factor(
            ops.cast(step, "float32"), self.warmup_steps, self.lr_decay_steps, self.min_lr_ratio,
            minimum=ops.minimum, maximum=ops.maximum, cos=ops.cos,
        )  # fmt: skip
        return ops.cast(factor, "float32") * self.learning_rate

    def get_config(self) -> dict[str, Any]:
        return {
            "learning_rate": self.learning_rate,
            "warmup_steps": self.warmup_steps,
            "lr_decay_steps": self.lr_decay_steps,
            "min_lr_ratio": self.min_lr_ratio,
        }


def make_optimizer(
    learning_rate: float,
    warmup_steps: int = 0,
    lr_decay_steps: int = 0,
    min_lr_ratio: float = 0.0,
    gradient_clip_val: float = 1.0,
) -> keras.optimizers.AdamW:
    """``LitSeq2Seq``'s optimizer in Keras: AdamW under :class:`WarmupCosineDecay`, gradients clipped.

    ``torch.optim.AdamW`` with weight decay 0 and eps 1e-8, as ``LitSeq2Seq`` builds it, and
    ``global_clipnorm`` as Lightning's ``gradient_clip_val`` (``clip_grad_norm_`` over all
    parameters), so the same options train the same way in both frameworks.

    Args:
        learning_rate, warmup_steps, lr_decay_steps, min_lr_ratio: the schedule (:class:`WarmupCosineDecay`).
        gradient_clip_val: largest global gradient norm; 0 clips nothing.

    Example:
        >>> optimizer = make_optimizer(1e-3, warmup_steps=100, lr_decay_steps=900)
        >>> optimizer.global_clipnorm, optimizer.epsilon
        (1.0, 1e-08)
    """
    check_float("make_optimizer", "gradient_clip_val", gradient_clip_val, 0.0, float("inf"))
    schedule = WarmupCosineDecay(learning_rate, warmup_steps, lr_decay_steps, min_lr_ratio)
    return keras.optimizers.AdamW(schedule, weight_decay=0.0, epsilon=1e-8, global_clipnorm=gradient_clip_val or None)
