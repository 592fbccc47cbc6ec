"""Output-size relations of convolution and transposed convolution, one named function per formula.

Every op, block, figure and check in ConvLab takes its sizes from here, so each relation is
written exactly once:

* effective kernel size of a dilated kernel: ``k_eff = k + (k − 1)(d − 1) = d(k − 1) + 1``;
* convolution: ``out = floor((size + p_before + p_after − d(k − 1) − 1) / s) + 1``, which for
  symmetric padding ``p`` is PyTorch's ``floor((size + 2p − d(k − 1) − 1) / s) + 1``;
* transposed convolution: ``out = (size − 1)s − 2p + d(k − 1) + output_padding + 1``;
* ``'same'`` padding: the total ``d(k − 1)`` split as PyTorch does, the odd pixel after.

Example:
    >>> conv_output_size(56, 3, stride=2, padding=1)
    28
    >>> conv_transpose_output_size(28, 4, stride=2, padding=1)
    56
    >>> same_padding(4, dilation=2)
    (3, 3)
"""

from __future__ import annotations

import numbers

__all__ = [
    "conv_output_size",
    "conv_transpose_output_size",
    "effective_kernel_size",
    "same_padding",
]


def _int(value: object, name: str, where: str, minimum: int) -> int:
    """``value`` as an ``int`` at least ``minimum``; TypeError/ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where}: {name} must be an int, got {type(value).__name__}")
    value = int(value)
    if value < minimum:
        rule = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{where}: {name} must be {rule}, got {value}")
    return value


def _padding_pair(padding: int | tuple[int, int], where: str) -> tuple[int, int]:
    """``padding`` as (before, after): an int pads both sides, a pair gives each side."""
    if isinstance(padding, tuple | list):
        if len(padding) != 2:
            raise ValueError(
                f"{where}: padding must be an int or a (before, after) pair, got {padding!r}"
            )
        return (_int(padding[0], "padding", where, 0), _int(padding[1], "padding", where, 0))
    p = _int(padding, "padding", where, 0)
    return (p, p)


def effective_kernel_size(kernel_size: int, dilation: int = 1) -> int:
    """The span of a dilated kernel: ``k + (k − 1)(d − 1)``, i.e. ``d(k − 1) + 1``.

    Example: a 3×3 kernel at dilation 2 covers 5×5 pixels.
    """
    k = _int(kernel_size, "kernel_size", "effective_kernel_size", 1)
    d = _int(dilation, "dilation", "effective_kernel_size", 1)
    return k + (k - 1) * (d - 1)


def same_padding(kernel_size: int, dilation: int = 1) -> tuple[int, int]:
    """Padding (before, after) that keeps the size at stride 1, split as PyTorch splits it.

    The total is ``d(k − 1)``; ``before = total // 2`` and ``after = total − before``, so an
    odd total puts the extra pixel on the right/bottom.
    """
    total = effective_kernel_size(kernel_size, dilation) - 1
    return (total // 2, total - total // 2)


def conv_output_size(
    size: int,
    kernel_size: int,
    stride: int = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int = 1,
) -> int:
    """Output length of a convolution along one spatial dimension.

    ``out = floor((size + 2p − d(k − 1) − 1) / s) + 1``; ``padding`` may also be a
    ``(before, after)`` pair, in which case ``2p`` is ``before + after``.

    Raises:
        TypeError: an argument is not an int.
        ValueError: ``size``, ``kernel_size``, ``stride`` or ``dilation`` is not positive,
            ``padding`` is negative, or the relation gives no output (kernel wider than the
            padded input).
    """
    where = "conv_output_size"
    n = _int(size, "size", where, 1)
    k_eff = effective_kernel_size(kernel_size, dilation)
    s = _int(stride, "stride", where, 1)
    before, after = _padding_pair(padding, where)
    padded = n + before + after
    if padded < k_eff:
        raise ValueError(
            f"{where}: floor((size + 2*padding - dilation*(kernel_size-1) - 1)/stride) + 1 "
            f"has no positive value: the effective kernel size ({k_eff}) exceeds the padded "
            f"input size ({padded})"
        )
    return (padded - k_eff) // s + 1


def conv_transpose_output_size(
    size: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
    dilation: int = 1,
) -> int:
    """Output length of a transposed convolution along one spatial dimension.

    ``out = (size − 1)s − 2p + d(k − 1) + output_padding + 1``. As in PyTorch,
    ``output_padding`` must be smaller than the stride or the dilation: it only picks one of
    the ``s`` input sizes that a stride-``s`` convolution maps to the same output size.

    Raises:
        TypeError: an argument is not an int.
        ValueError: a size, stride or dilation is not positive, a padding is negative,
            ``output_padding`` is not smaller than stride or dilation, or the result is not
            positive.
    """
    where = "conv_transpose_output_size"
    n = _int(size, "size", where, 1)
    k_eff = effective_kernel_size(kernel_size, dilation)
    s = _int(stride, "stride", where, 1)
    p = _int(padding, "padding", where, 0)
    op = _int(output_padding, "output_padding", where, 0)
    d = _int(dilation, "dilation", where, 1)
    if op >= s and op >= d:
        raise ValueError(
            f"{where}: output_padding ({op}) must be smaller than either stride ({s}) "
            f"or dilation ({d})"
        )
    out = (n - 1) * s - 2 * p + (k_eff - 1) + op + 1
    if out < 1:
        raise ValueError(
            f"{where}: (size-1)*stride - 2*padding + dilation*(kernel_size-1) + "
            f"output_padding + 1 = {out} is not positive"
        )
    return out
