"""The shared look of the book's figures: palette, sizes and a few drawing helpers.

Every figure module calls :func:`apply` before drawing, so the figures agree in fonts and sizes
whether a page, a notebook or a test draws them.

Example:
    >>> import numpy as np
    >>> from convlab.viz import style
    >>> fig, ax = style.subplots(1, 1)
    >>> style.image(ax, np.eye(3), "identity")
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

#: Named colours (a colour-blind-safe palette, Okabe–Ito).
COLORS = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "red": "#D55E00",
    "purple": "#CC79A7",
    "sky": "#56B4E9",
    "yellow": "#F0E442",
    "black": "#000000",
    "grey": "#999999",
}
#: The order in which line plots take colours.
CYCLE = ("blue", "orange", "green", "red", "purple", "sky", "black")
#: Width of a full-width figure in inches (the book's content column).
WIDTH = 9.0

RC = {
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "image.interpolation": "nearest",
}


def apply() -> None:
    """Set the book's matplotlib defaults (fonts, sizes, colour cycle)."""
    matplotlib.rcParams.update(RC)
    matplotlib.rcParams["axes.prop_cycle"] = matplotlib.cycler(color=[COLORS[c] for c in CYCLE])


def subplots(
    nrows: int, ncols: int, *, height: float = 3.0, width: float = WIDTH, **kwargs: object
) -> tuple[Figure, np.ndarray]:
    """A figure of ``nrows × ncols`` axes, ``width`` inches wide and ``height`` per row.

    Returns:
        ``(fig, axes)`` with ``axes`` always a 2-D object array of shape ``(nrows, ncols)``.
    """
    apply()
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width, height * nrows), squeeze=False, **kwargs
    )
    return fig, axes


def image(
    ax: Axes,
    array: np.ndarray,
    title: str = "",
    *,
    cmap: str = "gray",
    symmetric: bool = False,
    colorbar: bool = False,
    vmin: float | None = None,
    vmax: float | None = None,
    robust: bool = False,
) -> None:
    """Show a 2-D ``array`` on ``ax`` without ticks.

    Args:
        symmetric: centre the colour scale at zero (signed maps: filter responses, errors); the
            colour map becomes a diverging one unless ``cmap`` is given otherwise.
        colorbar: add a colour bar beside the axes.
        robust: scale to the 99th percentile of ``|array|`` instead of its maximum, so that a
            few extreme values (a strong response along a border) do not wash out the rest.
    """
    a = np.asarray(array, dtype=float)
    if a.ndim != 2:
        raise ValueError(f"array must be 2-D (H, W), got shape {a.shape}")
    top = float(np.percentile(np.abs(a), 99) if robust else np.max(np.abs(a)))
    if symmetric:
        m = top or 1.0
        vmin, vmax = -m, m
        cmap = "RdBu_r" if cmap == "gray" else cmap
    elif robust:
        vmin, vmax = 0.0, top or 1.0
    im = ax.imshow(a, cmap=cmap, vmin=vmin, vmax=vmax)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)


def image_row(
    arrays: Sequence[np.ndarray],
    titles: Sequence[str],
    *,
    symmetric: Sequence[bool] | bool = False,
    height: float = 2.6,
    width: float = WIDTH,
    colorbar: bool = False,
) -> Figure:
    """One row of images with titles (see :func:`image`)."""
    if len(arrays) != len(titles):
        raise ValueError(f"got {len(arrays)} arrays but {len(titles)} titles")
    flags = [symmetric] * len(arrays) if isinstance(symmetric, bool) else list(symmetric)
    fig, axes = subplots(1, len(arrays), height=height, width=width)
    for ax, a, t, s in zip(axes[0], arrays, titles, flags, strict=True):
        image(ax, a, t, symmetric=s, colorbar=colorbar)
    fig.tight_layout()
    return fig
