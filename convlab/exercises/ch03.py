"""Chapter 3 exercises (``notebooks/ch03/transposed_convolution.ipynb``), in notebook order.

Conventions stated in the notebook: a transposed convolution's weight has PyTorch's layout
``(C_in, C_out, kH, kW)``; ``H_out = s(H − 1) − 2p + (kH − 1) + output_padding + 1`` (dilation 1
throughout); matrices flatten images row-major: pixel ``(i, j)`` of an ``H × W`` image is entry
``i·W + j``. ``zero_insert_conv`` uses ``F.conv2d`` by design, so it comes after the exercises
that forbid it (the grader's static scan reads every answer cell above an exercise's test cell).
References run in float64 on convlab.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from convlab.analysis import conv_output_size
from convlab.functional import conv2d as _conv2d
from convlab.functional import conv_transpose2d as _conv_transpose2d
from convlab.linalg import conv_matrix as _conv_matrix
from convlab.linalg import overlap_counts
from convlab.models.small import DigitsAutoencoder, SmallNet

from .apis import CONV, JACOBIAN, TORCH_CONV_ENGINE, TRANSPOSED, forbid
from .arrays import f64, flip, like
from .spec import Case, Mistake, Outputs, changed, declare, exercise
from .training import ModuleCheck, Training, Uniform, module_case, module_training, slip

ANY_CONV = forbid(CONV, TRANSPOSED)


def _transposed(c: Case, w: np.ndarray | None = None, bias: bool = True) -> Outputs:
    """:func:`convlab.functional.conv_transpose2d` of the case in float64, in ``x``'s dtype."""
    b = c.values.get("b") if bias else None
    y = _conv_transpose2d(f64(c.x), f64(c.w if w is None else w), f64(b), stride=c.stride,
                          padding=c.padding, output_padding=c.values.get("output_padding", 0))
    return (like(y, c.x),)


def _swapped(c: Case) -> Outputs:  # the weight's channel axes swapped
    return _transposed(c, w=c.w.swapaxes(0, 1))


def _square(c: Case) -> bool:  # swapped channel axes only give an answer when C_in == C_out
    return c.w.shape[0] == c.w.shape[1]


# -- 1. transposed convolution by scatter -------------------------------------------------------
def _input_padded(c: Case) -> Outputs:
    p = c.padding
    return _transposed(c.with_(x=np.pad(c.x, ((0, 0), (0, 0), (p, p), (p, p))), padding=0))


def _cropped_one_side(c: Case, side: str) -> Outputs:
    full = _transposed(c.with_(padding=0))[0]  # the whole canvas, output_padding included
    p = c.padding
    return (full[..., p:, p:] if side == "start" else full[..., :-p, :-p],)


def _scatter_cases(rng: np.random.Generator) -> list[Case]:
    specs = [  # (N, C_in, C_out, H, W, (kH, kW), stride, padding, output_padding, bias)
        (2, 3, 3, 3, 4, (3, 3), 2, 0, 0, True),
        (1, 2, 2, 4, 3, (3, 3), 2, 1, 1, True),
        (2, 2, 4, 3, 3, (4, 4), 2, 1, 0, True),
        (1, 3, 2, 3, 4, (2, 2), 3, 0, 2, False),
        (2, 4, 3, 3, 3, (3, 3), 1, 1, 0, True),
        (1, 2, 3, 3, 4, (3, 2), 2, 1, 1, True),
    ]
    return [Case.of(f"C_in={cin}, C_out={cout}, k={kh}×{kw}, s={s}, p={p}, output_padding={op}",
                    x=rng.standard_normal((n, cin, h, w)).astype(np.float32),
                    w=rng.standard_normal((cin, cout, kh, kw)).astype(np.float32),
                    b=rng.standard_normal(cout).astype(np.float32) if has_bias else None,
                    stride=s, padding=p, output_padding=op)
            for n, cin, cout, h, w, (kh, kw), s, p, op, has_bias in specs]


@exercise(points=30, cases=_scatter_cases, reference=_transposed, forbidden=ANY_CONV,
          mistakes=(
              Mistake("output-padding-ignored",
                      "output_padding was ignored: the output needs output_padding extra rows "
                      "and columns at the bottom and right, H_out = s(H−1) − 2p + (kH−1) + "
                      "output_padding + 1",
                      changed(_transposed, output_padding=lambda c: 0),
                      when=lambda c: c.output_padding > 0),
              Mistake("padding-not-cropped",
                      "padding was not cropped: a transposed convolution's padding p removes p "
                      "rows and columns from each side of the full scatter canvas (it does not "
                      "pad the input)",
                      changed(_transposed, padding=lambda c: 0), when=lambda c: c.padding > 0),
              Mistake("weight-axes-swapped",
                      "the weight's channel axes are swapped: a transposed convolution's weight "
                      "is (C_in, C_out, kH, kW), so input channel c stamps w[c, o] into output "
                      "channel o",
                      _swapped, when=_square),
              Mistake("kernel-flipped",
                      "the kernel is flipped: the scatter stamps w itself, x[i, j]·w[u, v] "
                      "landing at (s·i − p + u, s·j − p + v); flipping belongs to the "
                      "direct-convolution form only",
                      lambda c: _transposed(c, w=flip(c.w))),
              Mistake("bias-missing",
                      "the bias is missing: add b[o] to every position of output channel o",
                      lambda c: _transposed(c, bias=False), when=lambda c: c.b is not None),
              Mistake("output-size-missing-plus-one",
                      "off-by-one size: the output is one row and one column short; "
                      "H_out = s(H−1) − 2p + (kH−1) + output_padding + 1 (the + 1 counts the "
                      "first stamp's row)",
                      lambda c: (_transposed(c)[0][..., :-1, :-1],),
                      when=lambda c: min(_transposed(c)[0].shape[-2:]) > 1),
              Mistake("input-padded",
                      "the input was padded by p, as a convolution does; a transposed "
                      "convolution crops p rows and columns from each side of the scatter canvas "
                      "instead",
                      _input_padded, when=lambda c: c.padding > 0),
              *(Mistake("cropped-one-side",
                        "the canvas was cropped on one side only: remove p rows and columns from "
                        "the top and the left and p from the bottom and the right",
                        lambda c, side=side: _cropped_one_side(c, side),
                        when=lambda c: c.padding > 0) for side in ("start", "end"))),
          title="transposed convolution by scatter",
          covers="stride 1–3, padding 0–1, output_padding 0–2, square and non-square kernels "
                 "(2×2 to 4×4), C_in ≠ C_out, bias or none, batch 1 and 2",
          summary="the transposed convolution by scattering kernel stamps, with padding cropped "
                  "and output_padding kept")
def conv_transpose2d_scatter(x, w, b=None, stride=1, padding=0, output_padding=0):
    """Transposed convolution, by scattering one kernel stamp per input position.

    Inputs:
    - x: input, a float tensor of shape (N, C_in, H, W)
    - w: weight, of shape (C_in, C_out, kH, kW) (PyTorch's transposed layout: input channel first)
    - b: bias of shape (C_out,), or None
    - stride: int s >= 1, the distance between neighbouring stamps in the output
    - padding: int p >= 0, rows/columns cropped from each side of the full canvas
    - output_padding: int, 0 <= output_padding < s, extra rows/columns kept at the bottom/right

    Returns:
    - out: tensor of shape (N, C_out, H_out, W_out), the dtype of x, where
        H_out = s*(H - 1) - 2p + (kH - 1) + output_padding + 1   (likewise W_out)
      full[n, o, s*i + u, s*j + v] += x[n, c, i, j] * w[c, o, u, v] on a canvas of
      (s*(H-1) + kH + output_padding) x (s*(W-1) + kW + output_padding) zeros, then
      out = full[:, :, p : p + H_out, p : p + W_out] + b[o].

    Ours is about 15 lines: one loop over input positions (i, j), one einsum per stamp.
    """


# -- 2. the convolution matrix C -----------------------------------------------------------------
def _matrix_cases(rng: np.random.Generator) -> list[Case]:
    specs = [((4, 4), (3, 3), 1, 0), ((5, 4), (3, 3), 2, 1), ((6, 6), (2, 2), 2, 0),
             ((4, 5), (3, 2), 1, 1), ((3, 3), (3, 3), 1, 1)]  # ((H, W), (kH, kW), stride, padding)
    return [Case.of(f"{h}×{w} input, {kh}×{kw} kernel, s={s}, p={p}", input_hw=(h, w),
                    w=rng.standard_normal((kh, kw)).astype(np.float32), stride=s, padding=p)
            for (h, w), (kh, kw), s, p in specs]


def _matrix(c: Case, flipped: bool = False, transpose: bool = False,
            column_major: bool = False) -> Outputs:
    w = flip(c.w) if flipped else c.w
    C = like(_conv_matrix(c.input_hw, f64(w)[None, None], stride=c.stride, padding=c.padding),
             c.w)  # (Ho·Wo, H·W)
    if column_major:  # number output and input pixels column by column
        (h, w), (kh, kw) = c.input_hw, c.w.shape
        ho, wo = (conv_output_size(n, k, c.stride, c.padding) for n, k in ((h, kh), (w, kw)))
        C = C[np.ix_(np.arange(ho * wo).reshape(ho, wo).T.ravel(),
                     np.arange(h * w).reshape(h, w).T.ravel())]
    return (np.ascontiguousarray(C.T) if transpose else C,)


@exercise(points=20, cases=_matrix_cases, reference=_matrix, forbidden=forbid(ANY_CONV, JACOBIAN),
          atol=1e-6, rtol=0.0,
          mistakes=(
              Mistake("returned-transpose",
                      "this is Cᵀ, not C: C has one row per output pixel and one column per "
                      "input pixel, shape (H_out·W_out, H·W)",
                      lambda c: _matrix(c, transpose=True)),
              Mistake("kernel-flipped",
                      "the kernel is flipped: row (i, j) of C holds w[u, v] in the column of "
                      "input pixel (s·i − p + u, s·j − p + v) (cross-correlation, as conv2d "
                      "computes)",
                      lambda c: _matrix(c, flipped=True)),
              Mistake("padding-ignored",
                      "padding was ignored: with padding p the output has more positions, and "
                      "taps that fall in the zero border simply have no column",
                      changed(_matrix, padding=lambda c: 0), when=lambda c: c.padding > 0),
              Mistake("column-major",
                      "pixels were numbered column by column; number them row-major, pixel "
                      "(i, j) of an H×W image is i·W + j (what reshape(-1) does)",
                      lambda c: _matrix(c, column_major=True))),
          title="the convolution matrix C",
          covers="square and non-square inputs and kernels, stride 1–2, padding 0–1",
          summary="the matrix C of a single-channel convolution, then C transposed read as the "
                  "transposed convolution, the adjoint and the input gradient")
def conv_matrix(input_hw, w, stride=1, padding=0):
    """The matrix C of a single-channel convolution: conv2d(x) == C @ x.reshape(-1).

    Inputs:
    - input_hw: tuple (H, W) of ints, the input size
    - w: kernel, a float tensor of shape (kH, kW)
    - stride: int s >= 1; padding: int p >= 0 (zeros on each side of the input)

    Returns:
    - C: dense tensor of shape (H_out * W_out, H * W), the dtype of w, where
        H_out = (H + 2p - kH) // s + 1  (likewise W_out)
        C[i*W_out + j, r*W + q] = w[u, v]  for r = s*i - p + u, q = s*j - p + v inside the image
      and 0 elsewhere.

    Ours is about 12 lines (four nested loops are fine at these sizes).
    """


# -- 3. overlap counts ------------------------------------------------------------------------
def _overlap_cases(rng: np.random.Generator) -> list[Case]:
    specs = [((4, 4), 3, 2), ((3, 5), 4, 2), ((4, 3), 3, 1), ((3, 3), 5, 3), ((2, 4), 2, 3)]
    return [Case.of(f"size={specs[i][0]}, k={specs[i][1]}, s={specs[i][2]}", size=specs[i][0],
                    kernel_size=specs[i][1], stride=specs[i][2])
            for i in rng.permutation(len(specs))]


def _overlap_ref(c: Case) -> Outputs:
    return (overlap_counts(c.size, c.kernel_size, c.stride).numpy().astype(np.int64),)


@exercise(points=10, cases=_overlap_cases, reference=_overlap_ref, atol=0.0, rtol=0.0,
          forbidden=forbid(ANY_CONV, "convlab.linalg.overlap_counts"),
          mistakes=(Mistake("stride-ignored",
                            "the stamps were placed one pixel apart: input (i, j) stamps its k×k "
                            "kernel at (s·i, s·j)",
                            changed(_overlap_ref, stride=lambda c: 1)),),
          title="overlap counts",
          covers="strides below, equal to and above the kernel size, non-square inputs",
          summary="how many stamps cover each output pixel, the cause of checkerboards")
def overlap_count(size, kernel_size, stride):
    """How many kernel stamps of a transposed convolution cover each output pixel (no padding).

    Inputs:
    - size: tuple (H, W) of ints, the input size
    - kernel_size: int k >= 1 (a square k x k kernel)
    - stride: int s >= 1

    Returns:
    - counts: torch.int64 tensor of shape (s*(H-1) + k, s*(W-1) + k);
      counts[r, q] = number of input positions (i, j) with s*i <= r < s*i + k and s*j <= q < s*j + k

    Ours is about 6 lines.
    """


# -- 4. transposed convolution as a direct convolution on a zero-inserted input -----------------
def _zero_insert_cases(rng: np.random.Generator) -> list[Case]:
    specs = [  # (N, C_in, C_out, H, W, k, stride, padding)
        (2, 3, 3, 3, 3, 3, 2, 0),
        (1, 2, 2, 4, 5, 3, 2, 1),
        (2, 2, 3, 3, 4, 4, 2, 1),
        (1, 3, 2, 4, 3, 3, 3, 2),
        (2, 2, 2, 3, 3, 2, 1, 0),
        (1, 1, 2, 5, 5, 3, 2, 3),  # padding > k − 1: the zero-inserted input is cropped
        (1, 2, 3, 4, 3, (3, 2), 2, 1),  # non-square kernel: kH − 1 − p ≠ kW − 1 − p
    ]
    return [Case.of(f"C_in={cin}, C_out={cout}, k={k}, s={s}, p={p}",
                    x=rng.standard_normal((n, cin, h, w)).astype(np.float32),
                    w=rng.standard_normal((cin, cout, *(k if isinstance(k, tuple) else (k, k)))
                                          ).astype(np.float32), stride=s, padding=p)
            for n, cin, cout, h, w, k, s, p in specs]


@exercise(points=20, cases=_zero_insert_cases, reference=_transposed,
          forbidden=forbid(TRANSPOSED),
          mistakes=(
              Mistake("kernel-not-flipped",
                      "the kernel was not flipped in the zero-insertion construction: the direct "
                      "convolution must use w flipped in both spatial axes, w[:, :, ::-1, ::-1] "
                      "(torch.flip(w, (2, 3)))",
                      lambda c: _transposed(c, w=flip(c.w))),
              Mistake("channel-axes-not-swapped",
                      "the weight's channel axes were not swapped: conv2d wants (C_out, C_in, "
                      "kH, kW), a transposed weight is (C_in, C_out, kH, kW); transpose axes 0 "
                      "and 1",
                      _swapped, when=_square),
              Mistake("s-zeros-inserted",
                      "s zeros were inserted between neighbouring inputs; insert s − 1 (stride "
                      "2 puts one zero between each pair)",
                      changed(_transposed, stride=lambda c: c.stride + 1)),
              Mistake("padding-not-reduced",
                      "the zero-inserted input was padded by k − 1 on each side whatever the "
                      "padding; pad by k − 1 − p (crop when that is negative)",
                      changed(_transposed, padding=lambda c: 0), when=lambda c: c.padding > 0)),
          title="transposed convolution as a direct convolution",
          covers="stride 1–3, padding 0–3 (also above k − 1, which crops), square and "
                 "non-square kernels, C_in = 1 and more, batch 1 and 2",
          summary="the transposed convolution as a stride-1 convolution of the zero-inserted, "
                  "padded input with the flipped kernel")
def zero_insert_conv(x, w, stride=1, padding=0):
    """Transposed convolution (no bias, no output_padding) as a stride-1 direct convolution.

    Inputs:
    - x: input, (N, C_in, H, W)
    - w: transposed-convolution weight, (C_in, C_out, kH, kW)
    - stride: int s >= 1; padding: int p >= 0

    Returns:
    - out: (N, C_out, H_out, W_out) with H_out = s*(H - 1) - 2p + kH (likewise W_out), equal to
      conv_transpose2d(x, w, stride=s, padding=p), computed as
        z   = zeros of shape (N, C_in, s*(H-1) + 1, s*(W-1) + 1);  z[:, :, ::s, ::s] = x
        z   = pad z by kH-1-p rows and kW-1-p columns on each side (negative: crop)
        out = F.conv2d(z, w flipped in both spatial axes, axes 0 and 1 swapped)

    Ours is about 8 lines.
    """


# -- 5. the training check: a layer of your own in a decoder -------------------------------------
def _he_bound(fan_in: int) -> float:
    """He (Kaiming) uniform for ReLU: ``U(−b, b)`` with ``b = √(6 / fan_in)``."""
    return math.sqrt(6.0 / fan_in)


class _ReferenceConvTransposeLayer(torch.nn.Module):
    """convlab's answer to :class:`ConvTransposeLayer`: the layer of the reference decoder."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, output_padding: int = 0) -> None:
        super().__init__()
        fan_in = out_channels * kernel_size * kernel_size  # the weight's dims 1, 2, 3
        self.stride, self.padding, self.output_padding = stride, padding, output_padding
        self.weight = torch.nn.Parameter(torch.empty(
            in_channels, out_channels, kernel_size, kernel_size).uniform_(-_he_bound(fan_in),
                                                                          _he_bound(fan_in)))
        self.bias = torch.nn.Parameter(torch.empty(out_channels).uniform_(
            -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                 self.output_padding)


class LayerAutoencoder(SmallNet):
    """:class:`~convlab.models.small.DigitsAutoencoder` with its decoder as two layer modules,
    ``layer(32, 16, 3, stride=2, padding=1, output_padding=1)`` and ``layer(16, 1, 3, ...)``
    with the same arguments (convlab's when ``None``), starting from DigitsAutoencoder's
    initial weights for ``seed``; the encoder is convlab's.

    Shape: ``(N, 1, 8, 8)`` → ``(N, 1, 8, 8)`` in ``(0, 1)``.
    """

    def __init__(self, layer: Callable[..., torch.nn.Module] | None = None,
                 seed: int = 0) -> None:
        super().__init__()
        layer = _ReferenceConvTransposeLayer if layer is None else layer
        start = DigitsAutoencoder(seed=seed).state_arrays()
        for name in ("enc1_weight", "enc1_bias", "enc2_weight", "enc2_bias"):
            setattr(self, name, torch.nn.Parameter(torch.from_numpy(start[name])))
        up = {"stride": 2, "padding": 1, "output_padding": 1}
        self.dec1 = layer(32, 16, 3, **up)  # (N, 32, 2, 2) -> (N, 16, 4, 4)
        self.dec2 = layer(16, 1, 3, **up)  # (N, 16, 4, 4) -> (N, 1, 8, 8)
        self.load_arrays({name.replace("_", ".") if name.startswith("dec") else name: a
                          for name, a in start.items()})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.relu(_conv2d(x, self.enc1_weight, self.enc1_bias, stride=2, padding=1))
        z = torch.relu(_conv2d(z, self.enc2_weight, self.enc2_bias, stride=2, padding=1))
        return torch.sigmoid(self.dec2(torch.relu(self.dec1(z))))  # (N, 1, 8, 8)


def _layer_cases(rng: np.random.Generator) -> list[Case]:
    """Three layers with about a hundred output channels (so a bias's extremes come close to
    its bound) and C_out·k² far from C_in·k² in the first: 3×3 with stride 2, padding 1 and
    output_padding 1 (the decoder's), 4×4 with stride 2 and padding 1, 5×5 with stride 3,
    padding 2 and output_padding 1."""
    cases = []
    for c_in, c_out, k, s, p, op in ((6, 96, 3, 2, 1, 1), (128, 100, 4, 2, 1, 0),
                                     (4, 110, 5, 3, 2, 1)):
        c_in, c_out = c_in + int(rng.integers(0, 3)), c_out + int(rng.integers(0, 9))
        h, w = (int(v) for v in rng.integers(3, 6, size=2))
        x = rng.standard_normal((2, c_in, h, w)).astype(np.float32)
        ho, wo = (s * (n - 1) - 2 * p + k + op for n in (h, w))
        cases.append(module_case(
            f"ConvTransposeLayer({c_in}, {c_out}, {k}, stride={s}, padding={p}, "
            f"output_padding={op}) on x of shape {x.shape}",
            {"in_channels": c_in, "out_channels": c_out, "kernel_size": k, "stride": s,
             "padding": p, "output_padding": op},
            x=x, dout=rng.standard_normal((2, c_out, ho, wo)).astype(np.float32),
            seed=int(rng.integers(0, 2**31 - 1))))
    return cases


def _layer_shapes(c: Case) -> dict[str, tuple[int, ...]]:
    b = dict(c.build)
    k = b["kernel_size"]
    return {"weight": (b["in_channels"], b["out_channels"], k, k), "bias": (b["out_channels"],)}


def _layer_shape_slips(c: Case) -> dict[str, tuple[tuple[str, tuple[int, ...]], ...]]:
    b = dict(c.build)
    k = b["kernel_size"]
    return {"weight": (("convolution-layout", (b["out_channels"], b["in_channels"], k, k)),)}


def _layer_init(c: Case) -> dict[str, Uniform]:
    b = dict(c.build)
    k2 = b["kernel_size"] ** 2
    fan_in, from_in = b["out_channels"] * k2, b["in_channels"] * k2
    return {"weight": Uniform(_he_bound(fan_in), (
                ("fan-in-from-in-channels", _he_bound(from_in)),
                ("gain-missing", math.sqrt(3.0 / fan_in)),
                ("pytorch-default-bound", 1 / math.sqrt(fan_in)))),
            "bias": Uniform(1 / math.sqrt(fan_in), (
                ("fan-in-from-in-channels", 1 / math.sqrt(from_in)),
                ("bias-with-the-weight-bound", _he_bound(fan_in))),
                zero="bias-not-initialised")}


def _layer_forward(c: Case, params: dict[str, np.ndarray]) -> np.ndarray:
    b = dict(c.build)
    y = _conv_transpose2d(f64(c.x), f64(params["weight"]), f64(params["bias"]),
                          stride=b["stride"], padding=b["padding"],
                          output_padding=b["output_padding"])
    return like(y, c.x)


LAYER_CHECK = ModuleCheck(
    make_cases=_layer_cases, parameters=_layer_shapes, init=_layer_init, forward=_layer_forward,
    shape_slips=_layer_shape_slips,
    mistakes=(
        slip("convolution-layout",
             "that is a convolution's layout (C_out, C_in, k, k); a transposed convolution's "
             "weight is (C_in, C_out, k, k), input channel first"),
        slip("fan-in-from-in-channels",
             "the bound fits fan_in = C_in·k·k; the rule reads the fan-in from the weight's "
             "dimensions 1, 2, 3, as PyTorch does for a transposed weight: C_out·k·k"),
        slip("gain-missing",
             "the bound is √(3 / fan_in), without ReLU's gain √2: He uniform is √(6 / fan_in)"),
        slip("pytorch-default-bound",
             "the bound is 1/√fan_in, nn.ConvTranspose2d's default (kaiming_uniform_ with "
             "a = √5); the rule here is He uniform for ReLU, √(6 / fan_in)"),
        slip("bias-with-the-weight-bound",
             "the bias is drawn with the weight's bound √(6 / fan_in); its rule is "
             "U(−1/√fan_in, 1/√fan_in)"),
        slip("bias-not-initialised",
             "the bias was never initialised (all zeros): draw it from U(−1/√fan_in, "
             "1/√fan_in), fan_in = C_out·k·k"),
        slip("not-registered",
             "wrap each tensor in nn.Parameter and assign it to self (self.weight = "
             "nn.Parameter(...)); a plain tensor is invisible to module.parameters()")))


@module_training(
    points=20, name="train_decoder", module=LAYER_CHECK,
    # Only the transposed convolutions: exercise 4 (zero_insert_conv) calls F.conv2d by design.
    forbidden=forbid(TRANSPOSED, TORCH_CONV_ENGINE),
    training=Training(net=LayerAutoencoder, targets="image", loss="mse", optimizer="adam",
                      lr=0.01, steps=150, metric="mse", bar=0.015, curve_atol=0.002,
                      curve_rtol=0.1),
    title="an upsampling layer of your own, trained in a decoder",
    covers="three hidden layers (3×3 stride 2 with output_padding 1, 4×4 stride 2, 5×5 stride "
           "3, about a hundred output channels): the transposed weight layout, parameter count, "
           "the initialisation rule, the output, the gradient of every parameter; then the "
           "decoder of DigitsAutoencoder built on two of your layers",
    summary="your scatter as an nn.Module with its own weight in the transposed layout and a "
            "He initialisation by the transposed fan-in, checked on hidden shapes, then two of "
            "them as the decoder of DigitsAutoencoder; the reconstruction-loss curve must track "
            "the reference's and the test error clear a bar")
class ConvTransposeLayer(torch.nn.Module):
    """An upsampling layer: your conv_transpose2d_scatter with a weight and a bias of its own.

    Args:
    - in_channels: int C_in; out_channels: int C_out; kernel_size: int k (a k x k kernel)
    - stride: int s >= 1; padding: int p >= 0; output_padding: int, 0 <= output_padding < s

    Parameters, registered (module.parameters() yields them) and drawn when the layer is built:
    - self.weight: (C_in, C_out, k, k), the transposed layout, from U(-bound, bound) with
      bound = sqrt(6 / fan_in) (He uniform), fan_in = C_out * k * k: the product of the
      weight's dimensions 1, 2, 3, as PyTorch reads it for a transposed weight
    - self.bias: (C_out,), from U(-1 / sqrt(fan_in), 1 / sqrt(fan_in))

    forward(x): x of shape (N, C_in, H, W) ->
    conv_transpose2d_scatter(x, weight, bias, s, p, output_padding), of shape
    (N, C_out, H_out, W_out) with H_out = s*(H - 1) - 2p + (k - 1) + output_padding + 1
    (likewise W_out). The gradient must reach weight and bias.

    Write the rest of __init__ and a forward method. Ours is about 10 lines.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0):
        super().__init__()


EXERCISES = declare(__name__, conv_transpose2d_scatter, conv_matrix, overlap_count,
                    zero_insert_conv, ConvTransposeLayer)
