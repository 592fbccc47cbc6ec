"""Translation equivariance and invariance, measured: feature maps of shifted inputs, the error
maps ``f(T x) − T f(x)``, and curves of how much a representation changes with the shift.

* :func:`equivariance_figure` — per setting (a row): ``f(x)``, ``f(T x)``, ``T f(x)`` and the
  error map, so one sees where equivariance breaks (borders, stride);
* :func:`shift_curves` — one line per representation: change (or accuracy) against the shift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from . import style


def equivariance_figure(
    x: np.ndarray,
    x_shifted: np.ndarray,
    rows: Mapping[str, Sequence[np.ndarray]],
    *,
    shift: tuple[int, int],
    height: float = 2.4,
) -> Figure:
    """Input, shifted input, then for each setting its maps and its equivariance error.

    The error map has its own colour scale, so that *where* equivariance breaks is visible even
    when the error is small; its size relative to ``max |f(x)|`` is in the panel's title.

    Args:
        x, x_shifted: the input image and ``T x``, ``(H, W)``.
        rows: setting name → ``(f(x), f(T x), T f(x), f(T x) − T f(x))``, each ``(H', W')``.
        shift: ``(down, right)`` in pixels, for the titles.
    """
    n = len(rows)
    fig, axes = style.subplots(n + 1, 4, height=height)
    style.image(axes[0, 0], x, "x")
    style.image(axes[0, 1], x_shifted, f"T x: {shift[0]} down, {shift[1]} right")
    axes[0, 2].axis("off")
    axes[0, 3].axis("off")
    for r, (name, maps) in enumerate(rows.items(), start=1):
        if len(maps) != 4:
            raise ValueError(f"rows[{name!r}] must hold 4 maps, got {len(maps)}")
        fx, ftx, tfx, err = (np.asarray(m, dtype=float) for m in maps)
        style.image(axes[r, 0], fx, f"{name}\nf(x)", symmetric=True)
        style.image(axes[r, 1], ftx, "f(T x)", symmetric=True)
        style.image(axes[r, 2], tfx, "T f(x)", symmetric=True)
        scale = float(np.max(np.abs(fx))) or 1.0
        rel = float(np.max(np.abs(err))) / scale
        style.image(axes[r, 3], err, f"f(T x) − T f(x)\nmax |error| / max |f| = {rel:.1e}",
                    symmetric=True)
    fig.tight_layout()
    return fig


def shift_curves(
    shifts: Sequence[float],
    curves: Mapping[str, Sequence[float]],
    *,
    xlabel: str = "shift (pixels)",
    ylabel: str = "relative change",
    title: str = "",
    logy: bool = False,
    height: float = 3.4,
    width: float = 6.5,
) -> Figure:
    """Lines of a measured quantity against the shift, one per representation."""
    fig, axes = style.subplots(1, 1, height=height, width=width)
    ax = axes[0, 0]
    for name, ys in curves.items():
        if len(ys) != len(shifts):
            raise ValueError(f"curve {name!r} has {len(ys)} points for {len(shifts)} shifts")
        ax.plot(shifts, ys, marker="o", ms=4, label=name)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xticks(list(shifts))
    if title:
        ax.set_title(title)
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig
