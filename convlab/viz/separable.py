"""Figures of chapter 6, depthwise separable convolution: the cost ratio, paper tables beside
counted ones, and the time a layer takes against the work it does.

:func:`separable_ratio` is the formula the figures draw; :func:`layer_traffic` counts the bytes a
convolution layer must at least move (for arithmetic intensity).

Example:
    >>> round(separable_ratio(3, 64), 4)  # 1/64 + 1/9
    0.1267
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from . import style


def separable_ratio(kernel_size: int, out_channels: int) -> float:
    """MACs (and weights) of a depthwise separable layer over those of a full convolution:
    :math:`1/N + 1/k^2` for ``N`` output channels and a ``k × k`` kernel."""
    if kernel_size < 1 or out_channels < 1:
        raise ValueError(f"kernel_size and out_channels must be positive, got {kernel_size}, "
                         f"{out_channels}")
    return 1.0 / out_channels + 1.0 / kernel_size**2


def layer_traffic(c_in: int, c_out: int, size: int, kernel_size: int, groups: int,
                  batch: int = 1, bytes_per_value: int = 4) -> int:
    """The fewest bytes a stride-1 "same" convolution moves: its input, weights and output once.

    ``batch·c_in·size² + c_out·(c_in/groups)·k² + batch·c_out·size²`` values.
    """
    if c_in % groups or c_out % groups:
        raise ValueError(f"c_in ({c_in}) and c_out ({c_out}) must be divisible by groups "
                         f"({groups})")
    values = (batch * c_in * size * size + c_out * (c_in // groups) * kernel_size**2
              + batch * c_out * size * size)
    return values * bytes_per_value


def ratio_figure(channels: Sequence[int], kernel_sizes: Sequence[int],
                 measured: Mapping[int, Sequence[float]] | None = None) -> Figure:
    """The ratio :math:`1/N + 1/k^2` against ``N`` for each ``k`` (lines: the formula, dots:
    ``measured[k]``, one per entry of ``channels``), with the floor :math:`1/k^2` dashed."""
    fig, axes = style.subplots(1, 1, height=3.2, width=6.5)
    ax = axes[0, 0]
    n = np.asarray(channels, dtype=float)
    for i, k in enumerate(kernel_sizes):
        color = style.COLORS[style.CYCLE[i % len(style.CYCLE)]]
        ax.plot(n, 1 / n + 1 / k**2, color=color, lw=1.6, label=f"k = {k}: 1/N + 1/k²")
        ax.axhline(1 / k**2, color=color, lw=0.8, ls="--")
        if measured is not None and k in measured:
            ax.plot(n, measured[k], "o", color=color, ms=5, mfc="none")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("output channels N")
    ax.set_ylabel("separable cost / full cost")
    ax.set_title("lines: formula; circles: count_macs; dashed: the floor 1/k²")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def paper_bars_figure(labels: Sequence[str], computed: Sequence[float],
                      paper: Sequence[float], ylabel: str, title: str = "") -> Figure:
    """Computed and published values side by side, one pair of bars per label."""
    if not len(labels) == len(computed) == len(paper):
        raise ValueError("labels, computed and paper must have the same length")
    fig, axes = style.subplots(1, 1, height=3.0, width=6.5)
    ax = axes[0, 0]
    x = np.arange(len(labels))
    ax.bar(x - 0.2, computed, 0.4, label="counted here", color=style.COLORS["blue"])
    ax.bar(x + 0.2, paper, 0.4, label="paper", color=style.COLORS["orange"])
    ax.set_xticks(x, list(labels))
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def timing_figure(rows: Sequence[Mapping[str, float | str]]) -> Figure:
    """Two panels over layers (``name``): time per MAC (``ns_per_mac``), and arithmetic
    intensity (``intensity``, MACs per byte moved) against achieved GMAC/s (``gmacs``)."""
    fig, axes = style.subplots(1, 2, height=3.2)
    names = [str(r["name"]) for r in rows]
    x = np.arange(len(rows))
    ax = axes[0, 0]
    ax.bar(x, [float(r["ns_per_mac"]) for r in rows], color=style.COLORS["blue"])
    ax.set_xticks(x, names, rotation=20)
    ax.set_yscale("log")
    ax.set_ylabel("time per MAC (ns, log)")
    ax.set_title("the same work, very different speed")
    ax = axes[0, 1]
    for i, r in enumerate(rows):
        color = style.COLORS[style.CYCLE[i % len(style.CYCLE)]]
        ax.plot(float(r["intensity"]), float(r["gmacs"]), "o", color=color, ms=7,
                label=str(r["name"]))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (MACs per byte moved, log)")
    ax.set_ylabel("achieved GMAC/s (log)")
    ax.set_title("speed follows intensity")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig
