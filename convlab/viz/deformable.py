"""Figures of chapter 7, deformable convolution: bilinear sampling and moved kernel taps.

* :func:`interpolation` — a small image, its bilinear interpolation on a fine grid, and the
  derivative of the interpolated value along one axis (piecewise constant between pixels);
* :func:`sampling_points` — an image with the regular taps of chosen output pixels and the
  taps after their offsets, joined by arrows;
* :func:`seed_comparison` — one column per variant, one dot per seed, the mean marked.

Every function draws the arrays it is given and returns a :class:`matplotlib.figure.Figure`.
Positions are ``(y, x)`` pairs in input pixels, the convention of
:func:`convlab.functional.deform_conv2d`.

Example:
    >>> import numpy as np
    >>> fig = seed_comparison({"vanilla": [90.0, 91.0], "deformable": [92.0, 93.5]})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from . import style


def interpolation(
    image: np.ndarray, fine: np.ndarray, d_fine: np.ndarray, *, axis_name: str = "x"
) -> Figure:
    """Three panels: ``image`` (H, W), its interpolation ``fine`` (F, F) over the same extent, and
    ``d_fine`` (F, F), the derivative of ``fine`` with respect to the sampling position along
    ``axis_name``."""
    img, f, d = (np.asarray(a, dtype=float) for a in (image, fine, d_fine))
    if img.ndim != 2 or f.ndim != 2 or d.shape != f.shape:
        raise ValueError(f"image must be 2-D and fine, d_fine 2-D of one shape; got {img.shape}, "
                         f"{f.shape}, {d.shape}")
    fig, axes = style.subplots(1, 3, height=3.0)
    extent = (-0.5, img.shape[1] - 0.5, img.shape[0] - 0.5, -0.5)
    axes[0, 0].imshow(img, cmap="gray", extent=extent)
    axes[0, 0].set_title("pixels")
    axes[0, 1].imshow(f, cmap="gray", extent=extent, interpolation="nearest")
    axes[0, 1].set_title("bilinear interpolation")
    m = float(np.abs(d).max()) or 1.0
    im = axes[0, 2].imshow(d, cmap="RdBu_r", vmin=-m, vmax=m, extent=extent,
                           interpolation="nearest")
    axes[0, 2].set_title(f"∂ value / ∂{axis_name}")
    fig.colorbar(im, ax=axes[0, 2], fraction=0.046, pad=0.04)
    for ax in axes[0]:
        ax.set_xticks(range(img.shape[1]))
        ax.set_yticks(range(img.shape[0]))
    fig.tight_layout()
    return fig


def sampling_points(
    image: np.ndarray,
    regular: np.ndarray,
    deformed: np.ndarray,
    *,
    title: str = "",
    ax_count: int = 1,
    panel: int = 0,
    fig: Figure | None = None,
) -> Figure:
    """``image`` (H, W) with the regular taps (grey) and the moved taps (coloured) of some outputs.

    Args:
        regular, deformed: ``(P, K, 2)`` positions ``(y, x)`` in image pixels, ``K`` taps for
            each of ``P`` output pixels; each output gets its own colour.
        ax_count, panel, fig: draw into panel ``panel`` of a row of ``ax_count`` panels (a new
            figure when ``fig`` is None), so several images can share a figure.
    """
    reg, dfm = np.asarray(regular, dtype=float), np.asarray(deformed, dtype=float)
    if reg.ndim != 3 or reg.shape[-1] != 2 or reg.shape != dfm.shape:
        raise ValueError(f"regular and deformed must both be (P, K, 2), got {reg.shape} and "
                         f"{dfm.shape}")
    if fig is None:
        fig, axes = style.subplots(1, ax_count, height=3.2, width=min(style.WIDTH, 3.2 * ax_count))
        ax = axes[0, panel]
    else:
        ax = fig.axes[panel]
    ax.imshow(np.asarray(image, dtype=float), cmap="gray")
    for p in range(reg.shape[0]):
        color = style.COLORS[style.CYCLE[p % len(style.CYCLE)]]
        ax.scatter(reg[p, :, 1], reg[p, :, 0], s=14, facecolors="none",
                   edgecolors=style.COLORS["grey"], linewidths=0.8)
        ax.scatter(dfm[p, :, 1], dfm[p, :, 0], s=16, color=color, zorder=3)
        for (y0, x0), (y1, x1) in zip(reg[p], dfm[p], strict=True):
            ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                        arrowprops={"arrowstyle": "->", "color": color, "lw": 0.7})
    ax.set_xticks([])
    ax.set_yticks([])
    h, w = np.asarray(image).shape
    ax.set_xlim(-1.5, w + 0.5)
    ax.set_ylim(h + 0.5, -1.5)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def seed_comparison(
    results: Mapping[str, Sequence[float]], *, ylabel: str = "test accuracy (%)", title: str = ""
) -> Figure:
    """One column per variant: a dot per seed and a bar at the mean."""
    if not results:
        raise ValueError("results must name at least one variant")
    fig, axes = style.subplots(1, 1, height=3.2, width=5.5)
    ax = axes[0, 0]
    for i, (name, values) in enumerate(results.items()):
        v = np.asarray(values, dtype=float)
        if v.ndim != 1 or v.size == 0:
            raise ValueError(f"results[{name!r}] needs a non-empty list of values")
        color = style.COLORS[style.CYCLE[i % len(style.CYCLE)]]
        ax.scatter(np.full(v.size, i) + np.linspace(-0.08, 0.08, v.size), v, color=color,
                   zorder=3)
        ax.hlines(v.mean(), i - 0.25, i + 0.25, color=color, lw=2)
    ax.set_xticks(range(len(results)))
    ax.set_xticklabels(list(results))
    ax.set_xlim(-0.6, len(results) - 0.4)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
