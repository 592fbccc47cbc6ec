"""Figures of chapter 3, transposed convolution: the scatter of kernel stamps, the matrix ``C``
and its transpose, the zero-insertion form, overlap counts, and checkerboard artifacts.

Each function draws from numbers it is given or computes with :mod:`convlab` and returns a
:class:`matplotlib.figure.Figure`; nothing is read from disk.

Example:
    >>> import torch
    >>> fig = plot_overlap_counts(4, [(3, 2), (4, 2)])
    >>> len(fig.axes) >= 2
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from convlab.functional import conv2d, conv_transpose2d
from convlab.linalg import overlap_counts, zero_insert

from . import style


def _annotate(ax: plt.Axes, values: np.ndarray, fmt: str = "{:g}", skip_zero: bool = True,
              fontsize: float = 8) -> None:
    """Write each entry of the 2-D ``values`` in its cell of an ``imshow``."""
    vmax = float(np.abs(values).max()) or 1.0
    for (i, j), v in np.ndenumerate(values):
        if skip_zero and v == 0:
            continue
        colour = "white" if abs(v) > 0.6 * vmax else "black"
        ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=fontsize, color=colour)


def _grid(ax: plt.Axes, shape: tuple[int, int]) -> None:
    """Thin cell borders and no ticks on an ``imshow`` of the given shape."""
    h, w = shape
    ax.set_xticks(np.arange(-0.5, w, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, h, 1), minor=True)
    ax.grid(which="minor", color="0.75", linewidth=0.5)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)


def scatter_stamps(x: torch.Tensor, w: torch.Tensor, stride: int) -> torch.Tensor:
    """One canvas per input value: ``x[i, j] · w`` placed at ``(s·i, s·j)``, zeros elsewhere.

    Shape:
        - x: ``(H, W)``; w: ``(k, k)``
        - Output: ``(H·W, s(H − 1) + k, s(W − 1) + k)``, row-major over ``(i, j)``.
    """
    h, wd = x.shape
    k = w.shape[-1]
    stamps = x.new_zeros(h * wd, stride * (h - 1) + k, stride * (wd - 1) + k)
    for idx, (i, j) in enumerate(np.ndindex(h, wd)):
        stamps[idx, stride * i : stride * i + k, stride * j : stride * j + k] = x[i, j] * w
    return stamps


def plot_scatter(x: torch.Tensor, w: torch.Tensor, stride: int, padding: int = 0) -> Figure:
    """The scatter view: each input value stamps ``x[i, j] · w`` at ``(s·i, s·j)``; the stamps add.

    One panel per input value shows its stamp on the full ``(s(H − 1) + k)²`` canvas; the last
    panel is their sum, with the ``p``-pixel border that ``padding`` crops hatched.

    Args:
        x: ``(H, W)`` input, a few values.
        w: ``(k, k)`` kernel.
        stride, padding: of the transposed convolution.
    """
    style.apply()
    x64, w64 = x.detach().double(), w.detach().double()
    h, wd = x64.shape
    k = w64.shape[-1]
    stamps = scatter_stamps(x64, w64, stride)
    full = conv_transpose2d(x64[None, None], w64[None, None], stride=stride)[0, 0]
    size = tuple(full.shape)
    n = h * wd
    fig, axes = plt.subplots(1, n + 2, figsize=(2.0 * (n + 2), 2.4))
    axes[0].imshow(x64.numpy(), cmap="Blues", vmin=0)
    _annotate(axes[0], x64.numpy())
    _grid(axes[0], (h, wd))
    axes[0].set_title("input x", fontsize=9)
    vmax = float(full.abs().max())
    norm = TwoSlopeNorm(0.0, -vmax, vmax) if full.min() < 0 else None
    for idx, (i, j) in enumerate(np.ndindex(h, wd)):
        stamp = stamps[idx]
        ax = axes[idx + 1]
        ax.imshow(stamp.numpy(), cmap="RdBu_r" if norm else "Blues", norm=norm,
                  vmin=None if norm else 0, vmax=None if norm else vmax)
        _annotate(ax, stamp.numpy(), fontsize=7)
        _grid(ax, size)
        ax.add_patch(Rectangle((stride * j - 0.5, stride * i - 0.5), k, k, fill=False,
                               edgecolor="C3", linewidth=1.5))
        ax.set_title(f"x[{i},{j}]·w at ({stride * i},{stride * j})", fontsize=8)
    ax = axes[-1]
    ax.imshow(full.numpy(), cmap="RdBu_r" if norm else "Blues", norm=norm,
              vmin=None if norm else 0, vmax=None if norm else vmax)
    _annotate(ax, full.numpy(), fontsize=7)
    _grid(ax, size)
    if padding:
        inner = (size[0] - 2 * padding, size[1] - 2 * padding)
        ax.add_patch(Rectangle((padding - 0.5, padding - 0.5), inner[1], inner[0], fill=False,
                               edgecolor="C2", linewidth=2))
    ax.set_title("sum = output" + (f" (crop p={padding})" if padding else ""), fontsize=9)
    fig.suptitle(f"{h}×{wd} input, {k}×{k} kernel, stride {stride}: each input value stamps "
                 "a scaled copy of the kernel", fontsize=10)
    fig.tight_layout()
    return fig


def zero_insertion_canvas(x: torch.Tensor, k: int, stride: int, padding: int = 0,
                          output_padding: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The input of the zero-insertion form, and what each of its cells is.

    ``s − 1`` zeros go between neighbouring values of ``x``, then ``k − 1 − p`` zeros around
    (``output_padding`` more at the bottom and right). A stride-1 convolution of this canvas with
    the flipped kernel is ``conv_transpose2d(x, w, stride=s, padding=p, output_padding=...)``.

    Shape:
        - x: ``(H, W)``
        - Output: the canvas and a role map, both
          ``(s(H − 1) + 1 + 2(k − 1 − p) + output_padding, s(W − 1) + 1 + 2(k − 1 − p)
          + output_padding)``; roles are 0 for an inserted zero, 1 for an input value and
          2 for a padding zero.
    """
    if x.dim() != 2:
        raise ValueError(f"x must have shape (H, W), got {tuple(x.shape)}")
    if not 0 <= padding <= k - 1:
        raise ValueError(f"padding must lie in [0, k − 1] = [0, {k - 1}] for the drawing, got "
                         f"{padding}")
    if not 0 <= output_padding < stride:
        raise ValueError(f"output_padding must lie in [0, stride) = [0, {stride}), got "
                         f"{output_padding}")
    e = k - 1 - padding
    inserted = zero_insert(x[None, None], stride)[0, 0]  # (s(H-1)+1, s(W-1)+1)
    is_input = zero_insert(torch.ones_like(x)[None, None], stride)[0, 0]
    pad = (e, e + output_padding, e, e + output_padding)  # left, right, top, bottom
    canvas = torch.nn.functional.pad(inserted, pad)
    roles = torch.nn.functional.pad(is_input, pad, value=2.0)
    return canvas, roles.long()


def plot_zero_insertion(x: torch.Tensor, w: torch.Tensor, stride: int, padding: int = 0,
                        output_padding: int = 0) -> Figure:
    """The zero-insertion form drawn: the canvas, the flipped kernel, and the output it gives.

    Panels: the input; the canvas of :func:`zero_insertion_canvas` (input values blue, inserted
    zeros grey, padding zeros white) with the window of the first output outlined; the kernel
    flipped in both axes; the stride-1 convolution of the two, which equals the transposed
    convolution (asserted).

    Args:
        x: ``(H, W)`` input, a few values.
        w: ``(k, k)`` kernel of the transposed convolution.
        stride, padding, output_padding: of the transposed convolution.
    """
    style.apply()
    x64, w64 = x.detach().double(), w.detach().double()
    k = w64.shape[-1]
    canvas, roles = zero_insertion_canvas(x64, k, stride, padding, output_padding)
    flipped = w64.flip(0, 1)
    out = conv2d(canvas[None, None], flipped[None, None])[0, 0]
    expected = conv_transpose2d(x64[None, None], w64[None, None], stride=stride, padding=padding,
                                output_padding=output_padding)[0, 0]
    torch.testing.assert_close(out, expected)
    fig, axes = plt.subplots(1, 4, figsize=(style.WIDTH, 2.9),
                             gridspec_kw={"width_ratios": [x64.shape[1], canvas.shape[1], k,
                                                           out.shape[1]]})
    axes[0].imshow(x64.numpy(), cmap="Blues", vmin=0)
    _annotate(axes[0], x64.numpy())
    _grid(axes[0], tuple(x64.shape))
    axes[0].set_title("input x", fontsize=9)
    shade = np.choose(roles.numpy(), [0.35, 1.0, 0.0])  # inserted, input, padding
    axes[1].imshow(shade, cmap="Blues", vmin=0, vmax=1.6)
    for (i, j), role in np.ndenumerate(roles.numpy()):
        text = f"{canvas[i, j]:g}" if role == 1 else "0"
        axes[1].text(j, i, text, ha="center", va="center", fontsize=7,
                     color="black" if role == 1 else ("0.35" if role == 0 else "0.7"))
    _grid(axes[1], tuple(canvas.shape))
    axes[1].add_patch(Rectangle((-0.5, -0.5), k, k, fill=False, edgecolor="C3", linewidth=1.8))
    axes[1].set_title(f"zeros inserted (s − 1 = {stride - 1}) and padded (k − 1 − p = "
                      f"{k - 1 - padding})", fontsize=8)
    axes[2].imshow(flipped.numpy(), cmap="Oranges", vmin=0)
    _annotate(axes[2], flipped.numpy())
    _grid(axes[2], (k, k))
    axes[2].set_title("kernel flipped", fontsize=9)
    axes[3].imshow(out.numpy(), cmap="Blues", vmin=min(0.0, float(out.min())))
    _annotate(axes[3], out.numpy(), fontsize=7)
    _grid(axes[3], tuple(out.shape))
    axes[3].add_patch(Rectangle((-0.5, -0.5), 1, 1, fill=False, edgecolor="C3", linewidth=1.8))
    axes[3].set_title("stride-1 conv = conv_transpose2d", fontsize=9)
    fig.tight_layout()
    return fig


def plot_conv_matrix(C: torch.Tensor, input_hw: tuple[int, int], output_hw: tuple[int, int],
                     weight_labels: bool = True) -> Figure:
    """``C`` (output pixels × input pixels) beside ``Cᵀ``, entries labelled by their value.

    Args:
        C: dense ``(H_out·W_out, H·W)`` matrix of a single-channel convolution.
        input_hw, output_hw: the spatial sizes, for the axis labels.
        weight_labels: write the entries' values in the cells.
    """
    style.apply()
    c = C.detach().double().numpy()
    rows, cols = c.shape
    width = min(style.WIDTH, 0.34 * (cols + rows) + 2)
    fig, (a, b) = plt.subplots(
        1, 2, figsize=(width, 0.3 * max(rows, cols) + 1.4),
        gridspec_kw={"width_ratios": [cols, rows]},
    )
    vmax = float(np.abs(c).max()) or 1.0
    for ax, m, title in ((a, c, "C  (conv2d: y = C x)"), (b, c.T, "Cᵀ  (conv_transpose2d)")):
        shown = np.where(m == 0, np.nan, m)
        ax.imshow(shown, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        if weight_labels:
            _annotate(ax, m, fmt="{:.0f}" if np.allclose(m, np.round(m)) else "{:.1f}",
                      fontsize=7)
        _grid(ax, m.shape)
        ax.set_title(title, fontsize=10)
    a.set_xlabel(f"input pixel (of {input_hw[0]}×{input_hw[1]}, row-major)", fontsize=8)
    a.set_ylabel(f"output pixel (of {output_hw[0]}×{output_hw[1]})", fontsize=8)
    b.set_xlabel(f"output pixel (of {output_hw[0]}×{output_hw[1]})", fontsize=8)
    b.set_ylabel(f"input pixel (of {input_hw[0]}×{input_hw[1]})", fontsize=8)
    fig.tight_layout()
    return fig


def plot_overlap_counts(size: int, cases: Sequence[tuple[int, int]]) -> Figure:
    """Overlap-count maps (:func:`~convlab.linalg.overlap_counts`), one per ``(k, s)`` case."""
    style.apply()
    maps = [overlap_counts(size, k, s).numpy() for k, s in cases]
    vmax = max(int(m.max()) for m in maps)
    fig, axes = plt.subplots(1, len(cases), figsize=(3.4 * len(cases), 3.6))
    for ax, m, (k, s) in zip(np.atleast_1d(axes), maps, cases, strict=True):
        ax.imshow(m, cmap="viridis", vmin=0, vmax=vmax)
        _annotate(ax, m.astype(float), fmt="{:.0f}", skip_zero=False, fontsize=7)
        _grid(ax, m.shape)
        k_div = "divisible" if k % s == 0 else "not divisible"
        ax.set_title(f"k={k}, s={s} ({k_div})\ncounts {sorted(set(m.ravel().tolist()))}",
                     fontsize=9)
    fig.suptitle(f"How many kernel stamps cover each output pixel ({size}×{size} input)",
                 fontsize=10)
    fig.tight_layout()
    return fig


def plot_image_grid(images: Mapping[str, np.ndarray], ncols: int | None = None,
                    cmap: str = "gray", vmin: float | None = 0.0,
                    vmax: float | None = 1.0) -> Figure:
    """A row (or grid) of grey images with their titles; ``vmin=vmax=None`` scales each alone."""
    style.apply()
    names = list(images)
    ncols = ncols or len(names)
    nrows = -(-len(names) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols, 2.8 * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, name in zip(axes.ravel(), names, strict=False):
        ax.imshow(images[name], cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_title(name, fontsize=9)
    fig.tight_layout()
    return fig
