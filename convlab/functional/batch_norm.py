"""2-D batch normalisation from scratch, with a hand-written backward (Ioffe & Szegedy, 2015).

For each channel ``c`` of an (N, C, H, W) input, with ``M = N·H·W`` values per channel:

    μ_c  = (1/M) Σ_{n,h,w} x[n, c, h, w]
    σ²_c = (1/M) Σ_{n,h,w} (x[n, c, h, w] − μ_c)²          (biased: divides by M)
    x̂    = (x − μ_c) / √(σ²_c + ε)
    y    = γ_c · x̂ + β_c

In training the batch statistics normalise, and the running estimates move toward them in
place: ``running_mean ← (1 − m)·running_mean + m·μ`` and ``running_var ← (1 − m)·running_var +
m·σ²·M/(M − 1)`` (the *unbiased* variance, as PyTorch). Out of training the running estimates
normalise instead and nothing is updated.

Backward (training), with ``g = ∂L/∂y``: ``∂L/∂β = Σ g``, ``∂L/∂γ = Σ g·x̂`` and the compact form

    ∂L/∂x = γ / (M·√(σ² + ε)) · (M·g − Σ g − x̂ · Σ g·x̂)

(sums over n, h, w per channel), which accounts for μ and σ² depending on every x. Out of
training the statistics are constants and ``∂L/∂x = γ·g / √(running_var + ε)``.

Shape:
    - Input: (N, C, H, W); weight (γ), bias (β), running_mean, running_var: (C,) or None
    - Output: (N, C, H, W)

Example:
    >>> import torch
    >>> x = torch.tensor([[[[1.]], [[2.]]], [[[3.]], [[6.]]]])  # N=2, C=2, 1×1
    >>> mean, var = torch.zeros(2), torch.ones(2)
    >>> batch_norm2d(x, None, None, mean, var, eps=0.0).flatten().tolist()
    [-1.0, -1.0, 1.0, 1.0]
    >>> mean.tolist(), var.tolist()  # 0.9·0 + 0.1·(2, 4); 0.9·1 + 0.1·(2, 8)
    ([0.20000000298023224, 0.4000000059604645], [1.100000023841858, 1.7000000476837158])
"""

from __future__ import annotations

import numbers

import torch
from torch.autograd.function import once_differentiable

__all__ = ["batch_norm2d"]

_OP = "batch_norm2d"


class _BatchNorm2d(torch.autograd.Function):
    """``y = γ·(x − μ)·inv_std + β`` with (μ, inv_std) given; the backward pass treats them as
    functions of ``x`` when ``batch_stats`` (training) and as constants otherwise.

    Both passes are written as few full-size passes over the data as the formulas allow:
    the forward pass folds the four per-channel operations into one ``y = x·a + b`` with
    ``a = γ·inv_std`` and ``b = β − μ·a`` (one ``addcmul``); the backward pass rebuilds ``x̂``
    from the saved input (one ``addcmul``, instead of keeping a second tensor of the input's
    size) and writes ``∂L/∂x = a·g − (a·mean(g·x̂))·x̂ − a·mean(g)`` as two ``addcmul``.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx,
        x: torch.Tensor,
        weight: torch.Tensor | None,
        bias: torch.Tensor | None,
        mean: torch.Tensor,
        inv_std: torch.Tensor,
        batch_stats: bool,
    ) -> torch.Tensor:
        scale = inv_std if weight is None else weight * inv_std  # a = γ·inv_std, (C,)
        shift = -mean * scale if bias is None else bias - mean * scale  # b = β − μ·a, (C,)
        y = torch.addcmul(shift[:, None, None], x, scale[:, None, None])  # (N, C, H, W)
        ctx.batch_stats = batch_stats
        ctx.has = (weight is not None, bias is not None)
        ctx.save_for_backward(x, mean, inv_std, scale)
        return y

    @staticmethod
    @once_differentiable
    def backward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx, g: torch.Tensor
    ) -> tuple[torch.Tensor | None, ...]:
        x, mean, inv_std, scale = ctx.saved_tensors
        has_w, has_b = ctx.has
        dims = (0, 2, 3)
        x_hat = torch.addcmul((-mean * inv_std)[:, None, None], x, inv_std[:, None, None])
        sum_g = g.sum(dim=dims)  # (C,)
        sum_g_xhat = (g * x_hat).sum(dim=dims)  # (C,)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            if ctx.batch_stats:
                m = x.numel() // x.shape[1]
                base = (-scale * sum_g / m)[:, None, None]
                grad_x = torch.addcmul(base, g, scale[:, None, None])
                grad_x.addcmul_(x_hat, (-scale * sum_g_xhat / m)[:, None, None])
            else:
                grad_x = g * scale[:, None, None]
        if has_w and ctx.needs_input_grad[1]:
            grad_w = sum_g_xhat
        if has_b and ctx.needs_input_grad[2]:
            grad_b = sum_g
        return grad_x, grad_w, grad_b, None, None, None


def _check(
    x: object,
    tensors: dict[str, object],
    training: object,
    momentum: object,
    eps: object,
) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{_OP}: input must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(
            f"{_OP}: input must be 4-D (N, C, H, W), got {x.dim()}-D of shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise TypeError(f"{_OP}: input must be a floating-point tensor, got {x.dtype}")
    c = x.shape[1]
    for name, t in tensors.items():
        if t is None:
            continue
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{_OP}: {name} must be a torch.Tensor or None, got "
                            f"{type(t).__name__}")
        if tuple(t.shape) != (c,):
            raise ValueError(f"{_OP}: {name} must have shape (C,) = ({c},), got "
                             f"{tuple(t.shape)}")
        if t.dtype != x.dtype:
            raise TypeError(f"{_OP}: {name} dtype ({t.dtype}) must match input dtype "
                            f"({x.dtype})")
        if t.device != x.device:
            raise ValueError(f"{_OP}: {name} device ({t.device}) must match input device "
                             f"({x.device})")
    if (tensors["running_mean"] is None) != (tensors["running_var"] is None):
        raise ValueError(f"{_OP}: running_mean and running_var must both be None or both be "
                         "tensors")
    if not isinstance(training, bool | numbers.Integral):
        raise TypeError(f"{_OP}: training must be a bool, got {type(training).__name__}")
    for name, value in (("momentum", momentum), ("eps", eps)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{_OP}: {name} must be a real number, got {type(value).__name__}")
    if not eps >= 0:  # type: ignore[operator]
        raise ValueError(f"{_OP}: eps must be >= 0, got {eps}")


def batch_norm2d(
    x: torch.Tensor,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    running_mean: torch.Tensor | None = None,
    running_var: torch.Tensor | None = None,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Batch normalisation of an (N, C, H, W) input with PyTorch's semantics.

    Same meaning as ``torch.nn.functional.batch_norm(x, running_mean, running_var, weight, bias,
    training, momentum, eps)`` (note the argument order: affine parameters first here).

    Args:
        x: (N, C, H, W), floating point.
        weight: γ, (C,) or None (γ = 1).
        bias: β, (C,) or None (β = 0).
        running_mean, running_var: (C,) buffers, both or neither. In training they are
            updated in place with the batch mean and the unbiased batch variance:
            ``r ← (1 − momentum)·r + momentum·stat``. Out of training they normalise.
        training: normalise with the batch statistics (True) or the running ones (False).
        momentum: weight of the new statistic in the running update.
        eps: added to the variance before the square root.

    Returns:
        (N, C, H, W): ``γ·(x − μ)/√(σ² + ε) + β`` with the biased batch variance σ² in training,
        or the running estimates otherwise.

    Raises:
        TypeError: a non-tensor, non-floating input, mismatched dtypes or a non-number
            momentum/eps.
        ValueError: input not 4-D, a (C,) tensor of another shape, only one running buffer,
            running buffers missing out of training, negative eps, or one value per channel
            in training (the variance of a single value is undefined).
    """
    tensors = {"weight": weight, "bias": bias, "running_mean": running_mean,
               "running_var": running_var}
    _check(x, tensors, training, momentum, eps)
    n, c, h, w = x.shape
    m = n * h * w
    if training:
        if m <= 1:
            raise ValueError(
                f"{_OP}: expected more than 1 value per channel when training (N·H·W > 1), "
                f"got input of shape {tuple(x.shape)}"
            )
        with torch.no_grad():
            mean = x.mean(dim=(0, 2, 3))  # (C,)
            # biased variance, two passes (x − μ first: no cancellation as in E[x²] − μ²)
            centred = x - mean[:, None, None]
            var = centred.mul_(centred).mean(dim=(0, 2, 3))
            if running_mean is not None and running_var is not None:
                running_mean.mul_(1 - momentum).add_(mean, alpha=momentum)
                running_var.mul_(1 - momentum).add_(var * (m / (m - 1)), alpha=momentum)
    else:
        if running_mean is None or running_var is None:
            raise ValueError(f"{_OP}: running_mean and running_var must be given when not "
                             "training (they normalise the input)")
        mean, var = running_mean.detach(), running_var.detach()
    inv_std = torch.rsqrt(var + eps)  # (C,)
    return _BatchNorm2d.apply(x, weight, bias, mean, inv_std, bool(training))
