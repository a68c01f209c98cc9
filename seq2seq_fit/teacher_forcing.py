"""Scheduled teacher forcing: the schedules of Bengio et al. (2015) as pure functions of the step,
and those of Liu et al. (2021) over the decoding position combined with them.

``eps(i)`` is the probability of feeding the ground-truth token at global training step ``i``;
``p(i, t)`` the probability at step ``i`` and decoding position ``t`` (equal to ``eps(i)`` unless a
``position_schedule`` is set).
The same arithmetic runs on Python floats (Lightning, which reads ``trainer.global_step`` on the
host) and on backend tensors (Keras, whose step is ``optimizer.iterations`` inside a compiled
``train_step``): pass ``exp``/``maximum`` from ``keras.ops`` for the latter.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from seq2seq_fit.config import (
    Seq2SeqConfig,
    check_choice,
    check_float,
    check_int,
    from_plain_dict,
)

SCHEDULES = ("constant", "linear", "exponential", "inverse_sigmoid")
GRANULARITIES = ("token", "sequence", "batch")
FEEDS = ("argmax", "sample")
MODES = ("sequential", "parallel")
POSITION_SCHEDULES = ("none", "exponential", "sigmoid", "linear")

#: What both trainers log beside ``tf_ratio`` when a ``position_schedule`` is set (Lightning as
#: ``train/tf_ratio_applied``): the mean gold probability ``p(i, t)`` over the batch's real decoder
#: inputs (not padding, not ``<bos>``), so that ``fed_from_model`` is ``1 - tf_ratio_applied`` on average.
APPLIED_RATIO_METRIC = "tf_ratio_applied"

#: ``k`` used when none is given: exponential needs ``0 < k < 1``, inverse sigmoid ``k >= 1``.
DEFAULT_K = {"constant": 1.0, "linear": 1.0, "exponential": 0.999, "inverse_sigmoid": 500.0}

#: ``position_k`` used when none is given: the base of ``exponential`` (``0 < k < 1``), the constant
#: of ``sigmoid`` (``k >= 1``), the positions over which ``linear`` falls from 1 to 0 (``k > 0``).
DEFAULT_POSITION_K = {"none": 1.0, "exponential": 0.95, "sigmoid": 20.0, "linear": 100.0}


@dataclass(frozen=True)
class TeacherForcing:
    """How much ground truth the decoder sees during training, and how the rest is chosen.

    Args:
        schedule: ``constant``, ``linear``, ``exponential`` or ``inverse_sigmoid``
            (formulas in :meth:`ratio`).
        start: ratio at step 0, in ``[0, 1]``.
        end: floor of the decaying schedules, in ``[0, start]``.
        decay_steps: steps over which ``linear`` goes from ``start`` to ``end``.
        k: decay constant; ``exponential`` needs ``0 < k < 1``, ``inverse_sigmoid`` ``k >= 1``.
            ``None`` picks :data:`DEFAULT_K` for the schedule.
        granularity: what one coin decides: ``token`` (each example and time step),
            ``sequence`` (each example, whole target) or ``batch`` (each time step, whole batch).
        feed: token fed when the coin says "model": ``argmax`` of the previous logits or a
            ``sample`` from ``softmax(logits / temperature)``. No gradient flows through it.
        temperature: softmax temperature for ``feed="sample"``.
        mode: ``sequential`` (exact step-by-step loop) or ``parallel`` (Duckworth et al. 2019:
            ``passes`` whole-sequence passes without gradient build the mixed inputs, the loss
            comes from one final pass). With ``bahdanau`` attention each pass runs the step loop
            over its fixed inputs (the recurrence reads the attention context), so a pass costs
            about what a teacher-forced step loop does.
        passes: number of sampling passes in parallel mode.
        position_schedule: ``none`` (every position gets the step's ratio ``eps(i)``) or a schedule
            over the decoding position ``t`` from "Scheduled Sampling Based on Decoding Steps for
            Neural Machine Translation" (Liu et al., EMNLP 2021), which feeds late positions the
            model's tokens more often, as greedy decoding gets them wrong more often:

            - ``exponential``: ``f(t) = position_k ** t``
            - ``sigmoid``: ``f(t) = position_k / (position_k + exp(t / position_k))``
            - ``linear``: ``f(t) = 1 - t / position_k``

            each floored at ``position_end``, and combined with the step schedule as the paper's
            composite: ``p(i, t) = max(position_end, f(t * (1 - eps(i))))`` (:meth:`position_ratio`),
            so while ``eps = 1`` every position gets ``f(0)`` (1 for ``exponential`` and ``linear``,
            ``k / (k + 1)`` for ``sigmoid``, as in the paper), and once ``eps`` reaches 0 position
            ``t`` gets ``f(t)`` itself. ``t`` is the column of ``target_in`` (``<bos>`` is
            ``t = 0``, always gold). For ``f`` alone, use ``schedule="constant", start=0.0``. Every
            granularity draws its uniforms as without it and compares them with ``p(i, t)``:
            ``token`` and ``batch`` coins are gold with probability ``p(i, t)`` at position ``t``;
            ``sequence`` coins (one uniform per example) feed each example the gold tokens up to
            a random position and the model's own tokens after it (``p`` never rises with ``t``),
            each position still gold with probability ``p(i, t)``.
        position_k: the constant of ``position_schedule`` (see :data:`DEFAULT_POSITION_K`; ``None``
            picks it): ``exponential`` needs ``0 < position_k < 1``, ``sigmoid`` ``>= 1``,
            ``linear`` ``> 0``.
        position_end: floor of ``f``, in ``[0, 1]``.

    Example:
        >>> tf = TeacherForcing(schedule="linear", start=1.0, end=0.0, decay_steps=100)
        >>> tf.ratio(0), tf.ratio(50), tf.ratio(100), tf.ratio(1000)
        (1.0, 0.5, 0.0, 0.0)
        >>> by_position = TeacherForcing(schedule="linear", decay_steps=100, position_schedule="linear", position_k=10)
        >>> [round(by_position.position_ratio(50, t), 2) for t in (0, 5, 10, 20, 30)]
        [1.0, 0.75, 0.5, 0.0, 0.0]
    """

    schedule: str = "constant"
    start: float = 1.0
    end: float = 0.0
    decay_steps: int = 10_000
    k: float | None = None
    granularity: str = "token"
    feed: str = "argmax"
    temperature: float = 1.0
    mode: str = "sequential"
    passes: int = 1
    position_schedule: str = "none"
    position_k: float | None = None
    position_end: float = 0.0

    def __post_init__(self) -> None:
        owner = "TeacherForcing"
        check_choice(owner, "schedule", self.schedule, SCHEDULES)
        check_float(owner, "start", self.start, 0.0, 1.0)
        check_float(owner, "end", self.end, 0.0, 1.0)
        if self.schedule != "constant" and self.end > self.start:
            raise ValueError(
                f"{owner}.end: got {self.end!r} with start={self.start!r}; a decaying schedule needs end <= start"
            )
        check_int(owner, "decay_steps", self.decay_steps, 1)
        if self.k is None:
            object.__setattr__(self, "k", DEFAULT_K[self.schedule])
        if self.schedule == "exponential":
            check_float(owner, "k", self.k, 0.0, 1.0, low_open=True, high_open=True)
        elif self.schedule == "inverse_sigmoid":
            check_float(owner, "k", self.k, 1.0, math.inf, high_open=True)
        else:
            check_float(owner, "k", self.k, 0.0, math.inf, low_open=True, high_open=True)
        object.__setattr__(self, "k", float(self.k))  # type: ignore[arg-type]
        check_choice(owner, "granularity", self.granularity, GRANULARITIES)
        check_choice(owner, "feed", self.feed, FEEDS)
        check_float(owner, "temperature", self.temperature, 0.0, math.inf, low_open=True, high_open=True)
        check_choice(owner, "mode", self.mode, MODES)
        check_int(owner, "passes", self.passes, 1)
        check_choice(owner, "position_schedule", self.position_schedule, POSITION_SCHEDULES)
        if self.position_k is None:
            object.__setattr__(self, "position_k", DEFAULT_POSITION_K[self.position_schedule])
        if self.position_schedule == "exponential":
            check_float(owner, "position_k", self.position_k, 0.0, 1.0, low_open=True, high_open=True)
        elif self.position_schedule == "sigmoid":
            check_float(owner, "position_k", self.position_k, 1.0, math.inf, high_open=True)
        else:
            check_float(owner, "position_k", self.position_k, 0.0, math.inf, low_open=True, high_open=True)
        object.__setattr__(self, "position_k", float(self.position_k))  # type: ignore[arg-type]
        check_float(owner, "position_end", self.position_end, 0.0, 1.0)
        if self.position_schedule != "none" and self.schedule == "constant" and self.start == 1.0:
            raise ValueError(
                f"{owner}.position_schedule: got {self.position_schedule!r} with schedule='constant', start=1.0, "
                "which gives every position f(0) (the composite f(t * (1 - ratio)) at ratio 1); use "
                "schedule='constant', start=0.0 for the position schedule alone, or a decaying schedule to combine them"
            )

    def ratio(
        self,
        step: Any,
        *,
        exp: Callable[[Any], Any] = math.exp,
        maximum: Callable[[Any, Any], Any] = max,
    ) -> Any:
        """Probability of feeding the ground-truth token at global step ``step``.

        ``step`` may be an int or a float tensor; pass the matching ``exp``/``maximum`` for
        tensors (e.g. ``keras.ops.exp``, ``keras.ops.maximum``).

        - constant: ``start``
        - linear: ``max(end, start - (start - end) * step / decay_steps)``
        - exponential: ``max(end, start * k**step)``
        - inverse_sigmoid: ``end + (start - end) * k / (k + exp(step / k))``
        """
        k = float(self.k)  # type: ignore[arg-type]
        if self.schedule == "constant":
            return self.start + 0.0 * step
        if self.schedule == "linear":
            return maximum(self.end, self.start - (self.start - self.end) * step / self.decay_steps)
        if self.schedule == "exponential":
            # k**step written as exp(step * ln k) so the same line works on tensors.
            return maximum(self.end, self.start * exp(step * math.log(k)))
        # inverse sigmoid: exp overflow at huge steps gives k / inf = 0, i.e. the floor ``end``.
        try:
            denom = k + exp(step / k)
        except OverflowError:
            return self.end
        return self.end + (self.start - self.end) * k / denom

    def position_ratio(
        self,
        step: Any,
        position: Any,
        *,
        exp: Callable[[Any], Any] = math.exp,
        maximum: Callable[[Any, Any], Any] = max,
    ) -> Any:
        """Probability of feeding the ground-truth token at global step ``step`` and decoding position
        ``position`` (``t``, the column of ``target_in``): :meth:`at_position` of :meth:`ratio`.

        ``step`` and ``position`` may be numbers or arrays/tensors that broadcast together; pass the
        matching ``exp``/``maximum`` for arrays and tensors, as for :meth:`ratio`.

        Example:
            >>> tf = TeacherForcing(schedule="constant", start=0.0, position_schedule="exponential", position_k=0.5)
            >>> [round(tf.position_ratio(0, t), 6) for t in range(4)]
            [1.0, 0.5, 0.25, 0.125]
        """
        return self.at_position(self.ratio(step, exp=exp, maximum=maximum), position, exp=exp, maximum=maximum)

    def at_position(
        self,
        ratio: Any,
        position: Any,
        *,
        exp: Callable[[Any], Any] = math.exp,
        maximum: Callable[[Any, Any], Any] = max,
    ) -> Any:
        """The gold probability at ``position`` given the step schedule's ``ratio`` ``eps``.

        - ``position_schedule="none"``: ``eps`` at every position
        - otherwise the composite ``max(position_end, f(position * (1 - eps)))`` with ``f`` the
          ``exponential``, ``sigmoid`` or ``linear`` function of the class docstring.

        ``ratio`` and ``position`` broadcast together (a scalar ratio and a (T,) position give (T,)).
        """
        if self.position_schedule == "none":
            return ratio + 0.0 * position
        k = float(self.position_k)  # type: ignore[arg-type]
        x = position * (1.0 - ratio)  # the paper's t * (1 - eps(i))
        if self.position_schedule == "exponential":
            # k**x written as exp(x * ln k) so the same line works on tensors.
            return maximum(self.position_end, exp(x * math.log(k)))
        if self.position_schedule == "linear":
            return maximum(self.position_end, 1.0 - x / k)
        # sigmoid: exp overflow at huge x gives k / inf = 0, i.e. the floor ``position_end``.
        try:
            denom = k + exp(x / k)
        except OverflowError:
            return self.position_end
        return maximum(self.position_end, k / denom)

    def to_dict(self) -> dict[str, Any]:
        """Plain ``dict`` of primitives (what checkpoints store)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TeacherForcing:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        return from_plain_dict(cls, data)  # type: ignore[no-any-return]


def as_teacher_forcing(
    value: TeacherForcing | Mapping[str, Any] | None, *, name: str = "teacher_forcing"
) -> TeacherForcing:
    """A :class:`TeacherForcing` from itself, a dict of its fields, or ``None`` (always teacher forcing).

    What both models' constructors accept as ``teacher_forcing``.

    Args:
        value: the schedule, its dict (``to_dict()``, a checkpoint's hyper-parameters) or ``None``.
        name: the argument named in errors (``LitSeq2Seq.teacher_forcing``).

    Example:
        >>> as_teacher_forcing({"schedule": "linear", "decay_steps": 10}).ratio(5)
        0.5
        >>> as_teacher_forcing(0.5)
        Traceback (most recent call last):
        ...
        ValueError: teacher_forcing: got 0.5, expected a TeacherForcing, a dict of its fields or None
    """
    if value is None:
        return TeacherForcing()
    if isinstance(value, TeacherForcing):
        return value
    if not isinstance(value, Mapping):
        raise ValueError(f"{name}: got {value!r}, expected a TeacherForcing, a dict of its fields or None")
    return TeacherForcing.from_dict(dict(value))


def check_compatible(config: Seq2SeqConfig, teacher_forcing: TeacherForcing) -> None:
    """Refuse a teacher-forcing setting that ``config``'s network cannot run, in one line.

    Both systems call this in their constructors, and ``keras-seq2seq fit`` before it builds
    anything. Every recurrent network runs both modes with every attention (in parallel mode a
    Bahdanau decoder steps through each pass's fixed inputs, as its teacher-forced call does), so
    nothing is refused today; a network that cannot run a mode refuses it here.

    Example:
        >>> check_compatible(Seq2SeqConfig(attention="bahdanau"), TeacherForcing(mode="parallel")) is None
        True
    """
