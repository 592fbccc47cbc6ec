"""Chapter 1 exercises (``notebooks/ch01/vanilla_convolution.ipynb``), in notebook order.

1. ``conv2d_loop`` — the convolution layer's forward pass by explicit loops;
2. ``conv_output_size`` — the output-size relation;
3. ``conv2d_im2col`` — the same forward pass as one matrix product, with no Python loop over
   output positions (measured: the number of Python lines the solution executes must not grow
   with the output size);
4. ``conv2d_backward`` — the gradients ``dx, dw, db`` by hand;
5. ``train_digits_cnn`` — the student's ``conv2d_im2col`` trains :class:`DigitsCNN` on the
   digits like convlab's convolution does;
6. ``equivariance_error`` — translation equivariance measured, circular versus zero padding
   (last, because it may call ``F.conv2d``, which the exercises above forbid and the grader
   looks for in every answer cell above an exercise's test cell).

Conventions stated in the notebook: ``x (N, C, H, W)``, ``w (F, C, kH, kW)``, ``b (F,)``;
``stride`` and ``padding`` are ints applied to both spatial dimensions; the layer computes the
cross-correlation

    out[n, f, i, j] = b[f] + Σ_{c,u,v} x_pad[n, c, i·s + u, j·s + v] · w[f, c, u, v].

References are computed in float64 (PyTorch's own convolution and autograd, or convlab) and
compared at float32 tolerances.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import sysconfig
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from .compare import to_student_value
from .spec import Attempt, Case, Diagnosis, Exercise, Outputs, Verdict
from .training import DigitsClassifierTraining, TrainableNet, seed_cases

#: PyTorch's convolution, held before any student code runs; only reference code calls it.
_torch_conv2d = torch.nn.functional.conv2d
_torch_pad = torch.nn.functional.pad
#: The tracer functions, held before the forbidden-API guard swaps ``sys.settrace``.
_settrace = sys.settrace
_gettrace = sys.gettrace

_CONVLAB_CONV_APIS: tuple[str, ...] = (
    "convlab.functional.conv2d",
    "convlab.functional.conv.conv2d",
    "convlab.functional.conv.conv2d_naive",
    "convlab.functional.im2col.im2col",
    "convlab.functional.im2col.correlate",
)


def _available(names: Sequence[str]) -> tuple[str, ...]:
    """The dotted names that resolve in this installation (convlab's entry points)."""
    import importlib

    found = []
    for name in names:
        module, _, attr = name.rpartition(".")
        try:
            if hasattr(importlib.import_module(module), attr):
                found.append(name)
        except ImportError:
            continue
    return tuple(found)


#: Every way to have a library compute the convolution (or its sliding windows).
CONV_APIS: tuple[str, ...] = (
    "torch.nn.functional.conv2d",
    "torch.conv2d",
    "torch.convolution",
    "torch._convolution",
    "torch.nn.Conv2d.forward",
    "torch.nn.functional.conv_transpose2d",
    "torch.conv_transpose2d",
    "torch.Tensor.unfold",
    "torch.nn.functional.unfold",
    "torch.nn.Unfold.forward",
) + _available(_CONVLAB_CONV_APIS)
#: Autograd entry points, forbidden where the gradient is the exercise.
AUTOGRAD_APIS: tuple[str, ...] = (
    "torch.autograd.grad",
    "torch.autograd.backward",
    "torch.Tensor.backward",
    "torch.nn.grad.conv2d_input",
    "torch.nn.grad.conv2d_weight",
    "torch.nn.functional.fold",
)
#: Switching the line tracer off would hide Python loops from the loop probe.
TRACER_APIS: tuple[str, ...] = ("sys.settrace", "sys.setprofile")


# -- references (plain arrays in, plain arrays out) -----------------------------------------
def _f64(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))


def _f32(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy().astype(np.float32)


def conv_reference(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: int, padding: int
) -> np.ndarray:
    """Cross-correlation in float64 (PyTorch's), returned as float32.

    Shape: ``x (N, C, H, W)``, ``w (F, C, kH, kW)``, ``b (F,)`` → ``(N, F, H_out, W_out)``.
    """
    out = _torch_conv2d(_f64(x), _f64(w), None if b is None else _f64(b),
                        stride=stride, padding=padding)
    return _f32(out)


def _conv_ref(case: Case) -> Outputs:
    return (conv_reference(*case.args),)


def _conv_variant(**change: Any) -> Callable[[Case], Outputs]:
    """What a solution returns when it uses a changed argument (``stride=1``, ``padding=p+1``…)."""

    def variant(case: Case) -> Outputs:
        x, w, b, stride, padding = case.args
        args = {"x": x, "w": w, "b": b, "stride": stride, "padding": padding}
        for key, fn in change.items():
            args[key] = fn(case)
        if args["stride"] == stride and args["padding"] == padding and args["w"] is w and (
            args["b"] is b
        ):
            raise ValueError("the variant equals the reference here")
        return (conv_reference(**args),)

    return variant


def _needs(condition: bool) -> None:
    if not condition:
        raise ValueError("this mistake cannot be told apart on this case")


def _flipped(case: Case) -> np.ndarray:
    w = case.args[1]
    _needs(w.shape[-2:] != (1, 1))
    return w[..., ::-1, ::-1]


def _transposed(case: Case) -> np.ndarray:
    w = case.args[1]
    _needs(w.shape[-1] > 1 or w.shape[-2] > 1)
    return np.ascontiguousarray(np.swapaxes(w, -1, -2))


def _bias_times_channels(case: Case) -> np.ndarray:
    x, _, b = case.args[:3]
    _needs(x.shape[1] > 1)
    return b * x.shape[1]


def _one_short(case: Case) -> Outputs:
    (out,) = _conv_ref(case)
    _needs(min(out.shape[-2:]) > 1)
    return (out[..., :-1, :-1],)


def _padding_changed(delta: int) -> Callable[[Case], int]:
    def padding(case: Case) -> int:
        p = case.args[4] + delta
        _needs(p >= 0)
        return p

    return padding


CONV_DIAGNOSES: tuple[Diagnosis, ...] = (
    Diagnosis(
        "flipped-kernel",
        "the kernel is flipped: that is convolution in the signal-processing sense; a conv "
        "layer computes the cross-correlation out[i, j] = Σ x_pad[i·s + u, j·s + v] · w[u, v] "
        "(no flip)",
        _conv_variant(w=_flipped),
    ),
    Diagnosis(
        "kernel-transposed",
        "the kernel's rows and columns are swapped: read w[f, c, u, v] with u along the height "
        "and v along the width",
        _conv_variant(w=_transposed),
    ),
    Diagnosis(
        "padding-off-by-one",
        "off-by-one size: the output is what padding p + 1 gives; pad exactly p zeros on each "
        "side",
        _conv_variant(padding=_padding_changed(+1)),
    ),
    Diagnosis(
        "padding-off-by-one",
        "off-by-one size: the output is what padding p − 1 gives; pad exactly p zeros on each "
        "side",
        _conv_variant(padding=_padding_changed(-1)),
    ),
    Diagnosis(
        "output-size-missing-plus-one",
        "off-by-one size: the output is one row and one column short; "
        "H_out = ⌊(H + 2p − kH)/s⌋ + 1 (the + 1 counts the first window)",
        _one_short,
    ),
    Diagnosis(
        "padding-ignored",
        "the input is not padded: the output is what padding 0 gives; pad p zeros on each side",
        _conv_variant(padding=lambda c: (_needs(c.args[4] > 1), 0)[1]),
    ),
    Diagnosis(
        "stride-ignored",
        "the stride is ignored: the output is what stride 1 gives; move the window s pixels at "
        "a time (input row i·s + u for output row i)",
        _conv_variant(stride=lambda c: (_needs(c.args[3] > 1), 1)[1]),
    ),
    Diagnosis(
        "bias-missing",
        "the bias is missing: add b[f] to every output position of filter f",
        _conv_variant(b=lambda c: None),
    ),
    Diagnosis(
        "bias-per-input-channel",
        "the bias is added once per input channel (C times); add b[f] once, after the sum over "
        "channels",
        _conv_variant(b=_bias_times_channels),
    ),
)


def _conv_case(rng: np.random.Generator, label: str, n: int, c: int, f: int, hw: tuple[int, int],
               k: tuple[int, int], stride: int, padding: int) -> Case:
    x = rng.standard_normal((n, c, *hw)).astype(np.float32)
    w = rng.standard_normal((f, c, *k)).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32)
    h_out = (hw[0] + 2 * padding - k[0]) // stride + 1
    w_out = (hw[1] + 2 * padding - k[1]) // stride + 1
    return Case((x, w, b, stride, padding),
                label=f"{label}: x {x.shape}, w {w.shape}, stride {stride}, padding {padding} "
                      f"→ {h_out}×{w_out}")


def make_conv_cases(rng: np.random.Generator, scale: int = 1) -> list[Case]:
    """Five cases whose sizes the seed draws: a general one, a 1×1 kernel, a stride larger than
    the kernel, a non-square image and kernel, and padding 2. ``scale`` enlarges the images."""

    def r(lo: int, hi: int) -> int:
        return int(rng.integers(lo, hi + 1))

    s = scale
    cases = [
        _conv_case(rng, "general", r(1, 2), r(2, 3), r(2, 3), (r(5, 7) * s, r(5, 7) * s),
                   (3, 3), r(1, 2), r(0, 1)),
        _conv_case(rng, "1×1 kernel", r(1, 2), r(2, 4), r(1, 3), (r(3, 6) * s, r(3, 6) * s),
                   (1, 1), r(1, 2), r(0, 1)),
        _conv_case(rng, "stride larger than the kernel", r(1, 2), r(1, 3), r(1, 3),
                   (r(7, 9) * s, r(7, 9) * s), (2, 2), 3, r(0, 1)),
    ]
    kh, kw = (2, 3) if rng.random() < 0.5 else (3, 1)
    h = r(4, 6) * s
    cases.append(_conv_case(rng, "non-square", r(1, 2), r(1, 3), r(2, 3), (h, h + r(1, 3)),
                            (kh, kw), r(1, 2), r(0, 2)))
    cases.append(_conv_case(rng, "padding 2", 1, r(1, 2), r(1, 2), (r(4, 6) * s, r(4, 6) * s),
                            (3, 3), 1, 2))
    return cases


# -- 1. the loop version -----------------------------------------------------------------------
CONV2D_LOOP = Exercise(
    chapter="ch01",
    name="conv2d_loop",
    entry="conv2d_loop",
    points=20,
    make_cases=make_conv_cases,
    reference=_conv_ref,
    forbidden=CONV_APIS,
    diagnoses=CONV_DIAGNOSES,
    title="convolution by loops",
)


# -- 2. the output-size relation -----------------------------------------------------------
def _size_cases(rng: np.random.Generator) -> list[Case]:
    """Ten sizes. The first case that a mistake gets wrong decides the feedback, so three
    hand-picked cases come first, in an order that keeps the mistakes apart: a stride that
    does not divide the span (only rounding up and the missing + 1 fail here), padding 2 with
    stride 1 (the one-sided padding fails next), dilation 2 (the ignored dilation). Seven
    drawn cases follow (kept when the output is at least 1)."""
    cases = [
        Case((8, 2, 2, 0, 1), label="a stride that does not divide the span"),
        Case((7, 3, 1, 2, 1), label="padding 2"),
        Case((10, 3, 1, 0, 2), label="dilation 2"),
    ]
    while len(cases) < 10:
        size, k = int(rng.integers(1, 65)), int(rng.integers(1, 8))
        s, p, d = int(rng.integers(1, 5)), int(rng.integers(0, 4)), int(rng.integers(1, 4))
        if size + 2 * p - d * (k - 1) - 1 >= 0:
            cases.append(Case((size, k, s, p, d), label="drawn"))
    return [dataclasses.replace(c, label=f"{c.label}: size, kernel_size, stride, padding, "
                                f"dilation = {c.args}") for c in cases]


def _size(size: int, k: int, s: int, p: int, d: int, *, rounding: str = "floor", plus_one: int = 1,
          dilation: bool = True, pad_sides: int = 2) -> Outputs:
    span = size + pad_sides * p - (d if dilation else 1) * (k - 1) - 1
    steps = -(-span // s) if rounding == "ceil" else span // s
    return (np.asarray(steps + plus_one, dtype=np.int64),)


def _size_ref(case: Case) -> Outputs:
    from convlab.analysis import shapes

    return (np.asarray(shapes.conv_output_size(*case.args), dtype=np.int64),)


CONV_OUTPUT_SIZE = Exercise(
    chapter="ch01",
    name="conv_output_size",
    entry="conv_output_size",
    points=10,
    make_cases=_size_cases,
    reference=_size_ref,
    forbidden=_available(("convlab.analysis.conv_output_size",
                          "convlab.analysis.shapes.conv_output_size")),
    diagnoses=(
        Diagnosis("missing-plus-one",
                  "forgot the + 1: ⌊(size + 2p − d(k − 1) − 1)/s⌋ counts the steps between "
                  "windows; the first window adds one",
                  lambda c: _size(*c.args, plus_one=0)),
        Diagnosis("ceil-instead-of-floor",
                  "rounded up: a window that would hang over the padded edge is dropped, so the "
                  "division rounds down (⌊·⌋, Python's //)",
                  lambda c: _size(*c.args, rounding="ceil")),
        Diagnosis("dilation-ignored",
                  "the dilation is ignored: a dilated kernel spans d(k − 1) + 1 pixels",
                  lambda c: (_needs(c.args[4] > 1), _size(*c.args, dilation=False))[1]),
        Diagnosis("padding-one-side",
                  "the padding is counted once: p zeros go on each side, 2p in all",
                  lambda c: (_needs(c.args[3] > 0), _size(*c.args, pad_sides=1))[1]),
    ),
    rtol=0.0,
    atol=0.0,
    title="output size",
)


# -- 3. im2col, with the loop probe ------------------------------------------------------------
def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    dirs.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # convlab itself
    dirs |= {os.path.realpath(d) for d in dirs}
    return tuple(os.path.join(d, "") for d in sorted(dirs))


_LIBRARY_DIRS = _library_dirs()


def _is_library(filename: str) -> bool:
    return filename.startswith(_LIBRARY_DIRS) or filename.startswith("<frozen ")


class TracerTampered(RuntimeError):
    """The solution replaced or removed the line tracer while it ran."""


def count_student_lines(func: Callable[..., Any], *args: Any) -> tuple[Any, int]:
    """Call ``func(*args)`` and count the Python line events executed in non-library code.

    Library code (the standard library, site-packages, convlab) is not counted, so the count is
    the number of lines the solution itself executed: it grows with the output size exactly
    when the solution loops over output positions in Python.

    Returns:
        ``(func's result, line count)``.

    Raises:
        TracerTampered: if the tracer was changed while ``func`` ran.
    """
    count = 0
    decided: dict[Any, bool] = {}

    def on_line(frame: Any, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return on_line

    def on_call(frame: Any, event: str, arg: Any) -> Any:
        code = frame.f_code
        mine = decided.get(code)
        if mine is None:
            mine = decided[code] = not _is_library(code.co_filename)
        return on_line if mine else None

    previous = _gettrace()
    _settrace(on_call)
    try:
        result = func(*args)
    finally:
        tampered = _gettrace() is not on_call
        _settrace(previous)
    if tampered:
        raise TracerTampered("the solution changed the Python tracer (sys.settrace)")
    return result, count


@dataclasses.dataclass(frozen=True)
class VectorizedConvExercise(Exercise):
    """A convolution exercise that must not loop over output positions in Python.

    ``run`` returns the outputs plus one extra array: the number of Python lines the solution
    executed on two probe inputs with the same kernel, stride and padding as the case, whose
    outputs are ``probe_sides[0]²`` and ``probe_sides[1]²`` positions. ``judge`` compares the
    outputs as usual, then fails a solution whose line count grows with the output: a loop over
    output rows alone adds at least one line per extra row. Loops over kernel offsets,
    channels or the batch do not change between the probes.
    """

    probe_sides: tuple[int, int] = (5, 10)

    def _probe(self, func: Callable[..., Any], case: Case, side: int) -> int:
        x, w, b, stride, padding = case.args
        kh, kw = w.shape[-2:]
        h, wd = ((side - 1) * stride + k - 2 * padding for k in (kh, kw))
        if min(h, wd) < 1:
            raise ValueError(f"probe side {side} is too small for this case")
        rng = np.random.default_rng(side)
        xp = rng.standard_normal((x.shape[0], x.shape[1], h, wd)).astype(np.float32)
        args = tuple(to_student_value(a) for a in (xp, w, b, stride, padding))
        _, lines = count_student_lines(func, *args)
        return lines

    def run(self, func: Callable[..., Any], case: Case) -> Outputs:
        outputs = super().run(func, case)
        lines = [self._probe(func, case, side) for side in self.probe_sides]
        return (*outputs, np.asarray(lines, dtype=np.int64))

    def judge(self, cases: Sequence[Case], attempts: Sequence[Attempt]) -> Verdict:
        plain: list[Attempt] = []
        counts: list[np.ndarray | None] = []
        for got in attempts:
            if isinstance(got, str):
                plain.append(got)
                counts.append(None)
            elif len(got) < 2 or np.shape(got[-1]) != (2,):
                plain.append("the worker returned no line counts")
                counts.append(None)
            else:
                plain.append(tuple(got[:-1]))
                counts.append(got[-1])
        verdict = super().judge(cases, plain)
        if not verdict.passed:
            return verdict
        small_side, large_side = self.probe_sides
        for i, lines in enumerate(counts):
            assert lines is not None  # every attempt passed, so each carries its counts
            small, large = int(lines[0]), int(lines[1])
            if large - small >= large_side - small_side:
                return Verdict(
                    False,
                    f"case {i + 1}/{len(cases)}: loops over output positions in Python (line "
                    f"count grows with H_out·W_out: {small} lines for a {small_side}×{small_side} "
                    f"output, {large} for {large_side}×{large_side}); build the column matrix "
                    "with slicing over kernel offsets or as_strided, then one matmul",
                    ("python-loop",),
                )
        return Verdict(True, f"{verdict.message}; no Python loop over output positions")


CONV2D_IM2COL = VectorizedConvExercise(
    chapter="ch01",
    name="conv2d_im2col",
    entry="conv2d_im2col",
    points=20,
    make_cases=lambda rng: make_conv_cases(rng, scale=2),
    reference=_conv_ref,
    forbidden=CONV_APIS + TRACER_APIS,
    diagnoses=CONV_DIAGNOSES,
    title="convolution by im2col",
)


# -- 4. the backward pass ----------------------------------------------------------------------
def _grads(dout: np.ndarray, x: np.ndarray, w: np.ndarray, stride: int, padding: int,
           w_for_dx: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(dx, dw, db)`` of ``sum(dout · conv(x, w, b))`` by float64 autograd; ``w_for_dx``
    replaces the kernel in the ``dx`` computation (for the flipped-kernel mistake)."""
    xt = _f64(x).requires_grad_(True)
    wt = _f64(w).requires_grad_(True)
    bt = torch.zeros(w.shape[0], dtype=torch.float64, requires_grad=True)
    out = _torch_conv2d(xt, wt, bt, stride=stride, padding=padding)
    dx, dw, db = torch.autograd.grad(out, (xt, wt, bt), _f64(dout))
    if w_for_dx is not None:
        xt2 = _f64(x).requires_grad_(True)
        out2 = _torch_conv2d(xt2, _f64(w_for_dx), None, stride=stride, padding=padding)
        (dx,) = torch.autograd.grad(out2, (xt2,), _f64(dout))
    return _f32(dx), _f32(dw), _f32(db)


def _grads_by_offsets(dout: np.ndarray, x: np.ndarray, w: np.ndarray, step: int,
                      padding: int) -> tuple[np.ndarray, np.ndarray]:
    """``(dx, dw)`` summed over kernel offsets with windows ``step`` pixels apart; with
    ``step == stride`` this is the true gradient, with ``step == 1`` the stride-ignored one."""
    n, c, h, wd = x.shape
    kh, kw = w.shape[-2:]
    ho, wo = dout.shape[-2:]
    p = padding
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (p, p), (p, p)))  # (N, C, H+2p, W+2p)
    dxp = np.zeros_like(xp)
    dw = np.zeros(w.shape, dtype=np.float64)
    for u in range(kh):
        for v in range(kw):
            rows, cols = slice(u, u + step * ho, step), slice(v, v + step * wo, step)
            dxp[:, :, rows, cols] += np.einsum("nfyx,fc->ncyx", dout, w[:, :, u, v])
            dw[:, :, u, v] = np.einsum("nfyx,ncyx->fc", dout, xp[:, :, rows, cols])
    dx = dxp[:, :, p:p + h, p:p + wd]  # crop the padding: -> (N, C, H, W)
    return dx.astype(np.float32), dw.astype(np.float32)


def _backward_ref(case: Case) -> Outputs:
    return _grads(*case.args)


def _padded_dx(case: Case) -> Outputs:
    dout, x, w, stride, padding = case.args
    _needs(padding > 0)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dxp, dw, db = _grads(dout, xp, w, stride, 0)
    return dxp, dw, db


def _stride_ignored(which: str) -> Callable[[Case], Outputs]:
    def variant(case: Case) -> Outputs:
        dout, x, w, stride, padding = case.args
        _needs(stride > 1)
        dx, dw, db = _grads(*case.args)
        dx1, dw1 = _grads_by_offsets(dout, x, w, 1, padding)
        return (dx1, dw, db) if which == "dx" else (dx, dw1, db)

    return variant


def _db_variant(reduce: Callable[[np.ndarray], np.ndarray]) -> Callable[[Case], Outputs]:
    def variant(case: Case) -> Outputs:
        dx, dw, _ = _grads(*case.args)
        return dx, dw, reduce(case.args[0].astype(np.float64)).astype(np.float32)

    return variant


def _dx_unflipped(case: Case) -> Outputs:
    dout, x, w, stride, padding = case.args
    _needs(w.shape[-2:] != (1, 1))
    return _grads(dout, x, w, stride, padding, w_for_dx=w[..., ::-1, ::-1])


def _dw_flipped(case: Case) -> Outputs:
    dx, dw, db = _grads(*case.args)
    _needs(dw.shape[-2:] != (1, 1))
    return dx, np.ascontiguousarray(dw[..., ::-1, ::-1]), db


def _backward_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for conv in make_conv_cases(rng):
        x, w, _, stride, padding = conv.args
        ho = (x.shape[2] + 2 * padding - w.shape[2]) // stride + 1
        wo = (x.shape[3] + 2 * padding - w.shape[3]) // stride + 1
        dout = rng.standard_normal((x.shape[0], w.shape[0], ho, wo)).astype(np.float32)
        label = conv.label.replace("→", "→ dout")
        cases.append(Case((dout, x, w, stride, padding), label=label))
    return cases


CONV2D_BACKWARD = Exercise(
    chapter="ch01",
    name="conv2d_backward",
    entry="conv2d_backward",
    points=20,
    make_cases=_backward_cases,
    reference=_backward_ref,
    forbidden=CONV_APIS + AUTOGRAD_APIS,
    diagnoses=(
        Diagnosis("dx-kernel-not-flipped",
                  "dx uses the kernel unflipped: dx is the full correlation of dout with the "
                  "kernel rotated by 180° (equivalently: scatter dout[i, j]·w back onto the "
                  "window it came from)",
                  _dx_unflipped),
        Diagnosis("dw-flipped",
                  "dw is flipped by 180°: dw[f, c, u, v] = Σ dout[n, f, i, j] · "
                  "x_pad[n, c, i·s + u, j·s + v]",
                  _dw_flipped),
        Diagnosis("dx-not-cropped",
                  "dx still has the padding: crop p rows and columns from each side of the "
                  "padded gradient so dx has x's shape",
                  _padded_dx),
        Diagnosis("dx-stride-ignored",
                  "dx ignores the stride: output position (i, j) came from input window "
                  "(i·s + u, j·s + v), not (i + u, j + v)",
                  _stride_ignored("dx")),
        Diagnosis("dw-stride-ignored",
                  "dw ignores the stride: pair dout[i, j] with x_pad[i·s + u, j·s + v], not "
                  "x_pad[i + u, j + v]",
                  _stride_ignored("dw")),
        Diagnosis("db-not-summed-over-batch",
                  "db is not summed over the batch: db[f] = Σ_{n,i,j} dout[n, f, i, j], shape "
                  "(F,)",
                  _db_variant(lambda d: d.sum(axis=(2, 3)))),
        Diagnosis("db-not-summed-over-space",
                  "db is not summed over the positions: db[f] = Σ_{n,i,j} dout[n, f, i, j], "
                  "shape (F,)",
                  _db_variant(lambda d: d.sum(axis=0))),
        Diagnosis("db-averaged",
                  "db is averaged; the bias is added at every position of every example, so "
                  "its gradient is the sum Σ_{n,i,j} dout[n, f, i, j]",
                  _db_variant(lambda d: d.mean(axis=(0, 2, 3)))),
    ),
    title="backward pass",
)


# -- 6. translation equivariance ---------------------------------------------------------------
def _same_conv(image: torch.Tensor, kernel: torch.Tensor, mode: str) -> torch.Tensor:
    """'Same' correlation of one (H, W) image with an odd (k, k) kernel; ``mode`` is
    ``"circular"``, ``"zeros"`` or ``"valid"`` (no padding)."""
    p = 0 if mode == "valid" else kernel.shape[-1] // 2
    x = image[None, None]  # (H, W) -> (1, 1, H, W)
    if mode == "circular":
        x = _torch_pad(x, (p, p, p, p), mode="circular")
        p = 0
    return _torch_conv2d(x, kernel[None, None], padding=p)[0, 0]


def _equivariance(image: np.ndarray, kernel: np.ndarray, shift: tuple[int, int], circular: bool,
                  *, mode: str | None = None, back: int = 1, reduce: str = "max") -> Outputs:
    img, ker = _f64(image), _f64(kernel)
    mode = mode or ("circular" if circular else "zeros")
    a = _same_conv(torch.roll(img, shift, dims=(0, 1)), ker, mode)
    b = torch.roll(_same_conv(img, ker, mode), tuple(back * s for s in shift), dims=(0, 1))
    diff = a - b
    value = {"max": diff.abs().max(), "mean": diff.abs().mean(), "signed": diff.max()}[reduce]
    return (np.asarray(value.item(), dtype=np.float32),)


def _equivariance_ref(case: Case) -> Outputs:
    return _equivariance(*case.args)


def _equivariance_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for circular in (True, False, True, False):
        h, w = (int(v) for v in rng.integers(8, 17, size=2))
        k = int(rng.choice([3, 5]))
        shift = (int(rng.integers(1, 4)) * int(rng.choice([-1, 1])),
                 int(rng.integers(1, 4)) * int(rng.choice([-1, 1])))
        image = rng.random((h, w)).astype(np.float32)
        kernel = rng.standard_normal((k, k)).astype(np.float32)
        cases.append(Case((image, kernel, shift, circular),
                          label=f"image {h}×{w}, kernel {k}×{k}, shift {shift}, "
                                f"circular={circular}"))
    return cases


EQUIVARIANCE_ERROR = Exercise(
    chapter="ch01",
    name="equivariance_error",
    entry="equivariance_error",
    points=10,
    make_cases=_equivariance_cases,
    reference=_equivariance_ref,
    diagnoses=(
        Diagnosis("padding-mode-ignored",
                  "the padding ignores `circular`: with circular=True wrap the image around "
                  "(F.pad(..., mode='circular')); with circular=False pad zeros",
                  lambda c: _equivariance(*c.args, mode="zeros" if c.args[3] else "circular")),
        Diagnosis("shifted-back-the-wrong-way",
                  "the two results were shifted in opposite directions: roll the convolved "
                  "original by the same (dy, dx) as the input",
                  lambda c: _equivariance(*c.args, back=-1)),
        Diagnosis("no-padding",
                  "the convolution is 'valid' (no padding); use 'same' padding k // 2 so the "
                  "output has the image's size",
                  lambda c: _equivariance(*c.args, mode="valid")),
        Diagnosis("mean-not-max",
                  "returned the mean absolute difference; return the largest one, max |a − b|",
                  lambda c: _equivariance(*c.args, reduce="mean")),
        Diagnosis("not-absolute",
                  "returned max(a − b) without the absolute value; return max |a − b|",
                  lambda c: _equivariance(*c.args, reduce="signed")),
    ),
    rtol=1e-4,
    atol=1e-4,
    title="equivariance",
)


# -- 5. the training check ---------------------------------------------------------------------
def as_conv2d(func: Callable[..., Any]) -> Callable[..., torch.Tensor]:
    """A student's ``conv(x, w, b, stride, padding)`` behind the reference signature
    ``conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1)``."""

    def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
               stride: int = 1, padding: int = 0, dilation: int = 1,
               groups: int = 1) -> torch.Tensor:
        if dilation != 1 or groups != 1:
            raise ValueError("the exercise's convolution has dilation=1 and groups=1 only")
        if bias is None:
            bias = weight.new_zeros(weight.shape[0])
        return func(x, weight, bias, stride, padding)

    return conv2d


@dataclasses.dataclass(frozen=True)
class ConvTrainingExercise(DigitsClassifierTraining):
    """The student's convolution trains :class:`~convlab.models.small.DigitsCNN` on the digits.

    The case holds the seed (initial weights and batch order). ``run`` (in the worker) trains
    the network with the student's convolution for ``steps_gpu`` SGD steps on a GPU, or
    ``steps_cpu`` on the CPU, and returns the per-step loss curve and the final weights.
    ``judge`` (in the grader) trains the reference network (convlab's convolution) from the same
    seed on the same batches for as many steps, requires the two curves, smoothed over
    ``window`` steps, to stay within ``curve_atol`` of each other, then loads the returned
    weights into a reference network and requires its test accuracy to reach the bar (so a
    made-up curve cannot pass).
    """

    steps_cpu: int = 120
    accuracy_bar_cpu: float = 0.85
    accuracy_bar_gpu: float = 0.9

    needs_cases: ClassVar[bool] = True

    def make_net(self, seed: int) -> TrainableNet:
        from convlab.models.small import DigitsCNN

        return DigitsCNN(seed=seed)

    def adapt(self, func: Callable[..., Any]) -> Callable[..., Any]:
        return as_conv2d(func)

    def _train(self, conv: Callable[..., Any] | None, seed: int, steps: int,
               device: torch.device) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        from convlab.data import digits_loaders
        from convlab.models.small import DigitsCNN
        from convlab.train import fit

        net = DigitsCNN(conv=conv, seed=seed)
        train, _ = digits_loaders(batch_size=self.batch_size, seed=seed)
        threads = torch.get_num_threads()
        if device.type == "cpu":
            torch.set_num_threads(1)  # a network this small runs fastest on one thread
        try:
            history = fit(net, train, None, steps=steps, lr=self.lr, device=device, seed=seed,
                          progress=False)
        finally:
            torch.set_num_threads(threads)
        return np.asarray(history.train_loss, dtype=np.float32), net.state_arrays()


TRAIN_DIGITS_CNN = ConvTrainingExercise(
    chapter="ch01",
    name="train_digits_cnn",
    entry="conv2d_im2col",
    points=20,
    make_cases=seed_cases("DigitsCNN on the digits"),
    forbidden=CONV_APIS,
)


EXERCISES: tuple[Exercise, ...] = (
    CONV2D_LOOP,
    CONV_OUTPUT_SIZE,
    CONV2D_IM2COL,
    CONV2D_BACKWARD,
    TRAIN_DIGITS_CNN,
    EQUIVARIANCE_ERROR,
)
