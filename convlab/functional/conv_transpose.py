"""2-D transposed convolution from scratch: a scatter-loop reference and a matmul + col2im version.

A transposed convolution is the adjoint of a convolution: where a convolution gathers a window
into one output pixel, the transposed convolution lets every input pixel *scatter* a copy of
the kernel, scaled by its value, onto the output (strided by ``s``, dilated by ``d``), and then
crops ``padding`` pixels from each border:

    full[n, o, h·s + i·d, w·s + j·d] += Σ_{c ∈ g(o)} x[n, c, h, w] · weight[c, o mod O, i, j]
    out = full[..., p : p + H_out, p : p + W_out] + bias

Shape:
    - Input: (N, C_in, H, W) or (C_in, H, W)
    - Weight: (C_in, C_out / groups, kH, kW); bias: (C_out,)
    - Output: (N, C_out, H_out, W_out) or unbatched, where
      ``H_out = (H − 1)s − 2p + d(kH − 1) + output_padding + 1``
      (:func:`convlab.analysis.shapes.conv_transpose_output_size`), likewise for W.

:func:`conv_transpose2d_naive` is the scatter loop. :func:`conv_transpose2d` never scatters
when the dilation is 1: output row ``y`` (row ``f = y + p`` of the full output, ``f = m·s + q``)
only receives the kernel taps ``i ≡ q (mod s)``, from input rows ``m − (i − q)/s``. So the
output splits into ``s_h·s_w`` interleaved *phases*, and each phase is an ordinary stride-1
correlation of the input (extended with zeros) with the sub-kernel ``weight[..., q_h::s_h,
q_w::s_w]``, flipped, its channel axes swapped — the "sub-pixel" form of a transposed
convolution. Each phase runs as the convolution does (:func:`.im2col.correlate`: cache-sized
blocks of columns, one matrix product per group and block) and its result is copied once into
every ``s``-th output pixel. The ``col2im`` form, one product ``cols = Wᵀ · x`` followed by
``kH·kW`` strided adds onto the output, spends much of its time in those adds: on the bench's
4×4 stride-2 layer (one thread, back to back in one process) it took 3.3–3.5×
``F.conv_transpose2d``'s forward time and the phases 2.0×. What the phases still pay for: each
builds its own columns (``C_in·T_h·T_w`` rows, four copies of the input in all at stride 2),
and its product has only ``C_out/G`` rows (32 on the bench), too few for the GEMM's peak, while
oneDNN's kernel reads the input once. With dilation the phases would need dilated sub-kernels,
and the ``col2im`` form runs instead. The backward pass is the convolution's forward pass
(input gradient) and weight gradient.

Example:
    >>> import torch
    >>> x = torch.tensor([[[[1., 2.], [3., 4.]]]])
    >>> conv_transpose2d(x, torch.ones(1, 1, 2, 2), stride=2)[0, 0]
    tensor([[1., 1., 2., 2.],
            [1., 1., 2., 2.],
            [3., 3., 4., 4.],
            [3., 3., 4., 4.]])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch.autograd.function import once_differentiable

from ..analysis.shapes import effective_kernel_size
from ._args import Geometry, conv_transpose2d_geometry
from .im2col import correlate, correlate_weight_grad, crop2d, pad2d_scratch, scatter

IntOrPair = int | Sequence[int]

__all__ = ["conv_transpose2d", "conv_transpose2d_naive"]


def _full_size(x: torch.Tensor, geo: Geometry) -> tuple[int, int]:
    """The uncropped output: ``H_out + 2p``, i.e. ``(H − 1)s + d(kH − 1) + 1 + output_padding``."""
    return (geo.out[0] + geo.pad[0] + geo.pad[1], geo.out[1] + geo.pad[2] + geo.pad[3])


def conv_transpose2d_naive(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    output_padding: IntOrPair = 0,
    groups: int = 1,
    dilation: IntOrPair = 1,
) -> torch.Tensor:
    """Transposed convolution by the definition: each input pixel scatters a scaled kernel.

    Same arguments, shapes and errors as :func:`conv_transpose2d`; slow, plain and
    differentiable by autograd. Kept as the ground truth of the fast version.
    """
    geo = conv_transpose2d_geometry(
        x, weight, bias, stride, padding, output_padding, groups, dilation
    )
    batched = x.dim() == 4
    x = x if batched else x.unsqueeze(0)
    (kh, kw), (sh, sw), (dh, dw), g = geo.kernel, geo.stride, geo.dilation, geo.groups
    n, c_in, h_in, w_in = x.shape
    og = weight.shape[1]
    cg = c_in // g
    span_h, span_w = effective_kernel_size(kh, dh), effective_kernel_size(kw, dw)
    full = x.new_zeros(n, og * g, *_full_size(x, geo))  # (N, C_out, H_full, W_full)
    for k in range(g):
        wk = weight[k * cg : (k + 1) * cg]  # (cg, og, kH, kW)
        for h in range(h_in):
            for w in range(w_in):
                # (N, cg) x (cg, og, kH, kW) -> (N, og, kH, kW): the kernel this pixel scatters
                stamp = torch.einsum("nc,cokl->nokl", x[:, k * cg : (k + 1) * cg, h, w], wk)
                full[:, k * og : (k + 1) * og,
                     h * sh : h * sh + span_h : dh,
                     w * sw : w * sw + span_w : dw] += stamp
    out = crop2d(full, geo.pad, geo.out)  # (N, C_out, H_out, W_out)
    if bias is not None:
        out = out + bias[:, None, None]
    return out if batched else out.squeeze(0)


class _Phase(NamedTuple):
    """One output phase of one axis: kernel taps ``q::s`` (``taps`` of them), output rows
    ``first::s`` (``rows`` of them), and the input row its first window starts at."""

    q: int
    taps: int
    first: int
    rows: int
    start: int


def _phase_plan(size: int, out: int, kernel: int, stride: int, pad: int) -> list[_Phase]:
    """The output phases of one axis of a transposed convolution with dilation 1.

    Output row ``y`` is row ``f = y + p`` of the full output; with ``f = m·s + q`` it receives
    the taps ``i = q + s·t`` (``t = 0 … T_q − 1``, ``T_q = ⌈(k − q)/s⌉``) from input rows
    ``m − t``. So the rows of one phase ``q`` (``y = y_0, y_0 + s, …``) are a stride-1
    correlation of the input, extended with zeros, with taps ``q, q + s, …`` of the kernel in
    reverse order; its first output row reads input row ``m_0 − (T_q − 1)``.
    """
    plan = []
    for q in range(stride):
        taps = len(range(q, kernel, stride))
        first = (q - pad) % stride  # the first output row of this phase
        rows = len(range(first, out, stride))
        if rows == 0:
            continue
        start = (first + pad - q) // stride - (taps - 1)  # input row under the first window
        plan.append(_Phase(q, taps, first, rows, start))
    return plan


def _by_phases(x: torch.Tensor, weight: torch.Tensor, geo: Geometry) -> torch.Tensor:
    """The forward pass as ``s_h·s_w`` stride-1 correlations, one per output phase (dilation 1).

    Each phase is one :func:`.im2col.correlate` (cache-sized blocks of columns, one matrix
    product per group) of the zero-extended input with its sub-kernel, flipped and with its
    channel axes swapped, written straight into every ``s``-th output pixel: no ``kH·kW``
    scattered adds onto the output, and ``1/s²`` of the multiply-adds per phase.

    Shape: x (N, C_in, H, W), weight (C_in, C_out/G, kH, kW) -> (N, C_out, H_out, W_out)
    """
    n, c_in, h, w = x.shape
    g, (kh, kw), (sh, sw) = geo.groups, geo.kernel, geo.stride
    og = weight.shape[1]
    rows = _phase_plan(h, geo.out[0], kh, sh, geo.pad[0])
    cols = _phase_plan(w, geo.out[1], kw, sw, geo.pad[2])
    # one zero-extended copy of the input serves every phase: each reads a window of it
    top = max([0] + [-p.start for p in rows])
    bottom = max([0] + [p.start + p.rows + p.taps - 1 - h for p in rows])
    left = max([0] + [-p.start for p in cols])
    right = max([0] + [p.start + p.rows + p.taps - 1 - w for p in cols])
    xp = pad2d_scratch(x, (top, bottom, left, right))
    out = x.new_empty(n, g * og, *geo.out)  # (N, C_out, H_out, W_out)
    wg = weight.view(g, c_in // g, og, kh, kw)
    for r in rows:
        for c in cols:
            target = out[:, :, r.first :: sh, c.first :: sw]  # (N, C_out, rows, cols)
            if r.taps == 0 or c.taps == 0:
                target.zero_()
                continue
            sub = wg[..., r.q :: sh, c.q :: sw].flip(-2, -1)  # (G, C_in/G, O, T_h, T_w)
            sub = sub.transpose(1, 2).reshape(g, og, -1)  # (G, O, C_in/G·T_h·T_w)
            window = xp[:, :, r.start + top : r.start + top + r.rows + r.taps - 1,
                        c.start + left : c.start + left + c.rows + c.taps - 1]
            y = correlate(window, sub, (r.taps, c.taps), (1, 1), (1, 1), (r.rows, c.rows))
            target.copy_(y.view(n, g * og, r.rows, c.rows))
    return out


class _ConvTranspose2d(torch.autograd.Function):
    """Transposed convolution with the backward pass written by hand.

    With dilation 1 the forward pass is one stride-1 correlation per output phase
    (:func:`_by_phases`); otherwise ``col2im(Wᵀ · x)`` (:func:`.im2col.scatter`).
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        geo: Geometry,
    ) -> torch.Tensor:
        n, c_in, h, w = x.shape
        g = geo.groups
        if geo.dilation == (1, 1):
            out = _by_phases(x, weight, geo)
        else:
            wg = weight.reshape(g, c_in // g, -1)  # (G, C_in/G, O·kH·kW)
            xg = x.contiguous().view(n, g, c_in // g, h * w)  # (N, G, C_in/G, H·W)
            full = scatter(xg, wg, _full_size(x, geo), geo.kernel, geo.stride, geo.dilation,
                           (h, w))
            out = crop2d(full, geo.pad, geo.out)  # (N, C_out, H_out, W_out)
            if any(geo.pad):
                out = out.contiguous()
        if bias is not None:
            out += bias[:, None, None]
        ctx.geo, ctx.has_bias = geo, bias is not None
        ctx.save_for_backward(x, weight)
        return out

    @staticmethod
    @once_differentiable
    def backward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx, grad_out: torch.Tensor
    ) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        geo: Geometry = ctx.geo
        n, c_in, h, w = x.shape
        g = geo.groups
        # the adjoint of the crop is a zero pad back to the full size
        dfull = pad2d_scratch(grad_out, geo.pad)  # (N, C_out, H_full, W_full), scratch
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            wg = weight.reshape(g, c_in // g, -1)  # (G, C_in/G, K)
            dx = correlate(dfull, wg, geo.kernel, geo.stride, geo.dilation, (h, w))
            grad_x = dx.view(n, c_in, h, w)  # (N, G, C_in/G, H·W) -> (N, C_in, H, W)
        if ctx.needs_input_grad[1]:
            xg = x.contiguous().view(n, g, c_in // g, h * w)
            dw = correlate_weight_grad(xg, dfull, geo.kernel, geo.stride, geo.dilation, (h, w))
            grad_w = dw.view(weight.shape)  # (G, C_in/G, K) -> (C_in, C_out/G, kH, kW)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_out.sum(dim=(0, 2, 3))  # (C_out,)
        return grad_x, grad_w, grad_b, None


def conv_transpose2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    output_padding: IntOrPair = 0,
    groups: int = 1,
    dilation: IntOrPair = 1,
) -> torch.Tensor:
    """2-D transposed convolution with PyTorch's semantics, built as ``col2im(Wᵀ · x)``.

    Args:
        x: input, (N, C_in, H, W) or (C_in, H, W).
        weight: (C_in, C_out / groups, kH, kW).
        bias: optional (C_out,).
        stride, dilation: positive int or (h, w) pair.
        padding: non-negative int or pair, cropped from each border of the full output.
        output_padding: extra rows/columns on the bottom/right; must be smaller than the stride
            or the dilation.
        groups: split the channels into this many independent transposed convolutions.

    Returns:
        (N, C_out, H_out, W_out) (or unbatched), ``H_out = (H − 1)s − 2p + d(kH − 1) + op + 1``.

    Raises:
        TypeError: a non-tensor input, non-int argument or mismatched dtypes.
        ValueError: wrong ranks, channel/group mismatch, bad stride/padding/dilation/bias or
            output_padding, or a non-positive output size; the message names the argument.
    """
    geo = conv_transpose2d_geometry(
        x, weight, bias, stride, padding, output_padding, groups, dilation
    )
    batched = x.dim() == 4
    out = _ConvTranspose2d.apply(x if batched else x.unsqueeze(0), weight, bias, geo)
    return out if batched else out.squeeze(0)
