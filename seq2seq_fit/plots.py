"""Plots people would rather look at than read: schedules and attention heat maps (matplotlib)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from seq2seq_fit.teacher_forcing import TeacherForcing


def _pyplot() -> Any:
    try:
        import matplotlib

        if os.environ.get("DISPLAY", "") == "" and matplotlib.get_backend().lower() != "agg":
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - optional dependency
        raise ImportError("plotting needs matplotlib: pip install 'seq2seq-fit[plot]'") from e
    return plt


def plot_schedule(
    schedules: TeacherForcing | Sequence[TeacherForcing] | dict[str, TeacherForcing],
    steps: int = 10_000,
    path: str | os.PathLike[str] | None = None,
    ax: Any = None,
) -> Any:
    """Plot ``ratio(step)`` of one or several teacher-forcing schedules.

    Args:
        schedules: a schedule, a list of them, or a dict label -> schedule.
        steps: last step on the x axis.
        path: save the figure there (PNG, SVG, ... by extension).
        ax: draw into this matplotlib axes instead of a new figure.

    Returns:
        The matplotlib ``Figure``.

    Example:
        >>> fig = plot_schedule(TeacherForcing(schedule="linear", decay_steps=500), steps=1000)
    """
    plt = _pyplot()
    if isinstance(schedules, TeacherForcing):
        schedules = [schedules]
    labelled = dict(schedules) if isinstance(schedules, dict) else {_label(s): s for s in schedules}
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    else:
        fig = ax.figure
    x = np.linspace(0, steps, 400)
    for label, tf in labelled.items():
        y = np.broadcast_to(tf.ratio(x, exp=np.exp, maximum=np.maximum), x.shape)
        ax.plot(x, y, label=label)
    ax.set_xlabel("training step")
    ax.set_ylabel("P(feed ground truth)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Teacher-forcing schedules")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path)
    return fig


def _label(tf: TeacherForcing) -> str:
    if tf.schedule == "constant":
        return f"constant {tf.start:g}"
    if tf.schedule == "linear":
        return f"linear {tf.start:g}->{tf.end:g} over {tf.decay_steps}"
    return f"{tf.schedule} k={tf.k:g}"


def plot_attention(
    weights: Any,
    source: Sequence[str],
    target: Sequence[str],
    path: str | os.PathLike[str] | None = None,
    ax: Any = None,
    title: str | None = None,
) -> Any:
    """Heat map of attention weights, target tokens down, source tokens across.

    Args:
        weights: array-like (T, S) (extra rows/columns beyond the tokens are cropped).
        source: source tokens (columns).
        target: produced target tokens (rows).
        path: save the figure there.
        ax: draw into this axes.
        title: figure title.

    Returns:
        The matplotlib ``Figure``.

    Example:
        >>> import numpy as np
        >>> fig = plot_attention(np.eye(3), ["a", "b", "c"], ["A", "B", "C"])
    """
    plt = _pyplot()
    w = np.asarray(weights, dtype=np.float32)
    if w.ndim != 2:
        raise ValueError(f"plot_attention: weights must be 2-D (T, S), got shape {w.shape}")
    w = w[: len(target), : len(source)]
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(3.0, 0.45 * len(source) + 1.5), max(2.5, 0.4 * len(target) + 1.2)), dpi=120)
    else:
        fig = ax.figure
    image = ax.imshow(w, cmap="viridis", vmin=0.0, vmax=max(float(w.max()) if w.size else 1.0, 1e-6), aspect="auto")
    ax.set_xticks(range(len(source)), labels=list(source), rotation=90 if max(map(len, source), default=1) > 2 else 0)
    ax.set_yticks(range(len(target)), labels=list(target))
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    if title:
        ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path)
    return fig
