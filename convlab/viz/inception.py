"""Figures of chapter 9, Inception blocks: where the cost goes, and how fast networks learn.

* :func:`cost_bars` — one bar per item (a branch, a row of a table) for each of several
  measures side by side, on a log axis when they span decades;
* :func:`steps_to_target` — steps a run needed to reach a target accuracy, per setting, with
  one marker per seed (runs that never reached it drawn at the top, hollow);
* :func:`accuracy_curves` — test accuracy against steps, one colour per setting, one line per
  seed.

Every function draws the numbers it is given and returns a :class:`matplotlib.figure.Figure`.

Example:
    >>> fig = cost_bars(["1×1", "3×3"], {"MACs (M)": [10.0, 90.0]})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from . import style


def cost_bars(
    labels: Sequence[str],
    measures: Mapping[str, Sequence[float]],
    *,
    title: str = "",
    log: bool = False,
    ylabel: str = "",
) -> Figure:
    """Grouped bars: for each label, one bar per measure.

    Args:
        labels: the items along the x axis.
        measures: measure name → one value per label.
        log: a logarithmic y axis (for values spanning decades).
    """
    if not labels or not measures:
        raise ValueError("cost_bars needs at least one label and one measure")
    for name, values in measures.items():
        if len(values) != len(labels):
            raise ValueError(f"measures[{name!r}] has {len(values)} values for "
                             f"{len(labels)} labels")
    width = 0.8 / len(measures)
    fig, axes = style.subplots(1, 1, height=3.2)
    ax = axes[0, 0]
    x = np.arange(len(labels))
    for i, (name, values) in enumerate(measures.items()):
        ax.bar(x + (i - (len(measures) - 1) / 2) * width, values, width, label=name,
               color=style.COLORS[style.CYCLE[i % len(style.CYCLE)]])
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=30 if len(labels) > 6 else 0, ha="right"
                       if len(labels) > 6 else "center")
    if log:
        ax.set_yscale("log")
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def steps_to_target(
    results: Mapping[str, Mapping[float, Sequence[float | None]]],
    *,
    budget: int,
    target: float,
    title: str = "",
) -> Figure:
    """Steps to reach ``target`` accuracy against the learning rate, one line per setting.

    Args:
        results: setting name → learning rate → steps per seed (``None``: never reached).
        budget: the number of steps each run had; unreached runs are drawn there, hollow.
        target: the accuracy (in %) the steps refer to, for the axis label.
    """
    if not results:
        raise ValueError("results must name at least one setting")
    fig, axes = style.subplots(1, 1, height=3.4, width=6.5)
    ax = axes[0, 0]
    for i, (name, by_lr) in enumerate(results.items()):
        color = style.COLORS[style.CYCLE[i % len(style.CYCLE)]]
        lrs = sorted(by_lr)
        medians = []
        for lr in lrs:
            steps = list(by_lr[lr])
            reached = [s for s in steps if s is not None]
            missed = len(steps) - len(reached)
            ax.scatter([lr] * len(reached), reached, color=color, s=18, zorder=3)
            if missed:
                ax.scatter([lr] * missed, [budget] * missed, facecolors="none",
                           edgecolors=color, s=30, zorder=3)
            padded = [s if s is not None else budget for s in steps]
            medians.append(float(np.median(padded)))
        ax.plot(lrs, medians, color=color, label=f"{name} (median)")
    ax.axhline(budget, color=style.COLORS["grey"], lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel(f"steps to {target:g}% test accuracy")
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def accuracy_curves(
    curves: Mapping[str, Sequence[tuple[Sequence[int], Sequence[float]]]],
    *,
    target: float | None = None,
    title: str = "",
) -> Figure:
    """Test accuracy (%) against steps: setting name → one ``(steps, accuracies)`` per seed."""
    if not curves:
        raise ValueError("curves must name at least one setting")
    fig, axes = style.subplots(1, 1, height=3.2, width=6.5)
    ax = axes[0, 0]
    for i, (name, runs) in enumerate(curves.items()):
        color = style.COLORS[style.CYCLE[i % len(style.CYCLE)]]
        for j, (steps, accs) in enumerate(runs):
            ax.plot(steps, accs, color=color, alpha=0.8, lw=1.2, label=name if j == 0 else None)
    if target is not None:
        ax.axhline(target, color=style.COLORS["grey"], lw=0.8, ls="--")
    ax.set_xlabel("step")
    ax.set_ylabel("test accuracy (%)")
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
