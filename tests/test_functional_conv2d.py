"""Does conv2d match PyTorch (values, gradients, shapes, errors) and the loop version?"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from convlab.analysis.shapes import conv_output_size, same_padding
from convlab.exercises.apis import TORCH_CONV_OPS
from convlab.exercises.forbid import forbidden
from convlab.functional import conv2d, conv2d_naive
from convlab.functional import im2col as im2col_module
from convlab.functional.im2col import col2im, im2col

#: float32 results are sums of up to ~100 products of N(0, 1) numbers; float64 ones are exact
#: to rounding.
TOL = {torch.float32: dict(rtol=1e-4, atol=1e-4), torch.float64: dict(rtol=1e-10, atol=1e-10)}

#: PyTorch's own ops that the from-scratch convolution must not call.
FORBIDDEN = list(TORCH_CONV_OPS)


@st.composite
def conv_cases(draw: st.DrawFn, dtypes=(torch.float32, torch.float64)) -> dict:
    """A valid conv2d call: tensors plus keyword arguments, drawn dependent on each other."""
    groups = draw(st.integers(1, 3), label="groups")
    cg, og = draw(st.integers(1, 3), label="c_in/g"), draw(st.integers(1, 3), label="c_out/g")
    kh, kw = draw(st.integers(1, 4), label="kH"), draw(st.integers(1, 4), label="kW")
    h, w = draw(st.integers(1, 9), label="H"), draw(st.integers(1, 9), label="W")
    dilation = draw(st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    padding = draw(
        st.one_of(
            st.integers(0, 3),
            st.tuples(st.integers(0, 3), st.integers(0, 3)),
            st.sampled_from(["same", "valid"]),
        ),
        label="padding",
    )
    stride = 1 if padding == "same" else draw(
        st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))),
        label="stride",
    )
    d = dilation if isinstance(dilation, tuple) else (dilation, dilation)
    s = stride if isinstance(stride, tuple) else (stride, stride)
    if padding == "same":
        pads = (same_padding(kh, d[0]), same_padding(kw, d[1]))
    elif padding == "valid":
        pads = ((0, 0), (0, 0))
    else:
        p = padding if isinstance(padding, tuple) else (padding, padding)
        pads = ((p[0], p[0]), (p[1], p[1]))
    try:
        out = (conv_output_size(h, kh, s[0], pads[0], d[0]),
               conv_output_size(w, kw, s[1], pads[1], d[1]))
    except ValueError:
        assume(False)
    dtype = draw(st.sampled_from(dtypes), label="dtype")
    n = draw(st.integers(1, 2), label="N")
    seed = draw(st.integers(0, 2**16), label="seed")
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, groups * cg, h, w, generator=gen, dtype=dtype)
    weight = torch.randn(groups * og, cg, kh, kw, generator=gen, dtype=dtype)
    bias = torch.randn(groups * og, generator=gen, dtype=dtype) if draw(st.booleans()) else None
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    return dict(x=x, weight=weight, bias=bias, kwargs=kwargs, out=out)


def _grads(fn, x, weight, bias, kwargs, seed=1):
    """(output, dL/dx, dL/dW, dL/db) for L = Σ out · R with a fixed random R."""
    leaves = [t.detach().clone().requires_grad_() for t in (x, weight)]
    b = None if bias is None else bias.detach().clone().requires_grad_()
    out = fn(leaves[0], leaves[1], b, **kwargs)
    r = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=out.dtype)
    (out * r).sum().backward()
    return out.detach(), leaves[0].grad, leaves[1].grad, None if b is None else b.grad


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@settings(deadline=None, max_examples=60)
@given(case=conv_cases())
def test_matches_pytorch_values_and_gradients(case: dict) -> None:
    x, weight, bias, kwargs = case["x"], case["weight"], case["bias"], case["kwargs"]
    ours = _grads(conv2d, x, weight, bias, kwargs)
    ref = _grads(F.conv2d, x, weight, bias, kwargs)
    assert ours[0].shape == (x.shape[0], weight.shape[0], *case["out"]) == ref[0].shape
    assert ours[0].dtype == x.dtype
    for name, a, b in zip(("out", "grad_x", "grad_w", "grad_b"), ours, ref, strict=True):
        if b is None:
            assert a is None, name
        else:
            torch.testing.assert_close(a, b, **TOL[x.dtype], msg=lambda m, n=name: f"{n}: {m}")


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@settings(deadline=None, max_examples=25)
@given(case=conv_cases(dtypes=(torch.float64,)))
def test_loop_reference_matches_pytorch(case: dict) -> None:
    x, weight, bias, kwargs = case["x"], case["weight"], case["bias"], case["kwargs"]
    ours = _grads(conv2d_naive, x, weight, bias, kwargs)
    ref = _grads(F.conv2d, x, weight, bias, kwargs)
    for a, b in zip(ours, ref, strict=True):
        if b is not None:
            torch.testing.assert_close(a, b, **TOL[torch.float64])


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@settings(deadline=None, max_examples=15)
@given(case=conv_cases(dtypes=(torch.float64,)))
def test_unbatched_input_matches_pytorch(case: dict) -> None:
    x, weight, bias, kwargs = case["x"][0], case["weight"], case["bias"], case["kwargs"]
    out = conv2d(x, weight, bias, **kwargs)
    assert out.dim() == 3
    torch.testing.assert_close(out, F.conv2d(x, weight, bias, **kwargs), **TOL[torch.float64])


def test_hand_computed_3x3() -> None:
    # x = [[0,1,2],[3,4,5],[6,7,8]], k = [[1,0],[0,-1]]: every window gives x[i,j] - x[i+1,j+1] = -4
    x = torch.arange(9.0).reshape(1, 1, 3, 3)
    k = torch.tensor([[[[1.0, 0.0], [0.0, -1.0]]]])
    assert torch.equal(conv2d(x, k), torch.full((1, 1, 2, 2), -4.0))
    # with padding 1 and bias 10 the corners see one pixel each: top-left -x[0,0], etc.
    out = conv2d(x, k, torch.tensor([10.0]), padding=1)
    expected = torch.tensor(
        [[10 - 0, 10 - 1, 10 - 2, 10],
         [10 - 3, 10 - 4, 10 - 4, 10 + 2],
         [10 - 6, 10 - 4, 10 - 4, 10 + 5],
         [10, 10 + 6, 10 + 7, 10 + 8]], dtype=torch.float32)
    assert torch.equal(out[0, 0], expected)


def test_hand_computed_stride_dilation_groups() -> None:
    x = torch.arange(25.0).reshape(1, 1, 5, 5).repeat(1, 2, 1, 1)
    x[:, 1] *= -1
    w = torch.ones(2, 1, 2, 2)  # depthwise: each channel sums the corners of a 3×3 window
    out = conv2d(x, w, stride=2, dilation=2, groups=2)
    # window at (0,0): x[0,0]+x[0,2]+x[2,0]+x[2,2] = 0+2+10+12 = 24
    assert out.shape == (1, 2, 2, 2)
    assert torch.equal(out[0, 0], torch.tensor([[24.0, 32.0], [64.0, 72.0]]))
    assert torch.equal(out[0, 1], -out[0, 0])


def test_same_padding_even_kernel_is_asymmetric_like_pytorch() -> None:
    x = torch.randn(1, 2, 6, 5, dtype=torch.float64)
    w = torch.randn(3, 2, 4, 2, dtype=torch.float64)
    out = conv2d(x, w, padding="same")
    assert out.shape[-2:] == x.shape[-2:]
    torch.testing.assert_close(out, F.conv2d(x, w, padding="same"))
    # PyTorch puts the extra pixel on the bottom/right: pad (1, 2) rows and (0, 1) columns
    xp = F.pad(x, (0, 1, 1, 2))
    torch.testing.assert_close(out, conv2d(xp, w))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),
        dict(stride=2, padding=1),
        dict(padding="same", dilation=2),
        dict(stride=(2, 1), padding=(0, 2), dilation=(1, 2), groups=2),
    ],
)
def test_gradcheck_float64(kwargs: dict) -> None:
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 4, 4, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 4 // kwargs.get("groups", 1), 3, 2, generator=gen, dtype=torch.float64,
                    requires_grad=True)
    b = torch.randn(4, generator=gen, dtype=torch.float64, requires_grad=True)
    # fast mode compares random projections of the Jacobians (a full check per case is slow)
    assert torch.autograd.gradcheck(lambda *t: conv2d(*t, **kwargs), (x, w, b), fast_mode=True)


def test_gradcheck_float64_full_jacobian() -> None:
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(1, 2, 4, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 1, 2, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, generator=gen, dtype=torch.float64, requires_grad=True)
    kwargs = dict(stride=(1, 2), padding=1, dilation=(2, 1), groups=2)
    assert torch.autograd.gradcheck(lambda *t: conv2d(*t, **kwargs), (x, w, b))


def test_blocks_of_samples_give_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    # small batches fit one block; force one sample per block to exercise the loop over blocks
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(5, 6, 7, 7, generator=gen, dtype=torch.float64)
    w = torch.randn(9, 2, 3, 3, generator=gen, dtype=torch.float64)
    b = torch.randn(9, generator=gen, dtype=torch.float64)
    kwargs = dict(stride=2, padding=1, groups=3)
    whole = _grads(conv2d, x, w, b, kwargs)
    monkeypatch.setattr(im2col_module, "COLUMN_BLOCK_BYTES", 1)
    assert len(im2col_module.sample_blocks(5, 100)) == 5
    assert len(im2col_module.sample_blocks(5, 100, torch.device("cuda"))) == 1
    blocked = _grads(conv2d, x, w, b, kwargs)
    for a, c in zip(whole, blocked, strict=True):
        torch.testing.assert_close(a, c)
    torch.testing.assert_close(blocked[0], F.conv2d(x, w, b, **kwargs))


def test_block_sizes() -> None:
    mib = 2**20
    assert im2col_module.sample_blocks(8, 7 * mib) == [slice(0, 2), slice(2, 4), slice(4, 6),
                                                         slice(6, 8)]
    assert im2col_module.sample_blocks(3, 64 * mib) == [slice(0, 1), slice(1, 2), slice(2, 3)]
    assert im2col_module.sample_blocks(8, 7 * mib, torch.device("cuda")) == [slice(0, 8)]
    assert im2col_module.sample_blocks(0, 7 * mib) == []


def test_im2col_and_col2im_are_adjoint() -> None:
    # <im2col(x), c> = <x, col2im(c)> for every x, c: col2im is the transpose of im2col
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(2, 3, 9, 8, generator=gen, dtype=torch.float64)
    kernel, stride, dilation = (3, 2), (2, 1), (1, 3)
    out = (conv_output_size(9, 3, 2, 0, 1), conv_output_size(8, 2, 1, 0, 3))
    cols = torch.randn(2, 3, *kernel, *out, generator=gen, dtype=torch.float64)
    lhs = (im2col(x, kernel, stride, dilation, out) * cols).sum()
    rhs = (x * col2im(cols, (9, 8), kernel, stride, dilation)).sum()
    torch.testing.assert_close(lhs, rhs)


def test_uses_no_pytorch_convolution() -> None:
    x, w = torch.randn(2, 4, 6, 6, requires_grad=True), torch.randn(4, 2, 3, 3, requires_grad=True)
    with forbidden(FORBIDDEN) as guard:
        out = conv2d(x, w, padding=1, groups=2)
        out.sum().backward()
    assert guard.used == []
    assert x.grad is not None and w.grad is not None


def test_preserves_dtype_and_layout() -> None:
    x64 = torch.randn(1, 2, 4, 4, dtype=torch.float64)
    w64 = torch.randn(3, 2, 3, 3, dtype=torch.float64)
    assert conv2d(x64, w64).dtype == torch.float64
    x = torch.randn(2, 3, 8, 8).to(memory_format=torch.channels_last)
    w = torch.randn(4, 3, 3, 3)
    ref = F.conv2d(x, w, padding=1)
    torch.testing.assert_close(conv2d(x, w, padding=1), ref, **TOL[torch.float32])


X = torch.randn(2, 4, 6, 6)
W = torch.randn(6, 2, 3, 3)

#: (description, args, kwargs, expected exception type(s), text the message must contain)
BAD_CALLS = [
    ("input rank", (X[0, 0], W), {}, ValueError, "input must be 3-D"),
    ("weight rank", (X, W[0]), {}, ValueError, "weight must be 4-D"),
    ("channel mismatch", (X, torch.randn(6, 3, 3, 3)), {}, ValueError, r"input channels \(4\)"),
    ("out_channels % groups", (X, torch.randn(5, 1, 3, 3)), dict(groups=4), ValueError,
     r"out_channels \(5\) must be divisible by groups \(4\)"),
    ("in_channels % groups", (torch.randn(1, 6, 5, 5), torch.randn(8, 1, 3, 3)), dict(groups=4),
     ValueError, r"in_channels \(6\) must be divisible by groups \(4\)"),
    ("kernel > padded input", (X, torch.randn(6, 4, 9, 3)), dict(padding=1), ValueError,
     "kernel size"),
    ("dilated kernel > input", (X, torch.randn(6, 4, 3, 3)), dict(dilation=3), ValueError,
     "kernel size"),
    ("stride 0", (X, W), dict(stride=0, groups=2), ValueError, "stride must be positive"),
    ("negative stride", (X, W), dict(stride=(1, -1), groups=2), ValueError, "stride"),
    ("dilation 0", (X, W), dict(dilation=0, groups=2), ValueError, "dilation must be positive"),
    ("negative padding", (X, W), dict(padding=-1, groups=2), ValueError, "padding must be >= 0"),
    ("same with stride", (X, W), dict(padding="same", stride=2, groups=2), ValueError,
     "padding='same' needs stride 1"),
    ("unknown padding string", (X, W), dict(padding="full", groups=2), ValueError,
     "padding must be an int, a pair, 'same' or 'valid'"),
    ("bias shape", (X, W, torch.randn(5)), dict(groups=2), ValueError, r"bias must have shape"),
    ("dtype mismatch", (X.double(), W), dict(groups=2), TypeError, "weight dtype"),
    ("bias dtype", (X, W, torch.randn(6, dtype=torch.float64)), dict(groups=2), TypeError,
     "bias dtype"),
    ("groups 0", (X, W), dict(groups=0), ValueError, "groups must be a positive int"),
    ("groups -2", (X, W), dict(groups=-2), ValueError, "groups must be a positive int"),
    ("float stride", (X, W), dict(stride=1.5, groups=2), TypeError, "stride must be an int"),
    ("padding triple", (X, W), dict(padding=(1, 1, 1), groups=2), (ValueError, TypeError),
     "padding must be an int or a pair"),
]


@pytest.mark.parametrize(
    "args, kwargs, exc, match", [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS]
)
def test_rejects_what_pytorch_rejects(args: tuple, kwargs: dict, exc, match: str) -> None:
    with pytest.raises(Exception):  # noqa: B017 - PyTorch raises RuntimeError or ValueError
        F.conv2d(*args, **kwargs)
    with pytest.raises(exc, match=match) as info:
        conv2d(*args, **kwargs)
    assert str(info.value).startswith("conv2d:")
    with pytest.raises(exc, match=match):
        conv2d_naive(*args, **kwargs)


def test_rejects_non_tensors() -> None:
    with pytest.raises(TypeError, match="input must be a torch.Tensor"):
        conv2d([[1.0]], W)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="bias must be a torch.Tensor or None"):
        conv2d(X, W, bias=[0.0] * 6, groups=2)  # type: ignore[arg-type]


@pytest.mark.parametrize("multiplier", [1, 3])
def test_depthwise_path_matches_pytorch(multiplier: int) -> None:
    # one input channel per group takes the tap-by-tap path instead of the batched product
    gen = torch.Generator().manual_seed(10)
    x = torch.randn(2, 5, 7, 6, generator=gen, dtype=torch.float64)
    w = torch.randn(5 * multiplier, 1, 3, 2, generator=gen, dtype=torch.float64)
    b = torch.randn(5 * multiplier, generator=gen, dtype=torch.float64)
    kwargs = dict(stride=(2, 1), padding=1, dilation=(1, 2), groups=5)
    for a, c in zip(_grads(conv2d, x, w, b, kwargs), _grads(F.conv2d, x, w, b, kwargs),
                    strict=True):
        torch.testing.assert_close(a, c, **TOL[torch.float64])


@pytest.mark.parametrize("groups", [1, 4])
def test_empty_batch_like_pytorch(groups: int) -> None:
    x = torch.randn(0, 4, 5, 5, requires_grad=True)
    w = torch.randn(8, 4 // groups, 3, 3, requires_grad=True)
    out = conv2d(x, w, padding=1, groups=groups)
    assert out.shape == F.conv2d(x, w, padding=1, groups=groups).shape == (0, 8, 5, 5)
    out.sum().backward()
    assert torch.equal(w.grad, torch.zeros_like(w))


@pytest.mark.parametrize("module", ["conv", "conv_transpose", "im2col", "shuffle"])
def test_docstring_examples_run(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"convlab.functional.{module}"))
    assert result.attempted > 0 and result.failed == 0


def test_integer_inputs_like_pytorch() -> None:
    # PyTorch convolves integer tensors on the CPU exactly; so does the im2col product
    gen = torch.Generator().manual_seed(12)
    x = torch.randint(-3, 4, (2, 4, 5, 5), generator=gen)
    w = torch.randint(-2, 3, (6, 2, 3, 3), generator=gen)
    b = torch.randint(0, 3, (6,), generator=gen)
    assert torch.equal(conv2d(x, w, b, padding=1, groups=2), F.conv2d(x, w, b, padding=1, groups=2))
