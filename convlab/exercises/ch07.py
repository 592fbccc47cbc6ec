"""Chapter 7 exercises (``notebooks/ch07/deformable_convolution.ipynb``), in notebook order.

Conventions stated in the notebook (``torchvision.ops.deform_conv2d``'s): positions are
``(y, x)`` in pixels; a sample mixes its four neighbours bilinearly, a neighbour outside the image
counts as 0 (so a sample at ``y ≤ −1``, ``y ≥ H``, ``x ≤ −1`` or ``x ≥ W`` is 0); the offset
tensor has ``2·kH·kW`` channels, tap ``k = i·kW + j`` (row-major) owning channels ``2k`` (Δy) and
``2k + 1`` (Δx); a mask has ``kH·kW`` channels, one per tap. Stride and dilation are 1 and there
is one offset group. References run in float64 on convlab.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from convlab.functional import conv2d as _conv2d
from convlab.functional import deform_conv2d as _deform_conv2d
from convlab.models.small import SmallNet

from .apis import CONV, UNFOLD, forbid
from .arrays import f64, like
from .compare import StudentOutputError, to_plain_outputs, to_student_value
from .spec import Case, Exercise, Mistake, Outputs, changed, declare, exercise
from .training import Training, training_check

#: Library resampling and deformable convolutions.
SAMPLING = ("torch.nn.functional.grid_sample", "torch.grid_sampler",
            "torch.nn.functional.interpolate", "convlab.functional.deform_conv2d",
            "convlab.functional.deform.deform_conv2d",
            "convlab.functional.deform.deformable_columns")


# -- 1. bilinear sampling ----------------------------------------------------------------------
def _sample_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for h, w, p, spread in ((5, 6, 12, 0.0), (4, 4, 20, 1.5), (7, 3, 15, 1.0), (1, 5, 8, 0.5)):
        py = rng.uniform(-spread - 0.2, h - 1 + spread + 0.2, p)
        px = rng.uniform(-spread - 0.2, w - 1 + spread + 0.2, p)
        py[:2], px[:2] = np.floor(py[:2]), np.floor(px[:2])  # two samples on exact pixels
        cases.append(Case.of(f"{h}×{w} image, {p} samples" + (", some outside" if spread else ""),
                             image=rng.standard_normal((h, w)).astype(np.float32),
                             py=py.astype(np.float32), px=px.astype(np.float32)))
    return cases


def _sample_ref(c: Case, border: str = "zero", swap: bool = False, nearest: bool = False
                ) -> Outputs:
    img = np.asarray(c.image, dtype=np.float64)
    h, w = img.shape
    py, px = (c.px, c.py) if swap else (c.py, c.px)
    py, px = np.asarray(py, dtype=np.float64), np.asarray(px, dtype=np.float64)
    out = np.zeros(len(py))
    for n, (y, x) in enumerate(zip(py, px, strict=True)):
        if border == "clamp":
            y, x = min(max(y, 0.0), h - 1.0), min(max(x, 0.0), w - 1.0)
        if nearest:
            y, x = math.floor(y), math.floor(x)
        y0, x0 = math.floor(y), math.floor(x)
        for yy in (y0, y0 + 1):
            for xx in (x0, x0 + 1):
                wt = max(0.0, 1 - abs(y - yy)) * max(0.0, 1 - abs(x - xx))
                if 0 <= yy < h and 0 <= xx < w:
                    out[n] += wt * img[yy, xx]
    return (out.astype(np.float32),)


def _outside(c: Case) -> bool:
    h, w = c.image.shape
    return bool(np.any((c.py < 0) | (c.py > h - 1) | (c.px < 0) | (c.px > w - 1)))


@exercise(points=15, cases=_sample_cases, reference=_sample_ref,
          forbidden=forbid(SAMPLING),
          mistakes=(
              Mistake("border-clamped",
                      "samples outside the image were clamped to the border: a neighbour outside "
                      "counts as 0, so a sample fades out within one pixel of the border",
                      lambda c: _sample_ref(c, border="clamp"), when=_outside),
              Mistake("axes-swapped",
                      "y and x are swapped: py is the row (first index), px the column",
                      lambda c: _sample_ref(c, swap=True)),
              Mistake("nearest-not-bilinear",
                      "the value is read at the rounded-down pixel: mix the four neighbours with "
                      "weights (1 − |Δy|)(1 − |Δx|)",
                      lambda c: _sample_ref(c, nearest=True))),
          title="bilinear sampling",
          covers="1×5 to 7×3 images, samples inside, on exact pixels and up to 1.7 pixels outside",
          summary="bilinear interpolation at fractional positions with torchvision's border rule")
def bilinear_sample(image, py, px):
    """Bilinear samples of an image at fractional positions (torchvision's border rule).

    Inputs:
    - image: (H, W) float tensor
    - py, px: (P,) float tensors, the rows and columns of P sample positions

    Returns:
    - (P,) tensor: value[n] = sum over the four neighbours (y, x) of (py[n], px[n]) of
        max(0, 1 - |py[n] - y|) * max(0, 1 - |px[n] - x|) * image[y, x],
      where a neighbour outside the image contributes 0.

    Ours is about 10 lines, vectorised over the samples.
    """


# -- 2. the deformable convolution -----------------------------------------------------------
def _deform_cases(rng: np.random.Generator) -> list[Case]:
    specs = [  # (N, C_in, C_out, H, W, (kH, kW), padding, offset scale, mask, bias)
        (2, 3, 4, 6, 5, (3, 3), 1, 1.0, False, True), (1, 2, 2, 5, 5, (3, 3), 0, 0.7, False, False),
        (2, 2, 3, 4, 6, (2, 2), 1, 1.5, True, True), (1, 3, 2, 5, 4, (3, 3), 1, 0.0, False, True),
        (1, 1, 2, 6, 6, (3, 3), 2, 2.0, True, False), (1, 2, 2, 5, 6, (3, 2), 1, 1.0, True, True),
        (2, 2, 3, 4, 5, (1, 3), 0, 1.0, False, True)]
    cases = []
    for n, cin, cout, h, w, (kh, kw), p, scale, with_mask, with_bias in specs:
        ho, wo = h + 2 * p - kh + 1, w + 2 * p - kw + 1
        cases.append(Case.of(
            f"N={n}, {cin}→{cout}, {h}×{w}, {kh}×{kw} kernel, padding {p}, offsets ×{scale}"
            + (", mask" if with_mask else ""),
            x=rng.standard_normal((n, cin, h, w)).astype(np.float32),
            offset=(scale * rng.standard_normal((n, 2 * kh * kw, ho, wo))).astype(np.float32),
            weight=rng.standard_normal((cout, cin, kh, kw)).astype(np.float32),
            bias=rng.standard_normal(cout).astype(np.float32) if with_bias else None,
            padding=p,
            mask=rng.uniform(0, 1, (n, kh * kw, ho, wo)).astype(np.float32) if with_mask else None))
    # Gradient cases (float64): tap 0 samples exactly on the border y = −1 (top row of outputs)
    # or x = −1 (left column), where its value is 0 but its slope would not be without the
    # border rule, and inside at integer rows or columns elsewhere.
    for n, cin, cout, h, w, (kh, kw), p, with_mask, axis in [
            (1, 2, 3, 5, 6, (3, 3), 0, True, 0), (2, 1, 2, 4, 5, (2, 3), 1, False, 1)]:
        ho, wo = h + 2 * p - kh + 1, w + 2 * p - kw + 1
        offset = 0.6 * rng.standard_normal((n, 2 * kh * kw, ho, wo))
        offset[:, axis] = p - 1.0  # tap 0 at h − 1 (axis 0) or w − 1 (axis 1)
        offset[:, 1 - axis] = rng.uniform(0.1, 0.9, (n, ho, wo))  # between pixels on the other
        cases.append(Case.of(
            f"N={n}, {cin}→{cout}, {h}×{w}, {kh}×{kw} kernel, padding {p}, float64, samples on "
            f"{'y' if axis == 0 else 'x'} = −1, gradient w.r.t. the offsets",
            x=rng.standard_normal((n, cin, h, w)), offset=offset,
            weight=rng.standard_normal((cout, cin, kh, kw)), bias=rng.standard_normal(cout),
            padding=p, mask=rng.uniform(0.2, 1, (n, kh * kw, ho, wo)) if with_mask else None))
    return cases


def _gradient_case(c: Case) -> bool:
    """The float64 cases compare the gradient too (float64 keeps border positions exact and the
    gradient's tolerance meaningful)."""
    return np.asarray(c.x).dtype == np.float64


def _offset_gradient(c: Case) -> np.ndarray:
    """d(sum of the output)/d(offset), by autograd through convlab's deformable convolution."""
    with torch.enable_grad():
        off = f64(c.offset).requires_grad_(True)
        y = _deform_conv2d(f64(c.x), off, f64(c.weight), f64(c.bias), padding=c.padding,
                           mask=f64(c.mask))
        (g,) = torch.autograd.grad(y.sum(), off)
    return like(g, c.offset)


def _deform_ref(c: Case, offset: np.ndarray | None = None) -> Outputs:
    off = c.offset if offset is None else offset
    y = _deform_conv2d(f64(c.x), f64(off), f64(c.weight), f64(c.bias), padding=c.padding,
                       mask=f64(c.mask))
    if _gradient_case(c) and offset is None:
        return like(y, c.x), _offset_gradient(c)
    return (like(y, c.x),)


def _line_sample(lines: np.ndarray, pos: float) -> np.ndarray:
    """Linear samples of the rows of ``lines`` (C, L) at ``pos``, zero outside: (C,)."""
    lo = math.floor(pos)
    t = pos - lo
    out = np.zeros(lines.shape[0])
    for at, wt in ((lo, 1 - t), (lo + 1, t)):
        if 0 <= at < lines.shape[1]:
            out += wt * lines[:, at]
    return out


def _border_gradient_kept(c: Case) -> Outputs:
    """The gradient as if a sample exactly on y = −1 (x = −1) were not set to 0: its weight
    ``l`` toward row (column) 0 is 0 but its slope is 1, which adds the linear sample of row
    (column) 0 at the other coordinate, times the tap's weights summed over the outputs."""
    out, grad = _deform_ref(c)
    grad = grad.astype(np.float64)
    x, off = np.asarray(c.x, dtype=np.float64), np.asarray(c.offset, dtype=np.float64)
    h, w = x.shape[-2:]
    kh, kw = c.weight.shape[-2:]
    taps = np.asarray(c.weight, dtype=np.float64).sum(axis=0)  # (C_in, kH, kW)
    for n, k, r, q in np.ndindex(off.shape[0], kh * kw, *off.shape[2:]):
        i, j = divmod(k, kw)
        py = r - c.padding + i + off[n, 2 * k, r, q]
        px = q - c.padding + j + off[n, 2 * k + 1, r, q]
        m = 1.0 if c.mask is None else float(c.mask[n, k, r, q])
        if py == -1 and -1 < px < w:
            grad[n, 2 * k, r, q] += m * taps[:, i, j] @ _line_sample(x[n, :, 0, :], px)
        if px == -1 and -1 < py < h:
            grad[n, 2 * k + 1, r, q] += m * taps[:, i, j] @ _line_sample(x[n, :, :, 0], py)
    return out, grad.astype(c.offset.dtype)


def _forward(when: Callable[[Case], bool]) -> Callable[[Case], bool]:
    """``when`` on the cases compared by their values alone (a forward mistake's variant
    computes no gradient)."""
    return lambda c: not _gradient_case(c) and when(c)


@dataclasses.dataclass(frozen=True)
class GradientExercise(Exercise):
    """An exercise whose float64 cases also return the gradient of the output's sum with
    respect to ``offset`` (the student's function runs with ``offset.requires_grad``)."""

    def run(self, func: Callable[..., Any], case: Case) -> Outputs:
        named = self.named(case)
        if not _gradient_case(named):
            return super().run(func, case)
        args = [to_student_value(a) for a in named.args]
        kwargs = {k: to_student_value(v) for k, v in named.kwargs.items()}
        if "offset" in kwargs:
            offset = kwargs["offset"].requires_grad_(True)
        else:
            offset = args[named.names.index("offset")].requires_grad_(True)
        with torch.enable_grad():  # whatever the notebook set
            out = func(*args, **kwargs)
            outputs = to_plain_outputs(out)
            if not (isinstance(out, torch.Tensor) and out.requires_grad):
                raise StudentOutputError(
                    "no gradient reaches the offsets: the output must depend on offset through "
                    "differentiable tensor operations (no .detach(), .item(), .numpy() or "
                    "rounding of the positions before the bilinear weights)")
            (grad,) = torch.autograd.grad(out.sum(), offset, allow_unused=True)
        if grad is None:
            raise StudentOutputError("no gradient reaches the offsets: the output does not "
                                     "depend on them through autograd")
        return (*outputs, grad.detach().numpy().copy())


def _pairs_swapped(c: Case) -> Outputs:
    off = c.offset.reshape(c.offset.shape[0], -1, 2, *c.offset.shape[2:])[:, :, ::-1]
    return _deform_ref(c, off.reshape(c.offset.shape))


def _planar_layout(c: Case) -> Outputs:  # all Δy first, then all Δx
    n, ch, ho, wo = c.offset.shape
    planar = c.offset.reshape(n, 2, ch // 2, ho, wo).transpose(0, 2, 1, 3, 4)
    return _deform_ref(c, np.ascontiguousarray(planar).reshape(c.offset.shape))


def _padding_ignored(c: Case) -> Outputs:  # base (h + i, w + j): as if padded bottom-right
    p = c.padding
    return _deform_ref(c.with_(x=np.pad(c.x, ((0, 0), (0, 0), (0, 2 * p), (0, 2 * p))), padding=0))


def _moved(c: Case) -> bool:
    return bool(np.any(c.offset != 0))


@exercise(points=25, cases=_deform_cases, reference=_deform_ref, kind=GradientExercise,
          forbidden=forbid(CONV, UNFOLD, SAMPLING),
          mistakes=(
              Mistake("offset-pairs-swapped",
                      "Δy and Δx are swapped: channel 2k is the row offset Δy of tap k, channel "
                      "2k + 1 its column offset Δx", _pairs_swapped, when=_forward(_moved)),
              Mistake("offset-layout-planar",
                      "the offsets were read as all Δy then all Δx: torchvision interleaves them, "
                      "(Δy, Δx) of tap 0, then of tap 1, …", _planar_layout,
                      when=_forward(_moved)),
              Mistake("offsets-ignored",
                      "the offsets are ignored: that is the vanilla convolution; tap (i, j) of "
                      "output (h, w) reads x at (h − p + i + Δy, w − p + j + Δx)",
                      changed(_deform_ref, offset=lambda c: np.zeros_like(c.offset)),
                      when=_forward(_moved)),
              Mistake("mask-ignored",
                      "the mask is ignored: multiply each tap's sample by its mask value",
                      changed(_deform_ref, mask=lambda c: None),
                      when=_forward(lambda c: c.mask is not None)),
              Mistake("padding-ignored",
                      "the padding is ignored: the base position of tap (i, j) of output (h, w) is "
                      "(h − p + i, w − p + j)", _padding_ignored,
                      when=_forward(lambda c: c.padding > 0)),
              Mistake("border-gradient",
                      "the values are right but the gradient with respect to the offsets is not "
                      "0 for a sample exactly on y = −1 or x = −1: such a sample is 0, gradient "
                      "included (multiply by (py > −1)·(py < H)·(px > −1)·(px < W))",
                      _border_gradient_kept, when=_gradient_case)),
          title="deformable convolution", rtol=1e-3, atol=1e-4,
          covers="batch 1–2, 1–3 channels in, 2–4 out, square and non-square kernels (1×3 to "
                 "3×3), padding 0–2, offsets up to ±6 pixels, with and without mask and bias; "
                 "float32 and float64, the float64 cases also comparing the gradient with "
                 "respect to the offsets at samples exactly on y = −1 and x = −1",
          summary="the deformable convolution (DCNv1, DCNv2 with a mask) from bilinear samples, "
                  "without a library convolution or resampler")
def deform_conv2d(x, offset, weight, bias=None, padding=0, mask=None):
    """Deformable convolution, stride 1, dilation 1, one offset group (torchvision's layout).

    Inputs:
    - x: (N, C_in, H, W); weight: (C_out, C_in, kH, kW); bias: (C_out,) or None
    - padding: int p >= 0; the output is H_out = H + 2p - kH + 1 by W_out = W + 2p - kW + 1
    - offset: (N, 2*kH*kW, H_out, W_out); tap k = i*kW + j has dy = offset[:, 2k],
      dx = offset[:, 2k + 1]
    - mask: (N, kH*kW, H_out, W_out) or None (all ones)

    Returns:
    - (N, C_out, H_out, W_out):
        out[n, o, h, w] = bias[o] + sum_{c, i, j} weight[o, c, i, j] * mask[n, k, h, w]
                          * sample(x[n, c], h - p + i + dy[n, k, h, w], w - p + j + dx[n, k, h, w])
      with sample() the bilinear sampling of exercise 1 (zero outside the image). Write the
      bilinear weights as (1 - l) and l with l = p - floor(p): at integer positions, where
      every offset starts, that gives torchvision's gradient (the cell of floor(p)); and set
      a sample at y <= -1, y >= H, x <= -1 or x >= W to exactly 0, gradient included.

    Ours is about 20 lines: sample every tap for every output pixel, then one einsum.
    """


# -- 3. offsets that make a dilated convolution ---------------------------------------------------
def _dilation_cases(rng: np.random.Generator) -> list[Case]:
    specs = [(3, 2, 5, 5), (3, 3, 4, 6), (5, 2, 3, 3), (5, 3, 4, 4), (3, 1, 2, 3)]  # odd k
    return [Case.of(f"k={k}, dilation {d}, {ho}×{wo} output", k=k, d=d, h_out=ho, w_out=wo,
                    n=int(rng.integers(1, 4))) for k, d, ho, wo in specs]


def _dilation_ref(c: Case, factor: int | None = None, swap: bool = False,
                  from_corner: bool = False) -> Outputs:
    f = (c.d - 1) if factor is None else factor
    centre = 0.0 if from_corner else (c.k - 1) / 2
    taps = [(i - centre, j - centre) for i in range(c.k) for j in range(c.k)]
    pairs = [(b, a) if swap else (a, b) for a, b in taps]
    off = np.asarray(pairs, dtype=np.float32).reshape(2 * c.k * c.k) * f
    return (np.broadcast_to(off[None, :, None, None],
                            (c.n, 2 * c.k * c.k, c.h_out, c.w_out)).astype(np.float32),)


@exercise(points=10, cases=_dilation_cases, reference=_dilation_ref,
          forbidden=forbid(SAMPLING),
          mistakes=(
              Mistake("factor-d",
                      "the taps moved by d·p_n: they already sit at p_n, so the offset that puts "
                      "them at d·p_n is (d − 1)·p_n",
                      lambda c: _dilation_ref(c, factor=c.d)),
              Mistake("pairs-swapped",
                      "the pairs are (Δx, Δy): torchvision's order is (Δy, Δx) per tap",
                      lambda c: _dilation_ref(c, swap=True)),
              Mistake("from-corner",
                      "the offsets stretch the grid from its top-left tap: stretch it about its "
                      "centre, p_n = (i − (k − 1)/2, j − (k − 1)/2)",
                      lambda c: _dilation_ref(c, from_corner=True), when=lambda c: c.d > 1)),
          title="dilation as offsets",
          covers="k = 3 and 5, dilation 1–3, batch 1–3",
          summary="the constant offsets that turn a deformable convolution with padding "
                  "p = (k − 1)/2 into a dilated one with padding d·(k − 1)/2")
def dilation_offsets(k, d, h_out, w_out, n=1):
    """Offsets that make deform_conv2d(x, offset, w, padding=(k-1)/2) a dilation-d convolution.

    Inputs:
    - k: kernel size; d: dilation; h_out, w_out: the output size; n: batch size

    Returns:
    - (n, 2*k*k, h_out, w_out) float32 tensor, the same at every position: tap k' = i*k + j
      gets (dy, dx) = (d - 1) * (i - (k - 1)/2, j - (k - 1)/2), which moves its position
      relative to the window's centre from p_n to d * p_n.
    """


# -- 4. the offset-and-mask branch of DCNv2 -------------------------------------------------------
def _branch_cases(rng: np.random.Generator) -> list[Case]:
    specs = [(2, 3, 6, 5, 3, 1), (1, 2, 5, 5, 3, 0), (2, 4, 4, 4, 2, 1), (1, 1, 7, 6, 3, 1)]
    return [Case.of(f"N={n}, C={c}, {h}×{w}, k={k}, padding {p}",
                    x=rng.standard_normal((n, c, h, w)).astype(np.float32),
                    offset_weight=(0.3 * rng.standard_normal((3 * k * k, c, k, k))).astype(
                        np.float32),
                    offset_bias=rng.standard_normal(3 * k * k).astype(np.float32), padding=p)
            for n, c, h, w, k, p in specs]


def _branch_ref(c: Case, sigmoid: bool = True, mask_first: bool = False) -> Outputs:
    out = _conv2d(f64(c.x), f64(c.offset_weight), f64(c.offset_bias), padding=c.padding)
    kk = out.shape[1] // 3
    offset, raw = (out[:, kk:], out[:, :kk]) if mask_first else (out[:, :2 * kk], out[:, 2 * kk:])
    mask = torch.sigmoid(raw) if sigmoid else raw
    return like(offset, c.x), like(mask, c.x)


@exercise(points=10, cases=_branch_cases, reference=_branch_ref,
          mistakes=(
              Mistake("mask-without-sigmoid",
                      "the mask is the raw convolution output: pass it through a sigmoid, so "
                      "that every tap's weight is in (0, 1)",
                      lambda c: _branch_ref(c, sigmoid=False)),
              Mistake("mask-channels-first",
                      "the mask was taken from the first kH·kW channels: DCNv2's first 2·kH·kW "
                      "channels are the offsets, the last kH·kW the mask",
                      lambda c: _branch_ref(c, mask_first=True))),
          title="offsets and mask from the input",
          covers="batch 1–2, 1–4 channels, 2×2 and 3×3 kernels, padding 0–1",
          summary="DCNv2's branch: one convolution of the input, split into 2k² offset channels "
                  "and k² sigmoid mask channels")
def offsets_and_mask(x, offset_weight, offset_bias, padding=0):
    """DCNv2's offset-and-mask branch: a convolution of the input split in two.

    Inputs:
    - x: (N, C, H, W); offset_weight: (3*kH*kW, C, kH, kW); offset_bias: (3*kH*kW,)
    - padding: int, the padding of the deformable layer this branch serves

    Returns:
    - (offset, mask): with out = conv2d(x, offset_weight, offset_bias, padding=padding),
        offset = out[:, :2*kH*kW]                 (N, 2*kH*kW, H_out, W_out)
        mask = sigmoid(out[:, 2*kH*kW:])          (N, kH*kW, H_out, W_out)
      F.conv2d may be used here.
    """


# -- 5. the training check: a deformable layer in a digits network ------------------------------
def _deform_default(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor,
                    bias: torch.Tensor | None = None, padding: int = 0,
                    mask: torch.Tensor | None = None) -> torch.Tensor:
    return _deform_conv2d(x, offset, weight, bias, padding=padding, mask=mask)


class DigitsDeformable(SmallNet):
    """A digits network whose second convolution is deformable, on an injected function.

    ``conv 3×3 (1→8) → ReLU → maxpool 2 → deformable 3×3 (8→16, offsets from a zero-initialised
    3×3 convolution 8→18, its output scaled by 0.1) → ReLU → maxpool 2 → linear (16·2·2 → 10)``.
    The deformable layer is
    ``deform(x, offset, weight, bias, padding=1)`` (default: :func:`convlab.functional.
    deform_conv2d`). Weights are He-scaled normal draws from ``seed``; the offset branch starts
    at zero, so the network starts as a vanilla CNN.

    Shape:
        - Input: ``(N, 1, 8, 8)``; output: ``(N, 10)`` logits
    """

    def __init__(self, deform: object | None = None, seed: int = 0) -> None:
        super().__init__()
        self.deform = _deform_default if deform is None else deform
        g = torch.Generator().manual_seed(seed)

        def he(*shape: int) -> torch.nn.Parameter:
            fan_in = int(np.prod(shape[1:]))
            return torch.nn.Parameter(torch.randn(shape, generator=g) * math.sqrt(2 / fan_in))

        self.conv1_w, self.conv1_b = he(8, 1, 3, 3), torch.nn.Parameter(torch.zeros(8))
        self.deform_w, self.deform_b = he(16, 8, 3, 3), torch.nn.Parameter(torch.zeros(16))
        self.offset_w = torch.nn.Parameter(torch.zeros(18, 8, 3, 3))
        self.offset_b = torch.nn.Parameter(torch.zeros(18))
        self.fc_w, self.fc_b = he(10, 64), torch.nn.Parameter(torch.zeros(10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(F.conv2d(x, self.conv1_w, self.conv1_b, padding=1)), 2)
        # (N, 1, 8, 8) -> (N, 8, 4, 4)
        # (N, 18, 4, 4); scaled by 0.1, as DCNv2 trains its offset branch at 0.1 × the rate
        offset = 0.1 * F.conv2d(x, self.offset_w, self.offset_b, padding=1)
        x = F.relu(self.deform(x, offset, self.deform_w, self.deform_b, padding=1))
        x = F.max_pool2d(x, 2)  # (N, 16, 4, 4) -> (N, 16, 2, 2)
        return F.linear(x.flatten(1), self.fc_w, self.fc_b)  # -> (N, 10)


train_deformable = training_check(
    name="train_deformable", entry="deform_conv2d", points=20,
    training=Training(net=DigitsDeformable, steps=150, optimizer="adam", lr=0.01, bar=0.85),
    summary="your deformable convolution is the second layer of a digits network whose offsets "
            "are learned; the loss curve must track the reference's and the accuracy clear a bar")


EXERCISES = declare(__name__, bilinear_sample, deform_conv2d, dilation_offsets, offsets_and_mask,
                    train_deformable)
