"""Convolution as linear algebra: the matrix ``C`` of a convolution, and transposed convolution
as ``Cᵀ`` written three ways (chapter 3, :doc:`/book/ch03/02-matrix-view`).

A 2-D convolution with a fixed kernel is a linear map of its input. Flatten the input
``x`` of shape ``(C_in, H, W)`` row-major into a vector of length ``C_in·H·W`` and the output
``(C_out, H_out, W_out)`` into one of length ``C_out·H_out·W_out``; then ``conv2d(x) = C x`` for a
sparse, structured matrix ``C`` whose nonzero entries are copies of the kernel's weights. The
transposed convolution with the same weight is ``Cᵀ``:

* ``conv_transpose2d(y, w) = reshape(Cᵀ · vec(y))`` (:func:`conv_matrix`);
* it is the adjoint: ``⟨C x, y⟩ = ⟨x, Cᵀ y⟩`` for every ``x`` and ``y``;
* it is the input-gradient of convolution: ``∇ₓ ⟨conv2d(x, w), y⟩ = Cᵀ y``;
* it is a direct convolution (stride 1) of the zero-inserted, padded ``y`` with the kernel
  flipped in both spatial axes and its channel axes swapped (:func:`conv_transpose2d_as_conv`).

:func:`bilinear_upsampling_kernel` is the kernel with which a transposed convolution performs
bilinear interpolation (FCN's initialisation of its upsampling layers).

Example::

    >>> import torch
    >>> w = torch.arange(9.0).reshape(1, 1, 3, 3)
    >>> conv_matrix((4, 4), w).shape          # 2×2 output from a 4×4 input
    torch.Size([4, 16])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from convlab.analysis import conv_output_size
from convlab.functional import conv2d
from convlab.functional._args import pair

IntPair = int | tuple[int, int]


def conv_matrix_indices(
    input_size: IntPair,
    weight_shape: tuple[int, int, int, int],
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[int, int]]:
    """Where each weight lands in the convolution matrix ``C``.

    Row ``(o, i, j)`` of ``C`` (output channel ``o``, output position ``(i, j)``) holds weight
    ``w[o, c, u, v]`` in column ``(c, i·s − p + u·d, j·s − p + v·d)`` whenever that input position
    lies inside the ``H × W`` input; positions in the zero padding have no column.

    Args:
        input_size: ``(H, W)`` of the input.
        weight_shape: ``(C_out, C_in, kH, kW)``.
        stride, padding, dilation: as in :func:`convlab.functional.conv2d` (int or pair).

    Returns:
        ``rows``, ``cols``, ``weight_index`` (int64 vectors of equal length: entry ``n`` of ``C``
        sits at ``(rows[n], cols[n])`` and equals ``weight.reshape(-1)[weight_index[n]]``) and the
        shape ``(C_out·H_out·W_out, C_in·H·W)`` of ``C``.
    """
    op = "conv_matrix"
    H, W = pair(input_size, "input_size", op, 1)
    if len(weight_shape) != 4:
        raise ValueError(
            f"{op}: weight must have shape (C_out, C_in, kH, kW), got {tuple(weight_shape)}"
        )
    c_out, c_in, kh, kw = (int(n) for n in weight_shape)
    (sh, sw), (ph, pw) = pair(stride, "stride", op, 1), pair(padding, "padding", op, 0)
    dh, dw = pair(dilation, "dilation", op, 1)
    h_out = conv_output_size(H, kh, sh, ph, dh)
    w_out = conv_output_size(W, kw, sw, pw, dw)
    o, c, i, j, u, v = torch.meshgrid(
        *(torch.arange(n) for n in (c_out, c_in, h_out, w_out, kh, kw)), indexing="ij"
    )  # each (C_out, C_in, H_out, W_out, kH, kW)
    r = i * sh - ph + u * dh  # input row read by output row i through kernel row u
    q = j * sw - pw + v * dw
    inside = (r >= 0) & (r < H) & (q >= 0) & (q < W)
    rows = ((o * h_out + i) * w_out + j)[inside]
    cols = ((c * H + r) * W + q)[inside]
    weight_index = (((o * c_in + c) * kh + u) * kw + v)[inside]
    return rows, cols, weight_index, (c_out * h_out * w_out, c_in * H * W)


def conv_matrix(
    input_size: IntPair,
    weight: torch.Tensor,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    *,
    sparse: bool = False,
) -> torch.Tensor:
    """The matrix ``C`` of ``conv2d(·, weight, stride, padding, dilation)`` on ``H × W`` inputs.

    ``conv2d(x, weight).reshape(N, -1) == x.reshape(N, -1) @ C.T`` and
    ``conv_transpose2d(y, weight).reshape(N, -1) == y.reshape(N, -1) @ C`` with the same stride,
    padding and dilation and ``output_padding = (H + 2p − d(k − 1) − 1) mod s`` per axis (the
    remainder the forward convolution's floor dropped; :func:`matching_output_padding`).
    The entries are the weight's own values, so gradients flow from ``C`` back to ``weight``:
    the learnable parameters are the ``C_out·C_in·kH·kW`` kernel weights, not the entries of ``C``.

    Shape:
        - weight: ``(C_out, C_in, kH, kW)``
        - Output: ``(C_out·H_out·W_out, C_in·H·W)``, rows and columns flattened row-major
          (channel, row, column), with
          ``H_out = ⌊(H + 2p − d(kH − 1) − 1)/s⌋ + 1`` and likewise ``W_out``.

    Args:
        input_size: ``(H, W)``, or one int for a square input.
        weight: the kernel, a floating tensor.
        stride, padding, dilation: int or pair, as in :func:`convlab.functional.conv2d`.
        sparse: return a coalesced ``torch.sparse_coo`` tensor instead of a dense one.
    """
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"conv_matrix: weight must be a torch.Tensor, got {type(weight).__name__}")
    if not weight.is_floating_point():
        raise TypeError(f"conv_matrix: weight must be a floating tensor, got dtype {weight.dtype}")
    rows, cols, weight_index, shape = conv_matrix_indices(
        input_size, tuple(weight.shape), stride, padding, dilation
    )
    rows, cols, weight_index = (t.to(weight.device) for t in (rows, cols, weight_index))
    values = weight.reshape(-1)[weight_index]  # one entry of C per (output, kernel tap) inside
    if sparse:
        return torch.sparse_coo_tensor(
            torch.stack([rows, cols]), values, shape, check_invariants=True
        ).coalesce()
    return weight.new_zeros(shape).index_put((rows, cols), values)  # (C_out·Ho·Wo, C_in·H·W)


def overlap_counts(
    size: IntPair, kernel_size: IntPair, stride: IntPair = 1
) -> torch.Tensor:
    """How many kernel stamps cover each output pixel of a transposed convolution (no padding).

    Input pixel ``(i, j)`` of an ``H × W`` input stamps its ``kH × kW`` kernel at
    ``(s·i, s·j)``; pixel ``(r, q)`` of the output is covered by as many stamps as there are
    kernel taps ``(u, v)`` with ``r = s·i + u`` and ``q = s·j + v``. Those are the nonzero entries
    in column ``(r, q)`` of the matrix ``C`` of the stride-``s`` convolution that maps the output
    size back to ``H × W``, which is how it is counted here. It equals the transposed convolution
    of an all-ones input with an all-ones kernel, and is the same for every pixel exactly when
    ``s`` divides ``k`` (then it is ``(k/s)²`` away from the border).

    Shape:
        - Output: ``(s_h(H − 1) + kH, s_w(W − 1) + kW)``, int64.
    """
    op = "overlap_counts"
    h, w = pair(size, "size", op, 1)
    kh, kw = pair(kernel_size, "kernel_size", op, 1)
    sh, sw = pair(stride, "stride", op, 1)
    out_size = (sh * (h - 1) + kh, sw * (w - 1) + kw)
    _, cols, _, shape = conv_matrix_indices(out_size, (1, 1, kh, kw), (sh, sw))
    return torch.bincount(cols, minlength=shape[1]).reshape(out_size)  # nonzeros per column


def matching_output_padding(
    input_size: IntPair,
    kernel_size: IntPair,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
) -> tuple[int, int]:
    """The ``output_padding`` that makes ``conv_transpose2d`` return the size ``conv2d`` read.

    ``conv2d`` maps ``H`` to ``⌊(H + 2p − d(k − 1) − 1)/s⌋ + 1`` and so forgets the remainder
    ``(H + 2p − d(k − 1) − 1) mod s``: up to ``s`` input sizes share one output size. The
    transposed convolution with ``output_padding`` equal to that remainder maps back to ``H``.
    """
    op = "matching_output_padding"
    sizes, ks = pair(input_size, "input_size", op, 1), pair(kernel_size, "kernel_size", op, 1)
    ss, ps = pair(stride, "stride", op, 1), pair(padding, "padding", op, 0)
    ds = pair(dilation, "dilation", op, 1)
    geometry = zip(sizes, ks, ss, ps, ds, strict=True)
    h, w = ((n + 2 * p - d * (k - 1) - 1) % s for n, k, s, p, d in geometry)
    return (h, w)


def zero_insert(x: torch.Tensor, stride: IntPair) -> torch.Tensor:
    """Put ``s − 1`` zeros between neighbouring values along each spatial axis.

    Shape:
        - x: ``(N, C, H, W)``
        - Output: ``(N, C, s_h(H − 1) + 1, s_w(W − 1) + 1)``, with
          ``out[..., s_h·i, s_w·j] = x[..., i, j]`` and zeros elsewhere.
    """
    if x.dim() != 4:
        raise ValueError(f"zero_insert: x must have shape (N, C, H, W), got {tuple(x.shape)}")
    sh, sw = pair(stride, "stride", "zero_insert", 1)
    n, c, h, w = x.shape
    out = x.new_zeros(n, c, sh * (h - 1) + 1, sw * (w - 1) + 1)
    out[:, :, ::sh, ::sw] = x  # (N, C, H, W) -> (N, C, s(H-1)+1, s(W-1)+1)
    return out


def conv_transpose2d_as_conv(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    output_padding: IntPair = 0,
    dilation: IntPair = 1,
) -> torch.Tensor:
    """Transposed convolution computed as a direct, stride-1 convolution.

    Insert ``s − 1`` zeros between the inputs (:func:`zero_insert`), pad each side by
    ``d(k − 1) − p`` (plus ``output_padding`` at the bottom and right; a negative amount crops),
    then convolve with the kernel flipped in both spatial axes and its two channel axes swapped:

    ``conv_transpose2d(x, w) = conv2d(pad(zero_insert(x)), flip(w).transpose(0, 1), dilation=d)``.

    Shape:
        - x: ``(N, C_in, H, W)``; weight: ``(C_in, C_out, kH, kW)`` (PyTorch's transposed layout)
        - Output: ``(N, C_out, H_out, W_out)``,
          ``H_out = s(H − 1) − 2p + d(kH − 1) + output_padding + 1``.
    """
    op = "conv_transpose2d_as_conv"
    if weight.dim() != 4:
        raise ValueError(
            f"{op}: weight must have shape (C_in, C_out, kH, kW), got {tuple(weight.shape)}"
        )
    ph, pw = pair(padding, "padding", op, 0)
    oph, opw = pair(output_padding, "output_padding", op, 0)
    dh, dw = pair(dilation, "dilation", op, 1)
    kh, kw = weight.shape[-2:]
    z = zero_insert(x, stride)  # (N, C_in, s(H-1)+1, s(W-1)+1)
    eh, ew = dh * (kh - 1) - ph, dw * (kw - 1) - pw
    z = F.pad(z, (ew, ew + opw, eh, eh + oph))  # negative amounts crop
    flipped = weight.flip(-2, -1).transpose(0, 1)  # (C_in, C_out, kH, kW) -> (C_out, C_in, kH, kW)
    return conv2d(z, flipped, bias, stride=1, padding=0, dilation=(dh, dw))


def bilinear_upsampling_kernel(factor: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The ``k × k`` kernel with which ``conv_transpose2d`` upsamples bilinearly by ``factor``.

    ``k = 2f − (f mod 2)``, centre ``c = (k − 1)/2``, and the kernel is the outer product of the
    1-D tent ``t[u] = 1 − |u − c| / f``: the weights a linear interpolation gives the two inputs
    nearest each output. Used as ``conv_transpose2d(x, w, stride=f, padding=(k − f) // 2)`` —
    one such kernel per channel, groups equal to the channels — it maps ``H`` to ``f·H`` and
    equals ``F.interpolate(x, scale_factor=f, mode="bilinear", align_corners=False)`` except in
    the outer rows and columns, where interpolation clamps to the edge and the transposed
    convolution sees zeros. This is the initialisation of FCN's upsampling layers (Long et al.,
    2015).

    Shape:
        - Output: ``(k, k)`` with ``k = 2·factor − factor mod 2``.
    """
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise ValueError(f"bilinear_upsampling_kernel: factor must be an int ≥ 1, got {factor!r}")
    k = 2 * factor - factor % 2
    centre = (k - 1) / 2
    tent = 1 - (torch.arange(k, dtype=torch.float64) - centre).abs() / factor  # (k,)
    return torch.outer(tent, tent).to(dtype)  # (k, k)
