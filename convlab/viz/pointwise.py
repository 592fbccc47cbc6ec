"""Figures of chapter 4, 1×1 convolution: the per-pixel linear map, cost bars, seed spreads and
the dense score maps of a fully convolutional classifier.

Each function draws from arrays it is given and returns a :class:`matplotlib.figure.Figure`.

Example:
    >>> import numpy as np
    >>> fig = pointwise_figure(np.zeros((3, 4, 4)), np.eye(3), np.zeros((3, 4, 4)),
    ...                        ["R", "G", "B"], ["a", "b", "c"])
    >>> len(fig.axes)
    7
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from . import style


def _annotate(ax: object, values: np.ndarray, fmt: str = "{:.2f}") -> None:
    """Write each entry of the 2-D ``values`` in its cell of an ``imshow``."""
    vmax = float(np.abs(values).max()) or 1.0
    for (i, j), v in np.ndenumerate(values):
        colour = "white" if abs(v) > 0.6 * vmax else "black"
        ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=8,  # type: ignore[attr-defined]
                color=colour)


def pointwise_figure(
    x: np.ndarray,
    weight: np.ndarray,
    y: np.ndarray,
    in_names: Sequence[str],
    out_names: Sequence[str],
) -> Figure:
    """Input channels, the ``(C_out, C_in)`` weight matrix, output channels of a 1×1 conv.

    Shape:
        - x: ``(C_in, H, W)``; weight: ``(C_out, C_in)``; y: ``(C_out, H, W)``
    """
    x, weight, y = np.asarray(x), np.asarray(weight), np.asarray(y)
    if x.ndim != 3 or y.ndim != 3 or weight.shape != (y.shape[0], x.shape[0]):
        raise ValueError(f"need x (C_in, H, W), weight (C_out, C_in), y (C_out, H, W); got "
                         f"{x.shape}, {weight.shape}, {y.shape}")
    if len(in_names) != x.shape[0] or len(out_names) != y.shape[0]:
        raise ValueError("in_names and out_names must name every channel")
    c_in, c_out = x.shape[0], y.shape[0]
    fig = style.subplots(1, 1, height=0.1)[0]
    fig.clear()
    fig.set_size_inches(style.WIDTH, 2.3 * max(c_in, c_out) / 1.6)
    grid = fig.add_gridspec(max(c_in, c_out), 3, width_ratios=[1, 1.3, 1])
    for i in range(c_in):
        style.image(fig.add_subplot(grid[i, 0]), x[i], f"in: {in_names[i]}")
    ax_w = fig.add_subplot(grid[:, 1])
    m = float(np.abs(weight).max()) or 1.0
    ax_w.imshow(weight, cmap="RdBu_r", vmin=-m, vmax=m)
    _annotate(ax_w, weight)
    ax_w.set_xticks(range(c_in), in_names)
    ax_w.set_yticks(range(c_out), out_names)
    ax_w.set_title("weight $W$ ($C_{out} \\times C_{in}$):\nthe same at every pixel")
    for j in range(c_out):
        style.image(fig.add_subplot(grid[j, 2]), y[j], f"out: {out_names[j]}")
    fig.tight_layout()
    return fig


def cost_figure(
    names: Sequence[str], params: Sequence[float], macs: Sequence[float], title: str = ""
) -> Figure:
    """Two bar charts side by side: weights and multiply-accumulates of named layers (log)."""
    if not len(names) == len(params) == len(macs):
        raise ValueError("names, params and macs must have the same length")
    fig, axes = style.subplots(1, 2, height=0.45 * len(names) + 1.2)
    pos = np.arange(len(names))
    for ax, values, label in ((axes[0, 0], params, "weights"), (axes[0, 1], macs, "MACs")):
        ax.barh(pos, values, color=[style.COLORS[style.CYCLE[i % 7]] for i in pos])
        ax.set_xscale("log")
        ax.set_yticks(pos, names if ax is axes[0, 0] else [""] * len(names))
        ax.invert_yaxis()
        ax.set_xlabel(label + " (log scale)")
        for p, v in zip(pos, values, strict=True):
            ax.text(v, p, f" {v:,.0f}", va="center", fontsize=8)
        ax.set_xlim(right=max(values) * 30)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def seed_spread_figure(
    results: Mapping[str, Sequence[float]], ylabel: str = "test accuracy (%)", title: str = ""
) -> Figure:
    """One column per model: every seed's value as a dot, the mean as a bar.

    Args:
        results: model name → one value per seed.
    """
    fig, axes = style.subplots(1, 1, height=3.0, width=min(style.WIDTH, 1.8 * len(results) + 2))
    ax = axes[0, 0]
    rng = np.random.default_rng(0)
    for i, values in enumerate(results.values()):
        v = np.asarray(values, dtype=float)
        color = style.COLORS[style.CYCLE[i % len(style.CYCLE)]]
        ax.bar(i, v.mean(), width=0.6, color=color, alpha=0.3)
        ax.scatter(i + rng.uniform(-0.15, 0.15, v.size), v, color=color, s=18, zorder=3)
        ax.errorbar(i, v.mean(), yerr=v.std(ddof=1) if v.size > 1 else 0, color="black",
                    capsize=4, lw=1)
    ax.set_xticks(range(len(results)), list(results))
    lo = min(min(v) for v in results.values())
    hi = max(max(v) for v in results.values())
    pad = max(hi - lo, 1e-3)
    ax.set_ylim(lo - pad, hi + 0.5 * pad)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def score_map_figure(
    mosaic: np.ndarray, scores: np.ndarray, marks: Sequence[tuple[int, int]] = ()
) -> Figure:
    """A mosaic of digits, the class of highest score at every position, and the ten maps.

    Args:
        mosaic: ``(H, W)`` input image.
        scores: ``(K, H', W')`` class scores of a fully convolutional pass; score
            ``(i, j)`` belongs to the window whose top-left corner is input pixel ``(i, j)``.
        marks: score positions to ring and label with their winning class (for example the
            windows that sit exactly on a digit of the mosaic).
    """
    mosaic, scores = np.asarray(mosaic), np.asarray(scores)
    if mosaic.ndim != 2 or scores.ndim != 3:
        raise ValueError(f"need mosaic (H, W) and scores (K, H', W'), got {mosaic.shape}, "
                         f"{scores.shape}")
    k = scores.shape[0]
    fig = style.subplots(1, 1, height=0.1)[0]
    fig.clear()
    fig.set_size_inches(style.WIDTH, 5.4)
    grid = fig.add_gridspec(3, max(k // 2, 2) * 2, height_ratios=[2.2, 1, 1])
    half = max(k // 2, 2)
    ax0 = fig.add_subplot(grid[0, :half])
    style.image(ax0, mosaic, "input: a mosaic of test digits")
    ax1 = fig.add_subplot(grid[0, half:])
    winner = scores.argmax(0)
    ax1.imshow(winner, cmap="tab10", vmin=-0.5, vmax=9.5)
    for i, j in marks:
        ax1.text(j, i, str(winner[i, j]), ha="center", va="center", fontsize=8,
                 color="white", fontweight="bold",
                 bbox={"boxstyle": "circle,pad=0.15", "fc": "black", "ec": "white"})
    ax1.set_xticks([])
    ax1.set_yticks([])
    ax1.set_title(f"class of highest score at each of {winner.size} windows")
    for c in range(k):
        ax = fig.add_subplot(grid[1 + c // half, (c % half) * 2:(c % half) * 2 + 2])
        style.image(ax, scores[c], f"score of '{c}'", symmetric=True)
    fig.tight_layout()
    return fig
