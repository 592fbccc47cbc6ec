"""Chapter 1 exercises (``notebooks/ch01/vanilla_convolution.ipynb``), in notebook order; the
convolution's conventions are :mod:`convlab.exercises.conv`'s. ``equivariance_error`` comes
after the convolution exercises because it may call ``F.conv2d``, which they forbid (the grader
scans every answer cell above an exercise's test cell); the pooling and gradient-check exercises
that follow it forbid no convolution."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from convlab.functional import conv2d as _convlab_conv2d
from convlab.models.small import DigitsCNN, SmallNet

from . import conv
from .apis import AUTOGRAD, JACOBIAN, POOL, TRACER, UNFOLD, forbid
from .arrays import f64, flip
from .compare import compare_outputs, to_plain_outputs, to_student_value
from .conv import CONV_MISTAKES, LIBRARY_CONV, conv_probe, conv_reference, make_conv_cases
from .lines import NoLoopExercise
from .spec import Case, Exercise, Mistake, Outputs, declare, exercise
from .training import ModuleCheck, Training, Uniform, module_case, module_training, slip

#: PyTorch's convolution, held before any student code runs; only reference code calls it.
_torch_conv2d = torch.nn.functional.conv2d
_torch_pad = torch.nn.functional.pad


# -- 1. the loop version -----------------------------------------------------------------------
def _loop_cases(rng: np.random.Generator) -> list[Case]:
    """:func:`~convlab.exercises.conv.make_conv_cases`'s six float32 cases, then a general
    case in float64: its output must be float64 and exact to float64 rounding (a loop that
    builds its padded canvas or its output in float32 fails it)."""
    cases = make_conv_cases(rng)
    n, c, f = 2, int(rng.integers(2, 4)), int(rng.integers(3, 5))
    h, w = (int(v) for v in rng.integers(5, 8, size=2))
    stride, padding = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    x, wt = rng.standard_normal((n, c, h, w)), rng.standard_normal((f, c, 3, 3))
    h_out, w_out = ((size + 2 * padding - 3) // stride + 1 for size in (h, w))
    cases.append(Case.of(f"float64: x {x.shape}, w {wt.shape}, stride {stride}, padding "
                         f"{padding} → {h_out}×{w_out}", x=x, w=wt, b=rng.standard_normal(f),
                         stride=stride, padding=padding))
    return cases


def _loop_check(c: Case, got: Outputs) -> str | None:
    """float32 cases at the course's tolerances; the float64 case in float64, to 1e-10."""
    if c.x.dtype != np.float64:
        return compare_outputs(got, conv_reference(c), rtol=1e-4, atol=1e-4)
    out = _torch_conv2d(f64(c.x), f64(c.w), f64(c.b), stride=c.stride, padding=c.padding)
    return compare_outputs(got, (out.numpy(),), rtol=1e-10, atol=1e-10)


@exercise(points=15, cases=_loop_cases, reference=conv_reference, forbidden=LIBRARY_CONV,
          check=_loop_check, mistakes=CONV_MISTAKES, title="convolution by loops",
          covers=conv.CONV_COVERS + "; float32 and float64 (the output in x's dtype, exact to "
                 "float64 rounding)",
          summary="the layer's forward pass by its definition, with loops: channels summed, "
                  "bias added, stride and zero padding")
def conv2d_loop(x, w, b, stride=1, padding=0):
    """Forward pass of a convolution layer, by explicit loops.

    Inputs:
    - x: input, a float tensor of shape (N, C, H, W)
    - w: filters, of shape (F, C, kH, kW)
    - b: biases, of shape (F,)
    - stride: int s >= 1, the step of the window in both directions
    - padding: int p >= 0, the number of zeros added on every side of the input

    Returns:
    - out: tensor of shape (N, F, H_out, W_out), the dtype of x, where
        H_out = (H + 2p - kH) // s + 1,  W_out = (W + 2p - kW) // s + 1
      and out[n, f, i, j] = b[f] + sum_{c, u, v} x_pad[n, c, i*s + u, j*s + v] * w[f, c, u, v]
      (cross-correlation: the kernel is not flipped).

    Ours is about 12 lines.
    """


# -- 2. the output-size relation -----------------------------------------------------------
def _size_cases(rng: np.random.Generator) -> list[Case]:
    """Ten sizes. The first case a mistake gets wrong decides the feedback, so three
    hand-picked cases come first, in an order that keeps the mistakes apart: a stride that
    does not divide the span (only rounding up and the missing + 1 fail here), padding 2 with
    stride 1 (the one-sided padding fails next), dilation 2 (the ignored dilation). Seven
    drawn cases follow (kept when the output is at least 1)."""
    cases = [((8, 2, 2, 0, 1), "a stride that does not divide the span"),
             ((7, 3, 1, 2, 1), "padding 2"), ((10, 3, 1, 0, 2), "dilation 2")]
    while len(cases) < 10:
        size, k = int(rng.integers(1, 65)), int(rng.integers(1, 8))
        s, p, d = int(rng.integers(1, 5)), int(rng.integers(0, 4)), int(rng.integers(1, 4))
        if size + 2 * p - d * (k - 1) - 1 >= 0:
            cases.append(((size, k, s, p, d), "drawn"))
    return [Case(args, label=f"{label}: size, kernel_size, stride, padding, dilation = {args}")
            for args, label in cases]


def _size(c: Case, *, rounding: str = "floor", plus_one: int = 1, dilation: bool = True,
          pad_sides: int = 2) -> Outputs:
    span = c.size + pad_sides * c.padding - (c.dilation if dilation else 1) * (
        c.kernel_size - 1) - 1
    steps = -(-span // c.stride) if rounding == "ceil" else span // c.stride
    return (np.asarray(steps + plus_one, dtype=np.int64),)


def _size_ref(c: Case) -> Outputs:
    from convlab.analysis import shapes

    return (np.asarray(shapes.conv_output_size(*c.args), dtype=np.int64),)


@exercise(points=5, cases=_size_cases, reference=_size_ref, rtol=0.0, atol=0.0,
          forbidden=forbid("convlab.analysis.conv_output_size",
                           "convlab.analysis.shapes.conv_output_size"),
          mistakes=(
              Mistake("missing-plus-one",
                      "forgot the + 1: ⌊(size + 2p − d(k − 1) − 1)/s⌋ counts the steps between "
                      "windows; the first window adds one",
                      lambda c: _size(c, plus_one=0)),
              Mistake("ceil-instead-of-floor",
                      "rounded up: a window that would hang over the padded edge is dropped, so "
                      "the division rounds down (⌊·⌋, Python's //)",
                      lambda c: _size(c, rounding="ceil")),
              Mistake("dilation-ignored",
                      "the dilation is ignored: a dilated kernel spans d(k − 1) + 1 pixels",
                      lambda c: _size(c, dilation=False), when=lambda c: c.dilation > 1),
              Mistake("padding-one-side",
                      "the padding is counted once: p zeros go on each side, 2p in all",
                      lambda c: _size(c, pad_sides=1), when=lambda c: c.padding > 0)),
          title="output size", summary="the output-size relation, dilation included",
          covers="strides that do and do not divide the span, padding 0–3, dilation 1–3, "
                 "kernel sizes 1–7, sizes 1–64")
def conv_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
    """Output length of a convolution along one spatial dimension.

    Inputs:
    - size: int L >= 1, the input length (H or W)
    - kernel_size: int k >= 1
    - stride: int s >= 1
    - padding: int p >= 0, zeros on each side
    - dilation: int d >= 1, the spacing between kernel taps

    Returns:
    - an int, floor((L + 2p - d(k - 1) - 1) / s) + 1 (the inputs are such that it is >= 1)

    Ours is 2 lines.
    """


# -- 3. im2col, with the loop probe ------------------------------------------------------------
@exercise(points=15, cases=lambda rng: make_conv_cases(rng, scale=2), reference=conv_reference,
          forbidden=forbid(LIBRARY_CONV, TRACER), mistakes=CONV_MISTAKES,
          kind=NoLoopExercise, probe=conv_probe, covers=conv.CONV_COVERS,
          hint="build the column matrix with slicing over kernel offsets or as_strided, then "
               "one matmul",
          title="convolution by im2col",
          summary="the same forward pass as im2col and one matrix product, with no Python loop "
                  "over output positions")
def conv2d_im2col(x, w, b, stride=1, padding=0):
    """Forward pass of a convolution layer as im2col plus one matrix product.

    Inputs and output as in conv2d_loop:
    - x: (N, C, H, W); w: (F, C, kH, kW); b: (F,); stride: int s >= 1; padding: int p >= 0

    Returns:
    - out: (N, F, H_out, W_out) with H_out = (H + 2p - kH) // s + 1 (likewise W_out), equal to
      conv2d_loop(x, w, b, stride, padding) up to float rounding.

    Steps:
    1. pad x: x_pad of shape (N, C, H + 2p, W + 2p);
    2. cols of shape (N, C*kH*kW, H_out*W_out): column i*W_out + j is the window at output
       position (i, j), flattened in the order (c, u, v);
    3. out = w.reshape(F, C*kH*kW) @ cols + b[:, None], reshaped to (N, F, H_out, W_out).

    No Python loop over output positions (a loop over the kH*kW kernel offsets is fine). Must be
    differentiable by autograd (exercise 5 trains a network with it): use tensor operations only.

    Ours is about 10 lines.
    """


# -- 4. the backward pass ----------------------------------------------------------------------
def _grads(c: Case, w_for_dx: np.ndarray | None = None, stride: int | None = None) -> Outputs:
    """``(dx, dw, db)`` of ``sum(dout · conv(x, w, b))`` by float64 autograd; ``w_for_dx``
    replaces the kernel in the ``dx`` computation, ``stride`` the windows' spacing (to build
    the flipped-kernel and stride-ignored mistakes)."""
    x, w = f64(c.x).requires_grad_(True), f64(c.w).requires_grad_(True)
    b = torch.zeros(c.w.shape[0], dtype=torch.float64, requires_grad=True)
    step = c.stride if stride is None else stride
    out = _torch_conv2d(x, w, b, stride=step, padding=c.padding)
    if stride is not None:  # a stride-1 pass read at the case's dout size: the windows overlap
        out = out[..., :c.dout.shape[2], :c.dout.shape[3]]
    dx, dw, db = torch.autograd.grad(out, (x, w, b), f64(c.dout))
    if w_for_dx is not None:
        x2 = f64(c.x).requires_grad_(True)
        out2 = _torch_conv2d(x2, f64(w_for_dx), None, stride=c.stride, padding=c.padding)
        (dx,) = torch.autograd.grad(out2, (x2,), f64(c.dout))
    return tuple(t.numpy().astype(np.float32) for t in (dx, dw, db))


def _stride_ignored(which: int) -> Mistake:
    grad = ("dx", "dw")[which]
    pair = ("output position (i, j) came from input window (i·s + u, j·s + v), not (i + u, "
            "j + v)", "pair dout[i, j] with x_pad[i·s + u, j·s + v], not x_pad[i + u, j + v]")
    return Mistake(f"{grad}-stride-ignored", f"{grad} ignores the stride: {pair[which]}",
                   lambda c: tuple(g if i == which else r for i, (g, r) in enumerate(
                       zip(_grads(c, stride=1), _grads(c), strict=True))),
                   when=lambda c: c.stride > 1)


def _db(reduce: str) -> Outputs:
    def variant(c: Case) -> Outputs:
        dx, dw, _ = _grads(c)
        d = c.dout.astype(np.float64)
        db = {"batch": d.sum(axis=(2, 3)), "space": d.sum(axis=0),
              "mean": d.mean(axis=(0, 2, 3))}[reduce]
        return dx, dw, db.astype(np.float32)

    return variant


def _backward_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for c in make_conv_cases(rng):
        dout = rng.standard_normal((c.x.shape[0], c.w.shape[0], *conv.out_hw(c)))
        cases.append(Case.of(c.label.replace("→", "→ dout"), dout=dout.astype(np.float32),
                             x=c.x, w=c.w, stride=c.stride, padding=c.padding))
    return cases


def _not_cropped(c: Case) -> Outputs:
    p = c.padding
    xp = np.pad(c.x, ((0, 0), (0, 0), (p, p), (p, p)))
    return _grads(c.with_(x=xp, padding=0))


@exercise(points=15, cases=_backward_cases, reference=_grads, forbidden=forbid(LIBRARY_CONV,
                                                                             AUTOGRAD),
          mistakes=(
              Mistake("dx-kernel-not-flipped",
                      "dx uses the kernel unflipped: dx is the full correlation of dout with the "
                      "kernel rotated by 180° (equivalently: scatter dout[i, j]·w back onto the "
                      "window it came from)",
                      lambda c: _grads(c, w_for_dx=flip(c.w)),
                      when=lambda c: c.w.shape[-2:] != (1, 1)),
              Mistake("dw-flipped",
                      "dw is flipped by 180°: dw[f, c, u, v] = Σ dout[n, f, i, j] · "
                      "x_pad[n, c, i·s + u, j·s + v]",
                      lambda c: (lambda g: (g[0], flip(g[1]), g[2]))(_grads(c)),
                      when=lambda c: c.w.shape[-2:] != (1, 1)),
              Mistake("dx-not-cropped",
                      "dx still has the padding: crop p rows and columns from each side of the "
                      "padded gradient so dx has x's shape",
                      _not_cropped, when=lambda c: c.padding > 0),
              _stride_ignored(0),
              _stride_ignored(1),
              Mistake("db-not-summed-over-batch",
                      "db is not summed over the batch: db[f] = Σ_{n,i,j} dout[n, f, i, j], "
                      "shape (F,)", _db("batch")),
              Mistake("db-not-summed-over-space",
                      "db is not summed over the positions: db[f] = Σ_{n,i,j} dout[n, f, i, j], "
                      "shape (F,)", _db("space")),
              Mistake("db-averaged",
                      "db is averaged; the bias is added at every position of every example, so "
                      "its gradient is the sum Σ_{n,i,j} dout[n, f, i, j]", _db("mean"))),
          title="backward pass", covers=conv.CONV_COVERS,
          summary="the gradients dx, dw, db by hand, without autograd")
def conv2d_backward(dout, x, w, stride=1, padding=0):
    """Backward pass of a convolution layer (the forward pass of conv2d_loop).

    Inputs:
    - dout: upstream gradient dL/dout, of shape (N, F, H_out, W_out)
    - x: the forward input, (N, C, H, W)
    - w: the filters, (F, C, kH, kW)
    - stride, padding: the forward pass's ints s and p

    Returns a tuple (dx, dw, db):
    - dx: dL/dx, (N, C, H, W)
    - dw: dL/dw, (F, C, kH, kW); dw[f, c, u, v] = sum_{n,i,j} dout[n,f,i,j] * x_pad[n,c,i*s+u,j*s+v]
    - db: dL/db, (F,);           db[f] = sum_{n,i,j} dout[n, f, i, j]

    Ours is about 15 lines.
    """


# -- 5. the training check: a layer of your own --------------------------------------------------
def _he_bound(fan_in: int) -> float:
    """He (Kaiming) uniform for ReLU: ``U(−b, b)`` with ``b = gain·√(3 / fan_in)``, gain √2."""
    return math.sqrt(6.0 / fan_in)


class _ReferenceConvLayer(torch.nn.Module):
    """convlab's answer to :class:`ConvLayer`: the layer of the reference network."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0) -> None:
        super().__init__()
        fan_in = in_channels * kernel_size * kernel_size
        self.stride, self.padding = stride, padding
        self.weight = torch.nn.Parameter(torch.empty(
            out_channels, in_channels, kernel_size, kernel_size).uniform_(-_he_bound(fan_in),
                                                                          _he_bound(fan_in)))
        self.bias = torch.nn.Parameter(torch.empty(out_channels).uniform_(
            -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _convlab_conv2d(x, self.weight, self.bias, self.stride, self.padding)


class LayerDigitsCNN(SmallNet):
    """:class:`~convlab.models.small.DigitsCNN` with its two convolutions as layer modules:
    ``layer(1, 8, 3, stride=1, padding=1)`` and ``layer(8, 16, 3, stride=1, padding=1)``
    (convlab's when ``None``), starting from DigitsCNN's initial weights for ``seed``, so a
    network on the student's layer and the reference network start alike.

    Shape: ``(N, 1, 8, 8)`` → ``(N, 10)`` logits.
    """

    def __init__(self, layer: Callable[..., torch.nn.Module] | None = None,
                 seed: int = 0) -> None:
        super().__init__()
        layer = _ReferenceConvLayer if layer is None else layer
        start = DigitsCNN(seed=seed).state_arrays()
        self.conv1 = layer(1, 8, 3, stride=1, padding=1)
        self.conv2 = layer(8, 16, 3, stride=1, padding=1)
        self.fc_weight = torch.nn.Parameter(torch.from_numpy(start["fc_weight"]))
        self.fc_bias = torch.nn.Parameter(torch.from_numpy(start["fc_bias"]))
        self.load_arrays({f"{name.replace('_', '.')}": a for name, a in start.items()
                          if name.startswith("conv")} | {
                             "fc_weight": start["fc_weight"], "fc_bias": start["fc_bias"]})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)  # (N, 8, 4, 4)
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)  # (N, 16, 2, 2)
        return torch.nn.functional.linear(x.flatten(1), self.fc_weight, self.fc_bias)


def _layer_cases(rng: np.random.Generator) -> list[Case]:
    """Three layers with far more filters than input channels (so a fan-out, or a fan-in
    without the kernel's area, gives a bound far from the rule's) and at least 96 of them (so a
    bias's extremes come close to its bound): 3×3 with stride 2 and padding, 1×1, 5×5 with
    padding 2."""
    cases = []
    for c, f, k, s, p in ((6, 96, 3, 2, 1), (16, 120, 1, 1, 0), (4, 100, 5, 1, 2)):
        c, f = c + int(rng.integers(0, 3)), f + int(rng.integers(0, 9))
        h, w = (int(v) for v in rng.integers(k + 2, k + 7, size=2))
        x = rng.standard_normal((2, c, h, w)).astype(np.float32)
        ho, wo = ((n + 2 * p - k) // s + 1 for n in (h, w))
        cases.append(module_case(
            f"ConvLayer({c}, {f}, {k}, stride={s}, padding={p}) on x of shape {x.shape}",
            {"in_channels": c, "out_channels": f, "kernel_size": k, "stride": s, "padding": p},
            x=x, dout=rng.standard_normal((2, f, ho, wo)).astype(np.float32),
            seed=int(rng.integers(0, 2**31 - 1))))
    return cases


def _layer_shapes(c: Case) -> dict[str, tuple[int, ...]]:
    b = dict(c.build)
    k = b["kernel_size"]
    return {"weight": (b["out_channels"], b["in_channels"], k, k), "bias": (b["out_channels"],)}


def _layer_init(c: Case) -> dict[str, Uniform]:
    b = dict(c.build)
    k2 = b["kernel_size"] ** 2
    fan_in, fan_out = b["in_channels"] * k2, b["out_channels"] * k2
    return {"weight": Uniform(_he_bound(fan_in), (
                ("wrong-fan-in", _he_bound(fan_out)),
                ("fan-in-without-kernel-area", _he_bound(b["in_channels"])),
                ("gain-missing", math.sqrt(3.0 / fan_in)),
                ("pytorch-default-bound", 1 / math.sqrt(fan_in)))),
            "bias": Uniform(1 / math.sqrt(fan_in), (
                ("wrong-fan-in", 1 / math.sqrt(fan_out)),
                ("bias-with-the-weight-bound", _he_bound(fan_in))),
                zero="bias-not-initialised")}


def _layer_forward(c: Case, params: dict[str, np.ndarray]) -> np.ndarray:
    b = dict(c.build)
    y = _torch_conv2d(f64(c.x), f64(params["weight"]), f64(params["bias"]), stride=b["stride"],
                      padding=b["padding"])
    return y.numpy().astype(c.x.dtype)


LAYER_CHECK = ModuleCheck(
    make_cases=_layer_cases, parameters=_layer_shapes, init=_layer_init, forward=_layer_forward,
    mistakes=(
        slip("wrong-fan-in",
             "wrong fan-in: the bound fits fan_out = out_channels·k·k; the fan-in counts the "
             "inputs of one output value, in_channels·k·k"),
        slip("fan-in-without-kernel-area",
             "wrong fan-in: the bound fits fan_in = in_channels; each output value sums "
             "in_channels·k·k inputs, so fan_in = in_channels·k·k"),
        slip("gain-missing",
             "the bound is √(3 / fan_in), without ReLU's gain √2: He uniform is "
             "√2·√(3 / fan_in) = √(6 / fan_in)"),
        slip("pytorch-default-bound",
             "the bound is 1/√fan_in, nn.Conv2d's default (kaiming_uniform_ with a = √5); the "
             "rule here is He uniform for ReLU, √(6 / fan_in)"),
        slip("bias-with-the-weight-bound",
             "the bias is drawn with the weight's bound √(6 / fan_in); its rule is "
             "U(−1/√fan_in, 1/√fan_in)"),
        slip("bias-not-initialised",
             "the bias was never initialised (all zeros): draw it from U(−1/√fan_in, "
             "1/√fan_in), fan_in = in_channels·k·k"),
        slip("not-registered",
             "wrap each tensor in nn.Parameter and assign it to self (self.weight = "
             "nn.Parameter(...)); a plain tensor, or one kept in a list, is invisible to "
             "module.parameters()")))


@module_training(points=15, name="train_digits_cnn", module=LAYER_CHECK, forbidden=LIBRARY_CONV,
                 training=Training(net=LayerDigitsCNN, steps=120, lr=0.05, bar=0.85),
                 title="a layer of your own, trained",
                 covers="three hidden layers (1×1, 3×3 with stride 2, 5×5 with padding 2, 96 "
                        "to 130 filters): parameter shapes and count, the initialisation rule, "
                        "the output, the gradient of every parameter; then DigitsCNN built on "
                        "two of your layers",
                 summary="your convolution as an nn.Module with its own He-initialised weight "
                         "and bias, checked on hidden shapes, then two of them trained in "
                         "DigitsCNN; the loss curve must track the reference's and the accuracy "
                         "clear a bar")
class ConvLayer(torch.nn.Module):
    """A convolution layer: your conv2d_im2col with a weight and a bias of its own.

    Args:
    - in_channels: int C; out_channels: int F; kernel_size: int k (a k x k kernel)
    - stride: int s >= 1; padding: int p >= 0

    Parameters, registered (module.parameters() yields them) and drawn when the layer is built:
    - self.weight: (F, C, k, k), from U(-bound, bound) with bound = sqrt(6 / fan_in)
      (He uniform for ReLU: gain sqrt(2) times sqrt(3 / fan_in)), fan_in = C * k * k
    - self.bias: (F,), from U(-1 / sqrt(fan_in), 1 / sqrt(fan_in))

    forward(x): x of shape (N, C, H, W) -> conv2d_im2col(x, weight, bias, s, p), of shape
    (N, F, H_out, W_out); the gradient must reach weight and bias.

    Write the rest of __init__ and a forward method. Ours is about 10 lines.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0):
        super().__init__()


# -- 6. translation equivariance ---------------------------------------------------------------
def _equivariance(c: Case, *, mode: str | None = None, back: int = 1,
                  reduce: str = "max") -> Outputs:
    """``max |conv(roll(image)) − roll(conv(image))|`` with 'same' padding k // 2, circular or
    zeros (``mode`` overrides: ``"circular"``, ``"zeros"`` or ``"valid"``)."""
    img, ker = f64(c.image), f64(c.kernel)
    mode = mode or ("circular" if c.circular else "zeros")

    def same(image: torch.Tensor) -> torch.Tensor:  # (H, W) -> (H, W), or smaller when valid
        p = 0 if mode == "valid" else ker.shape[-1] // 2
        x = image[None, None]
        if mode == "circular":
            x, p = _torch_pad(x, (p, p, p, p), mode="circular"), 0
        return _torch_conv2d(x, ker[None, None], padding=p)[0, 0]

    diff = same(torch.roll(img, c.shift, dims=(0, 1))) - torch.roll(
        same(img), tuple(back * s for s in c.shift), dims=(0, 1))
    value = {"max": diff.abs().max(), "mean": diff.abs().mean(), "signed": diff.max()}[reduce]
    return (np.asarray(value.item(), dtype=np.float32),)


def _equivariance_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for circular in (True, False, True, False):
        h, w = (int(v) for v in rng.integers(8, 17, size=2))
        k = int(rng.choice([3, 5]))
        shift = tuple(int(rng.integers(1, 4)) * int(rng.choice([-1, 1])) for _ in range(2))
        cases.append(Case.of(f"image {h}×{w}, kernel {k}×{k}, shift {shift}, circular={circular}",
                             image=rng.random((h, w)).astype(np.float32),
                             kernel=rng.standard_normal((k, k)).astype(np.float32),
                             shift=shift, circular=circular))
    # the zero-padded case again with its kernel negated: every difference changes sign, so
    # a maximum taken without the absolute value shows
    negated = cases[1].with_(kernel=-cases[1].kernel)
    cases.append(dataclasses.replace(negated, label=f"{negated.label}, kernel negated"))
    return cases


@exercise(points=10, cases=_equivariance_cases, reference=_equivariance,
          mistakes=(
              Mistake("padding-mode-ignored",
                      "the padding ignores `circular`: with circular=True wrap the image around "
                      "(F.pad(..., mode='circular')); with circular=False pad zeros",
                      lambda c: _equivariance(c, mode="zeros" if c.circular else "circular")),
              Mistake("shifted-back-the-wrong-way",
                      "the two results were shifted in opposite directions: roll the convolved "
                      "original by the same (dy, dx) as the input",
                      lambda c: _equivariance(c, back=-1)),
              Mistake("no-padding",
                      "the convolution is 'valid' (no padding); use 'same' padding k // 2 so the "
                      "output has the image's size",
                      lambda c: _equivariance(c, mode="valid")),
              Mistake("mean-not-max",
                      "returned the mean absolute difference; return the largest one, "
                      "max |a − b|", lambda c: _equivariance(c, reduce="mean")),
              Mistake("not-absolute",
                      "returned max(a − b) without the absolute value; return max |a − b|",
                      lambda c: _equivariance(c, reduce="signed"))),
          title="equivariance",
          covers="circular and zero padding, 3×3 and 5×5 kernels, non-square images, shifts of "
                 "either sign",
          summary="translation equivariance measured, circular against zero padding")
def equivariance_error(image, kernel, shift, circular):
    """Largest difference between "shift, then convolve" and "convolve, then shift".

    Inputs:
    - image: (H, W) float tensor
    - kernel: (k, k) float tensor, k odd
    - shift: tuple (dy, dx) of ints, the shift applied with torch.roll(..., dims=(0, 1))
    - circular: bool; True pads circularly (wrap around), False pads with zeros; either way
      the padding is k // 2 on each side, so the output is (H, W)

    Returns:
    - a float, max over all pixels of |conv(roll(image)) - roll(conv(image))|
      (about 0 when circular is True; positive near the borders otherwise)

    Ours is about 10 lines.
    """


# -- 7. max pooling, forward and backward ------------------------------------------------------
def _pool_ref(c: Case) -> Outputs:
    """``(out, dx)`` of max pooling by ``convlab.functional.max_pool2d`` (PyTorch's rule: ties
    go to the first maximum in window order), ``dx`` by float64 autograd against ``dout``."""
    from convlab.functional import max_pool2d

    x = f64(c.x).requires_grad_(True)
    out = max_pool2d(x, c.kernel_size, c.stride, c.padding)
    (dx,) = torch.autograd.grad(out, (x,), f64(c.dout))
    return out.detach().numpy().astype(np.float32), dx.numpy().astype(np.float32)


def _pool_loop(c: Case, *, route: str = "first", stride: int | None = None) -> Outputs:
    """``(out, dx)`` by loops over output positions, each window's gradient routed by
    ``route``: ``"first"`` (the reference's rule), ``"last"`` (the last maximum), ``"split"``
    (shared among the tied maxima), ``"maxima"`` (all of it to every tied maximum) or
    ``"all"`` (to every element of the window). ``stride`` replaces the windows' step; the
    output then has that step's size and reads the top-left block of ``dout``."""
    x, dout = c.x.astype(np.float64), c.dout.astype(np.float64)
    k, p = c.kernel_size, c.padding
    s = c.stride if stride is None else stride
    n, ch, h, w = x.shape
    xp = np.full((n, ch, h + 2 * p, w + 2 * p), -np.inf)
    xp[:, :, p:p + h, p:p + w] = x
    ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    out, dxp = np.empty((n, ch, ho, wo)), np.zeros_like(xp)
    for i in range(ho):
        for j in range(wo):
            win = xp[:, :, i * s:i * s + k, j * s:j * s + k].reshape(n, ch, k * k)
            best = win.max(axis=2)
            out[:, :, i, j] = best
            tied = (win == best[..., None]).astype(np.float64)
            first = np.eye(k * k)[win.argmax(axis=2)]
            share = {"first": first, "last": np.eye(k * k)[k * k - 1 - win[..., ::-1].argmax(
                axis=2)], "split": tied / tied.sum(axis=2, keepdims=True), "maxima": tied,
                     "all": np.ones_like(win)}[route]
            dxp[:, :, i * s:i * s + k, j * s:j * s + k] += (
                share * dout[:, :, i, j, None]).reshape(n, ch, k, k)
    return out.astype(np.float32), dxp[:, :, p:p + h, p:p + w].astype(np.float32)


def _pool_cases(rng: np.random.Generator) -> list[Case]:
    """Integer-valued inputs (values −4…4, so windows often hold tied maxima), non-square.
    The first case has overlapping windows (stride < kernel), padding and ties, so every named
    mistake fails there first; then stride = kernel, stride 1, a stride above the kernel
    (gaps between windows) and two drawn cases."""
    shapes = [((2, 2, 7, 9), 3, 2, 1), ((1, 3, 6, 8), 2, 2, 0), ((2, 1, 9, 7), 3, 1, 1),
              ((1, 2, 8, 10), 2, 1, 0), ((1, 2, 11, 9), 2, 3, 1)]
    while len(shapes) < 7:
        k = int(rng.integers(2, 5))
        s, p = int(rng.integers(1, k + 2)), int(rng.integers(0, k // 2 + 1))
        h, w = (int(v) for v in rng.integers(k + 1, 13, size=2))
        shapes.append(((int(rng.integers(1, 3)), int(rng.integers(1, 4)), h, w), k, s, p))
    cases = []
    for shape, k, s, p in shapes:
        x = rng.integers(-4, 5, size=shape).astype(np.float32)
        ho, wo = ((size + 2 * p - k) // s + 1 for size in shape[2:])
        dout = rng.standard_normal((*shape[:2], ho, wo)).astype(np.float32)
        cases.append(Case.of(f"x {shape}, kernel {k}, stride {s}, padding {p} → dout "
                             f"{dout.shape}", x=x, dout=dout, kernel_size=k, stride=s,
                             padding=p))
    return cases


@exercise(points=15, cases=_pool_cases, reference=_pool_ref, forbidden=forbid(POOL, UNFOLD,
                                                                            AUTOGRAD),
          mistakes=(
              Mistake("gradient-to-every-element",
                      "the gradient goes to every element of the window; only the window's "
                      "maximum affected the output, so dout[n, c, i, j] goes to that one pixel",
                      lambda c: _pool_loop(c, route="all")),
              Mistake("ties-split",
                      "the gradient of a window with tied maxima is split among them; it goes "
                      "to the first maximum in window order (row by row), as PyTorch's",
                      lambda c: _pool_loop(c, route="split")),
              Mistake("ties-every-maximum",
                      "every tied maximum of a window receives the whole gradient (a mask "
                      "x == max); it goes to the first maximum in window order only",
                      lambda c: _pool_loop(c, route="maxima")),
              Mistake("ties-last-maximum",
                      "a window with tied maxima sends its gradient to the last one; it goes "
                      "to the first maximum in window order (argmax's rule)",
                      lambda c: _pool_loop(c, route="last")),
              Mistake("window-stepped-by-kernel",
                      "the windows step by the kernel size: window (i, j) starts at "
                      "(i·s − p, j·s − p); with stride s < k the windows overlap and the "
                      "gradients of a pixel in several windows add up",
                      lambda c: _pool_loop(c, stride=c.kernel_size),
                      when=lambda c: c.stride < c.kernel_size)),
          title="max pooling, forward and backward",
          covers="tied maxima (integer-valued inputs), non-square inputs, overlapping windows "
                 "(stride < kernel), stride = kernel, stride > kernel, padding 0–k // 2",
          summary="max pooling's output and its gradient by hand: each window's gradient to its "
                  "first maximum, added up where windows overlap")
def max_pool2d_forward_backward(x, dout, kernel_size, stride, padding=0):
    """Max pooling's forward pass and its backward pass, by hand.

    Inputs:
    - x: input, a float tensor of shape (N, C, H, W)
    - dout: upstream gradient dL/dout, of shape (N, C, H_out, W_out)
    - kernel_size: int k >= 1, the window is k × k
    - stride: int s >= 1, the step of the window in both directions (s may differ from k)
    - padding: int 0 <= p <= k // 2; padded pixels are never a window's maximum

    Returns a tuple (out, dx):
    - out: (N, C, H_out, W_out), H_out = (H + 2p - k) // s + 1 (likewise W_out), with
      out[n, c, i, j] = max_{u, v} x_pad[n, c, i*s + u, j*s + v]
    - dx: dL/dx, (N, C, H, W): each dout[n, c, i, j] goes to the pixel of x that is the maximum
      of window (i, j); where a window holds several equal maxima, to the first one in window
      order (row by row); a pixel in several windows receives the sum.

    Ours is about 15 lines.
    """


# -- 8. the numerical gradient check -----------------------------------------------------------
def _weights(x: torch.Tensor) -> torch.Tensor:
    return torch.linspace(-1.0, 1.0, x.numel(), dtype=x.dtype).reshape(x.shape)


#: The scalar functions the gradient check is tried on, by name; each couples the elements of
#: ``x`` (except the sum of cubes), so that an ``x`` left perturbed changes later derivatives.
GRAD_CHECK_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "softmax cross-entropy, class 0": lambda x: (torch.logsumexp(x, dim=-1)
                                                 - x[..., 0]).sum(),
    "tanh(w·x)·|x|²": lambda x: torch.tanh((_weights(x) * x).sum()) * (x ** 2).sum(),
    "|x xᵀ|² / 10": lambda x: ((x @ x.transpose(-1, -2)) ** 2).sum() / 10,
    "sum of cubes": lambda x: (x ** 3).sum(),
    "sin(x)·cos(x reversed)": lambda x: (torch.sin(x) * torch.cos(x.flip(-1))).sum(),
}


def _autograd_gradient(c: Case) -> Outputs:
    x = f64(c.x).requires_grad_(True)
    (g,) = torch.autograd.grad(GRAD_CHECK_FUNCTIONS[c.f](x), (x,))
    return (g.numpy(),)


def _numeric(c: Case, *, scheme: str = "centred", restore: bool = True,
             divisor: float = 2.0) -> Outputs:
    """A numerical gradient the way a student computes it: ``scheme`` ``"centred"``
    (f(x + h) − f(x − h)) or ``"forward"`` (f(x + h) − f(x)), divided by ``divisor · h``
    (``divisor`` 1 for the forward scheme), ``x[i]`` left at ``x[i] − h`` unless ``restore``."""
    f, x, h = GRAD_CHECK_FUNCTIONS[c.f], f64(c.x), c.h
    flat, grad = x.view(-1), torch.zeros(x.numel(), dtype=torch.float64)
    for i in range(flat.numel()):
        old = flat[i].item()
        flat[i] = old + h
        plus = f(x).item()
        flat[i] = old - h if scheme == "centred" else old
        minus = f(x).item()
        if restore:
            flat[i] = old
        grad[i] = (plus - minus) / (divisor * h)
    return (grad.reshape(x.shape).numpy(),)


def _grad_check_cases(rng: np.random.Generator) -> list[Case]:
    """One case per function, standard normal float64 inputs of 1 to 3 dimensions; the first
    couples all elements (so every named mistake fails there), one uses h = 1e-4."""
    shapes = [(3, 5), (7,), (4, 3), (2, 3, 4), (2, 6)]
    steps = [1e-5, 1e-5, 1e-5, 1e-5, 1e-4]
    return [Case.of(f"{name}, x {shape}, h = {h:g}", f=name,
                    x=rng.standard_normal(shape), h=h)
            for name, shape, h in zip(GRAD_CHECK_FUNCTIONS, shapes, steps, strict=True)]


@dataclasses.dataclass(frozen=True)
class _FunctionArgExercise(Exercise):
    """An exercise whose ``f`` argument is a function: cases name it (a string, so they stay
    plain values) and :meth:`run` hands the student the function of
    :data:`GRAD_CHECK_FUNCTIONS`."""

    def run(self, func: Callable[..., Any], case: Case) -> Outputs:
        named = self.named(case)
        args = tuple(GRAD_CHECK_FUNCTIONS[a] if n == "f" else to_student_value(a)
                     for n, a in zip(named.names, named.args, strict=False))
        kwargs = {k: GRAD_CHECK_FUNCTIONS[v] if k == "f" else to_student_value(v)
                  for k, v in named.kwargs.items()}
        return to_plain_outputs(func(*args, **kwargs))


@exercise(points=10, cases=_grad_check_cases, reference=_autograd_gradient,
          kind=_FunctionArgExercise, name="grad_check", rtol=1e-7, atol=1e-7,
          forbidden=forbid(AUTOGRAD, JACOBIAN, "torch.autograd.gradcheck", "torch.func.grad",
                           "torch.func.vjp"),
          mistakes=(
              Mistake("forward-difference",
                      "a forward difference (f(x + h) − f(x)) / h is off by about h·f''/2; the "
                      "centred difference (f(x + h) − f(x − h)) / 2h is off by about h²·f'''/6",
                      lambda c: _numeric(c, scheme="forward", divisor=1.0)),
              Mistake("x-not-restored",
                      "x[i] is left perturbed: restore x[i] to its old value after the two "
                      "evaluations, or every later derivative is taken at a moved point",
                      lambda c: _numeric(c, restore=False)),
              Mistake("divided-by-h",
                      "divided by h: the two points x + h and x − h are 2h apart, so the "
                      "difference is divided by 2h", lambda c: _numeric(c, divisor=1.0))),
          title="numerical gradient check",
          covers="five scalar functions (four that couple the elements), inputs of 1 to 3 "
                 "dimensions, h = 1e-5 and 1e-4",
          summary="the centred-difference numerical gradient, compared with autograd, then used "
                  "on your max-pooling backward pass")
def numerical_gradient(f, x, h=1e-5):
    """Numerical gradient of a scalar function by centred differences (CS231n's gradient check).

    Inputs:
    - f: a function of one tensor returning a scalar tensor, f(x) of shape ()
    - x: a float64 tensor of any shape, the point where the gradient is taken
    - h: float, the step

    Returns:
    - grad: a float64 tensor of x's shape,
        grad[i] = (f(x + h e_i) - f(x - h e_i)) / (2h)
      for every index i of x (e_i: 1 at index i, 0 elsewhere). Perturb x in place one element
      at a time and restore it; x holds its original values when the function returns.

    Ours is about 10 lines.
    """


EXERCISES = declare(__name__, conv2d_loop, conv_output_size, conv2d_im2col, conv2d_backward,
                    ConvLayer, equivariance_error, max_pool2d_forward_backward,
                    numerical_gradient)
