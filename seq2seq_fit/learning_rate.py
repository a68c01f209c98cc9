"""The learning-rate schedule both trainers share: linear warm-up, then an optional cosine decay.

``LitSeq2Seq`` feeds :func:`lr_factor` to ``torch.optim.lr_scheduler.LambdaLR`` (stepped after
every optimizer step) and ``keras_seq2seq.WarmupCosineDecay`` evaluates it at
``optimizer.iterations``, so optimizer step ``k`` (0-based) gets the same learning rate in both
frameworks. The arithmetic runs on Python floats and, with ``minimum``/``maximum``/``cos`` from
``keras.ops``, on backend tensors inside a compiled ``train_step``.

Why not the frameworks' own schedules: Keras' ``CosineDecay(warmup_steps=...)`` starts its warm-up at
``initial_learning_rate`` on step 0, torch's ``LinearLR`` + ``CosineAnnealingLR`` count from the
other end of the step, so the two would differ by one step all along.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from seq2seq_fit.config import check_float, check_int


def check_lr_schedule(owner: str, warmup_steps: Any, decay_steps: Any, min_lr_ratio: Any) -> None:
    """Raise ``ValueError`` naming ``owner`` unless the schedule's arguments are valid."""
    check_int(owner, "warmup_steps", warmup_steps, 0)
    check_int(owner, "lr_decay_steps", decay_steps, 0)
    check_float(owner, "min_lr_ratio", min_lr_ratio, 0.0, 1.0)


def cosine_decay(t: Any, min_lr_ratio: float = 0.0, *, cos: Callable[[Any], Any] = math.cos) -> Any:
    """The cosine of the schedule at the fraction ``t`` (0 to 1) of the decay:
    ``r + (1 - r) * (1 + cos(pi * t)) / 2``, from 1 down to ``r = min_lr_ratio``.

    :func:`lr_factor` takes ``t`` from the step count; ``lit_seq2seq.demo.WallClockCosine`` from the
    elapsed fraction of a wall-clock budget.

    Example:
        >>> [round(cosine_decay(t, 0.1), 3) for t in (0.0, 0.5, 1.0)]
        [1.0, 0.55, 0.1]
    """
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + cos(math.pi * t))


def lr_factor(
    step: Any,
    warmup_steps: int = 0,
    decay_steps: int = 0,
    min_lr_ratio: float = 0.0,
    *,
    minimum: Callable[[Any, Any], Any] = min,
    maximum: Callable[[Any, Any], Any] = max,
    cos: Callable[[Any], Any] = math.cos,
) -> Any:
    """Factor of the base learning rate for optimizer step ``step`` (0-based: the step about to run).

    With ``k = step + 1``:

    - warm-up: ``min(1, k / warmup_steps)`` (1 when ``warmup_steps`` is 0);
    - then, if ``decay_steps > 0``, a cosine from 1 down to ``min_lr_ratio`` over the next
      ``decay_steps`` steps, ``r + (1 - r) * (1 + cos(pi * t)) / 2`` with
      ``t = clip((k - warmup_steps) / decay_steps, 0, 1)``, and ``min_lr_ratio`` after it.

    Example:
        >>> [round(lr_factor(s, warmup_steps=2, decay_steps=4, min_lr_ratio=0.1), 3) for s in range(8)]
        [0.5, 1.0, 0.868, 0.55, 0.232, 0.1, 0.1, 0.1]
        >>> lr_factor(10**6)
        1.0
    """
    k = step + 1.0
    factor = minimum(1.0, k / warmup_steps) if warmup_steps > 0 else 1.0
    if decay_steps > 0:
        t = minimum(1.0, maximum(0.0, (k - warmup_steps) / decay_steps))
        factor = factor * cosine_decay(t, min_lr_ratio, cos=cos)
    return factor
