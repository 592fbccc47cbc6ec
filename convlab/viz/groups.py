"""Figures of chapter 2: which channels a group convolution connects, channel shuffle as a
permutation, how information flows through stacked group convolutions, and the shuffle
experiment's curves.

Example:
    >>> fig = connection_figure(12, 12, (1, 3))
    >>> len(fig.axes)
    2
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from . import style


def group_mask(c_in: int, c_out: int, groups: int) -> np.ndarray:
    """The ``(C_out, C_in)`` 0/1 matrix of a group convolution's connections.

    Entry ``[o, c]`` is 1 when output channel ``o`` reads input channel ``c``: both in the same
    contiguous group, ``o // (C_out/g) == c // (C_in/g)``. ``groups=1`` is all ones (dense).
    """
    for name, value in (("c_in", c_in), ("c_out", c_out)):
        if value % groups:
            raise ValueError(f"{name} ({value}) must be divisible by groups ({groups})")
    rows = np.arange(c_out)[:, None] // (c_out // groups)
    cols = np.arange(c_in)[None, :] // (c_in // groups)
    return (rows == cols).astype(np.int64)


def shuffle_permutation(channels: int, groups: int) -> np.ndarray:
    """``perm`` with ``shuffled[:, i] = x[:, perm[i]]`` for ShuffleNet's channel shuffle:
    ``arange(C).reshape(g, C/g).T.ravel()``."""
    if channels % groups:
        raise ValueError(f"channels ({channels}) must be divisible by groups ({groups})")
    return np.arange(channels).reshape(groups, channels // groups).T.ravel()


def permutation_matrix(perm: np.ndarray) -> np.ndarray:
    """The 0/1 matrix ``P`` with ``(P x)[i] = x[perm[i]]``: ``P[i, perm[i]] = 1``."""
    p = np.zeros((len(perm), len(perm)), dtype=np.int64)
    p[np.arange(len(perm)), perm] = 1
    return p


def reach(channels: int, groups: int, layers: int, shuffle: bool) -> np.ndarray:
    """Which input channels each output channel depends on after ``layers`` group convolutions
    (``C → C``, ``groups``), with or without a channel shuffle after each but the last:
    the boolean product of the layers' connection (and permutation) matrices, ``(C, C)``."""
    mask = group_mask(channels, channels, groups)
    perm = permutation_matrix(shuffle_permutation(channels, groups))
    total = np.eye(channels, dtype=np.int64)
    for layer in range(layers):
        total = (mask @ total > 0).astype(np.int64)
        if shuffle and layer < layers - 1:
            total = perm @ total
    return total


def _matrix(ax: object, m: np.ndarray, title: str, groups: int | None = None) -> None:
    style.image(ax, m, title, cmap="Blues", vmin=0, vmax=1)
    ax.set_xlabel("input channel")
    ax.set_ylabel("output channel")
    if groups and groups > 1:
        c_out, c_in = m.shape
        for j in range(1, groups):
            ax.axhline(j * c_out / groups - 0.5, color=style.COLORS["grey"], lw=0.6)
            ax.axvline(j * c_in / groups - 0.5, color=style.COLORS["grey"], lw=0.6)


def connection_figure(c_in: int, c_out: int, groups: Sequence[int]) -> Figure:
    """One connection matrix per entry of ``groups``: dense (g=1) beside grouped."""
    fig, axes = style.subplots(1, len(groups), height=3.4, width=min(style.WIDTH,
                                                                      3.4 * len(groups)))
    for ax, g in zip(axes[0], groups, strict=True):
        m = group_mask(c_in, c_out, g)
        _matrix(ax, m, f"g = {g}: {int(m.sum())} of {m.size} connections", g)
    fig.tight_layout()
    return fig


def shuffle_figure(channels: int, groups: int) -> Figure:
    """Left: where each channel goes (colour = its group before the shuffle); right: the
    permutation matrix ``P`` of the shuffle."""
    perm = shuffle_permutation(channels, groups)
    fig, axes = style.subplots(1, 2, height=3.6)
    ax = axes[0, 0]
    colors = [style.COLORS[c] for c in style.CYCLE]
    n = channels // groups
    for new, old in enumerate(perm):
        color = colors[(old // n) % len(colors)]
        ax.plot([0, 1], [old, new], color=color, lw=1.4)
        ax.scatter([0, 1], [old, new], color=color, s=18, zorder=3)
    ax.set_xlim(-0.25, 1.25)
    ax.set_ylim(channels - 0.5, -0.5)
    ax.set_xticks([0, 1], ["before", "after"])
    ax.set_yticks(range(channels))
    ax.set_ylabel("channel")
    ax.set_title(f"channel shuffle, C = {channels}, g = {groups}")
    style.image(axes[0, 1], permutation_matrix(perm), "its permutation matrix P",
                cmap="Blues", vmin=0, vmax=1)
    axes[0, 1].set_xlabel("input channel")
    axes[0, 1].set_ylabel("output channel")
    fig.tight_layout()
    return fig


def reach_figure(channels: int, groups: int, layers: int) -> Figure:
    """Dependency matrices after ``layers`` stacked group convolutions, without and with a
    shuffle between them."""
    fig, axes = style.subplots(1, 2, height=3.4, width=7.0)
    for ax, shuffle in zip(axes[0], (False, True), strict=True):
        m = reach(channels, groups, layers, shuffle)
        label = "with shuffle" if shuffle else "no shuffle"
        _matrix(ax, m, f"{layers} layers, g = {groups}, {label}: {int(m.sum())} of {m.size}")
    fig.tight_layout()
    return fig


def curves_figure(runs: Mapping[str, Sequence[Sequence[float]]], steps: Sequence[int],
                  ylabel: str = "test accuracy") -> Figure:
    """Mean (line) and range over seeds (band) of one curve per setting."""
    fig, axes = style.subplots(1, 1, height=3.2, width=6.0)
    ax = axes[0, 0]
    for name, curves in runs.items():
        a = np.asarray(curves, dtype=float)  # (seeds, points)
        line = ax.plot(steps, a.mean(0), label=f"{name} (mean of {len(a)})")[0]
        ax.fill_between(steps, a.min(0), a.max(0), color=line.get_color(), alpha=0.2)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel(ylabel)
    ax.legend()
    fig.tight_layout()
    return fig


def paired_difference(first: Sequence[float], second: Sequence[float]) -> dict[str, float]:
    """Per-seed differences ``second[i] − first[i]`` of two settings run on the same seeds.

    Returns ``mean`` (the mean difference), ``std`` (the standard deviation of the differences,
    n − 1 in the denominator), ``sem`` (``std / √n``, the standard error of the mean difference)
    and ``n``. Pairing by seed removes what the two runs of a seed share (initial weights,
    batches); ``|mean| < 2·sem`` means the seeds do not resolve the difference.
    """
    a, b = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or a.size < 2:
        raise ValueError(f"first and second must be 1-D of the same length ≥ 2, got shapes "
                         f"{a.shape} and {b.shape}")
    d = b - a
    std = float(d.std(ddof=1))
    return {"mean": float(d.mean()), "std": std, "sem": std / float(np.sqrt(d.size)),
            "n": float(d.size)}


def paired_figure(final: Mapping[str, Sequence[float]], seeds: Sequence[int],
                  ylabel: str = "final test accuracy (%)") -> Figure:
    """One line per seed joining its result under each setting, and each setting's mean ± std."""
    names = list(final)
    values = np.asarray([final[n] for n in names], dtype=float)  # (settings, seeds)
    if values.shape[1] != len(seeds):
        raise ValueError(f"every setting needs one value per seed ({len(seeds)}), got "
                         f"{values.shape[1]}")
    fig, axes = style.subplots(1, 1, height=3.2, width=4.5)
    ax = axes[0, 0]
    xs = np.arange(len(names))
    for j, seed in enumerate(seeds):
        ax.plot(xs, values[:, j], "o-", color="0.6", lw=1, ms=4,
                label="one seed" if j == 0 else None)
        ax.annotate(f"seed {seed}", (xs[-1], values[-1, j]), xytext=(4, 0),
                    textcoords="offset points", fontsize=7, va="center", color="0.4")
    ax.errorbar(xs, values.mean(1), yerr=values.std(1, ddof=1), fmt="s", color="C3", ms=7,
                capsize=6, label="mean ± std over seeds", zorder=3)
    ax.set_xticks(xs, names)
    ax.set_xlim(-0.4, len(names) - 0.4)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
