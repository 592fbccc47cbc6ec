"""The fast paths inside conv2d and conv_transpose2d agree with PyTorch whichever path runs.

Small test shapes stay below :data:`convlab.functional.im2col.ONEDNN_MIN_MACS`, so the main
convolution tests run the batched ``matmul`` path; here the threshold is lowered to 0 (every
product through oneDNN's GEMM where this PyTorch has it) or the oneDNN path is switched off, and
the stride-1 input gradient's correlation is checked against the scatter it replaces.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from convlab.analysis.shapes import conv_output_size, conv_transpose_output_size
from convlab.functional import conv as conv_module
from convlab.functional import conv2d, conv_transpose2d
from convlab.functional import im2col as im2col_module

TOL = dict(rtol=1e-4, atol=1e-4)
HAS_ONEDNN = im2col_module._ONEDNN_LINEAR is not None


@st.composite
def cases(draw: st.DrawFn, transposed: bool = False) -> dict:
    """A float32 call of conv2d (or conv_transpose2d) with random geometry and groups."""
    g = draw(st.integers(1, 3), label="groups")
    cg, og = draw(st.integers(1, 4), label="c/g"), draw(st.integers(1, 4), label="o/g")
    kh, kw = draw(st.integers(1, 3), label="kH"), draw(st.integers(1, 3), label="kW")
    h, w = draw(st.integers(1, 7), label="H"), draw(st.integers(1, 7), label="W")
    s = draw(st.tuples(st.integers(1, 2), st.integers(1, 2)), label="stride")
    d = draw(st.tuples(st.integers(1, 2), st.integers(1, 2)), label="dilation")
    p = draw(st.tuples(st.integers(0, 2), st.integers(0, 2)), label="padding")
    size = conv_transpose_output_size if transposed else conv_output_size
    try:
        size(h, kh, s[0], p[0], dilation=d[0])
        size(w, kw, s[1], p[1], dilation=d[1])
    except ValueError:
        assume(False)
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16), label="seed"))
    n = draw(st.integers(1, 3), label="N")
    x = torch.randn(n, g * cg, h, w, generator=gen)
    shape = (g * cg, og, kh, kw) if transposed else (g * og, cg, kh, kw)
    weight = torch.randn(shape, generator=gen)
    bias = torch.randn(g * og, generator=gen)
    return dict(x=x, weight=weight, bias=bias,
                kwargs=dict(stride=s, padding=p, dilation=d, groups=g))


def _grads(fn, case: dict) -> list[torch.Tensor]:
    leaves = [case[k].detach().clone().requires_grad_() for k in ("x", "weight", "bias")]
    out = fn(*leaves, **case["kwargs"])
    r = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    (out * r).sum().backward()
    return [out.detach()] + [t.grad for t in leaves]


def _agree(ours, ref, case: dict) -> None:
    for a, b in zip(_grads(ours, case), _grads(ref, case), strict=True):
        torch.testing.assert_close(a, b, **TOL)


@pytest.mark.skipif(not HAS_ONEDNN, reason="this PyTorch has no oneDNN inner product")
@settings(deadline=None, derandomize=True, max_examples=25)
@given(case=cases())
def test_conv2d_with_every_product_through_onednn(case: dict) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(im2col_module, "ONEDNN_MIN_MACS", 0)
        _agree(conv2d, F.conv2d, case)


@pytest.mark.skipif(not HAS_ONEDNN, reason="this PyTorch has no oneDNN inner product")
@settings(deadline=None, derandomize=True, max_examples=20)
@given(case=cases(transposed=True))
def test_conv_transpose2d_with_every_product_through_onednn(case: dict) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(im2col_module, "ONEDNN_MIN_MACS", 0)
        _agree(conv_transpose2d, F.conv_transpose2d, case)


@settings(deadline=None, derandomize=True, max_examples=15)
@given(case=cases())
def test_conv2d_with_onednn_switched_off(case: dict) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(im2col_module, "ONEDNN_PRODUCTS", False)
        mp.setattr(im2col_module, "ONEDNN_MIN_MACS", 0)
        _agree(conv2d, F.conv2d, case)


@settings(deadline=None, derandomize=True, max_examples=15)
@given(case=cases())
def test_input_gradient_correlation_equals_the_scatter(case: dict) -> None:
    # stride-1 layers take the correlation; forcing the scatter must give the same gradient
    case["kwargs"]["stride"] = 1
    x, w = case["x"], case["weight"]
    try:
        for i in (0, 1):
            conv_output_size(x.shape[2 + i], w.shape[2 + i], 1, case["kwargs"]["padding"][i],
                             case["kwargs"]["dilation"][i])
    except ValueError:
        assume(False)
    fast = _grads(conv2d, case)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(conv_module, "_input_grad_by_correlation", lambda *a: None)
        slow = _grads(conv2d, case)
    for a, b in zip(fast, slow, strict=True):
        torch.testing.assert_close(a, b, **TOL)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_same_padding_with_even_kernel_takes_the_correlation() -> None:
    # asymmetric 'same' padding: d(k − 1) − p differs on the two sides
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 6, 7, generator=gen, dtype=torch.float64)
    w = torch.randn(4, 3, 4, 2, generator=gen, dtype=torch.float64)
    case = dict(x=x, weight=w, bias=torch.zeros(4, dtype=torch.float64),
                kwargs=dict(padding="same", dilation=(2, 1)))
    for a, b in zip(_grads(conv2d, case), _grads(F.conv2d, case), strict=True):
        torch.testing.assert_close(a, b)


def test_padding_beyond_the_kernel_falls_back_to_the_scatter() -> None:
    # p > d(k − 1): the correlation would need a negative padding; the scatter runs instead
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(1, 2, 4, 4, generator=gen, dtype=torch.float64)
    w = torch.randn(2, 2, 2, 2, generator=gen, dtype=torch.float64)
    case = dict(x=x, weight=w, bias=torch.zeros(2, dtype=torch.float64),
                kwargs=dict(padding=3))
    for a, b in zip(_grads(conv2d, case), _grads(F.conv2d, case), strict=True):
        torch.testing.assert_close(a, b)


def test_column_buffer_is_reused_per_dtype() -> None:
    like = torch.zeros(1)
    a = im2col_module.columns_buffer((4, 5), like)
    b = im2col_module.columns_buffer((2, 3), like)
    assert a.data_ptr() == b.data_ptr() and b.shape == (2, 3)
    c = im2col_module.columns_buffer((2, 3), like.double())
    assert c.dtype == torch.float64 and c.data_ptr() != a.data_ptr()
    big = im2col_module.columns_buffer((100, 100), like)
    assert big.shape == (100, 100) and big.numel() == 10_000


@st.composite
def undilated_transpose_cases(draw: st.DrawFn) -> dict:
    """A float64 conv_transpose2d call with dilation 1 (the per-phase path), any stride up to 4
    (also larger than the kernel, leaving phases without taps), padding and output_padding."""
    g = draw(st.integers(1, 3), label="groups")
    cg, og = draw(st.integers(1, 3), label="c/g"), draw(st.integers(1, 3), label="o/g")
    k = draw(st.tuples(st.integers(1, 5), st.integers(1, 5)), label="kernel")
    size = draw(st.tuples(st.integers(1, 6), st.integers(1, 6)), label="size")
    s = draw(st.tuples(st.integers(1, 4), st.integers(1, 4)), label="stride")
    p = draw(st.tuples(st.integers(0, 4), st.integers(0, 4)), label="padding")
    op = tuple(draw(st.integers(0, s[i] - 1), label="output_padding") for i in (0, 1))
    try:
        for i in (0, 1):
            conv_transpose_output_size(size[i], k[i], s[i], p[i], op[i])
    except ValueError:
        assume(False)
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16), label="seed"))
    n = draw(st.integers(1, 2), label="N")
    x = torch.randn(n, g * cg, *size, generator=gen, dtype=torch.float64)
    weight = torch.randn(g * cg, og, *k, generator=gen, dtype=torch.float64)
    bias = torch.randn(g * og, generator=gen, dtype=torch.float64)
    return dict(x=x, weight=weight, bias=bias,
                kwargs=dict(stride=s, padding=p, output_padding=op, groups=g))


@settings(deadline=None, derandomize=True, max_examples=60)
@given(case=undilated_transpose_cases())
def test_conv_transpose2d_by_phases_matches_pytorch(case: dict) -> None:
    _agree(conv_transpose2d, F.conv_transpose2d, case)


def test_conv_transpose2d_phase_plan_covers_every_output_row() -> None:
    from convlab.functional.conv_transpose import _phase_plan

    for size, kernel, stride, pad, extra in [(5, 4, 2, 1, 0), (3, 1, 3, 0, 2), (4, 5, 3, 4, 1)]:
        out = conv_transpose_output_size(size, kernel, stride, pad, extra)
        plan = _phase_plan(size, out, kernel, stride, pad)
        covered = sorted(y for p in plan for y in range(p.first, out, stride))
        assert covered == list(range(out))
        assert sum(p.taps for p in plan) <= kernel


@pytest.mark.parametrize(
    "kwargs", [dict(padding=1, groups=2), dict(padding=(0, 2), dilation=(1, 2), groups=3)]
)
def test_grouped_by_shifted_products_gradcheck_float64(kwargs: dict) -> None:
    # stride 1, several channels per group: one batched product per kernel tap, no columns
    gen = torch.Generator().manual_seed(11)
    g = kwargs["groups"]
    x = torch.randn(2, 2 * g, 4, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3 * g, 2, 3, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3 * g, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *t: conv2d(*t, **kwargs), (x, w, b))


def test_grouped_by_shifted_products_blocks_of_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    gen = torch.Generator().manual_seed(12)
    x = torch.randn(5, 8, 6, 7, generator=gen)
    w = torch.randn(8, 2, 3, 3, generator=gen)
    ref = F.conv2d(x, w, padding=1, groups=4)
    monkeypatch.setattr(im2col_module, "SHIFTED_BLOCK_BYTES", 1)  # one sample per block
    torch.testing.assert_close(conv2d(x, w, padding=1, groups=4), ref, **TOL)
