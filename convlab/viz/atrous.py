"""Figures of chapter 5, atrous (dilated) convolution: kernel taps, receptive-field growth,
coverage maps and gridding, effective receptive fields, ASPP's valid weights, segmentations.

The few numbers the figures need and no other module computes are here too:
:func:`dilate_kernel` (zero insertion), :func:`holes` (unreached pixels inside a field) and
:func:`valid_tap_counts` (how many taps of a dilated kernel land inside a feature map).

Example:
    >>> import torch
    >>> dilate_kernel(torch.ones(1, 1, 2, 2), 3)[0, 0].int().tolist()
    [[1, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0], [1, 0, 0, 1]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from . import style


def dilate_kernel(weight: torch.Tensor, dilation: int) -> torch.Tensor:
    """The kernel with ``dilation − 1`` zeros inserted between neighbouring taps.

    A convolution with the result (dilation 1) equals a convolution with ``weight`` at
    ``dilation``.

    Shape:
        - weight: :math:`(C_{out}, C_{in}, k_h, k_w)`
        - Output: :math:`(C_{out}, C_{in}, d(k_h - 1) + 1, d(k_w - 1) + 1)`
    """
    if weight.dim() != 4:
        raise ValueError(f"weight must be 4-D (C_out, C_in, k_h, k_w), got {tuple(weight.shape)}")
    if isinstance(dilation, bool) or not isinstance(dilation, int) or dilation < 1:
        raise ValueError(f"dilation must be a positive int, got {dilation!r}")
    o, i, kh, kw = weight.shape
    out = weight.new_zeros(o, i, dilation * (kh - 1) + 1, dilation * (kw - 1) + 1)
    out[:, :, ::dilation, ::dilation] = weight
    return out


def holes(field: np.ndarray | torch.Tensor) -> int:
    """Pixels inside the bounding box of the nonzero entries of a 2-D map that are zero."""
    a = np.asarray(field)
    if a.ndim != 2:
        raise ValueError(f"field must be 2-D, got shape {a.shape}")
    rows, cols = np.nonzero(a)
    if rows.size == 0:
        return 0
    box = a[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    return int((box == 0).sum())


def valid_tap_counts(size: int, rate: int, kernel_size: int = 3) -> np.ndarray:
    """How often each number of a dilated kernel's taps lands inside a ``size × size`` map.

    The kernel is centred on every pixel of the map (zero "same" padding, as in ASPP); taps
    that fall in the padding see zeros and contribute nothing.

    Returns:
        ``counts`` of shape ``(kernel_size² + 1,)``: ``counts[n]`` is the fraction of output
        pixels at which exactly ``n`` taps are valid.
    """
    if kernel_size % 2 == 0 or kernel_size < 1:
        raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
    half = kernel_size // 2
    offsets = rate * np.arange(-half, half + 1)
    pos = np.arange(size)
    inside = ((pos[:, None] + offsets[None, :]) >= 0) & ((pos[:, None] + offsets[None, :]) < size)
    per_axis = inside.sum(1)  # (size,) valid taps along one axis
    valid = per_axis[:, None] * per_axis[None, :]  # (size, size)
    return np.bincount(valid.ravel(), minlength=kernel_size**2 + 1) / valid.size


def taps_figure(kernel_size: int, dilations: Sequence[int]) -> Figure:
    """Where a ``k × k`` kernel's taps fall at each dilation, on a common grid."""
    span = max(d * (kernel_size - 1) + 1 for d in dilations)
    fig, axes = style.subplots(1, len(dilations), height=2.8)
    for ax, d in zip(axes[0], dilations, strict=True):
        grid = np.zeros((span, span))
        eff = d * (kernel_size - 1) + 1
        start = (span - eff) // 2
        grid[start:start + eff:d, start:start + eff:d] = 1
        ax.imshow(grid, cmap="Blues", vmin=0, vmax=1.3)
        ax.add_patch(Rectangle((start - 0.5, start - 0.5), eff, eff, fill=False,
                               ec=style.COLORS["red"], lw=1.5))
        ax.set_xticks(np.arange(-0.5, span, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, span, 1), minor=True)
        ax.grid(which="minor", color="0.8", lw=0.5)
        ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
        ax.set_title(f"d = {d}: {kernel_size ** 2} taps span {eff}×{eff}")
    fig.tight_layout()
    return fig


def growth_figure(depths: Sequence[int], sizes: Mapping[str, Sequence[int]],
                  measured: Mapping[str, Sequence[int]] | None = None) -> Figure:
    """Receptive-field size against depth, one line per stack (dots: measured sizes)."""
    fig, axes = style.subplots(1, 1, height=3.2, width=6.0)
    ax = axes[0, 0]
    for i, (name, s) in enumerate(sizes.items()):
        color = style.COLORS[style.CYCLE[i % len(style.CYCLE)]]
        ax.plot(depths, s, color=color, lw=1.6, label=f"{name} (recursion)")
        if measured is not None and name in measured:
            ax.plot(depths, measured[name], "o", color=color, ms=5, mfc="none",
                    label=f"{name} (measured)")
    ax.set_yscale("log", base=2)
    ax.set_xlabel("layers")
    ax.set_ylabel("receptive field (pixels, log scale)")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def field_maps_figure(maps: Mapping[str, np.ndarray | torch.Tensor], *, log: bool = False,
                      box: Mapping[str, int] | None = None, height: float = 2.8) -> Figure:
    """Receptive-field maps side by side; zeros inside the field (holes) drawn in red.

    Args:
        maps: title → a 2-D map (path counts or gradient magnitudes).
        log: show ``log(1 + value)``, for maps whose values span orders of magnitude.
        box: title → side of a centred square to outline (the theoretical receptive field).
    """
    fig, axes = style.subplots(1, len(maps), height=height)
    for ax, (title, m) in zip(axes[0], maps.items(), strict=True):
        a = np.asarray(m, dtype=float)
        shown = np.log1p(a / (a.max() or 1.0) * 1e3) if log else a
        ax.imshow(shown, cmap="viridis")
        rows, cols = np.nonzero(a)
        if rows.size:
            inside = np.zeros_like(a, dtype=bool)
            inside[rows.min():rows.max() + 1, cols.min():cols.max() + 1] = True
            hole = np.ma.masked_where(~(inside & (a == 0)), np.ones_like(a))
            ax.imshow(hole, cmap="autumn", vmin=0, vmax=1, alpha=0.9)
        if box is not None and title in box:
            side = box[title]
            c0 = (a.shape[0] - side) / 2 - 0.5
            c1 = (a.shape[1] - side) / 2 - 0.5
            ax.add_patch(Rectangle((c1, c0), side, side, fill=False, ec="white", lw=1, ls="--"))
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def valid_taps_figure(size: int, rates: Sequence[int], kernel_size: int = 3) -> Figure:
    """DeepLab v3's Figure 4: the share of output pixels with 1, 4 or 9 valid 3×3 taps."""
    counts = np.stack([valid_tap_counts(size, r, kernel_size) for r in rates])
    fig, axes = style.subplots(1, 1, height=3.0, width=6.0)
    ax = axes[0, 0]
    full = kernel_size**2
    for n, label in ((1, "only the centre tap"), (kernel_size + 1, f"{kernel_size + 1} taps"),
                     (full, f"all {full} taps")):
        ax.plot(rates, counts[:, n], marker="o", ms=3, label=label)
    ax.set_xlabel("atrous rate")
    ax.set_ylabel("share of output pixels")
    ax.set_title(f"valid taps of a {kernel_size}×{kernel_size} kernel on a {size}×{size} map")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def segmentation_figure(images: np.ndarray, truth: np.ndarray,
                        predictions: Mapping[str, np.ndarray]) -> Figure:
    """One row per example: the image, the true labels, then each network's prediction.

    Shape:
        - images: ``(B, H, W)``; truth: ``(B, H, W)`` ints; each prediction ``(B, H, W)``.
    """
    images, truth = np.asarray(images), np.asarray(truth)
    b = images.shape[0]
    fig, axes = style.subplots(b, 2 + len(predictions), height=1.7)
    cmap = "tab10"
    for r in range(b):
        style.image(axes[r, 0], images[r], "image" if r == 0 else "")
        axes[r, 1].imshow(truth[r], cmap=cmap, vmin=-0.5, vmax=9.5)
        for c, (name, pred) in enumerate(predictions.items()):
            axes[r, 2 + c].imshow(np.asarray(pred)[r], cmap=cmap, vmin=-0.5, vmax=9.5)
            if r == 0:
                axes[r, 2 + c].set_title(name, fontsize=9)
        if r == 0:
            axes[r, 1].set_title("true labels", fontsize=9)
        for ax in axes[r, 1:]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    return fig
