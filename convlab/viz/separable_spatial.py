"""Figures of chapter 8, spatially separable convolution: outer products, spectra, costs.

* :func:`outer_product` — a column and a row factor beside the kernel they make,
  ``kernel = column ⊗ row``;
* :func:`spectra` — singular values of many kernels, each divided by its largest, as lines;
* :func:`energy_histogram` — the share of a kernel's squared Frobenius norm that its first
  singular value holds, for groups of kernels;
* :func:`tradeoff` — accuracy against multiply-accumulates, with the spread over seeds.

Every function draws the arrays it is given and returns a :class:`matplotlib.figure.Figure`.

Example:
    >>> import numpy as np
    >>> fig = outer_product(np.array([1.0, 2.0, 1.0]), np.array([1.0, 0.0, -1.0]), "Sobel")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from . import style


def _vector(name: str, v: np.ndarray) -> np.ndarray:
    a = np.asarray(v, dtype=float)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {a.shape}")
    return a


def outer_product(column: np.ndarray, row: np.ndarray, title: str = "") -> Figure:
    """The column factor ``(k_h,)``, the row factor ``(k_w,)`` and ``column ⊗ row``.

    Each entry is printed on its cell; red is positive, blue negative.
    """
    c, r = _vector("column", column), _vector("row", row)
    kernel = np.outer(c, r)  # (k_h, k_w)
    fig, axes = style.subplots(1, 3, height=2.4, width=6.5,
                               gridspec_kw={"width_ratios": [1, r.size, r.size]})
    m = float(np.abs(kernel).max()) or 1.0
    arrays = (c[:, None], r[None, :], kernel)
    product = "$c\\,r^\\top$"
    names = ("column $c$", "row $r^\\top$", f"{title} = {product}" if title else product)
    for ax, a, name in zip(axes[0], arrays, names, strict=True):
        ax.imshow(a, cmap="RdBu_r", vmin=-m, vmax=m)
        for (i, j), v in np.ndenumerate(a):
            ax.text(j, i, f"{v:g}", ha="center", va="center", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(name)
    fig.tight_layout()
    return fig


def spectra(groups: Mapping[str, np.ndarray], title: str = "") -> Figure:
    """Normalised singular values ``σ_i / σ_1`` of many kernels, one panel per group.

    Args:
        groups: name → singular values of shape ``(n_kernels, k)``, largest first.
    """
    if not groups:
        raise ValueError("groups must name at least one array of singular values")
    fig, axes = style.subplots(1, len(groups), height=2.8)
    for ax, (name, s) in zip(axes[0], groups.items(), strict=True):
        s = np.asarray(s, dtype=float)
        if s.ndim != 2:
            raise ValueError(f"groups[{name!r}] must be (n_kernels, k), got shape {s.shape}")
        top = np.where(s[:, :1] > 0, s[:, :1], 1.0)
        norm = s / top
        idx = np.arange(1, s.shape[1] + 1)
        ax.plot(idx, norm.T, color=style.COLORS["grey"], alpha=0.25, lw=0.8)
        ax.plot(idx, np.median(norm, axis=0), color=style.COLORS["blue"], lw=2, marker="o",
                label="median")
        ax.set_xticks(idx)
        ax.set_xlabel("index $i$")
        ax.set_ylabel("$\\sigma_i / \\sigma_1$")
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{name} ({s.shape[0]} kernels)")
        ax.legend(loc="upper right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def energy_histogram(groups: Mapping[str, np.ndarray], title: str = "") -> Figure:
    """Histograms of ``σ_1² / Σ σ_i²`` (the share a rank-1 kernel keeps) for each group.

    Args:
        groups: name → fractions in ``[0, 1]``, any shape (flattened).
    """
    if not groups:
        raise ValueError("groups must name at least one array of fractions")
    fig, axes = style.subplots(1, 1, height=3.0, width=6.0)
    ax = axes[0, 0]
    bins = np.linspace(0, 1, 21)
    for i, (name, f) in enumerate(groups.items()):
        f = np.asarray(f, dtype=float).ravel()
        ax.hist(f, bins=bins, alpha=0.55, color=style.COLORS[style.CYCLE[i % len(style.CYCLE)]],
                label=f"{name} (median {np.median(f):.2f})", density=True)
    ax.set_xlabel("$\\sigma_1^2 / \\sum_i \\sigma_i^2$ (share kept by the best rank-1 kernel)")
    ax.set_ylabel("density")
    ax.legend(loc="upper left")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def tradeoff(
    points: Mapping[str, tuple[float, Sequence[float]]],
    *,
    xlabel: str = "multiply-accumulates per image",
    ylabel: str = "test accuracy (%)",
    title: str = "",
) -> Figure:
    """Accuracy against cost: one marker per variant at the mean, bars for min–max over seeds.

    Args:
        points: variant name → ``(cost, accuracies over seeds)``.
    """
    if not points:
        raise ValueError("points must name at least one variant")
    fig, axes = style.subplots(1, 1, height=3.4, width=6.5)
    ax = axes[0, 0]
    for i, (name, (cost, accs)) in enumerate(points.items()):
        a = np.asarray(accs, dtype=float)
        if a.ndim != 1 or a.size == 0:
            raise ValueError(f"points[{name!r}] needs a non-empty list of accuracies")
        mean = float(a.mean())
        err = np.array([[mean - a.min()], [a.max() - mean]])
        color = style.COLORS[style.CYCLE[i % len(style.CYCLE)]]
        ax.errorbar([cost], [mean], yerr=err, fmt="o", color=color, capsize=3, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(loc="lower right", fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
