"""Argument normalisation and validation shared by the convolutions (fast and loop versions).

Each op calls one function here that checks every argument the way PyTorch does, raises
``TypeError``/``ValueError`` naming the argument and the rule it broke, and returns the
geometry (kernel, stride, dilation, padding per side, output size) as plain ints. The size
relations themselves come from :mod:`convlab.analysis.shapes`.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..analysis.shapes import conv_output_size, conv_transpose_output_size, same_padding

Pair = tuple[int, int]


@dataclass(frozen=True)
class Geometry:
    """Normalised arguments of one 2-D convolution (or transposed convolution).

    ``pad`` is (top, bottom, left, right). ``out`` is the output's (H_out, W_out).
    For a transposed convolution ``output_padding`` is set and ``pad`` is symmetric.
    """

    kernel: Pair
    stride: Pair
    dilation: Pair
    pad: tuple[int, int, int, int]
    groups: int
    out: Pair
    output_padding: Pair = (0, 0)


def pair(value: int | Sequence[int], name: str, op: str, minimum: int) -> Pair:
    """``value`` (an int or a pair of ints) as a pair, each at least ``minimum``."""
    items = tuple(value) if isinstance(value, Sequence) and not isinstance(value, str) else None
    if items is None:
        items = (value, value)
    elif len(items) != 2:
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, numbers.Integral):
            raise TypeError(
                f"{op}: {name} must be an int or a pair of ints, got {type(item).__name__}"
            )
        if item < minimum:
            rule = "positive" if minimum == 1 else f">= {minimum}"
            raise ValueError(f"{op}: {name} must be {rule}, got {value!r}")
    return (int(items[0]), int(items[1]))


def _check_groups(groups: object, op: str) -> int:
    if isinstance(groups, bool) or not isinstance(groups, numbers.Integral):
        raise TypeError(f"{op}: groups must be an int, got {type(groups).__name__}")
    if groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups}")
    return int(groups)


def check_tensors(
    x: object, weight: object, bias: object, op: str
) -> None:
    """Types, ranks, dtypes and devices of ``x`` (3-D or 4-D), ``weight`` (4-D) and ``bias``."""
    for name, t in (("input", x), ("weight", weight)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{op}: {name} must be a torch.Tensor, got {type(t).__name__}")
    if bias is not None and not isinstance(bias, torch.Tensor):
        raise TypeError(f"{op}: bias must be a torch.Tensor or None, got {type(bias).__name__}")
    assert isinstance(x, torch.Tensor) and isinstance(weight, torch.Tensor)
    if x.dim() not in (3, 4):
        raise ValueError(
            f"{op}: input must be 3-D (C, H, W) or 4-D (N, C, H, W), got {x.dim()}-D "
            f"of shape {tuple(x.shape)}"
        )
    if weight.dim() != 4:
        raise ValueError(
            f"{op}: weight must be 4-D, got {weight.dim()}-D of shape {tuple(weight.shape)}"
        )
    others = [("weight", weight)] + ([("bias", bias)] if bias is not None else [])
    for name, t in others:
        assert isinstance(t, torch.Tensor)
        if t.dtype != x.dtype:
            raise TypeError(f"{op}: {name} dtype ({t.dtype}) must match input dtype ({x.dtype})")
        if t.device != x.device:
            raise ValueError(
                f"{op}: {name} device ({t.device}) must match input device ({x.device})"
            )


def _check_bias(bias: torch.Tensor | None, out_channels: int, op: str) -> None:
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(
            f"{op}: bias must have shape (out_channels,) = ({out_channels},), "
            f"got {tuple(bias.shape)}"
        )


def _check_steps(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: int | Sequence[int],
    dilation: int | Sequence[int],
    groups: int,
    op: str,
) -> tuple[int, Pair, Pair]:
    """The tensors checked, then ``(groups, stride, dilation)`` normalised."""
    check_tensors(x, weight, bias, op)
    g = _check_groups(groups, op)
    return g, pair(stride, "stride", op, 1), pair(dilation, "dilation", op, 1)


def _check_channels(
    x: torch.Tensor, weight: torch.Tensor, groups: int, op: str
) -> tuple[tuple[int, int, int], tuple[int, int, int, int]]:
    """``x``'s ``(C, H, W)`` and ``weight``'s four sizes, after checking that ``weight`` has
    no empty dimension and that ``groups`` divides the input channels."""
    c, h, w = (int(n) for n in x.shape[-3:])
    a, b, kh, kw = (int(n) for n in weight.shape)
    if min(a, b, kh, kw) < 1:
        raise ValueError(f"{op}: weight must have no empty dimension, got {tuple(weight.shape)}")
    if c % groups != 0:
        raise ValueError(f"{op}: in_channels ({c}) must be divisible by groups ({groups})")
    return (c, h, w), (a, b, kh, kw)


def conv2d_geometry(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: int | Sequence[int],
    padding: int | Sequence[int] | str,
    dilation: int | Sequence[int],
    groups: int,
    op: str = "conv2d",
) -> Geometry:
    """Check the arguments of a convolution and return its :class:`Geometry`.

    ``weight`` is (C_out, C_in / groups, kH, kW). ``padding`` is an int, a pair, ``'valid'``
    (no padding) or ``'same'`` (stride 1 only; output size = input size).
    """
    g, s, d = _check_steps(x, weight, bias, stride, dilation, groups, op)
    (c_in, h, w), (c_out, c_per_group, kh, kw) = _check_channels(x, weight, g, op)
    if c_out % g != 0:
        raise ValueError(f"{op}: out_channels ({c_out}) must be divisible by groups ({g})")
    if c_per_group * g != c_in:
        raise ValueError(
            f"{op}: input channels ({c_in}) must equal weight.shape[1] * groups "
            f"({c_per_group} * {g} = {c_per_group * g})"
        )
    _check_bias(bias, c_out, op)
    if isinstance(padding, str):
        if padding == "valid":
            pad = (0, 0, 0, 0)
        elif padding == "same":
            if s != (1, 1):
                raise ValueError(f"{op}: padding='same' needs stride 1, got stride {s}")
            pad = same_padding(kh, d[0]) + same_padding(kw, d[1])
        else:
            raise ValueError(
                f"{op}: padding must be an int, a pair, 'same' or 'valid', got {padding!r}"
            )
    else:
        ph, pw = pair(padding, "padding", op, 0)
        pad = (ph, ph, pw, pw)
    out = []
    dims = (("H", h, kh, s[0], d[0], pad[:2]), ("W", w, kw, s[1], d[1], pad[2:]))
    for dim, n, k, si, di, p in dims:
        try:
            out.append(conv_output_size(n, k, si, p, di))
        except ValueError as err:
            raise ValueError(
                f"{op}: kernel size (dilated) must not exceed the padded input size along "
                f"{dim} ({err})"
            ) from None
    return Geometry((kh, kw), s, d, pad, g, (out[0], out[1]))


def conv_transpose2d_geometry(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: int | Sequence[int],
    padding: int | Sequence[int],
    output_padding: int | Sequence[int],
    groups: int,
    dilation: int | Sequence[int],
    op: str = "conv_transpose2d",
) -> Geometry:
    """Check the arguments of a transposed convolution and return its :class:`Geometry`.

    ``weight`` is (C_in, C_out / groups, kH, kW); ``padding`` is an int or a pair (no strings,
    as in PyTorch); ``output_padding`` must be smaller than stride or dilation.
    """
    g, s, d = _check_steps(x, weight, bias, stride, dilation, groups, op)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a pair of ints, got {padding!r}")
    ph, pw = pair(padding, "padding", op, 0)
    op_pad = pair(output_padding, "output_padding", op, 0)
    (c_in, h, w), (c_w_in, c_out_per_group, kh, kw) = _check_channels(x, weight, g, op)
    if c_w_in != c_in:
        raise ValueError(
            f"{op}: input channels ({c_in}) must equal weight.shape[0] ({c_w_in})"
        )
    _check_bias(bias, c_out_per_group * g, op)
    out = []
    dims = ((h, kh, s[0], ph, op_pad[0], d[0]), (w, kw, s[1], pw, op_pad[1], d[1]))
    for n, k, si, p, o, di in dims:
        try:
            out.append(conv_transpose_output_size(n, k, si, p, o, di))
        except ValueError as err:
            raise ValueError(f"{op}: {err}") from None
    return Geometry((kh, kw), s, d, (ph, ph, pw, pw), g, (out[0], out[1]), op_pad)
