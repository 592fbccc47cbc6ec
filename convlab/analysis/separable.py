"""Spatially separable kernels: rank-1 factors and the best rank-r approximation (SVD).

A ``kH × kW`` kernel ``K`` is *spatially separable* when it is an outer product
``K = c·rᵀ`` of a column ``c`` (kH) and a row ``r`` (kW): convolving with ``K`` is then a
``kH × 1`` convolution followed by a ``1 × kW`` one, ``kH + kW`` multiplications per pixel
instead of ``kH·kW``. That is the case exactly when ``K`` has rank 1 (Sobel, a Gaussian, a box
filter). The singular value decomposition ``K = Σ_i σ_i u_i v_iᵀ`` (σ_1 ≥ σ_2 ≥ … ≥ 0) gives
both the test and the factors: ``K`` is rank 1 when ``σ_2 = 0``, and then ``c = √σ_1·u_1``,
``r = √σ_1·v_1``.

Any kernel has a best rank-r approximation in the Frobenius norm, the truncated SVD
``K_r = Σ_{i ≤ r} σ_i u_i v_iᵀ`` (Eckart–Young), whose error is the root-sum-square of the
discarded singular values: ``‖K − K_r‖_F = √(Σ_{i > r} σ_i²)``. ``K_r`` costs r separable pairs,
``r·(kH + kW)`` multiplications per pixel.

Example:
    >>> import torch
    >>> sobel_x = torch.tensor([[-1., 0., 1.], [-2., 0., 2.], [-1., 0., 1.]])
    >>> column, row = separable_factors(sobel_x)
    >>> torch.allclose(torch.outer(column, row), sobel_x)
    True
    >>> (column / column[0]).round(decimals=4), (row / row[0]).round(decimals=4)  # [1 2 1]ᵀ[1 0 -1]
    (tensor([1., 2., 1.]), tensor([ 1.,  0., -1.]))
"""

from __future__ import annotations

import numbers

import torch

__all__ = ["kernel_rank", "low_rank_kernel", "separable_factors", "singular_values"]


def _check_kernel(kernel: object, op: str, batched: bool) -> torch.Tensor:
    if not isinstance(kernel, torch.Tensor):
        raise TypeError(f"{op}: kernel must be a torch.Tensor, got {type(kernel).__name__}")
    if (kernel.dim() < 2) if batched else (kernel.dim() != 2):
        rule = "at least 2-D (..., kH, kW)" if batched else "2-D (kH, kW)"
        raise ValueError(f"{op}: kernel must be {rule}, got shape {tuple(kernel.shape)}")
    if min(kernel.shape[-2:]) < 1:
        raise ValueError(f"{op}: kernel must have kH, kW >= 1, got shape {tuple(kernel.shape)}")
    if not kernel.is_floating_point():
        kernel = kernel.to(torch.get_default_dtype())
    return kernel


def _rtol(kernel: torch.Tensor) -> float:
    """The default relative tolerance: ``max(kH, kW)·eps(dtype)``, the one NumPy's
    ``matrix_rank`` uses (rounding in the SVD of a kH × kW matrix is about that relative to σ_1)."""
    return max(kernel.shape[-2:]) * torch.finfo(kernel.dtype).eps


def singular_values(kernel: torch.Tensor) -> torch.Tensor:
    """σ_1 ≥ σ_2 ≥ … of a kernel (or a batch of kernels). Shape: (..., kH, kW) -> (..., min)."""
    kernel = _check_kernel(kernel, "singular_values", batched=True)
    return torch.linalg.svdvals(kernel)


def kernel_rank(kernel: torch.Tensor, rtol: float | None = None) -> int:
    """The numerical rank of a 2-D kernel: the number of σ_i above ``rtol·σ_1``.

    ``rtol`` defaults to ``max(kH, kW)·eps(dtype)``. A zero kernel has rank 0.
    """
    kernel = _check_kernel(kernel, "kernel_rank", batched=False)
    s = torch.linalg.svdvals(kernel)
    tol = (_rtol(kernel) if rtol is None else rtol) * s[0]
    return int((s > tol).sum()) if s[0] > 0 else 0


def separable_factors(
    kernel: torch.Tensor, rtol: float | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The column and row of a rank-1 kernel: ``torch.outer(column, row) == kernel``.

    From the SVD, ``column = √σ_1·u_1`` and ``row = √σ_1·v_1``, the sign chosen so that the
    column's entry of largest magnitude is positive (the factors of a rank-1 kernel are unique
    up to a scale moved between them; this picks the balanced one, ``‖column‖ = ‖row‖``).

    Tolerance: the kernel counts as rank 1 when ``σ_2 ≤ rtol·σ_1``; ``rtol`` defaults to
    ``max(kH, kW)·eps(dtype)`` (about 3.6e-7 for a 3×3 float32 kernel, 6.7e-16 in float64), the
    rounding an exactly separable kernel picks up in floating point. Pass a larger ``rtol`` to
    accept nearly separable kernels (the factors are then those of the best rank-1
    approximation, :func:`low_rank_kernel` with rank 1). A zero kernel gives zero factors.

    Shape: (kH, kW) -> ((kH,), (kW,)). Integer kernels are converted to the default dtype.

    Raises:
        TypeError: ``kernel`` is not a tensor, or ``rtol`` is not a number.
        ValueError: ``kernel`` is not 2-D, ``rtol`` is negative, or the kernel's rank is above 1
            within the tolerance; the message gives the rank and σ_2/σ_1.
    """
    op = "separable_factors"
    kernel = _check_kernel(kernel, op, batched=False)
    if rtol is not None:
        if isinstance(rtol, bool) or not isinstance(rtol, numbers.Real):
            raise TypeError(f"{op}: rtol must be a number or None, got {type(rtol).__name__}")
        if rtol < 0:
            raise ValueError(f"{op}: rtol must be >= 0, got {rtol}")
    tol = _rtol(kernel) if rtol is None else float(rtol)
    u, s, vh = torch.linalg.svd(kernel)
    if s[0] == 0:
        return kernel.new_zeros(kernel.shape[0]), kernel.new_zeros(kernel.shape[1])
    if s.numel() > 1 and s[1] > tol * s[0]:
        rank = int((s > tol * s[0]).sum())
        raise ValueError(
            f"{op}: kernel must have rank 1 to be separable, got rank {rank} "
            f"(σ_2/σ_1 = {float(s[1] / s[0]):.3g} > rtol = {tol:.3g}); "
            "low_rank_kernel(kernel, 1) gives its best separable approximation"
        )
    root = s[0].sqrt()
    column, row = u[:, 0] * root, vh[0] * root
    if column[column.abs().argmax()] < 0:
        column, row = -column, -row
    return column, row


def low_rank_kernel(kernel: torch.Tensor, rank: int) -> torch.Tensor:
    """The best rank-``rank`` approximation of a kernel in the Frobenius norm (Eckart–Young).

    ``K_r = U[:, :r] · diag(σ_1..σ_r) · V[:, :r]ᵀ``, the truncated SVD, for each kernel of a
    batch; ``‖K − K_r‖_F = √(Σ_{i > r} σ_i²)`` and no matrix of rank ≤ r is closer. Rank 0
    gives zeros; rank ``min(kH, kW)`` gives the kernel back (up to rounding). Differentiable
    (through ``torch.linalg.svd``) where the singular values are distinct.

    Shape: (..., kH, kW) -> (..., kH, kW). Integer kernels are converted to the default dtype.

    Raises:
        TypeError: ``kernel`` is not a tensor, or ``rank`` is not an int.
        ValueError: ``kernel`` has fewer than 2 dimensions, or ``rank`` is not in
            ``0..min(kH, kW)``.
    """
    op = "low_rank_kernel"
    kernel = _check_kernel(kernel, op, batched=True)
    if isinstance(rank, bool) or not isinstance(rank, numbers.Integral):
        raise TypeError(f"{op}: rank must be an int, got {type(rank).__name__}")
    most = min(kernel.shape[-2:])
    if not 0 <= rank <= most:
        raise ValueError(f"{op}: rank must be in 0..min(kH, kW) = 0..{most}, got {rank}")
    u, s, vh = torch.linalg.svd(kernel, full_matrices=False)
    # (..., kH, r) · diag(σ) · (..., r, kW)
    return (u[..., :, :rank] * s[..., None, :rank]) @ vh[..., :rank, :]
