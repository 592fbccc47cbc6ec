"""Channels and connectivity: a multi-channel convolution as a sum of per-channel maps, and the
convolution as a sparse matrix whose nonzero entries repeat the kernel's weights.

* :func:`channel_sum_figure` — input channels, the kernel slice applied to each, each slice's
  cross-correlation map and their sum, which is one output channel;
* :func:`conv_matrix_figure` — the matrix ``C`` of a small convolution, each entry coloured by
  the kernel tap it copies (sparse connectivity and weight sharing at a glance).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from . import style


def channel_sum_figure(
    channels: np.ndarray,
    kernels: np.ndarray,
    partial: np.ndarray,
    total: np.ndarray,
    names: Sequence[str] | None = None,
    *,
    height: float = 2.1,
) -> Figure:
    """One output channel of a multi-channel convolution, term by term.

    Args:
        channels: the input, ``(C_in, H, W)``.
        kernels: the output channel's kernel, ``(C_in, k, k)``.
        partial: ``partial[c] = kernels[c] ⋆ channels[c]``, ``(C_in, H_out, W_out)``.
        total: the output channel, ``Σ_c partial[c]`` (plus bias), ``(H_out, W_out)``.
        names: a name per input channel (row titles).
    """
    c_in = channels.shape[0]
    if not (kernels.shape[0] == partial.shape[0] == c_in):
        raise ValueError(
            f"channels, kernels and partial must share C_in; got {channels.shape[0]}, "
            f"{kernels.shape[0]}, {partial.shape[0]}"
        )
    names = list(names) if names is not None else [f"channel {c}" for c in range(c_in)]
    fig, axes = style.subplots(c_in, 4, height=height)
    for c in range(c_in):
        style.image(axes[c, 0], channels[c], f"input: {names[c]}")
        style.image(axes[c, 1], kernels[c], f"kernel w[o, {c}]", symmetric=True)
        style.image(axes[c, 2], partial[c], f"w[o, {c}] ⋆ x[{c}]", symmetric=True)
        axes[c, 3].axis("off")
    mid = c_in // 2
    axes[mid, 3].axis("on")
    style.image(axes[mid, 3], total, "sum over channels = out[o]", symmetric=True)
    fig.tight_layout()
    return fig


def conv_matrix_figure(
    tap: np.ndarray, *, input_size: tuple[int, int], output_size: tuple[int, int],
    height: float = 4.0
) -> Figure:
    """The matrix of a one-channel convolution, coloured by kernel tap.

    Args:
        tap: ``(H_out·W_out, H·W)`` integers, the index ``u·k + v`` of the kernel weight that entry
            copies, or ``-1`` where the entry is zero (no connection).
        input_size, output_size: ``(H, W)`` and ``(H_out, W_out)``, for the labels.
    """
    tap = np.asarray(tap)
    if tap.ndim != 2:
        raise ValueError(f"tap must be 2-D (rows, columns), got shape {tap.shape}")
    n_taps = int(tap.max()) + 1
    base = [style.COLORS[c] for c in ("blue", "orange", "green", "red", "purple", "sky",
                                      "yellow", "black", "grey")]
    colours = ["white"] + [base[i % len(base)] for i in range(n_taps)]
    fig, axes = style.subplots(1, 1, height=height)
    ax = axes[0, 0]
    ax.imshow(tap + 1, cmap=ListedColormap(colours), vmin=0, vmax=n_taps, aspect="equal")
    ax.set_xlabel(f"input pixel (row-major over {input_size[0]}×{input_size[1]})")
    ax.set_ylabel(f"output pixel ({output_size[0]}×{output_size[1]})")
    nonzero = int((tap >= 0).sum())
    ax.set_title(
        f"C is {tap.shape[0]}×{tap.shape[1]}: {nonzero} nonzero entries out of {tap.size}, "
        f"all copies of {n_taps} weights"
    )
    fig.tight_layout()
    return fig
