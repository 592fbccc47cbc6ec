"""The book's animations: their frames are the stops conv arithmetic gives, and the GIFs are small.

The window positions are checked against PyTorch's own convolutions (which input cells an
output cell depends on, read from its gradient), not against the module's formulas.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from convlab.analysis import conv_output_size, conv_transpose_output_size
from convlab.viz import animate

MAX_BYTES = 300_000


def _frames(gif: bytes) -> list[np.ndarray]:
    im = Image.open(io.BytesIO(gif))
    assert im.format == "GIF"
    out = []
    for n in range(im.n_frames):
        im.seek(n)
        out.append(np.asarray(im.convert("RGB")))
    return out


def _read_by(n: int, k: int, s: int, p: int, d: int) -> dict[tuple[int, int], set]:
    """For each output cell of F.conv2d, the input cells its value depends on (PyTorch's own
    convolution; a cell counts when the gradient of the output cell with respect to it is not
    zero, with an all-ones kernel)."""
    x = torch.zeros(1, 1, n, n, dtype=torch.float64, requires_grad=True)
    y = F.conv2d(x, torch.ones(1, 1, k, k, dtype=torch.float64), stride=s, padding=p, dilation=d)
    read = {}
    for i in range(y.shape[-2]):
        for j in range(y.shape[-1]):
            (g,) = torch.autograd.grad(y[0, 0, i, j], x, retain_graph=True)
            read[(i, j)] = {tuple(map(int, rc)) for rc in g[0, 0].nonzero().tolist()}
    return read


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 8), k=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 2),
       d=st.integers(1, 3))
def test_window_frames_are_the_stops_of_the_convolution(n: int, k: int, s: int, p: int,
                                                        d: int) -> None:
    if d * (k - 1) + 1 > n + 2 * p:  # no window fits: both refuse
        with pytest.raises(ValueError):
            conv_output_size(n, k, s, p, d)
        with pytest.raises(ValueError):
            animate.window_frames(n, k, s, p, d)
        return
    frames = animate.window_frames(n, k, s, p, d)
    n_out = conv_output_size(n, k, s, p, d)
    assert len(frames) == n_out ** 2
    assert [f.output for f in frames] == [(i, j) for i in range(n_out) for j in range(n_out)]
    assert {f.origin for f in frames} == {(i * s, j * s) for i in range(n_out)
                                          for j in range(n_out)}
    read = _read_by(n, k, s, p, d)
    assert set(read) == {f.output for f in frames}  # PyTorch's output has n_out² cells
    for f in frames:
        assert len(set(f.taps)) == k * k
        assert all(0 <= r < n + 2 * p and 0 <= c < n + 2 * p for r, c in f.taps)
        inside = {(r - p, c - p) for r, c in f.taps if p <= r < n + p and p <= c < n + p}
        assert inside == read[f.output], (f, read[f.output])


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 4), k=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 2),
       op=st.integers(0, 2), d=st.integers(1, 2))
def test_stamp_frames_land_where_the_transposed_convolution_writes(n: int, k: int, s: int,
                                                                   p: int, op: int,
                                                                   d: int) -> None:
    try:
        n_out = conv_transpose_output_size(n, k, s, p, op, d)
    except ValueError:
        with pytest.raises(ValueError):
            animate.stamp_frames(n, k, s, p, op, d)
        return
    frames = animate.stamp_frames(n, k, s, p, op, d)
    assert [f.input for f in frames] == [(i, j) for i in range(n) for j in range(n)]
    length = animate.canvas_size(n, k, s, d)
    w = torch.ones(1, 1, k, k, dtype=torch.float64)
    for f in frames:
        i, j = f.input
        assert f.origin == (s * i, s * j)
        assert all(0 <= r < length and 0 <= c < length for r, c in f.cells)
        impulse = torch.zeros(1, 1, n, n, dtype=torch.float64)
        impulse[0, 0, i, j] = 1.0
        y = F.conv_transpose2d(impulse, w, stride=s, padding=p, output_padding=op, dilation=d)
        assert y.shape[-1] == n_out
        written = {tuple(map(int, rc)) for rc in y[0, 0].nonzero().tolist()}
        kept = {(r - p, c - p) for r, c in f.cells if p <= r < p + n_out and p <= c < p + n_out}
        assert kept == written


def test_the_sliding_animation_has_one_frame_per_stop_and_moves() -> None:
    cases = [dict(size=5, kernel_size=3), dict(size=5, kernel_size=3, padding=1, stride=2),
             dict(size=6, kernel_size=2, stride=2)]
    gif = animate.sliding_animation(cases)
    frames = _frames(gif)
    assert len(frames) == max(conv_output_size(**c) ** 2 for c in cases) == 9
    assert len(gif) < MAX_BYTES
    assert all(not np.array_equal(a, b) for a, b in zip(frames, frames[1:], strict=False))
    durations = []
    im = Image.open(io.BytesIO(gif))
    for n in range(im.n_frames):
        im.seek(n)
        durations.append(im.info["duration"])
    assert durations[-1] == animate.HOLD * durations[0] and im.info.get("loop") == 0


def test_the_sliding_animation_draws_the_window_where_the_frames_say() -> None:
    """One panel, one window of a single tap: the frame's blue cell moves by the stride."""
    blue = np.array([int(animate.style.COLORS["blue"][i:i + 2], 16) for i in (1, 3, 5)])
    gif = animate.sliding_animation([dict(size=4, kernel_size=1, stride=3)])
    frames = _frames(gif)
    stops = animate.window_frames(4, 1, stride=3)
    assert len(frames) == len(stops) == 4
    centres = []
    for frame in frames:
        # the tap is drawn half transparent over white; the output cell in full blue
        near = np.abs(frame.astype(int) - blue).sum(-1) < 40
        rows, cols = near.nonzero()
        centres.append((rows.mean(), cols.mean()))
    # the written output cell moves right, then down, as the stops do (row-major)
    assert centres[1][1] > centres[0][1] and abs(centres[1][0] - centres[0][0]) < 1
    assert centres[2][0] > centres[0][0] and abs(centres[2][1] - centres[0][1]) < 1


def test_the_transposed_animations_add_up_and_stay_small() -> None:
    x = torch.tensor([[1.0, 2.0, 0.0], [3.0, -1.0, 2.0], [0.0, 1.0, -2.0]])
    w = torch.tensor([[1.0, 2.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 2.0]])
    scatter = animate.scatter_animation(x, w, stride=2, padding=1)
    gather = animate.zero_insertion_animation(x, w, stride=2, padding=1, output_padding=1)
    assert len(_frames(scatter)) == 9
    assert len(_frames(gather)) == conv_transpose_output_size(3, 3, 2, 1, 1) ** 2 == 36
    assert len(scatter) < MAX_BYTES and len(gather) < MAX_BYTES


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="cases"):
        animate.sliding_animation([])
    with pytest.raises(ValueError):
        animate.sliding_animation([dict(size=2, kernel_size=3)])
    with pytest.raises(ValueError, match="x must be"):
        animate.scatter_animation(torch.ones(2, 3), torch.ones(3, 3), stride=2)
    with pytest.raises(ValueError, match="w must be"):
        animate.zero_insertion_animation(torch.ones(2, 2), torch.ones(3, 2), stride=2)
    with pytest.raises(TypeError, match="stride"):
        animate.canvas_size(3, 3, stride=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="size"):
        animate.canvas_size(0, 3)
