"""Classic hand-made kernels (Sobel, Prewitt, Laplacian) applied to a photo.

* :func:`edge_figure` — the photo, then each kernel (drawn small, with its values) above its
  response map.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from . import style


def edge_figure(
    photo: np.ndarray,
    responses: Mapping[str, tuple[np.ndarray | None, np.ndarray]],
    *,
    ncols: int = 3,
    height: float = 3.0,
) -> Figure:
    """The photo and, per kernel, its response with the kernel inset in the corner.

    Signed responses are red where positive and blue where negative, scaled to the 99th
    percentile of their magnitude.

    Args:
        photo: grey image ``(H, W)``.
        responses: name → ``(kernel (k, k) or None, response (H', W'))``. Signed responses
            are drawn on a diverging scale centred at zero, non-negative ones (a gradient
            magnitude) in grey; a ``None`` kernel draws no inset.
    """
    n = len(responses) + 1
    nrows = -(-n // ncols)
    fig, axes = style.subplots(nrows, ncols, height=height)
    for ax in axes.flat[n:]:
        ax.axis("off")
    style.image(axes.flat[0], photo, "photo")
    for ax, (name, (kernel, response)) in zip(axes.flat[1:], responses.items(), strict=False):
        response = np.asarray(response, dtype=float)
        signed = bool(response.min() < 0)
        # scaled to the 99th percentile: the zero-padded border would otherwise dominate
        style.image(ax, response, name, symmetric=signed, cmap="gray", robust=True)
        if kernel is not None:
            inset = ax.inset_axes((0.0, 0.0, 0.3, 0.3))
            k = np.asarray(kernel, dtype=float)
            style.image(inset, k, symmetric=True)
            m = float(np.max(np.abs(k))) or 1.0
            for (r, c), v in np.ndenumerate(k):
                inset.text(c, r, format(v, "g"), ha="center", va="center", fontsize=6,
                           color="white" if abs(v) > 0.6 * m else "black")
    fig.tight_layout()
    return fig
