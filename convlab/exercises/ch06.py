"""Chapter 6 exercises (``notebooks/ch06/depthwise_separable.ipynb``), in notebook order.

Conventions stated in the notebook: a depthwise weight has PyTorch's grouped layout
``(C, 1, k, k)`` (``groups = C``); a pointwise weight is ``(C_out, C_in, 1, 1)``; a MobileNet
block takes ``params = (w_dw, b_dw, w_pw, b_pw)`` with batch norm folded into the biases.
References run in float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from convlab.models.small import SmallNet

from .apis import CONV, TRANSPOSED, UNFOLD, forbid
from .arrays import f64, like
from .conv import _torch_conv2d
from .spec import Case, Mistake, Outputs, declare, exercise
from .training import Training, training_check

LIBRARY_CONV = forbid(CONV, TRANSPOSED, UNFOLD)


# -- 1. the depthwise convolution ------------------------------------------------------------------
def _dw_cases(rng: np.random.Generator) -> list[Case]:
    specs = [(2, 4, 7, 7, 3, 1, 1), (1, 3, 8, 9, 3, 2, 1), (2, 5, 6, 6, 5, 1, 2),
             (1, 1, 5, 5, 3, 1, 0), (2, 6, 9, 8, 3, 2, 0)]
    return [Case.of(f"C={c}, {k}×{k}, stride {s}, padding {p}, {h}×{w}",
                    x=rng.standard_normal((n, c, h, w)).astype(np.float32),
                    w=rng.standard_normal((c, 1, k, k)).astype(np.float32),
                    b=rng.standard_normal(c).astype(np.float32), stride=s, padding=p)
            for n, c, h, w, k, s, p in specs]


def _dw_ref(c: Case, flip: bool = False, stride: int | None = None, bias: bool = True,
            mixed: bool = False) -> Outputs:
    x, w = f64(c.x), f64(c.w)
    if flip:
        w = w.flip(-1, -2)
    s = c.stride if stride is None else stride
    if mixed:  # every filter applied to the sum of the channels
        out = _torch_conv2d(x.sum(1, keepdim=True), w, None, stride=s, padding=c.padding)
    else:
        out = _torch_conv2d(x, w, None, stride=s, padding=c.padding, groups=x.shape[1])
    if bias:
        out = out + f64(c.b).view(1, -1, 1, 1)
    return (like(out, c.x),)


@exercise(points=25, cases=_dw_cases, reference=_dw_ref, forbidden=LIBRARY_CONV,
          mistakes=(
              Mistake("channels-mixed",
                      "the channels were mixed: a depthwise filter sees its own channel only "
                      "(out[:, c] uses x[:, c] and w[c, 0])",
                      lambda c: _dw_ref(c, mixed=True), when=lambda c: c.x.shape[1] > 1),
              Mistake("flipped-kernel",
                      "the kernel is flipped: that is convolution, not cross-correlation",
                      lambda c: _dw_ref(c, flip=True)),
              Mistake("stride-ignored", "the stride is ignored: move the window s pixels",
                      lambda c: _dw_ref(c, stride=1), when=lambda c: c.stride > 1),
              Mistake("bias-missing", "the bias is missing: add b[c] to channel c",
                      lambda c: _dw_ref(c, bias=False))),
          title="the depthwise convolution",
          covers="1 to 6 channels, kernels 3 and 5, strides 1 and 2, with and without padding",
          summary="a depthwise convolution (one k×k filter per channel, groups = C) without a "
                  "library convolution")
def depthwise_conv2d(x, w, b, stride=1, padding=0):
    """Depthwise convolution: each channel filtered by its own k x k kernel.

    Inputs:
    - x: (N, C, H, W); w: (C, 1, k, k); b: (C,)
    - stride: int s >= 1; padding: int p >= 0 (zeros on every side)

    Returns:
    - (N, C, H_out, W_out), H_out = (H + 2p - k) // s + 1, and
      out[n, c, i, j] = b[c] + sum_{u,v} x_pad[n, c, s*i + u, s*j + v] * w[c, 0, u, v]

    Ours is about 8 lines.
    """


# -- 2. the separable layer ------------------------------------------------------------------------
def _sep_cases(rng: np.random.Generator) -> list[Case]:
    specs = [(2, 4, 4, 6, 6, 1), (1, 3, 5, 7, 7, 2), (2, 6, 2, 5, 8, 1), (1, 2, 2, 4, 4, 1)]
    return [Case.of(f"{m}→{n} channels, stride {s}, {h}×{w}",
                    x=rng.standard_normal((b, m, h, w)).astype(np.float32),
                    w_dw=rng.standard_normal((m, 1, 3, 3)).astype(np.float32),
                    w_pw=rng.standard_normal((n, m, 1, 1)).astype(np.float32),
                    b_pw=rng.standard_normal(n).astype(np.float32), stride=s)
            for b, m, n, h, w, s in specs]


def _sep_ref(c: Case, relu_between: bool = False, pointwise_first: bool = False) -> Outputs:
    x, dw, pw, b = f64(c.x), f64(c.w_dw), f64(c.w_pw), f64(c.b_pw)
    if pointwise_first:
        y = _torch_conv2d(x, pw, b)
        y = _torch_conv2d(y, dw, None, stride=c.stride, padding=1, groups=y.shape[1])
        return (like(y, c.x),)
    y = _torch_conv2d(x, dw, None, stride=c.stride, padding=1, groups=x.shape[1])
    if relu_between:
        y = F.relu(y)
    return (like(_torch_conv2d(y, pw, b), c.x),)


@exercise(points=20, cases=_sep_cases, reference=_sep_ref, forbidden=LIBRARY_CONV,
          mistakes=(
              Mistake("activation-between",
                      "a ReLU sits between the two layers; this exercise asks for the plain "
                      "factorisation (no activation, as in Xception)",
                      lambda c: _sep_ref(c, relu_between=True)),
              Mistake("pointwise-first",
                      "the 1×1 convolution came first: filter each channel, then mix",
                      lambda c: _sep_ref(c, pointwise_first=True),
                      when=lambda c: c.w_pw.shape[0] == c.w_pw.shape[1])),
          title="the depthwise separable layer",
          summary="a 3×3 depthwise convolution followed by a 1×1 pointwise one, with no "
                  "activation between")
def separable_conv2d(x, w_dw, w_pw, b_pw, stride=1):
    """Depthwise separable convolution: 3x3 depthwise (stride, padding 1), then 1x1 pointwise.

    Inputs:
    - x: (N, M, H, W)
    - w_dw: (M, 1, 3, 3) depthwise weight (no bias)
    - w_pw: (N_out, M, 1, 1) pointwise weight; b_pw: (N_out,) its bias
    - stride: int, the depthwise convolution's stride

    Returns:
    - (N, N_out, H_out, W_out): pointwise(depthwise(x)), no activation between,
      H_out = (H - 1) // stride + 1

    You may use your depthwise_conv2d. Ours is 3 lines.
    """


# -- 3. the cost ratio -----------------------------------------------------------------------------
def _ratio_cases(rng: np.random.Generator) -> list[Case]:
    specs = [(3, 32, 64), (3, 512, 512), (5, 16, 8), (7, 64, 1024), (3, 3, 128), (1, 8, 8)]
    extra = int(rng.integers(2, 9))
    specs.append((3, 8 * extra, 16 * extra))
    return [Case.of(f"k={k}, M={m}, N={n}", kernel_size=k, in_channels=m, out_channels=n)
            for k, m, n in specs]


def _ratio_ref(c: Case, use_in: bool = False, square: bool = True,
               inverted: bool = False) -> Outputs:
    channels = c.in_channels if use_in else c.out_channels
    k2 = c.kernel_size**2 if square else c.kernel_size
    ratio = 1.0 / channels + 1.0 / k2
    return (np.float64(1.0 / ratio if inverted else ratio),)


@exercise(points=10, cases=_ratio_cases, reference=_ratio_ref, rtol=1e-9, atol=0.0,
          mistakes=(
              Mistake("in-channels-used",
                      "the ratio divides by the input channels; it is 1/N + 1/k² with N the "
                      "output channels (the pointwise layer's share)",
                      lambda c: _ratio_ref(c, use_in=True),
                      when=lambda c: c.in_channels != c.out_channels),
              Mistake("kernel-not-squared", "the kernel has k² taps: 1/N + 1/k²",
                      lambda c: _ratio_ref(c, square=False), when=lambda c: c.kernel_size > 1),
              Mistake("ratio-inverted",
                      "that is full / separable; the exercise asks for separable / full (< 1)",
                      lambda c: _ratio_ref(c, inverted=True))),
          title="the cost ratio",
          summary="the multiply-adds of a depthwise separable layer over those of the full "
                  "convolution it replaces")
def separable_cost_ratio(kernel_size, in_channels, out_channels):
    """MACs of a k x k depthwise separable layer divided by those of a full k x k convolution.

    Inputs:
    - kernel_size: int k; in_channels: int M; out_channels: int N (same output grid)

    Returns:
    - a float: (k*k*M + M*N) / (k*k*M*N)

    Ours is 1 line.
    """


# -- 4. the MobileNet block ------------------------------------------------------------------------
def _block_params(rng: np.random.Generator, m: int, n: int) -> tuple[np.ndarray, ...]:
    return ((rng.standard_normal((m, 1, 3, 3)) * math.sqrt(2 / 9)).astype(np.float32),
            (rng.standard_normal(m) * 0.1).astype(np.float32),
            (rng.standard_normal((n, m, 1, 1)) * math.sqrt(2 / m)).astype(np.float32),
            (rng.standard_normal(n) * 0.1).astype(np.float32))


def _block_cases(rng: np.random.Generator) -> list[Case]:
    specs = [(2, 4, 8, 6, 6, 1), (1, 3, 5, 7, 7, 2), (2, 6, 6, 8, 5, 2), (1, 8, 4, 4, 4, 1)]
    return [Case.of(f"{m}→{n} channels, stride {s}, {h}×{w}",
                    x=rng.standard_normal((b, m, h, w)).astype(np.float32),
                    params=_block_params(rng, m, n), stride=s)
            for b, m, n, h, w, s in specs]


def mobilenet_block_reference(x: torch.Tensor, params: tuple[torch.Tensor, ...], stride: int,
                              *, mid_relu: bool = True, last_relu: bool = True) -> torch.Tensor:
    """MobileNet's block with batch norm folded: ``relu(pw(relu(dw(x))))``.

    Shape: ``x (N, M, H, W)`` → ``(N, N_out, ⌊(H − 1)/s⌋ + 1, …)``.
    """
    w_dw, b_dw, w_pw, b_pw = params
    y = _torch_conv2d(x, w_dw, b_dw, stride=stride, padding=1, groups=x.shape[1])
    y = F.relu(y) if mid_relu else y
    y = _torch_conv2d(y, w_pw, b_pw)
    return F.relu(y) if last_relu else y


def _block_ref(c: Case, **flags: bool) -> Outputs:
    y = mobilenet_block_reference(f64(c.x), tuple(f64(p) for p in c.params), c.stride, **flags)
    return (like(y, c.x),)


@exercise(points=25, cases=_block_cases, reference=_block_ref,
          forbidden=forbid("convlab.blocks.DepthwiseSeparable.forward"),
          mistakes=(
              Mistake("relu-between-missing",
                      "the ReLU after the depthwise layer is missing: that is Xception's layer; "
                      "MobileNet has BN and ReLU after both layers",
                      lambda c: _block_ref(c, mid_relu=False)),
              Mistake("last-relu-missing",
                      "the ReLU after the pointwise layer is missing",
                      lambda c: _block_ref(c, last_relu=False))),
          title="the MobileNet block",
          summary="MobileNet's depthwise separable block: depthwise 3×3 → BN → ReLU → pointwise "
                  "1×1 → BN → ReLU, batch norm folded into the biases")
def mobilenet_block_forward(x, params, stride):
    """Forward pass of MobileNet's block (batch norm folded into the biases).

    Inputs:
    - x: (N, M, H, W)
    - params: tuple (w_dw, b_dw, w_pw, b_pw) with
        w_dw: (M, 1, 3, 3), b_dw: (M,)          3x3 depthwise conv, stride s, padding 1
        w_pw: (N_out, M, 1, 1), b_pw: (N_out,)  1x1 pointwise conv
    - stride: 1 or 2

    Returns:
    - (N, N_out, (H - 1) // s + 1, (W - 1) // s + 1): relu(pw(relu(dw(x))))

    You may use your depthwise_conv2d (or F.conv2d with groups). Ours is 3 lines.
    """


# -- 5. the training check: a small MobileNet on the digits ----------------------------------------
class DigitsMobileNet(SmallNet):
    """A small MobileNet for the 8×8 digits whose blocks call an injected function.

    ``conv3×3(1→16) → ReLU → block(16→32, s1) → block(32→64, s2) → block(64→64, s1) → global
    average → linear(64→10)``, each block ``block(x, (w_dw, b_dw, w_pw, b_pw), stride)``
    (default :func:`mobilenet_block_reference`). He-scaled weights drawn from ``seed``.

    Shape:
        - Input: ``(N, 1, 8, 8)``; output: ``(N, 10)`` logits
    """

    PLAN = ((16, 32, 1), (32, 64, 2), (64, 64, 1))

    def __init__(self, block: Callable[..., torch.Tensor] | None = None, seed: int = 0) -> None:
        super().__init__()
        self.block = mobilenet_block_reference if block is None else block
        rng = np.random.default_rng(seed)

        def param(a: np.ndarray) -> torch.nn.Parameter:
            return torch.nn.Parameter(torch.from_numpy(np.ascontiguousarray(a, np.float32)))

        self.stem_w = param(rng.standard_normal((16, 1, 3, 3)) * math.sqrt(2 / 9))
        self.stem_b = param(rng.standard_normal(16) * 0.01)
        self.blocks = torch.nn.ModuleList(
            torch.nn.ParameterList(param(p) for p in _block_params(rng, m, n))
            for m, n, _ in self.PLAN)
        self.fc_w = param(rng.standard_normal((10, 64)) * math.sqrt(1 / 64))
        self.fc_b = param(np.zeros(10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.conv2d(x, self.stem_w, self.stem_b, padding=1))  # (N, 16, 8, 8)
        for params, (_, _, stride) in zip(self.blocks, self.PLAN, strict=True):
            x = self.block(x, tuple(params), stride)  # -> (N, 64, 4, 4) at the end
        return F.linear(x.mean(dim=(2, 3)), self.fc_w, self.fc_b)  # -> (N, 10)


train_mobilenet = training_check(
    name="train_mobilenet", entry="mobilenet_block_forward", points=20,
    forbidden=forbid("convlab.blocks.DepthwiseSeparable.forward"),
    training=Training(net=DigitsMobileNet, steps=150, optimizer="adam", lr=0.01, bar=0.85),
    summary="your block builds a small MobileNet that classifies the digits; the loss curve must "
            "track the reference's and the accuracy clear a bar")


EXERCISES = declare(__name__, depthwise_conv2d, separable_conv2d, separable_cost_ratio,
                    mobilenet_block_forward, train_mobilenet)
