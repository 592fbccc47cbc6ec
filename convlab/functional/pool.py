"""2-D max and average pooling from scratch, forward and backward, with PyTorch's semantics.

A pooling layer slides a ``kH × kW`` window over each channel on its own and reduces the window
to one number: its maximum (:func:`max_pool2d`) or its mean (:func:`avg_pool2d`). With stride
``s``, padding ``p`` and dilation ``d`` (max pooling only), window ``(h, w)`` reads the pixels

    x[n, c, h·s_h − p_h + i·d_h, w·s_w − p_w + j·d_w],   0 ≤ i < kH, 0 ≤ j < kW,

and pixels outside the input are padding: ignored by the maximum, zeros for the mean.

Output size (PyTorch's ``pooling_output_shape``), for each spatial dimension:

    out = floor((size + 2p − d(k − 1) − 1 + (s − 1 if ceil_mode else 0)) / s) + 1

and in ``ceil_mode`` the last window is dropped when it would start past the input and the left
padding, i.e. when ``(out − 1)·s ≥ size + p``: every window starts inside the input or the left
padding (:func:`pool_output_size`). The padding may be at most half the kernel,
``p ≤ k // 2``, so that every window but such ceil-mode stragglers touches the input.

Shape:
    - Input: (N, C, H, W) or (C, H, W)
    - Output: (N, C, H_out, W_out) or (C, H_out, W_out)

How it is computed: the input is copied once into a buffer that holds the padding and, in
``ceil_mode``, the overhang of the last windows; the windows are then a strided view of that
buffer (:func:`.im2col.im2col`, no copy), shaped (N, C, kH, kW, H_out, W_out). The forward pass
walks the ``kH·kW`` kernel taps, each a (N, C, H_out, W_out) slice of the view. The backward
passes are written by hand (:class:`torch.autograd.Function`): max pooling sends each output's
gradient to the one input pixel that won its window (one ``scatter_add``); average pooling adds
``grad / divisor`` back through every tap of the same strided view.

Example:
    >>> import torch
    >>> x = torch.arange(16.).reshape(1, 1, 4, 4)
    >>> max_pool2d(x, 2)
    tensor([[[[ 5.,  7.],
              [13., 15.]]]])
    >>> avg_pool2d(x, 2, stride=1)[0, 0, 0]
    tensor([2.5000, 3.5000, 4.5000])
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.autograd.function import once_differentiable

from ._args import pair
from .im2col import im2col

IntOrPair = int | Sequence[int]
Pair = tuple[int, int]

__all__ = ["avg_pool2d", "max_pool2d", "pool_output_size"]


def pool_output_size(
    size: int, kernel_size: int, stride: int, padding: int = 0, dilation: int = 1,
    ceil_mode: bool = False,
) -> int:
    """Output length of a pooling layer along one dimension (may be < 1 for a too-small input).

    ``out = floor((size + 2p − d(k − 1) − 1 + (s − 1 if ceil_mode else 0)) / s) + 1``, then in
    ``ceil_mode`` one less if the last window would start at or past ``size + p`` (beyond the
    input and its left padding), as PyTorch's ``pooling_output_shape``.

    Example:
        >>> pool_output_size(5, 2, 2), pool_output_size(5, 2, 2, ceil_mode=True)
        (2, 3)
        >>> pool_output_size(4, 2, 2, padding=1, ceil_mode=True)  # 4th window would start at 5
        3
    """
    numerator = size + 2 * padding - dilation * (kernel_size - 1) - 1
    if ceil_mode:
        numerator += stride - 1
    out = numerator // stride + 1  # Python's // rounds toward −∞, as PyTorch's div_rtn
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


@dataclass(frozen=True)
class PoolGeometry:
    """Normalised arguments of one pooling call; ``buffer`` is the padded buffer's (H_b, W_b)."""

    kernel: Pair
    stride: Pair
    padding: Pair
    dilation: Pair
    size: Pair
    out: Pair
    buffer: Pair


def _pool_geometry(
    x: object,
    kernel_size: IntOrPair,
    stride: IntOrPair | None,
    padding: IntOrPair,
    dilation: IntOrPair,
    ceil_mode: bool,
    op: str,
) -> PoolGeometry:
    """Check the arguments the way PyTorch does and return the pooling geometry."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{op}: input must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() not in (3, 4) or min(x.shape[-3:]) < 1:
        raise ValueError(
            f"{op}: input must be 3-D (C, H, W) or 4-D (N, C, H, W) with non-empty C, H and W "
            f"(N may be 0), got shape {tuple(x.shape)}"
        )
    if x.dtype == torch.bool or x.is_complex():
        raise TypeError(f"{op}: input must be a real floating-point or integer tensor, "
                        f"got {x.dtype}")
    if not isinstance(ceil_mode, bool | numbers.Integral):
        raise TypeError(f"{op}: ceil_mode must be a bool, got {type(ceil_mode).__name__}")
    k = pair(kernel_size, "kernel_size", op, 1)
    empty = isinstance(stride, Sequence) and not isinstance(stride, str) and len(stride) == 0
    s = k if stride is None or empty else pair(stride, "stride", op, 1)
    p = pair(padding, "padding", op, 0)
    d = pair(dilation, "dilation", op, 1)
    for dim, pi, ki in (("H", p[0], k[0]), ("W", p[1], k[1])):
        if pi > ki // 2:
            raise ValueError(
                f"{op}: padding must be at most half the kernel size (padding <= "
                f"kernel_size // 2) along {dim}, got padding {pi} for kernel size {ki}"
            )
    h, w = int(x.shape[-2]), int(x.shape[-1])
    out = tuple(
        pool_output_size(n, ki, si, pi, di, bool(ceil_mode))
        for n, ki, si, pi, di in zip((h, w), k, s, p, d, strict=True)
    )
    if min(out) < 1:
        raise ValueError(
            f"{op}: the output would be empty: input size {(h, w)} with kernel_size {k}, "
            f"stride {s}, padding {p}, dilation {d} gives output size {out}; "
            f"out = floor((size + 2*padding - dilation*(kernel_size-1) - 1) / stride) + 1 "
            f"must be >= 1"
        )
    # the buffer starts at row −p and holds the input and every row a window reads
    # (up to (out − 1)s − p + d(k − 1)); without padding or overhang it is the input itself
    buffer = tuple(
        max((o - 1) * si + di * (ki - 1) + 1, n + pi)
        for o, ki, si, di, n, pi in zip(out, k, s, d, (h, w), p, strict=True)
    )
    return PoolGeometry(k, s, p, d, (h, w), (out[0], out[1]), (buffer[0], buffer[1]))


def _to_buffer(x: torch.Tensor, geo: PoolGeometry, fill: float | int) -> torch.Tensor:
    """``x`` (N, C, H, W) copied into a (N, C, H_b, W_b) buffer at offset (p_h, p_w), the rest
    ``fill``; ``x`` itself (no copy) when the buffer is just the input."""
    (ph, pw), (hb, wb) = geo.padding, geo.buffer
    if (hb, wb) == geo.size:
        return x.contiguous()
    h, w = geo.size
    buf = x.new_full((x.shape[0], x.shape[1], hb, wb), fill)
    buf[:, :, ph : ph + h, pw : pw + w] = x
    return buf


def _from_buffer(buf: torch.Tensor, geo: PoolGeometry) -> torch.Tensor:
    """The adjoint of :func:`_to_buffer`: the input's part of a buffer-sized gradient."""
    (ph, pw), (h, w) = geo.padding, geo.size
    if geo.buffer == geo.size:
        return buf
    return buf[:, :, ph : ph + h, pw : pw + w].contiguous()


def _windows(buf: torch.Tensor, geo: PoolGeometry) -> torch.Tensor:
    """The pooling windows of a buffer as a strided view: (N, C, kH, kW, H_out, W_out)."""
    return im2col(buf, geo.kernel, geo.stride, geo.dilation, geo.out)


def _tap_rows(geo: PoolGeometry, dim: int, device: torch.device) -> torch.Tensor:
    """Input coordinate of every (tap, output) pair along ``dim``: (k, out), ``o·s − p + i·d``."""
    o = torch.arange(geo.out[dim], device=device)
    i = torch.arange(geo.kernel[dim], device=device)
    return o[None] * geo.stride[dim] - geo.padding[dim] + i[:, None] * geo.dilation[dim]


class _MaxPool2d(torch.autograd.Function):
    """Max pooling; the backward pass routes each gradient to its window's winning pixel."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor, geo: PoolGeometry
    ) -> torch.Tensor:
        n, c = x.shape[:2]
        floating = x.is_floating_point()
        low = float("-inf") if floating else torch.iinfo(x.dtype).min
        win = _windows(_to_buffer(x, geo, low), geo)  # (N, C, kH, kW, Ho, Wo), a view
        (kh, kw), (ho, wo), wb = geo.kernel, geo.out, geo.buffer[1]
        # PyTorch starts each window's running maximum at -inf and its index at the window's
        # first tap inside the input, then takes a tap only when it is strictly greater (or
        # NaN): ties keep the first maximum, padding (-inf, never greater) never wins, and a
        # window of -inf keeps its first pixel inside the input.
        rows, cols = _tap_rows(geo, 0, x.device), _tap_rows(geo, 1, x.device)
        first_i = ((rows >= 0) & (rows < geo.size[0])).int().argmax(0)  # (Ho,)
        first_j = ((cols >= 0) & (cols < geo.size[1])).int().argmax(0)  # (Wo,)
        # the winning tap's number i·kW + j, kept in a small integer type (a quarter of the
        # memory traffic of int64 in the loop), turned into a buffer index at the end
        small = torch.uint8 if kh * kw <= 255 else torch.int64
        winner = (first_i[:, None] * kw + first_j[None, :]).to(small).expand(n, c, ho, wo)
        winner = winner.clone()  # (N, C, Ho, Wo)
        best = x.new_full((n, c, ho, wo), low)
        keep = torch.empty(best.shape, dtype=torch.bool, device=x.device)
        keep01 = keep.view(torch.uint8).to(small) if small != torch.uint8 else keep.view(small)
        # a NaN anywhere makes the sum NaN (an infinity may too: then the careful path runs)
        nan = floating and not bool(torch.isfinite(x.sum()))
        for i in range(kh):
            for j in range(kw):
                v = win[:, :, i, j]  # (N, C, Ho, Wo)
                if nan:
                    take = (v > best) | v.isnan()
                    torch.logical_not(take, out=keep)
                    torch.where(take, v, best, out=best)
                else:
                    torch.le(v, best, out=keep)  # keep the running winner where v <= best
                    torch.maximum(best, v, out=best)
                if small != torch.uint8:
                    keep01 = keep.to(small)
                # winner = keep ? winner : tap, as arithmetic (vectorised; masked_fill_ is not)
                tap = i * kw + j
                winner.sub_(tap).mul_(keep01).add_(tap)
        taps = torch.arange(kh * kw, device=x.device)
        offsets = (taps // kw) * (geo.dilation[0] * wb) + (taps % kw) * geo.dilation[1]
        origin = (torch.arange(ho, device=x.device)[:, None] * (geo.stride[0] * wb)
                  + torch.arange(wo, device=x.device)[None, :] * geo.stride[1])  # (Ho, Wo)
        index = offsets[winner.long()].add_(origin)  # the winner's flat index in the buffer
        ctx.geo = geo
        ctx.save_for_backward(index)
        ctx.mark_non_differentiable(index)
        return best

    @staticmethod
    @once_differentiable
    def backward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx, grad_out: torch.Tensor
    ) -> tuple[torch.Tensor | None, None]:
        (index,) = ctx.saved_tensors
        geo: PoolGeometry = ctx.geo
        n, c = grad_out.shape[:2]
        buf = grad_out.new_zeros(n, c, geo.buffer[0] * geo.buffer[1])
        buf.scatter_add_(2, index.reshape(n, c, -1), grad_out.reshape(n, c, -1))
        return _from_buffer(buf.view(n, c, *geo.buffer), geo), None


def _avg_divisor(
    geo: PoolGeometry, count_include_pad: bool, device: torch.device
) -> torch.Tensor:
    """The (H_out, W_out) divisor of each window, as PyTorch's CPU kernel counts it.

    ``count_include_pad``: the window clipped to the padded input (``size + p`` on the far
    side: a ceil-mode overhang beyond the padding is never counted); otherwise the window
    clipped to the input itself.
    """
    sizes = []
    for dim in (0, 1):
        start = torch.arange(geo.out[dim], device=device) * geo.stride[dim] - geo.padding[dim]
        end = torch.clamp(start + geo.kernel[dim], max=geo.size[dim] + geo.padding[dim])
        if not count_include_pad:
            start, end = start.clamp(min=0), end.clamp(max=geo.size[dim])
        sizes.append(end - start)
    return sizes[0][:, None] * sizes[1][None, :]


class _AvgPool2d(torch.autograd.Function):
    """Average pooling; the backward pass spreads ``grad / divisor`` over each window."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx,
        x: torch.Tensor,
        geo: PoolGeometry,
        count_include_pad: bool,
    ) -> torch.Tensor:
        win = _windows(_to_buffer(x, geo, 0), geo)  # (N, C, kH, kW, Ho, Wo)
        # the sum is accumulated in int64 for integers and float32 for 16-bit floats
        if not x.is_floating_point():
            acc = torch.int64
        elif x.dtype in (torch.float16, torch.bfloat16):
            acc = torch.float32
        else:
            acc = x.dtype
        total = win[:, :, 0, 0].to(acc, copy=True)  # (N, C, Ho, Wo); a sum tap by tap (a
        for i in range(geo.kernel[0]):  # reduction over the strided 6-D view is slower)
            for j in range(geo.kernel[1]):
                if i or j:
                    total += win[:, :, i, j]
        divisor = _avg_divisor(geo, count_include_pad, x.device)
        ctx.geo = geo
        ctx.save_for_backward(divisor)
        if x.is_floating_point():
            return (total / divisor.to(acc)).to(x.dtype)
        # integer division truncated toward zero, as PyTorch's kernel divides
        return total.div(divisor, rounding_mode="trunc").to(x.dtype)

    @staticmethod
    @once_differentiable
    def backward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx, grad_out: torch.Tensor
    ) -> tuple[torch.Tensor | None, None, None]:
        (divisor,) = ctx.saved_tensors
        geo: PoolGeometry = ctx.geo
        share = grad_out / divisor.to(grad_out.dtype)  # (N, C, Ho, Wo)
        n, c = grad_out.shape[:2]
        buf = grad_out.new_zeros(n, c, *geo.buffer)
        win = _windows(buf, geo)  # a writable view of buf
        for i in range(geo.kernel[0]):
            for j in range(geo.kernel[1]):
                win[:, :, i, j] += share  # one tap's pixels are distinct: no write collides
        return _from_buffer(buf, geo), None, None


def max_pool2d(
    x: torch.Tensor,
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    ceil_mode: bool = False,
) -> torch.Tensor:
    """2-D max pooling with PyTorch's semantics (``torch.nn.functional.max_pool2d``).

    ``out[n, c, h, w] = max_{i, j} x[n, c, h·s_h − p_h + i·d_h, w·s_w − p_w + j·d_w]`` over the
    taps that fall inside the input (padding is never the maximum). Ties go to the first
    maximum in window order (row by row), a NaN in a window makes the output NaN, as PyTorch's
    kernel; the gradient flows to the one winning pixel of each window.

    Args:
        x: (N, C, H, W) or (C, H, W); floating point (differentiable) or integer.
        kernel_size: window size, int or (kH, kW), positive.
        stride: int or pair, positive; ``None`` (default) means ``kernel_size``.
        padding: implicit padding on both sides, int or pair, ``0 ≤ p ≤ k // 2``.
        dilation: spacing between taps, int or pair, positive.
        ceil_mode: round the output size up instead of down (see :func:`pool_output_size`).

    Returns:
        (N, C, H_out, W_out) or (C, H_out, W_out), same dtype as ``x``, with
        ``H_out = floor((H + 2p − d(kH − 1) − 1 [+ s − 1]) / s) + 1`` (ceil mode in brackets).

    Raises:
        TypeError: ``x`` is not a real tensor, or an argument is not an int/pair.
        ValueError: wrong rank or an empty C/H/W, non-positive kernel_size/stride/dilation,
            negative padding or padding above ``kernel_size // 2``, or an empty output.
    """
    geo = _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode, "max_pool2d")
    batched = x.dim() == 4
    out = _MaxPool2d.apply(x if batched else x.unsqueeze(0), geo)
    return out if batched else out.squeeze(0)


def avg_pool2d(
    x: torch.Tensor,
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> torch.Tensor:
    """2-D average pooling with PyTorch's semantics (``torch.nn.functional.avg_pool2d``).

    ``out[n, c, h, w] = (1 / D[h, w]) · Σ_{i, j} x_pad[n, c, h·s_h + i, w·s_w + j]`` where the
    padding is zeros and the divisor ``D`` counts the window's pixels inside the zero-padded
    input (``count_include_pad=True``; a ceil-mode window hanging past the padding counts only
    its part inside it) or inside the input alone (``count_include_pad=False``). Integer inputs
    are summed in int64 and divided with truncation, as PyTorch does for int64 (which is the
    only integer type PyTorch's CPU kernel takes; here any integer type works).

    Args:
        x: (N, C, H, W) or (C, H, W); floating point (differentiable) or integer.
        kernel_size: window size, int or (kH, kW), positive.
        stride: int or pair, positive; ``None`` (default) means ``kernel_size``.
        padding: zero padding on both sides, int or pair, ``0 ≤ p ≤ k // 2``.
        ceil_mode: round the output size up instead of down (see :func:`pool_output_size`).
        count_include_pad: whether padded zeros count in the divisor.

    Returns:
        (N, C, H_out, W_out) or (C, H_out, W_out), same dtype as ``x``, with
        ``H_out = floor((H + 2p − kH [+ s − 1]) / s) + 1`` (ceil mode in brackets).

    Raises:
        TypeError: ``x`` is not a real tensor, or an argument is not an int/pair/bool.
        ValueError: wrong rank or an empty C/H/W, non-positive kernel_size/stride, negative
            padding or padding above ``kernel_size // 2``, or an empty output.
    """
    geo = _pool_geometry(x, kernel_size, stride, padding, 1, ceil_mode, "avg_pool2d")
    if not isinstance(count_include_pad, bool | numbers.Integral):
        raise TypeError(
            f"avg_pool2d: count_include_pad must be a bool, got {type(count_include_pad).__name__}"
        )
    batched = x.dim() == 4
    out = _AvgPool2d.apply(x if batched else x.unsqueeze(0), geo, bool(count_include_pad))
    return out if batched else out.squeeze(0)
