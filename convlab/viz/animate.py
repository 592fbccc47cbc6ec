"""Animations for the book: the sliding window, and the stamps of a transposed convolution.

Each animation is a short animated GIF made with Pillow from matplotlib frames, so a page shows
it as a plain image (no script, nothing loaded from elsewhere) and stays small. What moves is
computed, not drawn by hand:

* :func:`window_frames` — the stops of a convolution's window, one per output cell, row-major:
  output ``(i, j)`` reads the padded input at rows ``i·s + u·d`` and columns ``j·s + v·d``
  (``u, v = 0 … k − 1``), and there are ``conv_output_size(n, k, s, p, d)`` stops per axis
  (:func:`convlab.analysis.conv_output_size`);
* :func:`stamp_frames` — the stamps of a transposed convolution, one per input cell, row-major:
  input ``(i, j)`` adds ``x[i, j]·w`` on the uncropped canvas at rows ``i·s + u·d`` and columns
  ``j·s + v·d``; the output is the canvas from row and column ``p`` on,
  ``conv_transpose_output_size(n, k, s, p, output_padding, d)`` long
  (:func:`convlab.analysis.conv_transpose_output_size`);
* :func:`sliding_animation`, :func:`scatter_animation` and :func:`zero_insertion_animation`
  (the same transposed convolution as a stride-1 window over the zero-inserted, padded input)
  draw them and return the GIF's bytes; :func:`show` wraps the bytes for display in a notebook
  or a book page.

These are the relations the arithmetic explorer's script draws (the book's chapter 1 explorer).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image

from convlab.analysis import conv_output_size, conv_transpose_output_size
from convlab.functional import conv_transpose2d

from . import style
from .transposed import zero_insertion_canvas

#: Dots per inch of the frames: small files, still legible at the book's column width; the
#: animations that write values in their cells use :data:`VALUES_DPI`.
DPI = 72
VALUES_DPI = 100
#: Milliseconds each frame is shown; the last frame is held :data:`HOLD` times as long.
FRAME_MS = 650
HOLD = 3


@dataclass(frozen=True)
class WindowFrame:
    """One stop of a convolution's window.

    Attributes:
        output: ``(i, j)``, the output cell the window writes.
        origin: ``(i·s, j·s)``, its first tap in padded-input coordinates (row, column).
        taps: the ``k²`` cells it reads, ``(i·s + u·d, j·s + v·d)``, row-major over ``(u, v)``.
    """

    output: tuple[int, int]
    origin: tuple[int, int]
    taps: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class StampFrame:
    """One stamp of a transposed convolution.

    Attributes:
        input: ``(i, j)``, the input cell whose value scales the kernel.
        origin: ``(i·s, j·s)``, the stamp's first cell on the uncropped canvas.
        cells: the ``k²`` canvas cells it adds to, ``(i·s + u·d, j·s + v·d)``; output cell
            ``(r, q)`` is canvas cell ``(r + p, q + p)``.
    """

    input: tuple[int, int]
    origin: tuple[int, int]
    cells: tuple[tuple[int, int], ...]


def _check_positive(**values: int) -> None:
    for name, v in values.items():
        if not isinstance(v, int) or isinstance(v, bool):
            raise TypeError(f"{name} must be an int, got {type(v).__name__}")
        if v < 1:
            raise ValueError(f"{name} must be at least 1, got {v}")


def _taps(r0: int, c0: int, k: int, d: int) -> tuple[tuple[int, int], ...]:
    return tuple((r0 + u * d, c0 + v * d) for u in range(k) for v in range(k))


def window_frames(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                  dilation: int = 1) -> list[WindowFrame]:
    """The window's stops over a ``size × size`` input, one per output cell, row-major.

    Returns:
        ``n_out²`` frames with ``n_out = conv_output_size(size, kernel_size, stride, padding,
        dilation)``; coordinates are in the padded input, ``size + 2·padding`` cells wide.

    Raises:
        ValueError: where :func:`convlab.analysis.conv_output_size` does (no window fits).
    """
    n_out = conv_output_size(size, kernel_size, stride, padding, dilation)
    return [WindowFrame((i, j), (i * stride, j * stride),
                        _taps(i * stride, j * stride, kernel_size, dilation))
            for i in range(n_out) for j in range(n_out)]


def canvas_size(size: int, kernel_size: int, stride: int = 1, dilation: int = 1) -> int:
    """Length of a transposed convolution's uncropped canvas, ``s(n − 1) + d(k − 1) + 1``."""
    _check_positive(size=size, kernel_size=kernel_size, stride=stride, dilation=dilation)
    return stride * (size - 1) + dilation * (kernel_size - 1) + 1


def stamp_frames(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 output_padding: int = 0, dilation: int = 1) -> list[StampFrame]:
    """The stamps of a transposed convolution of a ``size × size`` input, row-major.

    Returns:
        ``size²`` frames on the uncropped canvas (:func:`canvas_size` cells wide); the output,
        ``conv_transpose_output_size(size, kernel_size, stride, padding, output_padding,
        dilation)`` cells wide, starts at canvas cell ``(padding, padding)``.

    Raises:
        ValueError: where :func:`convlab.analysis.conv_transpose_output_size` does.
    """
    conv_transpose_output_size(size, kernel_size, stride, padding, output_padding, dilation)
    return [StampFrame((i, j), (i * stride, j * stride),
                       _taps(i * stride, j * stride, kernel_size, dilation))
            for i in range(size) for j in range(size)]


# -- drawing ------------------------------------------------------------------------------------
def _cell(ax: Axes, r: float, c: float, **kwargs: Any) -> None:
    """A unit square at row ``r``, column ``c`` (rows grow downwards)."""
    ax.add_patch(Rectangle((c, -r - 1), 1, 1, **kwargs))


def _figure(size: tuple[float, float], dpi: int) -> Figure:
    """A figure drawn by Agg from the start (its layout is computed with the renderer that
    draws the frames), outside pyplot (a notebook does not show it by itself)."""
    fig = Figure(figsize=size, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _frame_image(fig: Figure) -> Image.Image:
    canvas = fig.canvas
    assert isinstance(canvas, FigureCanvasAgg), "draw frames on a figure made by _figure"
    canvas.draw()
    return Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy())


def _gif(frames: Sequence[Image.Image], ms: int) -> bytes:
    """An endlessly looping GIF; one shared palette, no dithering (flat colours stay flat)."""
    if not frames:
        raise ValueError("frames must not be empty")
    strip = Image.new("RGB", (frames[0].width, frames[0].height * len(frames)))
    for n, f in enumerate(frames):
        strip.paste(f, (0, n * f.height))
    palette = strip.quantize(colors=64, method=Image.Quantize.MEDIANCUT,
                             dither=Image.Dither.NONE)
    quantized = [f.quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    durations = [ms] * (len(frames) - 1) + [ms * HOLD]
    out = io.BytesIO()
    quantized[0].save(out, format="GIF", save_all=True, append_images=quantized[1:],
                      duration=durations, loop=0, optimize=False, disposal=1)
    return out.getvalue()


def _draw_window_panel(ax: Axes, size: int, kernel_size: int, stride: int, padding: int,
                       dilation: int, frames: Sequence[WindowFrame], t: int) -> None:
    n_out = conv_output_size(size, kernel_size, stride, padding, dilation)
    full = size + 2 * padding
    blue, orange = style.COLORS["blue"], style.COLORS["orange"]
    for r in range(full):
        for c in range(full):
            inside = padding <= r < padding + size and padding <= c < padding + size
            _cell(ax, r, c, facecolor="white" if inside else "#e8e8e8",
                  edgecolor="#777777" if inside else "#bbbbbb", lw=0.6,
                  ls="-" if inside else (0, (2, 2)))
    frame = frames[t % len(frames)]
    for r, c in frame.taps:
        _cell(ax, r, c, facecolor=blue, alpha=0.55, edgecolor=blue, lw=1.0)
    span = dilation * (kernel_size - 1) + 1
    r0, c0 = frame.origin
    ax.add_patch(Rectangle((c0, -r0 - span), span, span, fill=False, edgecolor=orange, lw=1.6))
    x0 = full + 1.0  # the output grid starts here
    done = t % len(frames)
    for idx, f in enumerate(frames):
        i, j = f.output
        face = blue if idx == done else ("#c6dbef" if idx < done else "white")
        _cell(ax, i, x0 + j, facecolor=face, edgecolor="#777777", lw=0.6)
    ax.text(full / 2, 0.4, f"input {size}×{size}", ha="center", fontsize=8)
    ax.text(x0 + n_out / 2, 0.4, f"output {n_out}×{n_out}", ha="center", fontsize=8)
    ax.set_xlim(-0.3, x0 + max(n_out, 2) + 0.3)
    ax.set_ylim(-full - 0.3, 1.4)
    ax.set_aspect("equal")
    ax.axis("off")


def sliding_animation(cases: Sequence[Mapping[str, int]], *, height: float = 2.4,
                      dpi: int = DPI, ms: int = FRAME_MS) -> bytes:
    """The window sliding over the padded input, one panel per case, as GIF bytes.

    Frame ``t`` shows stop ``t`` of :func:`window_frames` in every panel (a panel with fewer
    stops starts over): the taps read (blue), the span they cover (orange frame), and the
    output cell written (dark blue; the ones already written light blue).

    Args:
        cases: mappings with ``size`` and ``kernel_size`` and optional ``stride``,
            ``padding``, ``dilation`` (the keywords of :func:`window_frames`).
        height: inches per panel row; the width is :data:`convlab.viz.style.WIDTH`.
        dpi, ms: the frames' resolution and the time each is shown.

    Returns:
        the GIF's bytes: ``max(n_out²)`` frames over the cases.
    """
    if not cases:
        raise ValueError("cases must not be empty")
    settings = [(c["size"], c["kernel_size"], c.get("stride", 1), c.get("padding", 0),
                 c.get("dilation", 1)) for c in cases]
    stops = [window_frames(*s) for s in settings]
    style.apply()
    fig = _figure((style.WIDTH, height), dpi)
    axes = fig.subplots(1, len(cases), squeeze=False)[0]
    images = []
    for t in range(max(len(f) for f in stops)):
        for ax, (n, k, s, p, d), frames in zip(axes, settings, stops, strict=True):
            ax.clear()
            _draw_window_panel(ax, n, k, s, p, d, frames, t)
            ax.set_title(f"k = {k}, p = {p}, s = {s}, d = {d}", fontsize=9)
        fig.tight_layout(pad=0.4)
        images.append(_frame_image(fig))
    return _gif(images, ms)


class _ValuesPanel:
    """A grid of values on ``ax`` (colour and number per cell), updated in place per frame."""

    def __init__(self, ax: Axes, shape: tuple[int, int], norm: TwoSlopeNorm,
                 title: str = "") -> None:
        self.norm = norm
        self.image = ax.imshow(np.zeros(shape), cmap="RdBu_r", norm=norm)
        self.texts = {(r, c): ax.text(c, r, "", ha="center", va="center", fontsize=7)
                      for r, c in np.ndindex(*shape)}
        h, w = shape
        ax.set_xticks(np.arange(-0.5, w, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, h, 1), minor=True)
        ax.grid(which="minor", color="0.75", linewidth=0.5)
        ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
        for side in ax.spines.values():
            side.set_visible(False)
        self.title = ax.set_title(title, fontsize=9)

    def show(self, a: np.ndarray, title: str | None = None) -> None:
        """Show ``a`` (of the panel's shape); zeros are left blank."""
        self.image.set_data(a)
        for (r, c), v in np.ndenumerate(a):
            text = self.texts[(r, c)]
            text.set_text(f"{v:g}" if v != 0 else "")
            text.set_color("white" if abs(v) > 0.6 * float(self.norm.vmax) else "black")
        if title is not None:
            self.title.set_text(title)


def _frame(xy: tuple[float, float], size: float, color: str, lw: float) -> Rectangle:
    """An unfilled square with its top-left corner at image coordinates ``xy`` (col, row)."""
    return Rectangle((xy[0] - 0.5, xy[1] - 0.5), size, size, fill=False, edgecolor=color, lw=lw)


def _grid_size(height: float, rows: int, columns: Sequence[int]) -> tuple[float, float]:
    """A figure size in which panels of ``columns`` cells, the tallest ``rows`` high, share one
    cell size (at most :data:`convlab.viz.style.WIDTH` wide)."""
    cell = (height - 0.45) / rows
    return min(style.WIDTH, cell * sum(columns) + 0.45 * len(columns)), height


def scatter_animation(x: torch.Tensor, w: torch.Tensor, stride: int, padding: int = 0,
                      output_padding: int = 0, *, height: float = 2.6, dpi: int = VALUES_DPI,
                      ms: int = FRAME_MS) -> bytes:
    """A transposed convolution built stamp by stamp, as GIF bytes (one channel, dilation 1).

    Frame ``t`` highlights input cell ``t`` of :func:`stamp_frames` (row-major), draws its stamp
    ``x[i, j]·w`` on the canvas and the running sum of the stamps so far; a green frame marks
    the output, ``padding`` cells in from the canvas's top-left corner. The last frame's sum
    equals ``conv_transpose2d(x, w, stride=stride, padding=padding,
    output_padding=output_padding)`` inside the green frame (checked when drawing).

    Args:
        x: ``(H, H)`` input; w: ``(k, k)`` kernel.
        stride, padding, output_padding: of the transposed convolution.

    Returns:
        the GIF's bytes: ``H²`` frames.
    """
    if x.ndim != 2 or x.shape[0] != x.shape[1]:
        raise ValueError(f"x must be a square (H, H) tensor, got shape {tuple(x.shape)}")
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError(f"w must be a square (k, k) tensor, got shape {tuple(w.shape)}")
    x64, w64 = x.detach().double(), w.detach().double()
    n, k = x64.shape[0], w64.shape[0]
    stamps = stamp_frames(n, k, stride, padding, output_padding)
    n_out = conv_transpose_output_size(n, k, stride, padding, output_padding)
    length = max(canvas_size(n, k, stride), padding + n_out)
    canvas = np.zeros((length, length))
    added = []
    for f in stamps:
        stamp = np.zeros_like(canvas)
        for (r, c), weight in zip(f.cells, w64.flatten().tolist(), strict=True):
            stamp[r, c] = float(x64[f.input]) * weight
        canvas = canvas + stamp
        added.append((stamp, canvas))
    expected = conv_transpose2d(x64[None, None], w64[None, None], stride=stride, padding=padding,
                                output_padding=output_padding)[0, 0].numpy()
    if not np.allclose(canvas[padding:padding + n_out, padding:padding + n_out], expected):
        raise AssertionError("the stamps do not add up to conv_transpose2d")
    top = max(float(np.abs(canvas).max()), float(x64.abs().max()), 1e-12)
    norm = TwoSlopeNorm(0.0, -top, top)
    style.apply()
    fig = _figure(_grid_size(height, length, (n, length, length)), dpi)
    axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [n, length, length]})
    green, red = style.COLORS["green"], style.COLORS["red"]
    source = _ValuesPanel(axes[0], (n, n), norm, "input x")
    source.show(x64.numpy())
    stamp_panel = _ValuesPanel(axes[1], (length, length), norm)
    sum_panel = _ValuesPanel(axes[2], (length, length), norm)
    axes[2].add_patch(_frame((padding, padding), n_out, green, 2.2))
    current = axes[0].add_patch(_frame((0, 0), 1, red, 2.0))
    landing = [ax.add_patch(_frame((0, 0), k, red, 1.6)) for ax in axes[1:]]
    images = []
    for f, (stamp, total) in zip(stamps, added, strict=True):
        i, j = f.input
        current.set_xy((j - 0.5, i - 0.5))
        for frame in landing:
            frame.set_xy((f.origin[1] - 0.5, f.origin[0] - 0.5))
        stamp_panel.show(stamp, f"stamp x[{i},{j}]·w at ({f.origin[0]}, {f.origin[1]})")
        sum_panel.show(total, f"sum of {i * n + j + 1} stamps")
        if not images:  # the first frame's layout holds for all (nothing else moves)
            fig.tight_layout(pad=0.4)
            fig.tight_layout(pad=0.4)
        images.append(_frame_image(fig))
    return _gif(images, ms)


def zero_insertion_animation(x: torch.Tensor, w: torch.Tensor, stride: int, padding: int = 0,
                             output_padding: int = 0, *, height: float = 2.6, dpi: int = VALUES_DPI,
                             ms: int = FRAME_MS) -> bytes:
    """The same transposed convolution gathered: a stride-1 window over the zero-inserted input.

    The canvas is :func:`convlab.viz.transposed.zero_insertion_canvas` (``s − 1`` zeros between
    the input values, ``k − 1 − p`` around, ``output_padding`` more at the bottom and right);
    frame ``t`` shows stop ``t`` of :func:`window_frames` over it (stride 1, no padding), the
    flipped kernel's window (red frame) and the output cells computed so far. The window's
    stops number ``conv_transpose_output_size(H, k, s, p, output_padding)²`` (checked), and
    the outputs equal ``conv_transpose2d`` (checked when drawing).

    Args:
        x: ``(H, H)`` input; w: ``(k, k)`` kernel of the transposed convolution.
        stride, padding, output_padding: of the transposed convolution (``0 ≤ p ≤ k − 1``).

    Returns:
        the GIF's bytes: one frame per output cell.
    """
    if x.ndim != 2 or x.shape[0] != x.shape[1]:
        raise ValueError(f"x must be a square (H, H) tensor, got shape {tuple(x.shape)}")
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError(f"w must be a square (k, k) tensor, got shape {tuple(w.shape)}")
    x64, w64 = x.detach().double(), w.detach().double()
    n, k = x64.shape[0], w64.shape[0]
    canvas, roles = zero_insertion_canvas(x64, k, stride, padding, output_padding)
    length = canvas.shape[0]
    stops = window_frames(length, k)
    n_out = conv_transpose_output_size(n, k, stride, padding, output_padding)
    if len(stops) != n_out * n_out:
        raise AssertionError("the window's stops do not match the transposed output size")
    flipped = w64.flip(0, 1).numpy()
    c = canvas.numpy()
    out = np.zeros((n_out, n_out))
    for f in stops:
        out[f.output] = sum(c[r, q] * wt for (r, q), wt in zip(f.taps, flipped.flat, strict=True))
    expected = conv_transpose2d(x64[None, None], w64[None, None], stride=stride, padding=padding,
                                output_padding=output_padding)[0, 0].numpy()
    if not np.allclose(out, expected):
        raise AssertionError("the gathered outputs do not equal conv_transpose2d")
    top = max(float(np.abs(out).max()), float(np.abs(c).max()), 1e-12)
    norm = TwoSlopeNorm(0.0, -top, top)
    style.apply()
    fig = _figure(_grid_size(height, length, (length, k, n_out)), dpi)
    axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [length, k, n_out]})
    red, grey = style.COLORS["red"], style.COLORS["grey"]
    _ValuesPanel(axes[0], (length, length), norm,
                 f"s − 1 = {stride - 1} zeros inserted\nk − 1 − p = {k - 1 - padding} "
                 "padding").show(c)
    for (r, q), kind in np.ndenumerate(roles.numpy()):
        if kind != 1:  # an inserted (0) or a padding (2) zero
            axes[0].add_patch(Rectangle((q - 0.5, r - 0.5), 1, 1, facecolor=grey,
                                        alpha=0.35 if kind == 0 else 0.12, lw=0))
    _ValuesPanel(axes[1], (k, k), norm, "w flipped").show(flipped)
    out_panel = _ValuesPanel(axes[2], (n_out, n_out), norm, "output")
    window = axes[0].add_patch(_frame((0, 0), k, red, 1.8))
    written = axes[2].add_patch(_frame((0, 0), 1, red, 1.8))
    shown = np.zeros_like(out)
    images = []
    for f in stops:
        (r0, c0), (i, j) = f.origin, f.output
        window.set_xy((c0 - 0.5, r0 - 0.5))
        written.set_xy((j - 0.5, i - 0.5))
        shown[i, j] = out[i, j]
        out_panel.show(shown)
        if not images:  # the first frame's layout holds for all (nothing else moves)
            fig.tight_layout(pad=0.4)
            fig.tight_layout(pad=0.4)
        images.append(_frame_image(fig))
    return _gif(images, ms)


def show(gif: bytes) -> Any:
    """The GIF as an ``IPython.display.Image`` (shown by a notebook, or by a book page as an
    image file)."""
    from IPython.display import Image as IPythonImage

    return IPythonImage(data=gif, format="gif")
