"""2-D convolution (cross-correlation) from scratch: a loop reference and an im2col version.

Definition (PyTorch's ``Conv2d``; ``⋆`` is the valid 2-D cross-correlation, ``g(o)`` the group
of output channel ``o``):

    out[n, o] = bias[o] + Σ_{c ∈ g(o)} weight[o, c] ⋆ x_pad[n, c]

Shape:
    - Input: (N, C_in, H, W) or (C_in, H, W)
    - Weight: (C_out, C_in / groups, kH, kW); bias: (C_out,)
    - Output: (N, C_out, H_out, W_out) or (C_out, H_out, W_out), where
      ``H_out = floor((H + 2p − d(kH − 1) − 1) / s) + 1`` (:func:`convlab.analysis.shapes.
      conv_output_size`), likewise for W.

:func:`conv2d_naive` loops over output pixels; it is the readable ground truth the tests hold
:func:`conv2d` to. :func:`conv2d` lays the receptive fields out as columns (:func:`.im2col.im2col`,
a strided view copied once into a (K, b·L) matrix, ``K = C_in/G·kH·kW``, ``L = H_out·W_out``)
and multiplies them by the (O, K) weight matrix of each group (:func:`.im2col.correlate`). Its
backward pass is written by hand: ``dW = Σ_n dY_n · cols_nᵀ`` and ``dX = col2im(Wᵀ · dY)``, the
forward pass of a transposed convolution, or, at stride 1, the same ``dX`` as a correlation of
the padded ``dY`` with the flipped, channel-swapped kernel.

What makes it fast (on the CPU; every step is still a plain tensor operation, and no step
calls a convolution: the library routines used are matrix products):

* **One large matrix product per block.** Almost all the work is the ``(O, K)·(K, b·L)``
  product, so it must run at the GEMM's peak: the samples of a block sit side by side in each
  row of the columns, making one wide product per group instead of one per sample, and the
  weight gradient's sum over samples happens inside its product.
* **Which GEMM.** In float32 the products go to oneDNN's inner product
  (``torch.ops.mkldnn._linear_pointwise``, see :func:`.im2col.product_nt`): a plain
  ``a · bᵀ`` matrix product, from the library whose kernels are also behind ``F.conv2d``.
  PyTorch's public ``torch.matmul`` calls MKL instead, whose sgemm ran these products at
  75–105 GFLOP/s on the bench's AMD EPYC against oneDNN's 175–240 (one thread): with
  ``torch.matmul`` (``python -m bench.ops --public-gemm``, or where the private op is missing)
  the dense 3×3 layers take 2.5–2.7× ``F.conv2d``'s forward time instead of 1.2–1.3×.
* **Cache-sized blocks, memory reused.** Columns are built for about 8–16 MiB of samples at a
  time (:data:`.im2col.COLUMN_BLOCK_BYTES`) into one buffer kept from call to call
  (:func:`.im2col.columns_buffer`): fresh megabytes cost a page fault per 4 KiB on first touch,
  which took a quarter of a layer's forward + backward time before the buffer was reused. The
  padded input goes to a second reused buffer (:func:`.im2col.pad2d_scratch`, only its border
  strips zeroed): in a profile of the depthwise layer, filling a fresh zero-padded copy took
  half its forward time.
* **Layouts that need no second copy.** The strided im2col view is copied once, straight into
  the (K, b·L) layout the product reads; the columns are not kept for the backward pass (it
  rebuilds them block by block, so a layer costs the memory of its input, not ``kH·kW`` times
  it); at stride 1 the input gradient is a correlation (one product on the input's grid) rather
  than a product the size of the columns followed by ``kH·kW`` scattered adds.
* **One product per kernel tap where columns cost more than they save.** At stride 1 the
  output laid out with the padded input's row pitch ``W_p`` is ``Σ_ij W_ij · X_ij``, where
  ``X_ij`` is the flattened padded input shifted by ``i·d_h·W_p + j·d_w``: a contiguous slice
  read in place. Grouped layers with few channels per group take one batched product per tap
  this way (:func:`.im2col._correlate_by_shifted_products`; the bench's g=32 layer went from
  about 2.0× ``F.conv2d``'s forward time to about 1.5×, one thread), and depthwise layers,
  whose per-tap product is a scaling, one multiply-add per tap
  (:func:`.im2col._correlate_by_shift`).

Where the time still goes: in a dense layer the GEMM alone takes about as long as the whole of
``F.conv2d``, and the columns (``kH·kW`` copies of the input), the padded copy and the output's
reordering add 20–30 % to it. oneDNN's direct convolution kernel has none of these: it reads
the input once, in a channel-blocked layout, and keeps each output tile in registers across all
``C_in·kH·kW`` multiply-adds. A depthwise layer does 9 multiply-adds per output and is bound by
memory: the kernel reads the input and writes the output once, while tensor operations make a
pass over the partial sums per tap (and copy the padded input and the output window), about
twice its time.

Example:
    >>> import torch
    >>> x = torch.arange(9.).reshape(1, 1, 3, 3)
    >>> w = torch.tensor([[[[1., 0.], [0., -1.]]]])
    >>> conv2d(x, w)
    tensor([[[[-4., -4.],
              [-4., -4.]]]])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.autograd.function import once_differentiable

from ..analysis.shapes import effective_kernel_size
from ._args import Geometry, conv2d_geometry
from .im2col import correlate, correlate_weight_grad, crop2d, pad2d, pad2d_scratch, scatter

IntOrPair = int | Sequence[int]

__all__ = ["conv2d", "conv2d_naive"]


def conv2d_naive(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair | str = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> torch.Tensor:
    """Convolution by the definition: one window, one weighted sum, per output pixel.

    Same arguments, shapes and errors as :func:`conv2d`; slow, plain and differentiable by
    autograd. Kept as the ground truth of the fast version.
    """
    geo = conv2d_geometry(x, weight, bias, stride, padding, dilation, groups)
    batched = x.dim() == 4
    x = x if batched else x.unsqueeze(0)
    xp = pad2d(x, geo.pad)  # (N, C_in, H_p, W_p)
    (kh, kw), (sh, sw), (dh, dw), g = geo.kernel, geo.stride, geo.dilation, geo.groups
    c_in, c_out = x.shape[1], weight.shape[0]
    cg, og = c_in // g, c_out // g
    span_h, span_w = effective_kernel_size(kh, dh), effective_kernel_size(kw, dw)
    rows = []
    for h in range(geo.out[0]):
        row = []
        for w in range(geo.out[1]):
            window = xp[:, :, h * sh : h * sh + span_h : dh,
                        w * sw : w * sw + span_w : dw]  # (N, C_in, kH, kW)
            per_group = [
                (window[:, None, k * cg : (k + 1) * cg] * weight[k * og : (k + 1) * og])
                .sum(dim=(2, 3, 4))  # (N, 1, cg, kH, kW) * (og, cg, kH, kW) -> (N, og)
                for k in range(g)
            ]
            row.append(torch.cat(per_group, dim=1))  # (N, C_out)
        rows.append(torch.stack(row, dim=-1))  # (N, C_out, W_out)
    out = torch.stack(rows, dim=-2)  # (N, C_out, H_out, W_out)
    if bias is not None:
        out = out + bias[:, None, None]
    return out if batched else out.squeeze(0)


def _input_grad_by_correlation(
    dy: torch.Tensor, weight: torch.Tensor, geo: Geometry, size: tuple[int, int]
) -> torch.Tensor | None:
    """The input gradient of a stride-1 convolution, computed as a convolution.

    With stride 1, ``dX = col2im(Wᵀ · dY)`` equals the correlation of ``dY``, zero-padded by
    ``d(k − 1) − p`` on each side, with the kernel flipped in both spatial axes and its two
    channel axes swapped: the same im2col and one product as the forward pass, on the input's
    grid, instead of a product the size of the columns followed by ``kH·kW`` scattered adds.
    None when the stride is not 1 or a padding exceeds ``d(k − 1)`` (the scatter then runs).

    Shape: dy (N, G, O, H_out·W_out), weight (C_out, C_in/G, kH, kW) -> (N, C_in, H, W)
    """
    (kh, kw), (dh, dw), g = geo.kernel, geo.dilation, geo.groups
    top, bottom, left, right = geo.pad
    pad = (dh * (kh - 1) - top, dh * (kh - 1) - bottom, dw * (kw - 1) - left,
           dw * (kw - 1) - right)
    if geo.stride != (1, 1) or min(pad) < 0:
        return None
    n, c_out, cg = dy.shape[0], weight.shape[0], weight.shape[1]
    dyp = pad2d_scratch(dy.reshape(n, c_out, *geo.out), pad)  # (N, C_out, H + d(kH − 1), ...)
    flipped = weight.view(g, c_out // g, cg, kh, kw).flip(-2, -1).transpose(1, 2)
    flipped = flipped.reshape(g, cg, c_out // g * kh * kw)  # (G, C_in/G, O·kH·kW)
    dx = correlate(dyp, flipped, geo.kernel, (1, 1), geo.dilation, size)  # (N, G, C_in/G, H·W)
    return dx.view(n, g * cg, *size)


class _Conv2d(torch.autograd.Function):
    """im2col convolution with a hand-written backward (no autograd through ``as_strided``).

    The columns are not kept: the backward pass rebuilds them block by block from the padded
    input, so a layer costs the memory of its input, not ``kH·kW`` times it.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        geo: Geometry,
    ) -> torch.Tensor:
        n, c_out, g = x.shape[0], weight.shape[0], geo.groups
        xp = pad2d_scratch(x, geo.pad)  # (N, C_in, H_p, W_p), a reused buffer
        w = weight.reshape(g, c_out // g, -1)  # (G, O, K)
        y = correlate(xp, w, geo.kernel, geo.stride, geo.dilation, geo.out)  # (N, G, O, L)
        out = y.view(n, c_out, *geo.out)  # (N, C_out, H_out, W_out)
        if bias is not None:
            out += bias[:, None, None]
        ctx.geo, ctx.has_bias, ctx.x_size = geo, bias is not None, tuple(x.shape[2:])
        ctx.save_for_backward(x, weight)  # padded again in the backward pass
        return out

    @staticmethod
    @once_differentiable
    def backward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx, grad_out: torch.Tensor
    ) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        geo: Geometry = ctx.geo
        n, c_out, g = x.shape[0], weight.shape[0], geo.groups
        top, bottom, left, right = geo.pad
        size = (x.shape[2] + top + bottom, x.shape[3] + left + right)  # (H_p, W_p)
        length = geo.out[0] * geo.out[1]
        dy = grad_out.contiguous().view(n, g, c_out // g, length)  # (N, G, O, L)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = _input_grad_by_correlation(dy, weight, geo, ctx.x_size)
            if grad_x is None:
                w = weight.reshape(g, c_out // g, -1)  # (G, O, K)
                dxp = scatter(dy, w, size, geo.kernel, geo.stride, geo.dilation, geo.out)
                grad_x = crop2d(dxp, geo.pad, ctx.x_size)  # (N, C_in, H_p, W_p) -> (N, C_in, H, W)
        if ctx.needs_input_grad[1]:
            xp = pad2d_scratch(x, geo.pad)  # after the input gradient, which shares the buffer
            dw = correlate_weight_grad(dy, xp, geo.kernel, geo.stride, geo.dilation, geo.out)
            grad_w = dw.view(weight.shape)  # (G, O, K) -> (C_out, C_in/G, kH, kW)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_out.sum(dim=(0, 2, 3))  # (C_out,)
        return grad_x, grad_w, grad_b, None


def conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair | str = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> torch.Tensor:
    """2-D convolution with PyTorch's semantics, built from im2col and one matrix product.

    Args:
        x: input, (N, C_in, H, W) or (C_in, H, W).
        weight: (C_out, C_in / groups, kH, kW).
        bias: optional (C_out,).
        stride, dilation: positive int or (h, w) pair.
        padding: non-negative int or pair, ``'valid'`` (none) or ``'same'`` (stride 1 only;
            total ``d(k − 1)`` split with the extra pixel on the bottom/right, as PyTorch).
        groups: split the channels into this many independent convolutions.

    Returns:
        (N, C_out, H_out, W_out) (or unbatched), ``H_out = floor((H + 2p − d(kH − 1) − 1)/s) + 1``.

    Raises:
        TypeError: a non-tensor input, non-int argument or mismatched dtypes.
        ValueError: wrong ranks, channel/group mismatch, bad stride/padding/dilation/bias, or a
            kernel larger than the padded input; the message names the argument and the rule.
    """
    geo = conv2d_geometry(x, weight, bias, stride, padding, dilation, groups)
    batched = x.dim() == 4
    out = _Conv2d.apply(x if batched else x.unsqueeze(0), weight, bias, geo)
    return out if batched else out.squeeze(0)
