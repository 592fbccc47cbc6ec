"""Deformable convolution (DCN v1, Dai et al. 2017; modulated DCN v2, Zhu et al. 2019) from
scratch, with the semantics, shapes and offset layout of ``torchvision.ops.deform_conv2d``.

A deformable convolution is a convolution whose kernel taps are moved, per output pixel, by
learned fractional offsets, and read from the input by bilinear interpolation. Tap ``(i, j)``
of the window of output pixel ``(h, w)`` reads, for every input channel of offset group ``g``,

    p_y = h·s_h − p_h + i·d_h + Δy[n, g, i, j, h, w]
    p_x = w·s_w − p_w + j·d_w + Δx[n, g, i, j, h, w]

and the output is the ordinary (grouped) convolution sum over those samples, each scaled by a
modulation scalar ``m[n, g, i, j, h, w]`` (DCN v2; 1 without ``mask``):

    out[n, o] = bias[o] + Σ_{c ∈ group(o)} Σ_{i,j} weight[o, c, i, j] · m · x̃[n, c](p_y, p_x)

Bilinear sampling with torchvision's border rule: a sample at ``p_y ≤ −1``, ``p_y ≥ H``,
``p_x ≤ −1`` or ``p_x ≥ W`` is 0; otherwise it mixes its four neighbours
``(⌊p_y⌋ + {0, 1}, ⌊p_x⌋ + {0, 1})`` with weights ``(1 − l_y or l_y)·(1 − l_x or l_x)``,
``l = p − ⌊p⌋``, and a neighbour outside the image contributes 0. With all offsets zero (and no
mask) this is exactly ``conv2d(x, weight, bias, stride, padding, dilation, groups)``.

Layout (torchvision's): ``offset`` has ``2·G_off·kH·kW`` channels, ordered offset group, then
kernel tap ``k = i·kW + j`` (row-major), then the pair ``(Δy, Δx)``: channel
``g·2·kH·kW + 2k`` is Δy and ``+ 1`` is Δx. ``mask`` has ``G_off·kH·kW`` channels, channel
``g·kH·kW + k``. Input channel ``c`` belongs to offset group ``c // (C_in / G_off)``.
The weight groups are ``C_in / weight.shape[1]``, as in torchvision (no ``groups`` argument).

Shape:
    - input: (N, C_in, H, W)
    - offset: (N, 2·G_off·kH·kW, H_out, W_out)
    - weight: (C_out, C_in / G_w, kH, kW); bias: (C_out,)
    - mask: (N, G_off·kH·kW, H_out, W_out) or None
    - output: (N, C_out, H_out, W_out), ``H_out = floor((H + 2p − d(kH − 1) − 1) / s) + 1``

How it is computed: the input is zero-padded by one pixel all round, so that every neighbour of a
sample inside (−1, H) × (−1, W) has a valid index and the border rule reduces to one mask, and
laid out channels last, so that one neighbour of one sample is one contiguous row of the
channels of its offset group. The four neighbours of every (tap, output pixel) are read with one
``index_select`` of rows and mixed with their bilinear weights into deformed columns, which one
batched matrix product per weight group, (H_out·W_out, kH·kW·C_in/G_w) × (kH·kW·C_in/G_w,
C_out/G_w), turns into the output, as im2col does for :func:`convlab.functional.conv2d`
(:func:`deformable_columns` gives the columns in im2col's layout). Every step is a
differentiable tensor operation, so autograd gives the gradients of input, offset, weight,
bias and mask (the offset's through the interpolation weights ``l_y``, ``l_x``, as torchvision's).

Example:
    >>> import torch
    >>> x = torch.arange(16.).reshape(1, 1, 4, 4)
    >>> w = torch.ones(1, 1, 1, 1)
    >>> shift = torch.full((1, 2, 4, 4), 0.5)  # every sample moves down and right by half a pixel
    >>> deform_conv2d(x, shift, w)[0, 0]  # the last row and column mix in zeros from outside
    tensor([[ 2.5000,  3.5000,  4.5000,  2.5000],
            [ 6.5000,  7.5000,  8.5000,  4.5000],
            [10.5000, 11.5000, 12.5000,  6.5000],
            [ 6.2500,  6.7500,  7.2500,  3.7500]])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..analysis.shapes import conv_output_size
from ._args import pair

IntOrPair = int | Sequence[int]

__all__ = ["deform_conv2d"]

_OP = "deform_conv2d"


def _check(
    x: object, offset: object, weight: object, bias: object, mask: object,
    stride: IntOrPair, padding: IntOrPair, dilation: IntOrPair,
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int], int, int]:
    """Check every argument; return (stride, padding, dilation, (H_out, W_out), G_off, G_w)."""
    named = (("input", x), ("offset", offset), ("weight", weight), ("bias", bias),
             ("mask", mask))
    for name, t in named:
        if t is None and name in ("bias", "mask"):
            continue
        if not isinstance(t, torch.Tensor):
            none = " or None" if name in ("bias", "mask") else ""
            raise TypeError(f"{_OP}: {name} must be a torch.Tensor{none}, got {type(t).__name__}")
    assert isinstance(x, torch.Tensor) and isinstance(offset, torch.Tensor)
    assert isinstance(weight, torch.Tensor)
    if not x.is_floating_point():
        raise TypeError(f"{_OP}: input must be a floating-point tensor, got {x.dtype}")
    for name, t in named[1:]:
        if t is None:
            continue
        assert isinstance(t, torch.Tensor)
        if t.dtype != x.dtype:
            raise TypeError(f"{_OP}: {name} dtype ({t.dtype}) must match input dtype ({x.dtype})")
        if t.device != x.device:
            raise ValueError(f"{_OP}: {name} device ({t.device}) must match input device "
                             f"({x.device})")
    for name, t in named[:3] + (("mask", mask),):
        if isinstance(t, torch.Tensor) and t.dim() != 4:
            raise ValueError(f"{_OP}: {name} must be 4-D, got shape {tuple(t.shape)}")
    s = pair(stride, "stride", _OP, 1)
    p = pair(padding, "padding", _OP, 0)
    d = pair(dilation, "dilation", _OP, 1)
    n, c_in, h, w = (int(v) for v in x.shape)
    c_out, c_per_group, kh, kw = (int(v) for v in weight.shape)
    if min(c_in, h, w) < 1 or min(c_out, c_per_group, kh, kw) < 1:
        raise ValueError(f"{_OP}: input (C, H, W) and weight must have no empty dimension, got "
                         f"input {tuple(x.shape)} and weight {tuple(weight.shape)}")
    if c_in % c_per_group != 0:
        raise ValueError(f"{_OP}: input channels ({c_in}) must be a multiple of weight.shape[1] "
                         f"({c_per_group}): the weight groups are C_in / weight.shape[1]")
    g_w = c_in // c_per_group
    if c_out % g_w != 0:
        raise ValueError(f"{_OP}: out_channels ({c_out}) must be divisible by the weight groups "
                         f"C_in / weight.shape[1] = {g_w}")
    if isinstance(bias, torch.Tensor) and tuple(bias.shape) != (c_out,):
        raise ValueError(f"{_OP}: bias must have shape (out_channels,) = ({c_out},), got "
                         f"{tuple(bias.shape)}")
    out = []
    dims = (("H", h, kh, s[0], p[0], d[0]), ("W", w, kw, s[1], p[1], d[1]))
    for dim, size, k, si, pi, di in dims:
        try:
            out.append(conv_output_size(size, k, si, pi, di))
        except ValueError as err:
            raise ValueError(f"{_OP}: kernel size (dilated) must not exceed the padded input "
                             f"size along {dim} ({err})") from None
    taps = kh * kw
    if offset.shape[1] % (2 * taps) != 0 or offset.shape[1] == 0:
        raise ValueError(
            f"{_OP}: offset.shape[1] must be a positive multiple of 2·kH·kW = {2 * taps} "
            f"(a (Δy, Δx) pair per kernel tap and offset group), got {offset.shape[1]}"
        )
    g_off = offset.shape[1] // (2 * taps)
    if c_in % g_off != 0:
        raise ValueError(f"{_OP}: input channels ({c_in}) must be divisible by the offset groups "
                         f"offset.shape[1] / (2·kH·kW) = {g_off}")
    expected = (n, 2 * g_off * taps, out[0], out[1])
    if tuple(offset.shape) != expected:
        raise ValueError(f"{_OP}: offset must have shape (N, 2·offset_groups·kH·kW, H_out, "
                         f"W_out) = {expected}, got {tuple(offset.shape)}")
    if isinstance(mask, torch.Tensor):
        expected = (n, g_off * taps, out[0], out[1])
        if tuple(mask.shape) != expected:
            raise ValueError(f"{_OP}: mask must have shape (N, offset_groups·kH·kW, H_out, "
                             f"W_out) = {expected}, got {tuple(mask.shape)}")
    return s, p, d, (out[0], out[1]), g_off, g_w


def _sample(
    x: torch.Tensor,
    offset: torch.Tensor,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    out: tuple[int, int],
    mask: torch.Tensor | None,
) -> torch.Tensor:
    """The bilinear samples: (N, G_off, H_out·W_out, kH·kW, C_in / G_off), channels last.

    Channels last, so that reading one neighbour of one sample reads the ``C_in / G_off``
    channels of its offset group as one contiguous row (``index_select`` of rows); output pixel,
    then tap, so that with one offset group and one weight group the result already is the
    (pixels × (tap, channel)) matrix of the convolution's product.
    """
    n, c, h, w = x.shape
    (kh, kw), (ho, wo) = kernel, out
    taps, length = kh * kw, ho * wo
    g = offset.shape[1] // (2 * taps)
    off = offset.view(n, g, taps, 2, ho, wo).permute(0, 1, 3, 4, 5, 2).contiguous()
    # off: (N, G, 2, H_out, W_out, K)
    dev, dt = x.device, x.dtype
    # the undeformed grid: row of tap i in window h is h·s − p + i·d, likewise for columns
    rows = (torch.arange(ho, device=dev) * stride[0] - padding[0])[:, None] + (
        torch.arange(kh, device=dev) * dilation[0])[None, :]  # (H_out, kH)
    cols = (torch.arange(wo, device=dev) * stride[1] - padding[1])[:, None] + (
        torch.arange(kw, device=dev) * dilation[1])[None, :]  # (W_out, kW)
    base_y = rows[:, None, :, None].expand(ho, 1, kh, kw).reshape(ho, 1, taps).to(dt)
    base_x = cols[None, :, None, :].expand(1, wo, kh, kw).reshape(1, wo, taps).to(dt)
    py = base_y + off[:, :, 0]  # (N, G, H_out, W_out, K)
    px = base_x + off[:, :, 1]
    inside = ((py > -1) & (py < h) & (px > -1) & (px < w)).to(dt)
    if mask is not None:
        inside = inside * mask.view(n, g, taps, ho, wo).permute(0, 1, 3, 4, 2).contiguous()
    y0, x0 = py.detach().floor(), px.detach().floor()
    ly, lx = py - y0, px - x0  # the interpolation weights carry the offsets' gradient
    hy, hx = (1 - ly) * inside, 1 - lx  # the border rule and the modulation ride on hy, ly
    ly = ly * inside
    # neighbours in the image padded by one zero pixel: rows −1..H map to 0..H+1
    hp, wp = h + 2, w + 2
    yi = y0.clamp(-1, h - 1).long() + 1
    xi = x0.clamp(-1, w - 1).long() + 1
    plane = (torch.arange(n * g, device=dev) * (hp * wp)).view(n, g, 1, 1, 1)
    corner = plane + yi * wp + xi  # top-left neighbour's row in the (N·G·H_p·W_p, C/G) table
    xp = x.new_zeros(n, g, hp, wp, c // g)  # zero-padded, channels last
    xp[:, :, 1 : h + 1, 1 : w + 1] = x.view(n, g, c // g, h, w).permute(0, 1, 3, 4, 2)
    table = xp.view(-1, c // g)
    sampled = None
    # one neighbour at a time: each read is a quarter of the size (the allocator reuses
    # blocks of that size instead of mapping fresh pages for one four times as large)
    for step, weight in ((0, hy * hx), (1, hy * lx), (wp, ly * hx), (wp + 1, ly * lx)):
        values = torch.index_select(table, 0, (corner + step).view(-1))
        values = values.view(n, g, length * taps, c // g)
        weight = weight.reshape(n, g, length * taps, 1)
        sampled = values * weight if sampled is None else sampled.addcmul(values, weight)
    assert sampled is not None
    return sampled.view(n, g, length, taps, c // g)


def deformable_columns(
    x: torch.Tensor,
    offset: torch.Tensor,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    out: tuple[int, int],
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """The deformed im2col: every input channel bilinearly sampled at every moved kernel tap.

    ``cols[n, c, k, h·W_out + w] = m · x̃[n, c](p_y, p_x)`` for tap ``k = i·kW + j`` (see the
    module docstring for ``p_y``, ``p_x``, the border rule and the layouts), with the arguments
    already checked by :func:`deform_conv2d`.

    Shape: x (N, C, H, W), offset (N, 2·G·kH·kW, H_out, W_out), mask (N, G·kH·kW, H_out, W_out)
    -> (N, C, kH·kW, H_out·W_out)
    """
    n, c = x.shape[:2]
    sampled = _sample(x, offset, kernel, stride, padding, dilation, out, mask)  # (N,G,L,K,C/G)
    return sampled.permute(0, 1, 4, 3, 2).reshape(n, c, kernel[0] * kernel[1], -1)


def deform_conv2d(
    input: torch.Tensor,
    offset: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Deformable convolution v1/v2 with ``torchvision.ops.deform_conv2d``'s semantics.

    Args:
        input: (N, C_in, H, W), floating point.
        offset: (N, 2·G_off·kH·kW, H_out, W_out): a (Δy, Δx) pair per kernel tap (row-major,
            tap-major inside each offset group) and output pixel; ``G_off`` is read from its
            channel count and must divide ``C_in``.
        weight: (C_out, C_in / G_w, kH, kW); the weight groups ``G_w = C_in / weight.shape[1]``.
        bias: optional (C_out,).
        stride, dilation: positive int or (h, w) pair; padding: non-negative int or pair.
        mask: optional (N, G_off·kH·kW, H_out, W_out) modulation scalars (DCN v2).

    Returns:
        (N, C_out, H_out, W_out), ``H_out = floor((H + 2p − d(kH − 1) − 1) / s) + 1``.

    Raises:
        TypeError: a non-tensor argument, non-floating input or mismatched dtypes.
        ValueError: wrong ranks, channels not a multiple of weight.shape[1], out_channels not
            divisible by the weight groups, an offset channel count that is not a multiple of
            2·kH·kW or whose groups do not divide C_in, offset or mask not of the shape the
            output needs, bad stride/padding/dilation/bias, or a kernel larger than the padded
            input; the message names the argument and the rule.
    """
    s, p, d, out, _, g_w = _check(input, offset, weight, bias, mask, stride, padding, dilation)
    n, c_in = input.shape[:2]
    c_out, cw, kh, kw = weight.shape
    taps, length, og = kh * kw, out[0] * out[1], c_out // g_w
    sampled = _sample(input, offset, (kh, kw), s, p, d, out, mask)  # (N, G_off, L, K, C/G_off)
    # rows of the product: output pixels; columns: (tap, channel) pairs of one weight group
    # (views, no copy, with one offset group and one weight group)
    cols = sampled.permute(0, 2, 3, 1, 4).reshape(n, length, taps, g_w, cw)  # (N, L, K, G_w, Cw)
    cols = cols.permute(0, 3, 1, 2, 4).reshape(n, g_w, length, taps * cw)  # (N, G_w, L, K·Cw)
    w = weight.view(g_w, og, cw, taps).permute(0, 3, 2, 1).reshape(g_w, taps * cw, og)
    y = torch.matmul(cols, w)  # (N, G_w, L, O/G_w)
    y = y.permute(0, 1, 3, 2).reshape(n, c_out, *out)  # (N, C_out, H_out, W_out)
    if bias is not None:
        y = y + bias[:, None, None]
    return y
