"""Does batch_norm2d match F.batch_norm (values, running buffers, gradients, errors)?"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from convlab.exercises.forbid import forbidden
from convlab.functional import batch_norm2d

TOL = {torch.float32: dict(rtol=1e-4, atol=1e-5), torch.float64: dict(rtol=1e-10, atol=1e-10)}

FORBIDDEN = [
    "torch.nn.functional.batch_norm",
    "torch.nn.functional.instance_norm",
    "torch.nn.functional.layer_norm",
    "torch.nn.functional.group_norm",
    "torch.batch_norm",
    "torch.native_batch_norm",
    "torch.var_mean",
]


@st.composite
def bn_cases(draw: st.DrawFn) -> dict:
    """A valid call: input, optional affine parameters and buffers, mode and constants."""
    n, c = draw(st.integers(1, 3), label="N"), draw(st.integers(1, 4), label="C")
    h, w = draw(st.integers(1, 4), label="H"), draw(st.integers(1, 4), label="W")
    training = draw(st.booleans(), label="training")
    assume(not training or n * h * w > 1)
    buffers = True if not training else draw(st.booleans(), label="buffers")
    dtype = draw(st.sampled_from([torch.float32, torch.float64]), label="dtype")
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16), label="seed"))
    # a shifted, scaled input: the statistics are not those of a standard normal
    x = torch.randn(n, c, h, w, generator=gen, dtype=dtype) * 3 + 2
    weight = torch.randn(c, generator=gen, dtype=dtype) if draw(st.booleans()) else None
    bias = torch.randn(c, generator=gen, dtype=dtype) if draw(st.booleans()) else None
    running = (torch.randn(c, generator=gen, dtype=dtype),
               torch.rand(c, generator=gen, dtype=dtype) + 0.5) if buffers else (None, None)
    momentum = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]), label="momentum")
    eps = draw(st.sampled_from([1e-5, 1e-3, 0.1]), label="eps")
    return dict(x=x, weight=weight, bias=bias, running=running, training=training,
                momentum=momentum, eps=eps, gen=gen)


def _run(ours: bool, case: dict, seed: int = 1) -> tuple[list, tuple]:
    """[output, dL/dx, dL/dweight, dL/dbias] and the buffers after the call, on fresh copies."""
    def leaf(t):
        return None if t is None else t.detach().clone().requires_grad_()

    x, w, b = leaf(case["x"]), leaf(case["weight"]), leaf(case["bias"])
    rm, rv = (None if t is None else t.clone() for t in case["running"])
    args = dict(training=case["training"], momentum=case["momentum"], eps=case["eps"])
    out = batch_norm2d(x, w, b, rm, rv, **args) if ours else F.batch_norm(x, rm, rv, w, b, **args)
    r = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=out.dtype)
    (out * r).sum().backward()
    return [out.detach(), x.grad, None if w is None else w.grad,
            None if b is None else b.grad], (rm, rv)


@settings(deadline=None, derandomize=True, max_examples=40)
@given(case=bn_cases())
def test_matches_pytorch_values_buffers_and_gradients(case: dict) -> None:
    ours, our_buffers = _run(True, case)
    ref, ref_buffers = _run(False, case)
    tol = TOL[case["x"].dtype]
    names = ("out", "grad_x", "grad_weight", "grad_bias", "running_mean", "running_var")
    for name, a, b in zip(names, ours + list(our_buffers), ref + list(ref_buffers), strict=True):
        if b is None:
            assert a is None, name
        else:
            torch.testing.assert_close(a, b, **tol, msg=lambda m, n=name: f"{n}: {m}")


def test_running_estimates_follow_pytorch_over_steps() -> None:
    # five training steps, then evaluation with the accumulated buffers
    gen = torch.Generator().manual_seed(0)
    ours = (torch.zeros(3), torch.ones(3))
    ref = (torch.zeros(3), torch.ones(3))
    for _ in range(5):
        x = torch.randn(4, 3, 5, 5, generator=gen) * 2 + 1
        batch_norm2d(x, None, None, *ours, training=True, momentum=0.2)
        F.batch_norm(x, *ref, training=True, momentum=0.2)
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b)
    x = torch.randn(2, 3, 4, 4, generator=gen)
    torch.testing.assert_close(batch_norm2d(x, None, None, *ours, training=False),
                               F.batch_norm(x, *ref, training=False))


def test_unbiased_running_variance_biased_normalisation() -> None:
    # one channel, values 0 and 2: batch mean 1, biased variance 1, unbiased 2
    x = torch.tensor([0.0, 2.0]).view(2, 1, 1, 1)
    rm, rv = torch.zeros(1), torch.zeros(1)
    out = batch_norm2d(x, None, None, rm, rv, training=True, momentum=1.0, eps=0.0)
    assert out.flatten().tolist() == [-1.0, 1.0]
    assert rm.item() == 1.0 and rv.item() == 2.0


def test_evaluation_uses_running_stats_and_leaves_them_alone() -> None:
    x = torch.randn(2, 2, 3, 3)
    rm, rv = torch.tensor([1.0, -1.0]), torch.tensor([4.0, 0.25])
    before = (rm.clone(), rv.clone())
    out = batch_norm2d(x, None, None, rm, rv, training=False, eps=0.0)
    torch.testing.assert_close(out, (x - rm[:, None, None]) / rv.sqrt()[:, None, None])
    assert torch.equal(rm, before[0]) and torch.equal(rv, before[1])


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_gradcheck_float64(training: bool, affine: bool) -> None:
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(3, 2, 3, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, generator=gen, dtype=torch.float64, requires_grad=True)
    rm = torch.randn(2, generator=gen, dtype=torch.float64)
    rv = torch.rand(2, generator=gen, dtype=torch.float64) + 0.5

    def fn(*t):
        # the buffers are copied: gradcheck calls fn many times and must see the same function
        x_, w_, b_ = t if affine else (t[0], None, None)
        return batch_norm2d(x_, w_, b_, rm.clone(), rv.clone(), training=training, eps=1e-3)

    assert torch.autograd.gradcheck(fn, (x, w, b) if affine else (x,))


def test_uses_no_pytorch_normalisation() -> None:
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    w, b = torch.ones(3, requires_grad=True), torch.zeros(3, requires_grad=True)
    with forbidden(FORBIDDEN) as guard:
        batch_norm2d(x, w, b, torch.zeros(3), torch.ones(3)).square().sum().backward()
    assert guard.used == []
    assert x.grad is not None and w.grad is not None and b.grad is not None


X = torch.randn(2, 3, 4, 4)
C3 = torch.ones(3)

#: (description, args, kwargs, expected exception type, text the message must contain)
BAD_CALLS = [
    ("input rank", (X[0],), {}, ValueError, "input must be 4-D"),
    ("integer input", (X.long(),), {}, TypeError, "floating-point"),
    ("weight shape", (X, torch.ones(4)), {}, ValueError, r"weight must have shape \(C,\)"),
    ("bias dtype", (X, C3, C3.double()), {}, TypeError, "bias dtype"),
    ("running_var shape", (X, None, None, C3, torch.ones(2)), {}, ValueError,
     "running_var must have shape"),
    ("one buffer", (X, None, None, C3), {}, ValueError, "both be None or both be tensors"),
    ("eval without buffers", (X,), dict(training=False), ValueError,
     "must be given when not training"),
    ("one value per channel", (X[:1, :, :1, :1],), {}, ValueError,
     "more than 1 value per channel"),
    ("momentum None", (X,), dict(momentum=None), TypeError, "momentum must be a real number"),
]


@pytest.mark.parametrize("args, kwargs, exc, match", [c[1:] for c in BAD_CALLS],
                         ids=[c[0] for c in BAD_CALLS])
def test_rejects_what_pytorch_rejects(args: tuple, kwargs: dict, exc, match: str) -> None:
    x, *rest = args
    rest += [None] * (4 - len(rest))
    with pytest.raises(Exception):  # noqa: B017 - PyTorch raises RuntimeError or others
        F.batch_norm(x, rest[2], rest[3], rest[0], rest[1], **kwargs)
    with pytest.raises(exc, match=match) as info:
        batch_norm2d(*args, **kwargs)
    assert str(info.value).startswith("batch_norm2d:")


def test_rejects_non_tensors_and_negative_eps() -> None:
    with pytest.raises(TypeError, match="input must be a torch.Tensor"):
        batch_norm2d([[1.0]])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="weight must be a torch.Tensor or None"):
        batch_norm2d(X, [1.0, 1.0, 1.0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="eps must be >= 0"):
        batch_norm2d(X, eps=-1.0)


def test_docstring_examples_run() -> None:
    import doctest

    import convlab.functional.batch_norm as module

    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
