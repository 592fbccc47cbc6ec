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

:func:`conv_transpose2d_naive` is the scatter loop; :func:`conv_transpose2d` computes all the
scattered kernels as columns with one matrix product (``cols = Wᵀ · x``) and adds them into place
with :func:`.im2col.col2im`. Its backward pass is the convolution's forward pass and vice versa.

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

import torch
from torch.autograd.function import once_differentiable

from ..analysis.shapes import effective_kernel_size
from ._args import Geometry, conv_transpose2d_geometry
from .im2col import correlate, correlate_weight_grad, crop2d, pad2d, scatter

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


class _ConvTranspose2d(torch.autograd.Function):
    """Transposed convolution as ``col2im(Wᵀ · x)``, with the backward pass written by hand."""

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
        wg = weight.reshape(g, c_in // g, -1)  # (G, C_in/G, O·kH·kW)
        xg = x.contiguous().view(n, g, c_in // g, h * w)  # (N, G, C_in/G, H·W)
        full = scatter(xg, wg, _full_size(x, geo), geo.kernel, geo.stride, geo.dilation, (h, w))
        out = crop2d(full, geo.pad, geo.out)  # (N, C_out, H_out, W_out)
        if bias is not None:
            out = out + bias[:, None, None]
        elif any(geo.pad):
            out = out.contiguous()
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
        dfull = pad2d(grad_out.contiguous(), geo.pad)  # (N, C_out, H_full, W_full)
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
