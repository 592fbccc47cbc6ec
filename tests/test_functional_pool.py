"""Do max_pool2d and avg_pool2d match PyTorch (values, gradients, shapes, ties, errors)?"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from convlab.exercises.forbid import forbidden
from convlab.functional import avg_pool2d, max_pool2d
from convlab.functional.pool import pool_output_size

TOL = {torch.float32: dict(rtol=1e-5, atol=1e-6), torch.float64: dict(rtol=1e-12, atol=1e-12)}

#: PyTorch's own pooling (and unfold) that the from-scratch versions must not call.
FORBIDDEN = [
    "torch.nn.functional.max_pool2d",
    "torch.nn.functional.max_pool2d_with_indices",
    "torch.nn.functional.avg_pool2d",
    "torch.nn.functional.adaptive_max_pool2d",
    "torch.nn.functional.adaptive_avg_pool2d",
    "torch.nn.functional.unfold",
    "torch.max_pool2d",
    "torch.Tensor.unfold",
]


def _maybe_pair(draw: st.DrawFn, lo: int, hi: int, label: str) -> int | tuple[int, int]:
    return draw(st.one_of(st.integers(lo, hi), st.tuples(st.integers(lo, hi),
                                                         st.integers(lo, hi))), label=label)


def _as_pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return v if isinstance(v, tuple) else (v, v)


def _padding_only_window(size: int, k: int, s: int, p: int, d: int, out: int) -> bool:
    """Whether some window along one dimension has no tap inside the input."""
    return any(all(not 0 <= o * s - p + i * d < size for i in range(k)) for o in range(out))


@st.composite
def pool_cases(draw: st.DrawFn, avg: bool) -> dict:
    """A valid pooling call. Inputs are small integers stored as floats half of the time, so
    that windows hold ties (max pooling must pick the first maximum, as PyTorch does)."""
    kernel = _maybe_pair(draw, 1, 4, "kernel_size")
    k = _as_pair(kernel)
    stride = draw(st.one_of(st.none(), st.integers(1, 3),
                            st.tuples(st.integers(1, 3), st.integers(1, 3))), label="stride")
    padding = draw(st.one_of(st.integers(0, min(k) // 2),
                             st.tuples(st.integers(0, k[0] // 2), st.integers(0, k[1] // 2))),
                   label="padding")
    dilation = 1 if avg else _maybe_pair(draw, 1, 3, "dilation")
    ceil_mode = draw(st.booleans(), label="ceil_mode")
    h, w = draw(st.integers(1, 9), label="H"), draw(st.integers(1, 9), label="W")
    s = k if stride is None else _as_pair(stride)
    p, d = _as_pair(padding), _as_pair(dilation)
    out = tuple(pool_output_size(n, ki, si, pi, di, ceil_mode)
                for n, ki, si, pi, di in zip((h, w), k, s, p, d, strict=True))
    assume(min(out) >= 1)
    # PyTorch's backward writes outside the input for a window of padding only (dilation
    # skipping the whole input) and can crash the process: such cases are tested on their own
    assume(not any(_padding_only_window(*a) for a in zip((h, w), k, s, p, d, out, strict=True)))
    dtype = draw(st.sampled_from([torch.float32, torch.float64]), label="dtype")
    n, c = draw(st.integers(1, 2), label="N"), draw(st.integers(1, 3), label="C")
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16), label="seed"))
    if draw(st.booleans(), label="ties"):
        x = torch.randint(-2, 3, (n, c, h, w), generator=gen).to(dtype)
    else:
        x = torch.randn(n, c, h, w, generator=gen, dtype=dtype)
    kwargs = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode)
    if avg:
        kwargs["count_include_pad"] = draw(st.booleans(), label="count_include_pad")
    else:
        kwargs["dilation"] = dilation
    return dict(x=x, kwargs=kwargs, out=out, gen=gen)


def _value_and_grad(fn, x: torch.Tensor, kwargs: dict, gen: torch.Generator):
    """(output, dL/dx) for L = Σ out · R with a fixed random R."""
    leaf = x.detach().clone().requires_grad_()
    out = fn(leaf, **kwargs)
    r = torch.randn(out.shape, generator=gen, dtype=out.dtype)
    (out * r).sum().backward()
    return out.detach(), leaf.grad


@settings(deadline=None, derandomize=True, max_examples=60)
@given(case=pool_cases(avg=False))
def test_max_pool_matches_pytorch_values_and_gradients(case: dict) -> None:
    x, kwargs = case["x"], case["kwargs"]
    state = case["gen"].get_state()
    ours = _value_and_grad(max_pool2d, x, kwargs, case["gen"])
    case["gen"].set_state(state)
    ref = _value_and_grad(F.max_pool2d, x, kwargs, case["gen"])
    assert ours[0].shape == (*x.shape[:2], *case["out"]) == ref[0].shape
    # the maximum is one of the inputs: exactly equal; the gradient goes to the same pixel
    assert torch.equal(ours[0], ref[0])
    assert torch.equal(ours[1], ref[1])


@settings(deadline=None, derandomize=True, max_examples=60)
@given(case=pool_cases(avg=True))
def test_avg_pool_matches_pytorch_values_and_gradients(case: dict) -> None:
    x, kwargs = case["x"], case["kwargs"]
    state = case["gen"].get_state()
    ours = _value_and_grad(avg_pool2d, x, kwargs, case["gen"])
    case["gen"].set_state(state)
    ref = _value_and_grad(F.avg_pool2d, x, kwargs, case["gen"])
    assert ours[0].shape == (*x.shape[:2], *case["out"]) == ref[0].shape
    assert ours[0].dtype == x.dtype
    torch.testing.assert_close(ours[0], ref[0], **TOL[x.dtype])
    torch.testing.assert_close(ours[1], ref[1], **TOL[x.dtype])


@settings(deadline=None, derandomize=True, max_examples=20)
@given(case=pool_cases(avg=False), avg=st.booleans())
def test_unbatched_input_like_pytorch(case: dict, avg: bool) -> None:
    x, kwargs = case["x"][0], dict(case["kwargs"])
    if avg:
        kwargs.pop("dilation")
        ours, ref = avg_pool2d(x, **kwargs), F.avg_pool2d(x, **kwargs)
    else:
        ours, ref = max_pool2d(x, **kwargs), F.max_pool2d(x, **kwargs)
    assert ours.dim() == 3
    torch.testing.assert_close(ours, ref, **TOL[x.dtype])


def test_hand_computed_values() -> None:
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert torch.equal(max_pool2d(x, 2), torch.tensor([[[[5.0, 7.0], [13.0, 15.0]]]]))
    # padding 1: the top-left window holds only x[0, 0] = 0 (padding never wins, even below 0)
    neg = -x - 1
    assert max_pool2d(neg, 2, padding=1)[0, 0, 0, 0] == -1.0
    # average with padding: the top-left window is {pad, pad, pad, 0}: 0/4 or 0/1
    ones = torch.ones(1, 1, 3, 3)
    assert avg_pool2d(ones, 2, padding=1)[0, 0, 0, 0] == 0.25
    assert avg_pool2d(ones, 2, padding=1, count_include_pad=False)[0, 0, 0, 0] == 1.0


def test_ceil_mode_last_window_starts_inside_input_or_left_padding() -> None:
    # size 4, k 2, s 2, p 1: floor gives 3 windows starting at -1, 1, 3; ceil would add one
    # starting at 5 = size + p, past the input: PyTorch drops it, and so do we
    assert pool_output_size(4, 2, 2, 1, ceil_mode=False) == 3
    assert pool_output_size(4, 2, 2, 1, ceil_mode=True) == 3
    assert pool_output_size(5, 2, 2, 0, ceil_mode=True) == 3  # the window at 4 starts inside
    x = torch.randn(1, 1, 4, 5)
    for kw in (dict(kernel_size=2, stride=2, padding=1), dict(kernel_size=2, stride=2)):
        assert max_pool2d(x, ceil_mode=True, **kw).shape == F.max_pool2d(
            x, ceil_mode=True, **kw).shape
        assert avg_pool2d(x, ceil_mode=True, **kw).shape == F.avg_pool2d(
            x, ceil_mode=True, **kw).shape


def test_ceil_mode_divisor_counts_only_the_padded_input() -> None:
    # a ceil-mode window hanging past the padding divides by its part inside the padded input
    x = torch.ones(1, 1, 5, 5)
    out = avg_pool2d(x, 2, stride=2, ceil_mode=True)
    torch.testing.assert_close(out, F.avg_pool2d(x, 2, stride=2, ceil_mode=True))
    assert out[0, 0, -1, -1] == 1.0  # 1 pixel / divisor 1, not 1/4


def test_ties_go_to_the_first_maximum_in_window_order() -> None:
    x = torch.zeros(1, 1, 2, 2, requires_grad=True)
    max_pool2d(x, 2).sum().backward()
    assert x.grad.flatten().tolist() == [1.0, 0.0, 0.0, 0.0]
    x = torch.tensor([[[[0.0, 3.0], [3.0, 3.0]]]], requires_grad=True)
    max_pool2d(x, 2).sum().backward()
    assert x.grad.flatten().tolist() == [0.0, 1.0, 0.0, 0.0]


def test_nan_and_minus_inf_like_pytorch() -> None:
    nan, inf = float("nan"), float("inf")
    x = torch.tensor([[[[1.0, nan, 3.0, nan, -inf, -inf, 2.0]]]])
    for kw in (dict(kernel_size=(1, 4)), dict(kernel_size=(1, 2), stride=1, padding=(0, 1))):
        ours = _value_and_grad(max_pool2d, x, kw, torch.Generator().manual_seed(0))
        ref = _value_and_grad(F.max_pool2d, x, kw, torch.Generator().manual_seed(0))
        torch.testing.assert_close(ours[0], ref[0], equal_nan=True)
        torch.testing.assert_close(ours[1], ref[1])


def test_window_of_padding_only_gives_minus_inf_and_no_gradient() -> None:
    # H = 1, k = 2, p = 1, d = 2: the one window reads rows -1 and 1, both outside the input
    # (PyTorch gives -inf too, but its backward then writes past the input: not called here)
    x = torch.ones(1, 1, 1, 3, requires_grad=True)
    out = max_pool2d(x, (2, 1), 1, (1, 0), (2, 1))
    assert torch.equal(out, F.max_pool2d(x.detach(), (2, 1), 1, (1, 0), (2, 1)))
    assert torch.isneginf(out).all()
    out.sum().backward()
    assert torch.equal(x.grad, torch.zeros_like(x))


def test_integer_inputs_like_pytorch() -> None:
    gen = torch.Generator().manual_seed(3)
    x = torch.randint(-9, 10, (2, 3, 7, 6), generator=gen)
    kw = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)
    assert torch.equal(max_pool2d(x, **kw), F.max_pool2d(x, **kw))
    # integer averages are truncated toward zero, as PyTorch's kernel divides
    for cip in (True, False):
        assert torch.equal(avg_pool2d(x, **kw, count_include_pad=cip),
                           F.avg_pool2d(x, **kw, count_include_pad=cip))


@pytest.mark.parametrize("avg", [False, True])
def test_gradcheck_float64(avg: bool) -> None:
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(2, 2, 6, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    if avg:
        def fn(t):
            return avg_pool2d(t, (3, 2), (2, 1), (1, 1), True, False)
    else:
        def fn(t):
            return max_pool2d(t, (3, 2), (2, 1), (1, 1), (1, 2), True)
    assert torch.autograd.gradcheck(fn, (x,))


def test_empty_batch_like_pytorch() -> None:
    x = torch.randn(0, 3, 5, 5, requires_grad=True)
    assert max_pool2d(x, 2).shape == F.max_pool2d(x, 2).shape == (0, 3, 2, 2)
    out = avg_pool2d(x, 3, 1, 1)
    assert out.shape == (0, 3, 5, 5)
    out.sum().backward()
    assert x.grad.shape == x.shape


def test_stride_defaults_to_kernel_size() -> None:
    x = torch.randn(1, 2, 9, 8)
    assert torch.equal(max_pool2d(x, 3), max_pool2d(x, 3, stride=3))
    assert torch.equal(max_pool2d(x, 3, stride=[]), F.max_pool2d(x, 3, stride=[]))


def test_uses_no_pytorch_pooling() -> None:
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    with forbidden(FORBIDDEN) as guard:
        (max_pool2d(x, 3, 2, 1, 2, True).sum() + avg_pool2d(x, 3, 2, 1, True).sum()).backward()
    assert guard.used == []
    assert x.grad is not None


X = torch.randn(1, 2, 6, 6)

#: (description, function, args, kwargs, expected exception type, text the message must contain)
BAD_CALLS = [
    ("input rank", "max", (X[0, 0], 2), {}, ValueError, "input must be 3-D"),
    ("empty channels", "avg", (torch.randn(1, 0, 4, 4), 2), {}, ValueError, "non-empty"),
    ("kernel 0", "max", (X, 0), {}, ValueError, "kernel_size must be positive"),
    ("stride 0", "avg", (X, 2), dict(stride=0), ValueError, "stride must be positive"),
    ("negative padding", "max", (X, 3), dict(padding=-1), ValueError, "padding must be >= 0"),
    ("padding over half", "max", (X, 3), dict(padding=2), ValueError,
     r"padding must be at most half the kernel size"),
    ("padding over half avg", "avg", (X, (4, 2)), dict(padding=(1, 2)), ValueError,
     r"along W, got padding 2 for kernel size 2"),
    ("dilation 0", "max", (X, 2), dict(dilation=0), ValueError, "dilation must be positive"),
    ("empty output", "max", (X, 7), {}, ValueError, "output would be empty"),
    ("dilated empty output", "max", (X, 3), dict(dilation=3), ValueError,
     "output would be empty"),
    ("float kernel", "avg", (X, 2.0), {}, TypeError, "kernel_size must be an int"),
    ("kernel triple", "max", (X, (2, 2, 2)), {}, ValueError, "kernel_size must be an int or a"),
]


@pytest.mark.parametrize("which, args, kwargs, exc, match", [c[1:] for c in BAD_CALLS],
                         ids=[c[0] for c in BAD_CALLS])
def test_rejects_what_pytorch_rejects(which: str, args: tuple, kwargs: dict, exc,
                                      match: str) -> None:
    ours, ref = (max_pool2d, F.max_pool2d) if which == "max" else (avg_pool2d, F.avg_pool2d)
    with pytest.raises(Exception):  # noqa: B017 - PyTorch raises RuntimeError or TypeError
        ref(*args, **kwargs)
    with pytest.raises(exc, match=match) as info:
        ours(*args, **kwargs)
    assert str(info.value).startswith(f"{which}_pool2d:")


def test_rejects_non_tensors_and_bad_flags() -> None:
    with pytest.raises(TypeError, match="input must be a torch.Tensor"):
        max_pool2d([[1.0]], 2)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ceil_mode must be a bool"):
        avg_pool2d(X, 2, ceil_mode="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="count_include_pad must be a bool"):
        avg_pool2d(X, 2, count_include_pad=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="real floating-point or integer"):
        max_pool2d(X > 0, 2)


def test_docstring_examples_run() -> None:
    import doctest

    import convlab.functional.pool as module

    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def test_small_integer_and_half_averages_do_not_overflow() -> None:
    # PyTorch's kernel takes int64 only; smaller integer types are summed in int64 here too
    x = torch.full((1, 1, 4, 4), 100, dtype=torch.uint8)
    out = avg_pool2d(x, 2)
    assert out.dtype == torch.uint8 and out.flatten().tolist() == [100] * 4
    assert torch.equal(avg_pool2d(x.long(), 2), F.avg_pool2d(x.long(), 2))
    h = torch.full((1, 1, 4, 4), 60000.0, dtype=torch.float16)  # a float16 sum would overflow
    assert torch.equal(avg_pool2d(h, 2), F.avg_pool2d(h, 2))
