"""The sliding window: which input cells each output reads, for given padding, stride, dilation.

* :func:`window_figure` — panels of padded input grids with the receptive fields of a few outputs
  outlined, beside the output grid whose size is :func:`convlab.analysis.conv_output_size`;
* :func:`values_figure` — small arrays drawn with their values written in the cells (the impulse
  response of cross-correlation vs convolution).

Cell ``(i, j)`` of an output reads input rows ``i·s − p + u·d`` and columns ``j·s − p + v·d``
for ``u, v = 0 … k − 1``; cells at negative or too-large positions are padding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from convlab.analysis import conv_output_size

from . import style

#: Colours of the outlined windows, in the order of the outputs they belong to.
WINDOW_COLORS = ("blue", "orange", "green", "purple")


def _cell(ax: Axes, x: float, y: float, **kwargs: object) -> None:
    ax.add_patch(Rectangle((x, -y - 1), 1, 1, **kwargs))


def draw_windows(
    ax: Axes,
    size: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    outputs: Sequence[tuple[int, int]] = ((0, 0), (0, 1)),
) -> int:
    """Draw one square case on ``ax``: the padded input, the windows of ``outputs``, the output.

    Returns:
        the output size ``H_out`` drawn.
    """
    n_out = conv_output_size(size, kernel_size, stride, padding, dilation)
    full = size + 2 * padding
    for r in range(full):
        for c in range(full):
            inside = padding <= r < padding + size and padding <= c < padding + size
            _cell(ax, c, r, facecolor="white" if inside else "#e8e8e8",
                  edgecolor="#777777" if inside else "#bbbbbb", lw=0.6,
                  ls="-" if inside else (0, (2, 2)))
    x0 = full + 1.5  # where the output grid starts
    for r in range(n_out):
        for c in range(n_out):
            _cell(ax, x0 + c, r, facecolor="white", edgecolor="#777777", lw=0.6)
    for idx, (i, j) in enumerate(outputs):
        if not (0 <= i < n_out and 0 <= j < n_out):
            continue
        color = style.COLORS[WINDOW_COLORS[idx % len(WINDOW_COLORS)]]
        for u in range(kernel_size):
            for v in range(kernel_size):
                # padded coordinates of the tap: input row i·s − p + u·d, shifted by p
                _cell(ax, j * stride + v * dilation, i * stride + u * dilation,
                      facecolor=color, alpha=0.35, edgecolor=color, lw=1.2)
        _cell(ax, x0 + j, i, facecolor=color, alpha=0.6, edgecolor=color, lw=1.2)
    ax.text(full / 2, 0.6, f"input {size}×{size}, padding {padding}", ha="center", fontsize=8)
    ax.text(x0 + n_out / 2, 0.6, f"output {n_out}×{n_out}", ha="center", fontsize=8)
    ax.set_xlim(-0.5, x0 + max(n_out, 3) + 0.5)
    ax.set_ylim(-full - 0.5, 1.5)
    ax.set_aspect("equal")
    ax.axis("off")
    return n_out


def window_figure(
    cases: Sequence[Mapping[str, int]], *, ncols: int = 2, height: float = 3.2
) -> Figure:
    """Panels of :func:`draw_windows`, one per case.

    Args:
        cases: mappings with ``size`` and ``kernel_size`` and optional ``stride``, ``padding``,
            ``dilation`` (the keywords of :func:`convlab.analysis.conv_output_size`).
    """
    nrows = -(-len(cases) // ncols)
    fig, axes = style.subplots(nrows, ncols, height=height)
    for ax in axes.flat[len(cases):]:
        ax.axis("off")
    for ax, case in zip(axes.flat, cases, strict=False):
        k, s = case["kernel_size"], case.get("stride", 1)
        p, d = case.get("padding", 0), case.get("dilation", 1)
        draw_windows(ax, case["size"], k, s, p, d)
        ax.set_title(f"k = {k}, p = {p}, s = {s}, d = {d}")
    fig.tight_layout()
    return fig


def values_figure(
    arrays: Sequence[np.ndarray], titles: Sequence[str], *, height: float = 2.6, fmt: str = "g"
) -> Figure:
    """Small 2-D arrays side by side, each cell labelled with its value.

    Zero cells are left blank so that the pattern (where the kernel landed) stands out.
    """
    if len(arrays) != len(titles):
        raise ValueError(f"got {len(arrays)} arrays but {len(titles)} titles")
    fig, axes = style.subplots(1, len(arrays), height=height)
    for ax, a, t in zip(axes[0], arrays, titles, strict=True):
        a = np.asarray(a, dtype=float)
        style.image(ax, a, t, symmetric=True)
        m = float(np.max(np.abs(a))) or 1.0
        for (r, c), v in np.ndenumerate(a):
            if v != 0:
                ax.text(c, r, format(v, fmt), ha="center", va="center", fontsize=8,
                        color="white" if abs(v) > 0.6 * m else "black")
        ax.set_xticks(np.arange(-0.5, a.shape[1], 1), minor=True)
        ax.set_yticks(np.arange(-0.5, a.shape[0], 1), minor=True)
        ax.grid(which="minor", color="#cccccc", lw=0.5)
        ax.tick_params(which="minor", length=0)
    fig.tight_layout()
    return fig
