"""Chapter 8 exercises (``notebooks/ch08/spatially_separable.ipynb``), in notebook order.

Conventions stated in the notebook: a kernel is a ``(kH, kW)`` matrix; a separable kernel is
``outer(column, row)``; factors are *balanced* (``‖column‖ = ‖row‖``) with the column's entry of
largest magnitude positive, as :func:`convlab.analysis.separable_factors` returns them. The
per-channel separable convolution pads the input by ``padding`` zeros on every side and then
runs a valid ``kH × 1`` pass and a valid ``1 × kW`` pass. References run in float64 on convlab.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from convlab.analysis import low_rank_kernel as _low_rank_kernel
from convlab.analysis import separable_factors as _separable_factors
from convlab.functional import conv2d as _conv2d
from convlab.models.small import SmallNet

from .apis import CONV, UNFOLD, forbid
from .arrays import f64, flip, like
from .spec import Case, Mistake, Outputs, changed, declare, exercise
from .training import Training, training_check

#: convlab's own answers to exercises 1 and 3.
CONVLAB_SEPARABLE = ("convlab.analysis.separable_factors", "convlab.analysis.low_rank_kernel",
                     "convlab.analysis.separable.separable_factors",
                     "convlab.analysis.separable.low_rank_kernel")


def _rank_one(rng: np.random.Generator, kh: int, kw: int) -> np.ndarray:
    """A float32 rank-1 kernel whose column factor has one clearly largest entry."""
    c, r = rng.standard_normal(kh), rng.standard_normal(kw)
    c[np.argmax(np.abs(c))] *= 1.5  # no near-tie decides the sign convention
    return np.outer(c, r).astype(np.float32)


# -- 1. separable factors ----------------------------------------------------------------------
def _factor_cases(rng: np.random.Generator) -> list[Case]:
    sobel = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float32)
    shapes = [(3, 5), (7, 4), (1, 4), (4, 1), (3, 3), (5, 5)]  # rectangular first: kH ≠ kW
    return ([Case.of(f"random rank-1 {kh}×{kw}", kernel=_rank_one(rng, kh, kw))
             for kh, kw in shapes]
            + [Case.of("Sobel x", kernel=sobel), Case.of("Sobel x, negated", kernel=-sobel),
               # entries of magnitude below 1: a sign test against 1 instead of 0 shows
               Case.of("small rank-1 3×3",
                       kernel=(0.1 * np.outer([-2.0, -1.0, 3.0], [1.0, 2.0, 1.0])).astype(
                           np.float32)),
               Case.of("Sobel x, scaled by 0.1", kernel=0.1 * sobel)])


def _factor_ref(c: Case, balanced: bool = True, signed: bool = True) -> Outputs:
    column, row = _separable_factors(f64(c.kernel), rtol=1e-5)  # float32 rounding: not rank 1
    if not balanced:  # all of σ₁ in the column
        scale = torch.linalg.norm(column)
        column, row = column * scale, row / scale
    if not signed and float(column[column.abs().argmax()]) > 0:  # the other sign
        column, row = -column, -row
    return like(column, c.kernel), like(row, c.kernel)


@exercise(points=15, cases=_factor_cases, reference=_factor_ref,
          forbidden=forbid(CONVLAB_SEPARABLE),
          mistakes=(
              Mistake("unbalanced-factors",
                      "the factors are not balanced: put √σ₁ in each, column = √σ₁·u₁ and "
                      "row = √σ₁·v₁ (not σ₁·u₁ and v₁)",
                      lambda c: _factor_ref(c, balanced=False)),
              Mistake("sign-not-fixed",
                      "the sign convention is not applied: flip both factors when the column's "
                      "entry of largest magnitude is negative",
                      lambda c: _factor_ref(c, signed=False)),
              Mistake("factors-swapped",
                      "column and row are swapped: the column has kH entries (u₁, the first "
                      "left singular vector), the row kW (v₁)",
                      lambda c: _factor_ref(c)[::-1],
                      when=lambda c: c.kernel.shape[0] != c.kernel.shape[1])),
          title="separable factors",
          covers="Sobel and its negation, random rank-1 kernels from 1×4 to 7×4",
          summary="the column and row factors of a rank-1 kernel from its SVD, balanced and with "
                  "a fixed sign")
def separable_factors(kernel):
    """The factors of a rank-1 kernel: torch.outer(column, row) == kernel.

    Inputs:
    - kernel: (kH, kW) float tensor of rank 1

    Returns:
    - (column, row): tensors of shapes (kH,) and (kW,), the dtype of kernel, with
        column = sqrt(s1) * u1, row = sqrt(s1) * v1   (u1, v1, s1 from the SVD of kernel)
      and, if the entry of column with the largest magnitude is negative, both negated.

    Ours is 5 lines with torch.linalg.svd.
    """


# -- 2. the two-pass per-channel convolution ----------------------------------------------------
def _two_pass_ref(c: Case, transposed: bool = False, flipped: bool = False) -> Outputs:
    col, row = f64(c.column), f64(c.row)
    kernels = torch.einsum("ci,cj->cij", row, col) if transposed else \
        torch.einsum("ci,cj->cij", col, row)  # (C, kH, kW)
    w = kernels[:, None]  # (C, 1, kH, kW): one kernel per channel
    if flipped:
        w = torch.from_numpy(flip(w.numpy()))
    y = _conv2d(f64(c.x), w, padding=c.padding, groups=w.shape[0])
    return (like(y, c.x),)


def _two_pass_cases(rng: np.random.Generator) -> list[Case]:
    specs = [(2, 3, 8, 8, 3, 3, 1), (1, 2, 7, 9, 3, 3, 0), (2, 4, 6, 5, 5, 3, 2),
             (1, 1, 10, 6, 1, 5, 0), (3, 2, 5, 5, 3, 1, 1), (1, 3, 6, 6, 5, 5, 2)]
    return [Case.of(f"N={n}, C={ch}, {h}×{w} input, {kh}×{kw} kernel, padding {p}",
                    x=rng.standard_normal((n, ch, h, w)).astype(np.float32),
                    column=rng.standard_normal((ch, kh)).astype(np.float32),
                    row=rng.standard_normal((ch, kw)).astype(np.float32), padding=p)
            for n, ch, h, w, kh, kw, p in specs]


@exercise(points=20, cases=_two_pass_cases, reference=_two_pass_ref,
          forbidden=forbid(CONV, UNFOLD),
          mistakes=(
              Mistake("passes-swapped",
                      "the passes are swapped: the column factor runs down the rows (a kH × 1 "
                      "pass over H), the row factor along the columns (1 × kW over W)",
                      lambda c: _two_pass_ref(c, transposed=True),
                      when=lambda c: c.column.shape[1] == c.row.shape[1]),
              Mistake("kernel-flipped",
                      "the factors are applied flipped (true convolution): a convolution layer "
                      "cross-correlates, y[i] = Σ_u column[u]·x[i + u]",
                      lambda c: _two_pass_ref(c, flipped=True)),
              Mistake("padding-ignored",
                      "the padding is ignored: pad the input by `padding` zeros on every side "
                      "before the passes",
                      changed(_two_pass_ref, padding=lambda c: 0), when=lambda c: c.padding > 0)),
          title="two-pass separable convolution",
          covers="batch 1–3, 1–4 channels, kernels 1×5 to 5×5 with kH ≠ kW, padding 0–2",
          summary="a per-channel k×k convolution with a rank-1 kernel as a k×1 pass and a 1×k "
                  "pass, without a library convolution")
def separable_conv2d(x, column, row, padding=0):
    """Per-channel convolution with the separable kernels outer(column[c], row[c]), in two passes.

    Inputs:
    - x: (N, C, H, W) float tensor
    - column: (C, kH), the vertical factor of each channel's kernel
    - row: (C, kW), the horizontal factor of each channel's kernel
    - padding: int p >= 0, zeros added on every side of x first

    Returns:
    - (N, C, H + 2p - kH + 1, W + 2p - kW + 1), equal to a depthwise cross-correlation of the
      padded x with kernel[c] = outer(column[c], row[c]):
        t[n, c, i, j] = sum_u column[c, u] * xp[n, c, i + u, j]        (the kH x 1 pass)
        y[n, c, i, j] = sum_v row[c, v] * t[n, c, i, j + v]            (the 1 x kW pass)

    Ours is about 8 lines: a loop over u and one over v, slicing and adding.
    """


# -- 3. the best rank-r kernel ---------------------------------------------------------------
def _low_rank_cases(rng: np.random.Generator) -> list[Case]:
    specs = [((3, 3), 1), ((5, 5), 2), ((4, 6), 1), ((2, 3, 3), 1), ((7, 7), 3), ((3, 5), 3),
             ((2, 2, 4, 4), 2)]
    return [Case.of(f"kernel {'×'.join(map(str, s))}, rank {r}",
                    kernel=rng.standard_normal(s).astype(np.float32), rank=r) for s, r in specs]


def _svd_parts(c: Case) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return torch.linalg.svd(f64(c.kernel), full_matrices=False)


def _low_rank_ref(c: Case) -> Outputs:
    return (like(_low_rank_kernel(f64(c.kernel), c.rank), c.kernel),)


def _low_rank_variant(c: Case, kind: str) -> Outputs:
    u, s, vh = _svd_parts(c)
    r = c.rank
    if kind == "no-sigma":
        out = u[..., :, :r] @ vh[..., :r, :]
    elif kind == "smallest":
        out = (u[..., :, -r:] * s[..., None, -r:]) @ vh[..., -r:, :]
    else:  # "sqrt-sigma"
        out = (u[..., :, :r] * s[..., None, :r].sqrt()) @ vh[..., :r, :]
    return (like(out, c.kernel),)


@exercise(points=15, cases=_low_rank_cases, reference=_low_rank_ref,
          forbidden=forbid(CONVLAB_SEPARABLE),
          mistakes=(
              Mistake("singular-values-dropped",
                      "the singular values are missing: K_r = Σ_{i≤r} σ_i u_i v_iᵀ, each term "
                      "scaled by its σ_i",
                      lambda c: _low_rank_variant(c, "no-sigma")),
              Mistake("smallest-kept",
                      "the r smallest singular values were kept: torch.linalg.svd returns them "
                      "largest first, so keep the first r",
                      lambda c: _low_rank_variant(c, "smallest"),
                      when=lambda c: c.rank < min(c.kernel.shape[-2:])),
              Mistake("sqrt-sigma",
                      "the terms are scaled by √σ_i: that is the scale of one factor; the "
                      "product of both factors carries σ_i",
                      lambda c: _low_rank_variant(c, "sqrt-sigma"))),
          title="best rank-r kernel",
          covers="square and rectangular kernels 3×3 to 7×7, batches of kernels, rank 1 to "
                 "min(kH, kW)",
          summary="the best rank-r approximation of a (batch of) kernel(s) by the truncated SVD "
                  "(Eckart–Young)")
def low_rank_kernel(kernel, rank):
    """The best rank-r approximation of each kernel in the Frobenius norm.

    Inputs:
    - kernel: (..., kH, kW) float tensor: one kernel, or a batch of them
    - rank: int r, 1 <= r <= min(kH, kW)

    Returns:
    - (..., kH, kW) tensor, the dtype of kernel: K_r = sum_{i <= r} s_i u_i v_i^T from the SVD
      K = U diag(s) V^T (s largest first), for each kernel of the batch.

    Ours is 2 lines.
    """


# -- 4. what an asymmetric pair costs -------------------------------------------------------------
def _cost_cases(rng: np.random.Generator) -> list[Case]:
    specs = [(3, 17, 17), (7, 17, 17), (5, 8, 8), (3, 32, 32), (7, 17, 9)]  # (n, h, w)
    cases = []
    for n, h, w in specs:
        ci, cm, co = (int(v) for v in rng.integers(3, 257, size=3))
        cases.append(Case.of(f"{ci}→{cm}→{co}, n={n}, {h}×{w}", c_in=ci, c_mid=cm, c_out=co,
                             n=n, h=h, w=w))
    return cases


def _cost_ref(c: Case, mid_as_out: bool = False, square_pair: bool = False) -> Outputs:
    hw = c.h * c.w
    square = hw * c.c_in * c.c_out * c.n * c.n
    mid = c.c_out if mid_as_out else c.c_mid
    per_tap = c.n * c.n if square_pair else c.n
    pair = hw * (c.c_in * mid * per_tap + mid * c.c_out * per_tap)
    return np.array(square, dtype=np.int64), np.array(pair, dtype=np.int64)


@exercise(points=10, cases=_cost_cases, reference=_cost_ref,
          mistakes=(
              Mistake("mid-channels-ignored",
                      "the middle width is ignored: the 1 × n layer maps c_in to c_mid channels "
                      "and the n × 1 layer c_mid to c_out",
                      lambda c: _cost_ref(c, mid_as_out=True), when=lambda c: c.c_mid != c.c_out),
              Mistake("n-squared-per-layer",
                      "each layer of the pair was charged n² taps: a 1 × n or n × 1 kernel has n",
                      lambda c: _cost_ref(c, square_pair=True))),
          title="cost of an asymmetric pair",
          covers="widths 3 to 256, n = 3, 5, 7, square and rectangular grids",
          summary="the multiply-accumulates of an n×n layer and of its 1×n + n×1 factorisation")
def asymmetric_macs(c_in, c_mid, c_out, n, h, w):
    """MACs of an n x n convolution and of its asymmetric factorisation, on one h x w output.

    Inputs:
    - c_in, c_mid, c_out: channels in, between the two layers of the pair, and out
    - n: kernel size; h, w: output height and width (stride 1, 'same' padding)

    Returns:
    - (square, pair): two ints, the multiply-accumulates of
        an n x n layer c_in -> c_out, and
        a 1 x n layer c_in -> c_mid followed by an n x 1 layer c_mid -> c_out.
    """


# -- 5. the training check: a separable depthwise network on the digits -----------------------
def _two_pass_default(x: torch.Tensor, column: torch.Tensor, row: torch.Tensor,
                      padding: int = 0) -> torch.Tensor:
    kernels = torch.einsum("ci,cj->cij", column, row)[:, None]  # (C, 1, kH, kW)
    return F.conv2d(x, kernels, padding=padding, groups=x.shape[1])


class DigitsSeparable(SmallNet):
    """A digits network whose spatial filters are per-channel separable 3×3 kernels.

    ``1×1 (1→16) → separable 3×3 → ReLU → maxpool 2 → 1×1 (16→32) → separable 3×3 → ReLU →
    maxpool 2 → linear (32·2·2 → 10)``. Each separable layer is ``separable(x, column, row,
    padding=1)`` with ``column``, ``row`` of shape ``(C, 3)`` (default: a grouped ``F.conv2d``
    with the outer-product kernels); the 1×1 layers are ``einsum``. Weights are drawn from
    ``seed``: the factors as ``±1/√3`` uniform draws, the others He-scaled normal.

    Shape:
        - Input: ``(N, 1, 8, 8)``; output: ``(N, 10)`` logits
    """

    def __init__(self, separable: object | None = None, seed: int = 0) -> None:
        super().__init__()
        self.separable = _two_pass_default if separable is None else separable
        g = torch.Generator().manual_seed(seed)

        def he(*shape: int) -> torch.nn.Parameter:
            fan_in = int(np.prod(shape[1:]))
            return torch.nn.Parameter(torch.randn(shape, generator=g) * math.sqrt(2 / fan_in))

        def factor(c: int) -> torch.nn.Parameter:
            return torch.nn.Parameter((torch.rand(c, 3, generator=g) * 2 - 1) / math.sqrt(3))

        self.mix1_w, self.col1, self.row1 = he(16, 1), factor(16), factor(16)
        self.mix2_w, self.col2, self.row2 = he(32, 16), factor(32), factor(32)
        self.bias1 = torch.nn.Parameter(torch.zeros(16))
        self.bias2 = torch.nn.Parameter(torch.zeros(32))
        self.fc_w, self.fc_b = he(10, 128), torch.nn.Parameter(torch.zeros(10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sep = self.separable
        x = torch.einsum("oc,nchw->nohw", self.mix1_w, x)  # (N, 1, 8, 8) -> (N, 16, 8, 8)
        x = F.relu(sep(x, self.col1, self.row1, padding=1) + self.bias1.view(1, -1, 1, 1))
        x = F.max_pool2d(x, 2)  # -> (N, 16, 4, 4)
        x = torch.einsum("oc,nchw->nohw", self.mix2_w, x)  # -> (N, 32, 4, 4)
        x = F.relu(sep(x, self.col2, self.row2, padding=1) + self.bias2.view(1, -1, 1, 1))
        x = F.max_pool2d(x, 2)  # -> (N, 32, 2, 2)
        return F.linear(x.flatten(1), self.fc_w, self.fc_b)  # -> (N, 10)


train_separable = training_check(
    name="train_separable", entry="separable_conv2d", points=20,
    training=Training(net=DigitsSeparable, steps=150, optimizer="adam", lr=0.01, bar=0.9),
    summary="your two-pass convolution is every spatial filter of a small separable network on "
            "the digits; the loss curve must track the reference's and the accuracy clear a bar")


EXERCISES = declare(__name__, separable_factors, separable_conv2d, low_rank_kernel,
                    asymmetric_macs, train_separable)
