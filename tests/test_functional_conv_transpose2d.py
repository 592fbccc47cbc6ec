"""Does conv_transpose2d match PyTorch (values, gradients, shapes, errors) and the scatter loop?"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from convlab.analysis.shapes import conv_transpose_output_size
from convlab.exercises.apis import TORCH_CONV_OPS
from convlab.exercises.forbid import forbidden
from convlab.functional import conv2d, conv_transpose2d, conv_transpose2d_naive

TOL = {torch.float32: dict(rtol=1e-4, atol=1e-4), torch.float64: dict(rtol=1e-10, atol=1e-10)}

FORBIDDEN = list(TORCH_CONV_OPS)


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return v if isinstance(v, tuple) else (v, v)


@st.composite
def transpose_cases(draw: st.DrawFn, dtypes=(torch.float32, torch.float64)) -> dict:
    """A valid conv_transpose2d call, its parameters drawn dependent on each other."""
    groups = draw(st.integers(1, 3), label="groups")
    cg, og = draw(st.integers(1, 3), label="c_in/g"), draw(st.integers(1, 3), label="c_out/g")
    kh, kw = draw(st.integers(1, 4), label="kH"), draw(st.integers(1, 4), label="kW")
    h, w = draw(st.integers(1, 6), label="H"), draw(st.integers(1, 6), label="W")
    ints = st.integers(1, 3)
    stride = draw(st.one_of(ints, st.tuples(ints, ints)), label="stride")
    dilation = draw(st.one_of(ints, st.tuples(ints, ints)), label="dilation")
    pads = st.integers(0, 3)
    padding = draw(st.one_of(pads, st.tuples(pads, pads)), label="padding")
    output_padding = draw(st.one_of(st.integers(0, 2), st.tuples(st.integers(0, 2),
                                                                 st.integers(0, 2))))
    s, d, p, op = _pair(stride), _pair(dilation), _pair(padding), _pair(output_padding)
    try:
        out = tuple(
            conv_transpose_output_size(n, k, s[i], p[i], op[i], d[i])
            for i, (n, k) in enumerate(((h, kh), (w, kw)))
        )
    except ValueError:
        assume(False)
    dtype = draw(st.sampled_from(dtypes), label="dtype")
    n = draw(st.integers(1, 2), label="N")
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16), label="seed"))
    x = torch.randn(n, groups * cg, h, w, generator=gen, dtype=dtype)
    weight = torch.randn(groups * cg, og, kh, kw, generator=gen, dtype=dtype)
    bias = torch.randn(groups * og, generator=gen, dtype=dtype) if draw(st.booleans()) else None
    kwargs = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups,
                  dilation=dilation)
    return dict(x=x, weight=weight, bias=bias, kwargs=kwargs, out=out)


def _grads(fn, x, weight, bias, kwargs, seed=1):
    """(output, dL/dx, dL/dW, dL/db) for L = Σ out · R with a fixed random R."""
    xl, wl = (t.detach().clone().requires_grad_() for t in (x, weight))
    b = None if bias is None else bias.detach().clone().requires_grad_()
    out = fn(xl, wl, b, **kwargs)
    r = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=out.dtype)
    (out * r).sum().backward()
    return out.detach(), xl.grad, wl.grad, None if b is None else b.grad


@settings(deadline=None, max_examples=50)
@given(case=transpose_cases())
def test_matches_pytorch_values_and_gradients(case: dict) -> None:
    x, weight, bias, kwargs = case["x"], case["weight"], case["bias"], case["kwargs"]
    ours = _grads(conv_transpose2d, x, weight, bias, kwargs)
    ref = _grads(F.conv_transpose2d, x, weight, bias, kwargs)
    assert ours[0].shape == (x.shape[0], weight.shape[1] * kwargs["groups"], *case["out"])
    assert ours[0].shape == ref[0].shape and ours[0].dtype == x.dtype
    for name, a, b in zip(("out", "grad_x", "grad_w", "grad_b"), ours, ref, strict=True):
        if b is None:
            assert a is None, name
        else:
            torch.testing.assert_close(a, b, **TOL[x.dtype], msg=lambda m, n=name: f"{n}: {m}")


@settings(deadline=None, max_examples=20)
@given(case=transpose_cases(dtypes=(torch.float64,)))
def test_scatter_loop_matches_pytorch(case: dict) -> None:
    x, weight, bias, kwargs = case["x"], case["weight"], case["bias"], case["kwargs"]
    ours = _grads(conv_transpose2d_naive, x, weight, bias, kwargs)
    ref = _grads(F.conv_transpose2d, x, weight, bias, kwargs)
    for a, b in zip(ours, ref, strict=True):
        if b is not None:
            torch.testing.assert_close(a, b, **TOL[torch.float64])


@settings(deadline=None, max_examples=10)
@given(case=transpose_cases(dtypes=(torch.float64,)))
def test_unbatched_input_matches_pytorch(case: dict) -> None:
    x, weight, bias, kwargs = case["x"][0], case["weight"], case["bias"], case["kwargs"]
    out = conv_transpose2d(x, weight, bias, **kwargs)
    assert out.dim() == 3
    ref = F.conv_transpose2d(x, weight, bias, **kwargs)
    torch.testing.assert_close(out, ref, **TOL[torch.float64])


def test_hand_computed_scatter() -> None:
    # each input pixel stamps the kernel, scaled by its value, at stride 2: no overlap
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    k = torch.tensor([[[[1.0, 10.0], [100.0, 1000.0]]]])
    out = conv_transpose2d(x, k, stride=2)
    expected = torch.tensor(
        [[1, 10, 2, 20], [100, 1000, 200, 2000], [3, 30, 4, 40], [300, 3000, 400, 4000]],
        dtype=torch.float32,
    )
    assert torch.equal(out[0, 0], expected)
    # stride 1: the stamps overlap and add; padding 1 crops the border of the 3×3 result
    full = conv_transpose2d(x, torch.ones(1, 1, 2, 2))
    assert torch.equal(full[0, 0], torch.tensor([[1.0, 3, 2], [4, 10, 6], [3, 7, 4]]))
    assert torch.equal(conv_transpose2d(x, torch.ones(1, 1, 2, 2), padding=1)[0, 0],
                       torch.tensor([[10.0]]))


def test_output_padding_adds_rows_on_the_bottom_right() -> None:
    x = torch.randn(1, 2, 3, 3, dtype=torch.float64)
    w = torch.randn(2, 1, 3, 3, dtype=torch.float64)
    b = torch.randn(1, dtype=torch.float64)
    plain = conv_transpose2d(x, w, b, stride=2, padding=1)
    extra = conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=(1, 0))
    assert plain.shape[-2:] == (5, 5) and extra.shape[-2:] == (6, 5)
    torch.testing.assert_close(extra[..., :5, :], plain)
    torch.testing.assert_close(extra, F.conv_transpose2d(x, w, b, 2, 1, (1, 0)))


def test_is_the_adjoint_of_conv2d() -> None:
    # <conv2d(x), y> = <x, conv_transpose2d(y)> with the same weight, stride, padding, dilation
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(2, 4, 9, 8, generator=gen, dtype=torch.float64)
    w = torch.randn(6, 2, 3, 2, generator=gen, dtype=torch.float64)
    kw = dict(stride=2, padding=1, dilation=(1, 2), groups=2)
    y = torch.randn(conv2d(x, w, **kw).shape, generator=gen, dtype=torch.float64)
    back = conv_transpose2d(y, w, output_padding=(0, 1), **kw)
    assert back.shape == x.shape
    torch.testing.assert_close((conv2d(x, w, **kw) * y).sum(), (x * back).sum())


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),
        dict(stride=2, padding=1, output_padding=1),
        dict(stride=(1, 2), dilation=(2, 1), groups=2, output_padding=(1, 0)),
    ],
)
def test_gradcheck_float64(kwargs: dict) -> None:
    gen = torch.Generator().manual_seed(8)
    x = torch.randn(2, 4, 3, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 2, 3, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2 * kwargs.get("groups", 1), generator=gen, dtype=torch.float64,
                    requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda *t: conv_transpose2d(*t, **kwargs), (x, w, b), fast_mode=True
    )


def test_gradcheck_float64_full_jacobian() -> None:
    gen = torch.Generator().manual_seed(9)
    x = torch.randn(1, 2, 3, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 1, 2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, generator=gen, dtype=torch.float64, requires_grad=True)
    kwargs = dict(stride=2, padding=(1, 0), output_padding=1, groups=2)
    assert torch.autograd.gradcheck(lambda *t: conv_transpose2d(*t, **kwargs), (x, w, b))


def test_uses_no_pytorch_convolution() -> None:
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    w = torch.randn(4, 3, 4, 4, requires_grad=True)
    with forbidden(FORBIDDEN) as guard:
        out = conv_transpose2d(x, w, stride=2, padding=1, groups=2)
        out.sum().backward()
    assert guard.used == []
    assert out.shape == (2, 6, 10, 10) and x.grad is not None and w.grad is not None


X = torch.randn(2, 4, 5, 5)
W = torch.randn(4, 3, 3, 3)

BAD_CALLS = [
    ("input rank", (X[0, 0], W), {}, ValueError, "input must be 3-D"),
    ("weight rank", (X, W[0]), {}, ValueError, "weight must be 4-D"),
    ("channel mismatch", (X, torch.randn(5, 3, 3, 3)), {}, ValueError,
     r"input channels \(4\) must equal weight.shape\[0\] \(5\)"),
    ("in_channels % groups", (X, W), dict(groups=3), ValueError,
     r"in_channels \(4\) must be divisible by groups \(3\)"),
    ("output_padding >= stride and dilation", (X, W), dict(stride=2, output_padding=2),
     ValueError, r"output_padding \(2\) must be smaller than either stride \(2\) or dilation"),
    ("output_padding without stride", (X, W), dict(output_padding=1), ValueError,
     "output_padding"),
    ("stride 0", (X, W), dict(stride=0), ValueError, "stride must be positive"),
    ("dilation 0", (X, W), dict(dilation=(1, 0)), ValueError, "dilation must be positive"),
    ("negative padding", (X, W), dict(padding=-1), ValueError, "padding must be >= 0"),
    ("negative output_padding", (X, W), dict(stride=2, output_padding=-1), ValueError,
     "output_padding must be >= 0"),
    ("non-positive output size", (torch.randn(1, 4, 1, 1), W), dict(padding=2), ValueError,
     "is not positive"),
    ("string padding", (X, W), dict(padding="same"), ValueError, "padding must be an int"),
    ("bias shape", (X, W, torch.randn(4)), {}, ValueError, r"bias must have shape"),
    ("dtype mismatch", (X.double(), W), {}, TypeError, "weight dtype"),
    ("groups 0", (X, W), dict(groups=0), ValueError, "groups must be a positive int"),
]


@pytest.mark.parametrize(
    "args, kwargs, exc, match", [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS]
)
def test_rejects_what_pytorch_rejects(args: tuple, kwargs: dict, exc, match: str) -> None:
    with pytest.raises(Exception):  # noqa: B017 - PyTorch raises RuntimeError, ValueError...
        F.conv_transpose2d(*args, **kwargs)
    with pytest.raises(exc, match=match) as info:
        conv_transpose2d(*args, **kwargs)
    assert str(info.value).startswith("conv_transpose2d:")
    with pytest.raises(exc, match=match):
        conv_transpose2d_naive(*args, **kwargs)


@pytest.mark.parametrize("in_per_group", [1, 3])
def test_one_output_channel_per_group_matches_pytorch(in_per_group: int) -> None:
    # one output channel per group takes the tap-by-tap path instead of the batched product
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(2, 4 * in_per_group, 4, 5, generator=gen, dtype=torch.float64)
    w = torch.randn(4 * in_per_group, 1, 3, 3, generator=gen, dtype=torch.float64)
    b = torch.randn(4, generator=gen, dtype=torch.float64)
    kwargs = dict(stride=2, padding=1, output_padding=1, groups=4, dilation=1)
    ours = _grads(conv_transpose2d, x, w, b, kwargs)
    for a, c in zip(ours, _grads(F.conv_transpose2d, x, w, b, kwargs), strict=True):
        torch.testing.assert_close(a, c, **TOL[torch.float64])
