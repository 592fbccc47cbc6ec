"""Chapter 5 exercises (``notebooks/ch05/atrous_convolution.ipynb``), in notebook order.

Conventions stated in the notebook: weights have PyTorch's layout ``(C_out, C_in, k, k)``; a
dilated convolution reads taps ``d`` pixels apart and covers ``d(k − 1) + 1`` pixels per axis; a
layer of a stack is ``(kernel_size, stride, dilation)``; the ASPP block takes its convolutions'
weights and biases in one tuple, batch norm folded into the biases. References run in float64.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

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


# -- 1. dilating a kernel by zero insertion -------------------------------------------------------
def _dilate_cases(rng: np.random.Generator) -> list[Case]:
    specs = [(2, 3, 3, 2), (1, 1, 3, 3), (3, 2, 2, 4), (2, 2, 5, 2), (1, 2, 3, 1)]
    return [Case.of(f"{k}×{k} kernel, d={d}",
                    w=rng.standard_normal((o, i, k, k)).astype(np.float32), dilation=d)
            for o, i, k, d in specs]


def _dilate_ref(c: Case, step: int | None = None, size: int | None = None) -> Outputs:
    o, i, k, _ = c.w.shape
    step = c.dilation if step is None else step
    side = step * (k - 1) + 1 if size is None else size
    out = np.zeros((o, i, side, side), dtype=c.w.dtype)
    out[:, :, ::step, ::step][:, :, :k, :k] = c.w
    return (out,)


@exercise(points=10, cases=_dilate_cases, reference=_dilate_ref,
          mistakes=(
              Mistake("d-zeros-inserted",
                      "d zeros were inserted between taps; a rate-d kernel has d − 1 zeros "
                      "between neighbouring taps (taps d apart)",
                      lambda c: _dilate_ref(c, step=c.dilation + 1)),
              Mistake("trailing-zeros",
                      "the kernel ends in zeros: its last tap must sit in the last row and column "
                      "(side d(k − 1) + 1, not d·k)",
                      lambda c: _dilate_ref(c, size=c.dilation * c.w.shape[-1]),
                      when=lambda c: c.dilation > 1)),
          title="dilating a kernel by zero insertion",
          summary="the kernel with d − 1 zeros inserted between its taps, whose ordinary "
                  "convolution is the dilated one")
def dilate_kernel(w, dilation):
    """The kernel with dilation - 1 zeros inserted between neighbouring taps.

    Inputs:
    - w: (C_out, C_in, k, k) kernel
    - dilation: int d >= 1

    Returns:
    - (C_out, C_in, d*(k-1) + 1, d*(k-1) + 1) tensor of w's dtype with
      out[:, :, d*u, d*v] = w[:, :, u, v] and zero elsewhere.

    Ours is 3 lines.
    """


# -- 2. the dilated convolution from scratch -------------------------------------------------------
def _dilated_cases(rng: np.random.Generator) -> list[Case]:
    specs = [  # (N, C, F, H, W, k, d, padding)
        (2, 3, 4, 9, 9, 3, 2, 2),  # "same" padding at rate 2
        (1, 2, 3, 11, 8, 3, 3, 0),
        (2, 1, 2, 7, 10, 2, 2, 1),
        (1, 4, 2, 12, 12, 3, 4, 4),
        (2, 2, 3, 6, 7, 3, 1, 1),  # rate 1: an ordinary convolution
    ]
    cases = []
    for n, c, f, h, w, k, d, p in specs:
        cases.append(Case.of(f"{k}×{k}, d={d}, padding={p}, {h}×{w}",
                             x=rng.standard_normal((n, c, h, w)).astype(np.float32),
                             w=rng.standard_normal((f, c, k, k)).astype(np.float32),
                             b=rng.standard_normal(f).astype(np.float32), padding=p, dilation=d))
    return cases


def _dilated_ref(c: Case, dilation: int | None = None, padding: int | None = None,
                 bias: bool = True, flip: bool = False) -> Outputs:
    w = f64(c.w)
    if flip:
        w = w.flip(-1, -2)
    out = _torch_conv2d(f64(c.x), w, f64(c.b) if bias else None,
                        padding=c.padding if padding is None else padding,
                        dilation=c.dilation if dilation is None else dilation)
    return (like(out, c.x),)


@exercise(points=25, cases=_dilated_cases, reference=_dilated_ref, forbidden=LIBRARY_CONV,
          mistakes=(
              Mistake("dilation-ignored",
                      "the dilation is ignored: the taps must be d pixels apart",
                      lambda c: _dilated_ref(c, dilation=1), when=lambda c: c.dilation > 1),
              Mistake("padding-ignored", "the padding is ignored: pad p zeros on every side",
                      lambda c: _dilated_ref(c, padding=0), when=lambda c: c.padding > 0),
              Mistake("flipped-kernel",
                      "the kernel is flipped: that is convolution, not cross-correlation",
                      lambda c: _dilated_ref(c, flip=True)),
              Mistake("bias-missing", "the bias is missing: add b[f] to every output of filter f",
                      lambda c: _dilated_ref(c, bias=False))),
          title="the dilated convolution",
          covers="rates 1 to 4, kernels 2 and 3, with and without padding",
          summary="a dilated convolution (stride 1) without a library convolution or unfold")
def dilated_conv2d(x, w, b, padding=0, dilation=1):
    """Dilated cross-correlation at stride 1.

    Inputs:
    - x: (N, C, H, W); w: (F, C, k, k); b: (F,)
    - padding: int p >= 0, zeros on every side
    - dilation: int d >= 1, the distance between taps

    Returns:
    - (N, F, H_out, W_out) with H_out = H + 2p - d*(k-1) (likewise W_out) and
      out[n, f, i, j] = b[f] + sum_{c,u,v} x_pad[n, c, i + d*u, j + d*v] * w[f, c, u, v]

    Ours is about 8 lines.
    """


# -- 3. the receptive-field recursion ------------------------------------------------------------
def _rf_cases(rng: np.random.Generator) -> list[Case]:
    stacks = [
        ((3, 1, 1), (3, 1, 2), (3, 1, 4), (3, 1, 8)),
        ((3, 1, 1), (3, 2, 1), (3, 1, 1), (3, 2, 1), (3, 1, 1)),
        ((7, 2, 1), (3, 2, 1), (3, 1, 2), (3, 1, 2)),
        ((5, 1, 1),),
        ((3, 2, 2), (2, 2, 1), (3, 1, 3)),
    ]
    k_extra = int(rng.integers(0, 2)) * 2
    stacks.append(tuple((k + k_extra, s, d) for k, s, d in stacks[1]))
    return [Case.of(f"{len(s)} layers", layers=s) for s in stacks]


def _rf_ref(c: Case, jump: bool = True, dilation: bool = True,
            jump_first: bool = False) -> Outputs:
    r, j = 1, 1
    for k, s, d in c.layers:
        if jump_first:
            j *= s
        r += (k - 1) * (d if dilation else 1) * (j if jump else 1)
        if not jump_first:
            j *= s
    return (np.int64(r), np.int64(j))


def _strided(c: Case) -> bool:
    return any(s > 1 for _, s, _ in c.layers[:-1])


@exercise(points=15, cases=_rf_cases, reference=_rf_ref, rtol=0.0, atol=0.0,
          mistakes=(
              Mistake("jump-ignored",
                      "the jump is ignored: after a stride s, each tap of a later layer is s "
                      "(times the earlier strides) input pixels from the next",
                      lambda c: _rf_ref(c, jump=False), when=_strided),
              Mistake("dilation-ignored", "the dilation is ignored: a layer adds (k − 1)·d·jump",
                      lambda c: _rf_ref(c, dilation=False),
                      when=lambda c: any(d > 1 for _, _, d in c.layers)),
              Mistake("jump-updated-first",
                      "the jump was updated before the size: a layer's own stride does not "
                      "spread its own taps, only the next layer's",
                      lambda c: _rf_ref(c, jump_first=True),
                      when=lambda c: any(s > 1 for _, s, _ in c.layers))),
          title="the receptive-field recursion",
          summary="the receptive field and jump of a stack of layers, by the recursion "
                  "r ← r + (k − 1)·d·j, j ← j·s")
def receptive_field_size(layers):
    """Receptive field size and jump of a stack of convolution / pooling layers (one axis).

    Inputs:
    - layers: tuple of (kernel_size, stride, dilation) tuples of ints, first layer first

    Returns:
    - (size, jump): two ints, starting from size = jump = 1 and for each layer
      size = size + (kernel_size - 1) * dilation * jump, then jump = jump * stride

    Ours is 4 lines.
    """


# -- 4. the coverage map of a dilated stack --------------------------------------------------------
def _coverage_cases(rng: np.random.Generator) -> list[Case]:
    stacks = [((2, 2, 2), 3), ((1, 2, 5), 3), ((1, 2, 9), 3), ((1, 3), 2), ((3,), 3),
              ((1, 1, 2, 4), 3)]
    extra = int(rng.integers(2, 4))
    stacks.append(((extra, extra), 3))
    return [Case.of(f"{k}×{k} layers, rates {rates}", rates=rates, kernel_size=k)
            for rates, k in stacks]


def _coverage_1d(rates: tuple[int, ...], k: int) -> np.ndarray:
    c = np.ones(1, dtype=np.int64)
    for d in rates:
        taps = np.zeros(d * (k - 1) + 1, dtype=np.int64)
        taps[::d] = 1
        c = np.convolve(c, taps)
    return c


def _coverage_ref(c: Case, binary: bool = False, dilation: bool = True) -> Outputs:
    rates = c.rates if dilation else tuple(1 for _ in c.rates)
    line = _coverage_1d(rates, c.kernel_size)
    out = np.outer(line, line)
    return ((out > 0).astype(np.int64) if binary else out,)


@exercise(points=15, cases=_coverage_cases, reference=_coverage_ref, rtol=0.0, atol=0.0,
          mistakes=(
              Mistake("reach-not-count",
                      "the map says only whether a pixel is reached (0 or 1); count the paths",
                      lambda c: _coverage_ref(c, binary=True)),
              Mistake("dilation-ignored",
                      "the rates are ignored: each layer's taps are d pixels apart",
                      lambda c: _coverage_ref(c, dilation=False),
                      when=lambda c: any(d > 1 for d in c.rates))),
          title="the coverage map",
          summary="the number of paths from each input pixel to the centre output of a stack of "
                  "dilated all-ones kernels; zeros inside the field are gridding's holes")
def coverage_map(rates, kernel_size):
    """Paths from each input pixel to the centre output of a stack of dilated k x k layers.

    Every layer is a k x k kernel of ones (no padding issue: the map covers the whole field)
    with dilation rates[l], stride 1, layer 0 first.

    Inputs:
    - rates: tuple of ints d_l >= 1
    - kernel_size: int k >= 1

    Returns:
    - (R, R) torch.int64 tensor, R = 1 + (k-1) * sum(rates); entry (r, q) is the number of
      paths from input pixel (r, q) to the centre output (0 where the field has a hole)

    Ours is about 7 lines.
    """


# -- 5. the ASPP block -----------------------------------------------------------------------------
def aspp_params(rng: np.random.Generator, c_in: int, c_out: int,
                rates: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """``(w0, b0, w_r…, b_r…, w_pool, b_pool, w_proj, b_proj)`` as float32 arrays, He-scaled.

    Shapes: ``w0 (C_out, C_in, 1, 1)``; one ``(C_out, C_in, 3, 3)`` per rate; ``w_pool
    (C_out, C_in, 1, 1)``; ``w_proj (C_out, (len(rates) + 2)·C_out, 1, 1)``; biases ``(C_out,)``.
    """
    params = []
    shapes = ([(c_out, c_in, 1, 1)] + [(c_out, c_in, 3, 3)] * len(rates) + [(c_out, c_in, 1, 1)]
              + [(c_out, (len(rates) + 2) * c_out, 1, 1)])
    for shape in shapes:
        fan_in = int(np.prod(shape[1:]))
        params.append((rng.standard_normal(shape) * math.sqrt(2 / fan_in)).astype(np.float32))
        params.append((rng.standard_normal(shape[0]) * 0.1).astype(np.float32))
    return tuple(params)


def aspp_reference(x: torch.Tensor, params: tuple[torch.Tensor, ...], rates: tuple[int, ...],
                   *, pool_first: bool = False, pool_relu: bool = True,
                   padding_one: bool = False, project_relu: bool = True) -> torch.Tensor:
    """DeepLab v3's ASPP with batch norm folded into the biases, written with PyTorch's conv.

    Shape: ``x (N, C_in, H, W)`` → ``(N, C_out, H, W)``. The keyword flags produce the mistakes
    the exercise names.
    """
    n_r = len(rates)
    w0, b0 = params[0], params[1]
    branches = [F.relu(_torch_conv2d(x, w0, b0))]
    for i, r in enumerate(rates):
        w, b = params[2 + 2 * i], params[3 + 2 * i]
        branches.append(F.relu(_torch_conv2d(x, w, b, padding=1 if padding_one else r,
                                             dilation=r)))
    w_pool, b_pool = params[2 + 2 * n_r], params[3 + 2 * n_r]
    pooled = _torch_conv2d(x.mean(dim=(2, 3), keepdim=True), w_pool, b_pool)  # (N, C_out, 1, 1)
    pooled = F.relu(pooled) if pool_relu else pooled
    branches.append(pooled.expand(-1, -1, *x.shape[-2:]))
    if pool_first:
        branches = branches[-1:] + branches[:-1]
    y = torch.cat(branches, dim=1)  # (N, (R + 2)·C_out, H, W)
    w_proj, b_proj = params[4 + 2 * n_r], params[5 + 2 * n_r]
    y = _torch_conv2d(y, w_proj, b_proj)
    return F.relu(y) if project_relu else y


def _aspp_cases(rng: np.random.Generator) -> list[Case]:
    specs = [(2, 4, 3, 9, 9, (1, 2, 3)), (1, 3, 2, 12, 10, (2, 4)), (2, 2, 4, 7, 7, (6, 12, 18)),
             (1, 5, 3, 8, 11, (1, 3, 5, 7))]
    cases = [Case.of(f"{c_in}→{c_out}, rates {rates}, {h}×{w}",
                     x=rng.standard_normal((n, c_in, h, w)).astype(np.float32),
                     params=aspp_params(rng, c_in, c_out, rates), rates=rates)
             for n, c_in, c_out, h, w, rates in specs]
    # The image-pooling branch active on every draw: its bias b_pool ≥ 1 outweighs the pooled
    # response (about ±0.2), so relu(pooled) > 0 and the branch's own bias shows in the output.
    n, c_in, c_out, h, w, rates = 2, 3, 4, 6, 8, (2, 4)
    params = list(aspp_params(rng, c_in, c_out, rates))
    params[3 + 2 * len(rates)] = (np.abs(rng.standard_normal(c_out)) + 1).astype(np.float32)
    cases.append(Case.of(f"{c_in}→{c_out}, rates {rates}, {h}×{w}, pooling branch active",
                         x=rng.standard_normal((n, c_in, h, w)).astype(np.float32),
                         params=tuple(params), rates=rates))
    return cases


def _aspp_ref(c: Case, **flags: Any) -> Outputs:
    y = aspp_reference(f64(c.x), tuple(f64(p) for p in c.params), c.rates, **flags)
    return (like(y, c.x),)


@exercise(points=20, cases=_aspp_cases, reference=_aspp_ref,
          forbidden=forbid("convlab.blocks.ASPP.forward",
                           "convlab.blocks.aspp.ASPPPooling.forward"),
          mistakes=(
              Mistake("pooling-branch-first",
                      "the branches are concatenated in another order: 1×1, the atrous branches "
                      "in the order of rates, then the image pooling",
                      lambda c: _aspp_ref(c, pool_first=True)),
              Mistake("pooling-relu-missing",
                      "the image-pooling branch has no ReLU: every branch, pooling included, is "
                      "conv → (BN) → ReLU",
                      lambda c: _aspp_ref(c, pool_relu=False)),
              Mistake("projection-relu-missing",
                      "the projection has no ReLU: the 1×1 projection is followed by (BN and) "
                      "ReLU too",
                      lambda c: _aspp_ref(c, project_relu=False))),
          title="the ASPP block",
          covers="two to four rates, rates larger than the map, batches of 1 and 2, an "
                 "image-pooling branch active on every draw",
          summary="DeepLab v3's atrous spatial pyramid pooling: a 1×1 branch, one 3×3 branch per "
                  "rate, an image-pooling branch, concatenated and projected")
def aspp_forward(x, params, rates):
    """Forward pass of DeepLab v3's ASPP block (batch norm folded into the biases).

    Inputs:
    - x: (N, C_in, H, W)
    - params: tuple (w0, b0, w_1, b_1, ..., w_R, b_R, w_pool, b_pool, w_proj, b_proj) with
        w0: (C_out, C_in, 1, 1)           the 1x1 branch
        w_i: (C_out, C_in, 3, 3)          the 3x3 branch at rate rates[i-1], padding rates[i-1]
        w_pool: (C_out, C_in, 1, 1)       the image-pooling branch, on the mean over (H, W)
        w_proj: (C_out, (R+2)*C_out, 1, 1) the projection of the concatenation
        and each bias of shape (C_out,)
    - rates: tuple of R ints

    Returns:
    - (N, C_out, H, W): relu(proj(cat([b_0, b_1, ..., b_R, b_pool], dim=1))), where each
      branch b is relu(conv(x)) and b_pool is relu(conv(mean of x over H, W)) repeated at
      every pixel.

    You may use F.conv2d here. Ours is about 10 lines.
    """


# -- 6. the training check: an ASPP head on the shapes task --------------------------------------
class SegmentationTraining(Training):
    """A :class:`Training` on :func:`convlab.shapes.shapes_dataset`, judged by mean IoU."""

    def loaders(self, seed: int) -> tuple[Any, Any]:
        from torch.utils.data import DataLoader, TensorDataset

        from convlab.shapes import shapes_dataset

        X, y = shapes_dataset(384, size=24, seed=1, max_size=12)
        X_te, y_te = shapes_dataset(128, size=24, seed=2, max_size=12)
        g = torch.Generator().manual_seed(seed)
        train = DataLoader(TensorDataset(X, y), batch_size=self.batch_size, shuffle=True,
                           generator=g)
        return train, [(X_te, y_te)]

    @property
    def passes_text(self) -> str:
        return f"test mean IoU at least {self.bar:.2f} after {self.steps} steps"

    def assess(self, net: Any, seed: int) -> tuple[bool, str]:
        from convlab.shapes import CLASSES, mean_iou

        _, test = self.loaders(seed)
        (X, y), = test
        was = net.training
        net.eval()
        with torch.no_grad():
            miou = mean_iou(net(X).argmax(1), y, len(CLASSES))
        net.train(was)
        if miou < self.bar:
            return False, f"test mean IoU {miou:.2f} is below the bar {self.bar:.2f}"
        return True, f"test mean IoU {miou:.2f}"


class ShapesASPPNet(SmallNet):
    """Two 3×3 convolutions and an ASPP head labelling the pixels of :mod:`convlab.shapes`.

    ``conv3×3(1→8) → ReLU → conv3×3(8→8) → ReLU → aspp(x, params, rates=(2, 4, 8)) (8→8) →
    1×1(8→5)``; ``aspp`` is the injected function (default :func:`aspp_reference`). Weights are
    He-scaled draws from ``seed``.

    Shape:
        - Input: ``(N, 1, H, W)``; output: ``(N, 5, H, W)`` class scores per pixel
    """

    RATES = (2, 4, 8)

    def __init__(self, aspp: Callable[..., torch.Tensor] | None = None, seed: int = 0) -> None:
        super().__init__()
        self.aspp = aspp_reference if aspp is None else aspp
        rng = np.random.default_rng(seed)

        def param(a: np.ndarray) -> torch.nn.Parameter:
            return torch.nn.Parameter(torch.from_numpy(np.ascontiguousarray(a, np.float32)))

        self.conv1_w = param(rng.standard_normal((8, 1, 3, 3)) * math.sqrt(2 / 9))
        self.conv1_b = param(rng.standard_normal(8) * 0.01)
        self.conv2_w = param(rng.standard_normal((8, 8, 3, 3)) * math.sqrt(2 / 72))
        self.conv2_b = param(rng.standard_normal(8) * 0.01)
        self.head = torch.nn.ParameterList(param(p) for p in aspp_params(rng, 8, 8, self.RATES))
        self.cls_w = param(rng.standard_normal((5, 8, 1, 1)) * math.sqrt(2 / 8))
        self.cls_b = param(np.zeros(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.conv2d(x, self.conv1_w, self.conv1_b, padding=1))  # (N, 8, H, W)
        x = F.relu(F.conv2d(x, self.conv2_w, self.conv2_b, padding=1))
        x = self.aspp(x, tuple(self.head), self.RATES)  # -> (N, 8, H, W)
        return F.conv2d(x, self.cls_w, self.cls_b)  # -> (N, 5, H, W)


train_aspp = training_check(
    name="train_aspp", entry="aspp_forward", points=15,
    forbidden=forbid("convlab.blocks.ASPP.forward"),
    training=dataclasses.replace(
        SegmentationTraining(net=ShapesASPPNet, bar=0.0), steps=150, optimizer="adam", lr=0.01,
        batch_size=16, bar=0.2, curve_atol=0.05),
    summary="your ASPP block is the head of a small network that labels the pixels of random "
            "shapes; the loss curve must track the reference's and the mean IoU clear a bar")


EXERCISES = declare(__name__, dilate_kernel, dilated_conv2d, receptive_field_size, coverage_map,
                    aspp_forward, train_aspp)
