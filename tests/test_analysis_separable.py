"""Separable factors of rank-1 kernels, and the best rank-r approximation (Eckart–Young)."""

from __future__ import annotations

import importlib

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from convlab.analysis import kernel_rank, low_rank_kernel, separable_factors, singular_values

SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16  # a sampled Gaussian, σ = 1
LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def _parallel(a: torch.Tensor, b: torch.Tensor, tol: float) -> bool:
    """Whether a and b are the same vector up to a (nonzero) scale."""
    cos = (a @ b) / (a.norm() * b.norm())
    return bool(abs(abs(cos) - 1) < tol)


@pytest.mark.parametrize(
    "name, column, row",
    [
        ("sobel x", torch.tensor([1.0, 2.0, 1.0]), torch.tensor([-1.0, 0.0, 1.0])),
        ("sobel y", torch.tensor([-1.0, 0.0, 1.0]), torch.tensor([1.0, 2.0, 1.0])),
        ("gaussian 5x5", BINOMIAL, BINOMIAL),
        ("gaussian 5x3", BINOMIAL, torch.tensor([1.0, 2.0, 1.0]) / 4),
        ("box 3x3", torch.ones(3), torch.ones(3)),
        ("box 5x3", torch.ones(5) / 5, torch.ones(3) / 3),
        ("1x7", torch.ones(1), torch.arange(7.0)),
    ],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_classic_filters_factor_exactly(name: str, column: torch.Tensor, row: torch.Tensor,
                                        dtype: torch.dtype) -> None:
    kernel = torch.outer(column, row).to(dtype)
    c, r = separable_factors(kernel)
    assert c.shape == column.shape and r.shape == row.shape and c.dtype == dtype
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(torch.outer(c, r), kernel, **tol)
    assert _parallel(c.double(), column.double(), 1e-6)
    assert _parallel(r.double(), row.double(), 1e-6)
    assert kernel_rank(kernel) == 1


def test_sobel_factors_are_smoothing_times_difference() -> None:
    c, r = separable_factors(SOBEL_X)
    torch.testing.assert_close(c / c[0], torch.tensor([1.0, 2.0, 1.0]))
    torch.testing.assert_close(r / r[0], torch.tensor([1.0, 0.0, -1.0]))
    assert c.norm() == pytest.approx(r.norm())  # the balanced split of the scale
    assert c[c.abs().argmax()] > 0  # the sign convention


@settings(deadline=None, derandomize=True, max_examples=40)
@given(kh=st.integers(1, 7), kw=st.integers(1, 7), seed=st.integers(0, 2**16))
def test_random_rank_one_kernels_factor(kh: int, kw: int, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    column = torch.randn(kh, generator=gen, dtype=torch.float64)
    row = torch.randn(kw, generator=gen, dtype=torch.float64)
    kernel = torch.outer(column, row)
    c, r = separable_factors(kernel)
    torch.testing.assert_close(torch.outer(c, r), kernel, rtol=1e-12, atol=1e-12)
    assert _parallel(c, column, 1e-10) and _parallel(r, row, 1e-10)


@pytest.mark.parametrize(
    "kernel, rank",
    [(LAPLACIAN, 2), (torch.eye(3), 3), (SOBEL_X + SOBEL_X.T, 2),
     (torch.randn(5, 4, generator=torch.Generator().manual_seed(0)), 4)],
)
def test_kernels_of_higher_rank_are_rejected_with_their_rank(kernel: torch.Tensor,
                                                             rank: int) -> None:
    assert kernel_rank(kernel) == rank
    with pytest.raises(ValueError, match=f"must have rank 1 to be separable, got rank {rank}"):
        separable_factors(kernel)


def test_tolerance_default_and_explicit() -> None:
    kernel = torch.outer(BINOMIAL, BINOMIAL).double()
    nearly = kernel + 1e-9 * torch.eye(5, dtype=torch.float64)  # σ_2/σ_1 ≈ 7e-9
    with pytest.raises(ValueError, match="got rank 5"):
        separable_factors(nearly)  # the default rtol is 5·eps(float64) ≈ 1.1e-15
    c, r = separable_factors(nearly, rtol=1e-6)
    torch.testing.assert_close(torch.outer(c, r), low_rank_kernel(nearly, 1))
    # in float32 the same perturbation is below the rounding the default tolerance allows
    c, r = separable_factors(nearly.float())
    torch.testing.assert_close(torch.outer(c, r), kernel.float())


def test_zero_kernel_has_zero_factors() -> None:
    c, r = separable_factors(torch.zeros(3, 2))
    assert torch.equal(c, torch.zeros(3)) and torch.equal(r, torch.zeros(2))
    assert kernel_rank(torch.zeros(3, 2)) == 0


@st.composite
def kernels(draw: st.DrawFn) -> torch.Tensor:
    batch = draw(st.lists(st.integers(1, 3), max_size=2), label="batch")
    kh, kw = draw(st.integers(1, 7), label="kH"), draw(st.integers(1, 7), label="kW")
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16), label="seed"))
    return torch.randn(*batch, kh, kw, generator=gen, dtype=torch.float64)


@settings(deadline=None, derandomize=True, max_examples=40)
@given(kernel=kernels(), data=st.data())
def test_low_rank_error_is_the_discarded_singular_values(kernel: torch.Tensor,
                                                         data: st.DataObject) -> None:
    rank = data.draw(st.integers(0, min(kernel.shape[-2:])), label="rank")
    approx = low_rank_kernel(kernel, rank)
    assert approx.shape == kernel.shape
    s = torch.linalg.svdvals(kernel)
    error = torch.linalg.matrix_norm(kernel - approx)  # Frobenius, per kernel of the batch
    torch.testing.assert_close(error, s[..., rank:].square().sum(-1).sqrt(), rtol=1e-9,
                               atol=1e-9)
    assert (torch.linalg.matrix_rank(approx) <= rank).all()
    # idempotent: the approximation is its own best approximation
    torch.testing.assert_close(low_rank_kernel(approx, rank), approx, rtol=1e-9, atol=1e-9)


@settings(deadline=None, derandomize=True, max_examples=30)
@given(kernel=kernels(), data=st.data())
def test_low_rank_beats_every_random_rank_r_matrix(kernel: torch.Tensor,
                                                   data: st.DataObject) -> None:
    kh, kw = kernel.shape[-2:]
    rank = data.draw(st.integers(1, min(kh, kw)), label="rank")
    best = torch.linalg.matrix_norm(kernel - low_rank_kernel(kernel, rank))
    gen = torch.Generator().manual_seed(data.draw(st.integers(0, 2**16), label="seed"))
    for _ in range(5):
        # a random column space, and the best rows for it (least squares): still no better
        a = torch.randn(*kernel.shape[:-2], kh, rank, generator=gen, dtype=torch.float64)
        b = torch.linalg.lstsq(a, kernel).solution  # (..., r, kW)
        other = torch.linalg.matrix_norm(kernel - a @ b)
        assert (other >= best - 1e-9).all()
        raw = torch.randn(*kernel.shape[:-2], rank, kw, generator=gen, dtype=torch.float64)
        assert (torch.linalg.matrix_norm(kernel - a @ raw) >= best - 1e-9).all()


def test_low_rank_edge_ranks_and_separable_input() -> None:
    gen = torch.Generator().manual_seed(3)
    kernel = torch.randn(2, 4, 3, generator=gen, dtype=torch.float64)
    assert torch.equal(low_rank_kernel(kernel, 0), torch.zeros_like(kernel))
    torch.testing.assert_close(low_rank_kernel(kernel, 3), kernel)
    torch.testing.assert_close(low_rank_kernel(SOBEL_X, 1), SOBEL_X)
    # a rank-2 kernel is recovered exactly at rank 2 and not at rank 1
    torch.testing.assert_close(low_rank_kernel(LAPLACIAN, 2), LAPLACIAN, rtol=1e-5, atol=1e-5)
    error = torch.linalg.matrix_norm(LAPLACIAN - low_rank_kernel(LAPLACIAN, 1))
    assert error > 0.4
    torch.testing.assert_close(error, torch.linalg.svdvals(LAPLACIAN)[1])


def test_low_rank_is_differentiable() -> None:
    k = torch.randn(4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1),
                    requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: low_rank_kernel(t, 2), (k,))


def test_singular_values_of_a_batch() -> None:
    k = torch.stack([torch.outer(BINOMIAL, BINOMIAL), torch.eye(5)])
    s = singular_values(k)
    assert s.shape == (2, 5)
    assert s[0, 1] < 1e-6 and torch.allclose(s[1], torch.ones(5))


def test_bad_arguments_are_named() -> None:
    with pytest.raises(TypeError, match="kernel must be a torch.Tensor"):
        separable_factors([[1.0]])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"kernel must be 2-D \(kH, kW\)"):
        separable_factors(torch.ones(2, 3, 3))
    with pytest.raises(ValueError, match=r"kernel must be at least 2-D"):
        low_rank_kernel(torch.ones(3), 1)
    with pytest.raises(ValueError, match=r"rank must be in 0..min\(kH, kW\) = 0..3, got 4"):
        low_rank_kernel(torch.ones(3, 5), 4)
    with pytest.raises(ValueError, match="rank must be in"):
        low_rank_kernel(torch.ones(3, 5), -1)
    with pytest.raises(TypeError, match="rank must be an int"):
        low_rank_kernel(torch.ones(3, 5), 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rtol must be >= 0"):
        separable_factors(SOBEL_X, rtol=-1.0)


def test_integer_kernels_are_converted() -> None:
    c, r = separable_factors(torch.tensor([[1, 2], [2, 4]]))
    assert c.dtype == torch.get_default_dtype()
    torch.testing.assert_close(torch.outer(c, r), torch.tensor([[1.0, 2.0], [2.0, 4.0]]))


def test_docstring_examples_run() -> None:
    import doctest

    result = doctest.testmod(importlib.import_module("convlab.analysis.separable"))
    assert result.attempted > 0 and result.failed == 0
