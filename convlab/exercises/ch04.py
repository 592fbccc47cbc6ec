"""Chapter 4 exercises (``notebooks/ch04/pointwise_convolution.ipynb``), in notebook order.

Conventions stated in the notebook: a 1×1 convolution's weight has PyTorch's shape
``(C_out, C_in, 1, 1)``; a fully connected layer over a ``(C, h, w)`` feature map flattens it
row-major, as ``x.flatten(1)`` does; ResNet's bottleneck has expansion 4 and a 1×1 projection
shortcut when the stride is not 1 or the channel count changes. References run in float64.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from convlab.models.small import SmallNet

from .apis import CONV, UNFOLD, forbid
from .arrays import f64, like
from .spec import Case, Mistake, Outputs, declare, exercise
from .training import Training, training_check

POINTWISE_APIS = forbid(CONV, UNFOLD)


# -- 1. the 1×1 convolution as one matrix product ------------------------------------------------
def _pointwise_cases(rng: np.random.Generator) -> list[Case]:
    specs = [  # (N, C_in, C_out, H, W, bias)
        (3, 4, 4, 5, 5, True),  # square weight: a transposed weight still has the right shape
        (2, 5, 3, 4, 6, True),
        (1, 6, 2, 3, 7, False),
        (2, 3, 3, 1, 1, True),  # one pixel: a linear layer
        (4, 8, 5, 3, 2, True),
    ]
    cases = []
    for n, cin, cout, h, w, bias in specs:
        x = rng.standard_normal((n, cin, h, w)).astype(np.float32)
        weight = rng.standard_normal((cout, cin, 1, 1)).astype(np.float32)
        b = rng.standard_normal(cout).astype(np.float32) if bias else None
        cases.append(Case.of(f"N={n}, {cin}→{cout} channels, {h}×{w}" + ("" if bias else
                             ", no bias"), x=x, w=weight, b=b))
    return cases


def _pointwise_ref(c: Case, scramble: str = "", transpose: bool = False,
                   bias: bool = True) -> Outputs:
    x, w = f64(c.x), f64(c.w)[:, :, 0, 0]  # (N, C_in, H, W), (C_out, C_in)
    n, cin, h, wd = x.shape
    if transpose:
        w = w.T
    if scramble:  # the memory reshaped as it lies, without moving the channel axis first
        X = x.reshape(cin, n * h * wd)
    else:
        X = x.permute(1, 0, 2, 3).reshape(cin, n * h * wd)  # one column per pixel
    Y = w @ X  # (C_out, N·H·W)
    if scramble == "both":  # the output reshaped as it lies too
        y = Y.reshape(n, -1, h, wd)
    else:
        y = Y.reshape(-1, n, h, wd).permute(1, 0, 2, 3)
    if bias and c.b is not None:
        y = y + f64(c.b).view(1, -1, 1, 1)
    return (like(y, c.x),)


@exercise(points=25, cases=_pointwise_cases, reference=_pointwise_ref, forbidden=POINTWISE_APIS,
          mistakes=(
              Mistake("pixels-scrambled",
                      "the batch and channel axes were mixed up: x.reshape(C_in, -1) reads the "
                      "memory as it lies; move the channel axis first (x.permute(1, 0, 2, 3)) "
                      "so that each column holds one pixel's channels, and move it back after",
                      lambda c: _pointwise_ref(c, scramble="both"),
                      when=lambda c: c.x.shape[0] > 1),
              Mistake("input-pixels-scrambled",
                      "the input's batch and channel axes were mixed up: x.reshape(C_in, -1) "
                      "reads the memory as it lies; permute the channel axis first "
                      "(x.permute(1, 0, 2, 3)) so that each column holds one pixel's channels",
                      lambda c: _pointwise_ref(c, scramble="input"),
                      when=lambda c: c.x.shape[0] > 1),
              Mistake("weight-transposed",
                      "the weight is used transposed: row o of w[:, :, 0, 0] holds output "
                      "channel o's weights, so Y = W @ X with W of shape (C_out, C_in)",
                      lambda c: _pointwise_ref(c, transpose=True),
                      when=lambda c: c.w.shape[0] == c.w.shape[1]),
              Mistake("bias-missing", "the bias is missing: add b[o] to output channel o",
                      lambda c: _pointwise_ref(c, bias=False), when=lambda c: c.b is not None)),
          title="the 1×1 convolution as one matrix product",
          covers="batches of 1 to 4, square and non-square weights, with and without bias",
          summary="a 1×1 convolution computed as one matrix product over the (C_in, N·H·W) "
                  "matrix of all pixels, without a library convolution")
def pointwise_conv(x, w, b=None):
    """A 1x1 convolution, as one matrix product.

    Inputs:
    - x: (N, C_in, H, W) float tensor
    - w: (C_out, C_in, 1, 1) weight (PyTorch's layout)
    - b: (C_out,) bias, or None

    Returns:
    - y: (N, C_out, H, W), y[n, o, i, j] = b[o] + sum_c w[o, c, 0, 0] * x[n, c, i, j]
      computed as W @ X with W = w[:, :, 0, 0] and X the (C_in, N*H*W) matrix whose
      columns are the pixels' channel vectors.

    Ours is 4 lines.
    """


# -- 2. a stack of 1×1 layers without activations is one layer ------------------------------------
def _collapse_cases(rng: np.random.Generator) -> list[Case]:
    specs = [(5, 5, 5, 5), (4, 6, 3), (3, 7), (6, 2, 8, 4), (4, 4, 4)]
    cases = []
    for widths in specs:
        ws = tuple((rng.standard_normal((o, i)) / math.sqrt(i)).astype(np.float64)
                   for i, o in zip(widths[:-1], widths[1:], strict=True))
        bs = tuple(rng.standard_normal(o).astype(np.float64) for o in widths[1:])
        cases.append(Case.of(f"{len(ws)} layers, widths {' → '.join(map(str, widths))}",
                             weights=ws, biases=bs))
    return cases


def _collapse_ref(c: Case, reverse: bool = False, plain_bias: bool = False) -> Outputs:
    W, b = f64(c.weights[0]), f64(c.biases[0])
    for w_next, b_next in zip(c.weights[1:], c.biases[1:], strict=True):
        w_next, b_next = f64(w_next), f64(b_next)
        W = W @ w_next if reverse else w_next @ W
        b = b + b_next if plain_bias else w_next @ b + b_next
    return (W.numpy(), b.numpy())


def _square(c: Case) -> bool:
    return all(w.shape[0] == w.shape[1] for w in c.weights) and len(c.weights) > 1


@exercise(points=15, cases=_collapse_cases, reference=_collapse_ref,
          mistakes=(
              Mistake("order-reversed",
                      "the matrices are multiplied in the wrong order: the first layer acts "
                      "first, so the product is W_L @ ... @ W_2 @ W_1",
                      lambda c: _collapse_ref(c, reverse=True), when=_square),
              Mistake("bias-not-propagated",
                      "the biases were added as they are: a bias passes through every later "
                      "layer, b = W_2 @ b_1 + b_2 (and so on)",
                      lambda c: _collapse_ref(c, plain_bias=True),
                      when=lambda c: len(c.weights) > 1)),
          title="a stack without activations is one layer",
          summary="the single weight and bias equal to a stack of 1×1 layers with no activation")
def collapse_pointwise(weights, biases):
    """The one 1x1 layer equal to a stack of 1x1 layers with no activation between them.

    Inputs:
    - weights: tuple of L matrices (float64), weights[l] of shape (C_{l+1}, C_l);
      layer l computes x -> weights[l] @ x + biases[l] at every pixel, layer 0 first
    - biases: tuple of L vectors, biases[l] of shape (C_{l+1},)

    Returns:
    - (W, b): W of shape (C_L, C_0) and b of shape (C_L,) with
      W @ x + b == layer_{L-1}( ... layer_1(layer_0(x)) ... ) for every x

    Ours is 4 lines.
    """


# -- 3. a fully connected layer as a convolution ---------------------------------------------------
def _to_conv_cases(rng: np.random.Generator) -> list[Case]:
    specs = [(10, 4, 3, 3), (7, 2, 4, 2), (3, 5, 1, 1), (6, 3, 2, 5)]
    return [Case.of(f"{f} outputs over ({c}, {h}, {w}) features",
                    weight=rng.standard_normal((f, c * h * w)).astype(np.float32),
                    bias=rng.standard_normal(f).astype(np.float32), in_shape=(c, h, w))
            for f, c, h, w in specs]


def _to_conv_ref(c: Case, order: str = "chw") -> Outputs:
    ch, h, w = c.in_shape
    f = c.weight.shape[0]
    if order == "hwc":  # flattened channels-last
        kernel = c.weight.reshape(f, h, w, ch).transpose(0, 3, 1, 2)
    elif order == "cwh":  # the two spatial axes swapped
        kernel = c.weight.reshape(f, ch, w, h).transpose(0, 1, 3, 2)
    else:
        kernel = c.weight.reshape(f, ch, h, w)
    return (np.ascontiguousarray(kernel), c.bias.copy())


@exercise(points=15, cases=_to_conv_cases, reference=_to_conv_ref,
          mistakes=(
              Mistake("channels-last-flatten",
                      "the weight was read as if the features were flattened channels-last "
                      "(h, w, C); x.flatten(1) on (N, C, h, w) puts the channel first",
                      lambda c: _to_conv_ref(c, order="hwc"), when=lambda c: c.in_shape[0] > 1),
              Mistake("spatial-axes-swapped",
                      "rows and columns are swapped: the flattened index is c*h*w + u*w + v",
                      lambda c: _to_conv_ref(c, order="cwh"),
                      when=lambda c: c.in_shape[1] > 1 and c.in_shape[2] > 1)),
          title="a fully connected layer as a convolution",
          summary="the kernel and bias of the convolution that computes a fully connected layer "
                  "over a (C, h, w) feature map")
def linear_to_conv(weight, bias, in_shape):
    """The convolution equal to a fully connected layer over flattened (C, h, w) features.

    Inputs:
    - weight: (F, C*h*w) weight of the fully connected layer, applied to x.flatten(1)
      of features x of shape (N, C, h, w)
    - bias: (F,) its bias
    - in_shape: tuple (C, h, w)

    Returns:
    - (kernel, b): kernel of shape (F, C, h, w) and bias b of shape (F,) such that
      conv2d(x, kernel, b)[:, :, 0, 0] == x.flatten(1) @ weight.T + bias

    Ours is 2 lines.
    """


# -- 4. the global-average-pooling head ------------------------------------------------------------
def _gap_cases(rng: np.random.Generator) -> list[Case]:
    specs = [(2, 8, 10, 4, 4), (3, 5, 3, 2, 6), (1, 6, 4, 1, 1), (4, 3, 2, 5, 3)]
    return [Case.of(f"N={n}, {c}→{k} classes, {h}×{w}",
                    x=rng.standard_normal((n, c, h, w)).astype(np.float32),
                    w=rng.standard_normal((k, c, 1, 1)).astype(np.float32),
                    b=rng.standard_normal(k).astype(np.float32))
            for n, c, k, h, w in specs]


def _gap_ref(c: Case, pool: str = "mean", bias: bool = True) -> Outputs:
    x, w = f64(c.x), f64(c.w)[:, :, 0, 0]
    maps = torch.einsum("kc,nchw->nkhw", w, x)  # (N, K, H, W): one class map per class
    if bias:
        maps = maps + f64(c.b).view(1, -1, 1, 1)
    if pool == "max":
        logits = maps.amax(dim=(2, 3))
    elif pool == "sum":
        logits = maps.sum(dim=(2, 3))
    else:
        logits = maps.mean(dim=(2, 3))
    return (like(logits, c.x),)


def _more_than_one_pixel(c: Case) -> bool:
    return c.x.shape[2] * c.x.shape[3] > 1


@exercise(points=15, cases=_gap_cases, reference=_gap_ref, forbidden=POINTWISE_APIS,
          mistakes=(
              Mistake("max-pooled", "the class maps were max-pooled; NiN's head averages them",
                      lambda c: _gap_ref(c, pool="max"), when=_more_than_one_pixel),
              Mistake("summed-not-averaged",
                      "the class maps were summed; divide by H·W (the mean keeps the scores "
                      "independent of the image size)",
                      lambda c: _gap_ref(c, pool="sum"), when=_more_than_one_pixel),
              Mistake("bias-missing", "the bias is missing: add b[k] to class k's score",
                      lambda c: _gap_ref(c, bias=False))),
          title="the global-average-pooling head",
          summary="Network in Network's classifier head: a 1×1 convolution to one map per class, "
                  "then the average of each map")
def gap_head(x, w, b):
    """Network in Network's head: a 1x1 convolution to K class maps, then global average pooling.

    Inputs:
    - x: (N, C, H, W) features
    - w: (K, C, 1, 1) weight of the 1x1 convolution, K the number of classes
    - b: (K,) bias

    Returns:
    - logits: (N, K), the mean over pixels (i, j) of each class map:
      logits[n, k] = mean_ij (b[k] + sum_c w[k, c, 0, 0] * x[n, c, i, j])

    Ours is 2 lines.
    """


# -- 5. the cost of a bottleneck block ------------------------------------------------------------
def _bottleneck_cases(rng: np.random.Generator) -> list[Case]:
    specs = [  # (in_channels, planes, size, stride, stride_in_3x3)
        (256, 64, 56, 1, False),  # conv2_2: identity shortcut
        (64, 64, 56, 1, False),  # conv2_1: projection at stride 1 (64 → 256 channels)
        (256, 128, 56, 2, False),  # conv3_1 as in the paper
        (256, 128, 56, 2, True),  # conv3_1 with the stride in the 3×3
        (1024, 512, 14, 2, False),
        (512, 128, 28, 1, True),  # stride 1: the flag changes nothing
    ]
    cases = []
    for cin, planes, size, stride, in3 in specs:
        jitter = 2 * int(rng.integers(0, 3))  # an even size, divisible by the stride
        cases.append(Case.of(f"{cin}→{planes}→{4 * planes}, {size + jitter}×{size + jitter}, "
                             f"stride {stride}" + (" in the 3×3" if in3 and stride > 1 else ""),
                             in_channels=cin, planes=planes, size=size + jitter, stride=stride,
                             stride_in_3x3=in3))
    return cases


def bottleneck_cost_formula(in_channels: int, planes: int, size: int, stride: int = 1,
                            stride_in_3x3: bool = False,
                            projection: bool = True) -> tuple[int, int]:
    """Convolution weights and MACs of ResNet's bottleneck (expansion 4, no biases, no BN).

    ``1×1 (in → p) → 3×3 (p → p) → 1×1 (p → 4p)`` plus a strided 1×1 projection ``in → 4p``
    when ``stride > 1`` or ``in ≠ 4p``. With an output grid ``S' = size / stride``: the 3×3 and
    the last 1×1 run on ``S'²`` positions; the first 1×1 on ``S'²`` with the stride in it, on
    ``size²`` with the stride in the 3×3; the projection on ``S'²``.
    """
    out = size // stride
    first = (size if stride_in_3x3 else out) ** 2
    weights = [in_channels * planes, 9 * planes * planes, planes * 4 * planes]
    macs = [first * weights[0], out * out * weights[1], out * out * weights[2]]
    if projection and (stride != 1 or in_channels != 4 * planes):
        weights.append(in_channels * 4 * planes)
        macs.append(out * out * weights[-1])
    return sum(weights), sum(macs)


def _bottleneck_ref(c: Case, **flags: object) -> Outputs:
    stride_in_3x3 = flags.pop("stride_in_3x3", c.stride_in_3x3)
    stride = flags.pop("stride", c.stride)
    w, m = bottleneck_cost_formula(c.in_channels, c.planes, c.size, stride, stride_in_3x3,
                                   **flags)  # type: ignore[arg-type]
    return (np.int64(w), np.int64(m))


def _has_projection(c: Case) -> bool:
    return c.stride != 1 or c.in_channels != 4 * c.planes


@exercise(points=10, cases=_bottleneck_cases, reference=_bottleneck_ref, rtol=0.0, atol=0.0,
          mistakes=(
              Mistake("projection-missing",
                      "the projection shortcut is missing: when the stride is not 1 or the "
                      "channels change, the shortcut is a strided 1×1 convolution in → 4p",
                      lambda c: _bottleneck_ref(c, projection=False), when=_has_projection),
              Mistake("stride-in-wrong-conv",
                      "the stride is in the other convolution: with stride_in_3x3=False the "
                      "first 1×1 is strided (it runs on the output grid); with True it runs on "
                      "the full input grid",
                      lambda c: _bottleneck_ref(c, stride_in_3x3=not c.stride_in_3x3),
                      when=lambda c: c.stride > 1),
              Mistake("stride-ignored",
                      "the stride is ignored: the block's output grid is size / stride",
                      lambda c: _bottleneck_ref(c, stride=1), when=lambda c: c.stride > 1)),
          title="the cost of a bottleneck",
          summary="the convolution weights and multiply-accumulates of ResNet's bottleneck "
                  "block, with the stride in the first 1×1 or in the 3×3")
def bottleneck_cost(in_channels, planes, size, stride=1, stride_in_3x3=False):
    """Convolution weights and MACs of one ResNet bottleneck block on a size x size input.

    Inputs:
    - in_channels: int, channels of the input
    - planes: int p; the block is 1x1 (in -> p), 3x3 (p -> p, padding 1), 1x1 (p -> 4p)
    - size: int, side of the square input (divisible by stride)
    - stride: 1 or 2; in the first 1x1 (stride_in_3x3=False, the paper) or in the 3x3 (True)
    - stride_in_3x3: bool

    The shortcut is a 1x1 convolution in -> 4p with the block's stride when stride != 1 or
    in_channels != 4p, the identity otherwise. No biases; batch norm is not counted.

    Returns:
    - (weights, macs): two ints, the weights of all convolutions and their multiply-accumulates
      for one image (a conv layer does H_out * W_out * C_out * C_in * k * k MACs)

    Ours is about 8 lines.
    """


# -- 6. the training check: a Network-in-Network on the digits -------------------------------------
def _pointwise_default(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None
                       ) -> torch.Tensor:
    y = torch.einsum("oc,nchw->nohw", w[:, :, 0, 0], x)  # (N, C_out, H, W)
    return y if b is None else y + b.view(1, -1, 1, 1)


class DigitsNiN(SmallNet):
    """A Network in Network for the 8×8 digits whose 1×1 convolutions call an injected function.

    ``conv3×3(1→16) → ReLU → 1×1(16→16) → ReLU → maxpool 2 → conv3×3(16→32) → ReLU →
    1×1(32→32) → ReLU → maxpool 2 → 1×1(32→10) → global average`` — two mlpconv layers and
    NiN's head. Each 1×1 layer is ``pointwise(x, w, b)`` with ``w`` of shape
    ``(C_out, C_in, 1, 1)`` (default: an ``einsum``); the 3×3 layers are PyTorch's. Weights are
    He-scaled normal draws from ``seed``, biases uniform in ``±0.01``.

    Shape:
        - Input: ``(N, 1, 8, 8)``; output: ``(N, 10)`` logits
    """

    def __init__(self, pointwise: object | None = None, seed: int = 0) -> None:
        super().__init__()
        self.pointwise = _pointwise_default if pointwise is None else pointwise
        g = torch.Generator().manual_seed(seed)

        def he(shape: tuple[int, ...]) -> torch.nn.Parameter:
            fan_in = int(np.prod(shape[1:]))
            return torch.nn.Parameter(torch.randn(shape, generator=g) * math.sqrt(2 / fan_in))

        def small_bias(n: int) -> torch.nn.Parameter:  # small, not zero: each seed its own start
            return torch.nn.Parameter((torch.rand(n, generator=g) - 0.5) * 0.02)

        self.conv1_w, self.conv1_b = he((16, 1, 3, 3)), small_bias(16)
        self.mlp1_w, self.mlp1_b = he((16, 16, 1, 1)), small_bias(16)
        self.conv2_w, self.conv2_b = he((32, 16, 3, 3)), small_bias(32)
        self.mlp2_w, self.mlp2_b = he((32, 32, 1, 1)), small_bias(32)
        self.head_w, self.head_b = he((10, 32, 1, 1)), small_bias(10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pw = self.pointwise
        x = F.relu(F.conv2d(x, self.conv1_w, self.conv1_b, padding=1))  # (N, 16, 8, 8)
        x = F.max_pool2d(F.relu(pw(x, self.mlp1_w, self.mlp1_b)), 2)  # -> (N, 16, 4, 4)
        x = F.relu(F.conv2d(x, self.conv2_w, self.conv2_b, padding=1))  # -> (N, 32, 4, 4)
        x = F.max_pool2d(F.relu(pw(x, self.mlp2_w, self.mlp2_b)), 2)  # -> (N, 32, 2, 2)
        return pw(x, self.head_w, self.head_b).mean(dim=(2, 3))  # -> (N, 10)


train_nin = training_check(
    name="train_nin", entry="pointwise_conv", points=20,
    training=Training(net=DigitsNiN, steps=150, optimizer="adam", lr=0.01, bar=0.85),
    summary="your 1×1 convolution is every per-pixel layer and the head of a small Network in "
            "Network on the digits; the loss curve must track the reference's and the accuracy "
            "clear a bar")


EXERCISES = declare(__name__, pointwise_conv, collapse_pointwise, linear_to_conv, gap_head,
                    bottleneck_cost, train_nin)
