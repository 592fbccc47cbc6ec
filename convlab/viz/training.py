"""Training runs: loss curves with test accuracy, and the filters a network learned.

* :func:`history_figure` — training loss per step (raw and smoothed) beside test accuracy at the
  evaluation steps (the fields of :class:`convlab.train.History`);
* :func:`filters_figure` — a grid of learned kernels, each on its own symmetric colour scale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from . import style


def moving_average(values: Sequence[float], window: int) -> np.ndarray:
    """Mean over the last ``window`` values at each step (fewer at the start).

    Shape: (T,) -> (T,)
    """
    if window < 1:
        raise ValueError(f"window must be a positive int, got {window}")
    v = np.asarray(values, dtype=float)
    c = np.cumsum(np.insert(v, 0, 0.0))
    idx = np.arange(1, len(v) + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def history_figure(
    runs: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    smooth: int = 20,
    height: float = 3.2,
) -> Figure:
    """Loss and accuracy curves of one or more runs.

    Args:
        runs: run name → a mapping with ``train_loss`` (one value per step), ``eval_steps``
            and ``eval_accuracy`` (as in :meth:`convlab.train.History.as_dict`).
        smooth: window of the moving average drawn over the raw loss.
    """
    fig, axes = style.subplots(1, 2, height=height)
    ax_loss, ax_acc = axes[0]
    dashes = ("-", "--", ":", "-.")  # runs that coincide stay visible one above the other
    for i, (name, h) in enumerate(runs.items()):
        color = style.COLORS[style.CYCLE[i % len(style.CYCLE)]]
        ls = dashes[i % len(dashes)]
        loss = np.asarray(h["train_loss"], dtype=float)
        steps = np.arange(1, len(loss) + 1)
        if i == 0:  # the raw per-batch loss of the first run only, to keep the plot legible
            ax_loss.plot(steps, loss, color=color, alpha=0.25, lw=0.8)
        ax_loss.plot(steps, moving_average(loss, smooth), color=color, lw=1.6, ls=ls,
                     label=name)
        acc = 100 * np.asarray(h["eval_accuracy"], dtype=float)
        ax_acc.plot(h["eval_steps"], acc, color=color, marker="o", ms=4, ls=ls, label=name)
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("optimiser step")
    ax_loss.set_ylabel("training loss (cross-entropy)")
    ax_loss.set_title(f"training loss (light: per batch; lines: mean of {smooth})")
    ax_acc.set_xlabel("optimiser step")
    ax_acc.set_ylabel("test accuracy (%)")
    ax_acc.set_title("accuracy on the 360 held-out digits")
    for ax in (ax_loss, ax_acc):
        ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def filters_figure(
    weight: np.ndarray, *, title: str = "", ncols: int = 8, size: float = 1.2
) -> Figure:
    """Each kernel ``weight[o, 0]`` of a first layer, red positive, blue negative.

    Args:
        weight: ``(C_out, C_in, k, k)``; input channel 0 is shown (digits are grey).
    """
    w = np.asarray(weight, dtype=float)
    if w.ndim != 4:
        raise ValueError(f"weight must be (C_out, C_in, k, k), got shape {w.shape}")
    c_out = w.shape[0]
    ncols = min(ncols, c_out)
    nrows = -(-c_out // ncols)
    fig, axes = style.subplots(nrows, ncols, height=size + (0.4 if title else 0.0),
                               width=size * ncols)
    for ax in axes.flat[c_out:]:
        ax.axis("off")
    for o, ax in enumerate(axes.flat[:c_out]):
        style.image(ax, w[o, 0], f"{o}", symmetric=True)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def kernel_energy_shares(weight: np.ndarray) -> dict[str, np.ndarray]:
    """How each ``k × k`` kernel splits its energy between a level, a slope and the rest.

    The kernel ``w`` (flattened, ``k²`` numbers) is projected onto three orthogonal parts: its
    mean (the response to a constant image), its first moment along rows and columns (the
    response to a linear ramp — an oriented derivative, what Sobel and Prewitt kernels hold),
    and everything else. Returned per kernel, as shares of ``‖w‖²`` that sum to 1:
    ``"level"``, ``"slope"``, ``"rest"``. For kernels with independent, identically distributed
    zero-mean weights the expected shares are ``1/k²``, ``2/k²`` and ``1 − 3/k²``.

    Shape:
        - weight: ``(C_out, C_in, k, k)``; the shares are over each ``(C_in, k, k)`` kernel
          taken channel by channel and averaged, so each output is ``(C_out,)``.
    """
    w = np.asarray(weight, dtype=float)
    if w.ndim != 4 or w.shape[-1] != w.shape[-2] or w.shape[-1] < 2:
        raise ValueError(f"weight must be (C_out, C_in, k, k) with k ≥ 2, got shape {w.shape}")
    k = w.shape[-1]
    centred = np.arange(k) - (k - 1) / 2
    basis = np.stack([np.ones((k, k)) / k,  # level
                      np.repeat(centred[:, None], k, 1) / np.sqrt(k * (centred ** 2).sum()),
                      np.repeat(centred[None, :], k, 0) / np.sqrt(k * (centred ** 2).sum())])
    energy = (w ** 2).sum(axis=(-2, -1))  # (C_out, C_in)
    coeffs = np.einsum("ocuv,buv->ocb", w, basis)  # (C_out, C_in, 3)
    with np.errstate(invalid="ignore", divide="ignore"):
        level = np.where(energy > 0, coeffs[..., 0] ** 2 / energy, 0.0)
        slope = np.where(energy > 0, (coeffs[..., 1:] ** 2).sum(-1) / energy, 0.0)
    level, slope = level.mean(axis=1), slope.mean(axis=1)
    return {"level": level, "slope": slope, "rest": 1.0 - level - slope}
