"""im2col and col2im: the two data movements every convolution here is built from.

* :func:`im2col` lays the receptive fields of a padded input side by side as a *view* made with
  ``torch.as_strided``: ``cols[n, c, i, j, h, w] = x[n, c, h·s_h + i·d_h, w·s_w + j·d_w]``.
  No pixel is copied until the caller reshapes it for the one matrix product.
* :func:`col2im` is its adjoint: each column entry is added back to the pixel it came from,
  as a sum of ``kH·kW`` strided slices. It computes the input gradient of a convolution and
  the forward pass of a transposed convolution (the "one-to-many scatter").

Three products build both convolutions and their gradients from these: :func:`correlate`
(``W · cols``), :func:`scatter` (``col2im(Wᵀ · Y)``, its adjoint) and
:func:`correlate_weight_grad` (``Σ_n Y_n · cols_nᵀ``). Each works on blocks of samples
(:data:`COLUMN_BLOCK_BYTES`) whose columns land in one reused buffer (:func:`columns_buffer`);
large float32 products on the CPU go to oneDNN's GEMM (:func:`product_nt`), one product per
group and block with the samples side by side. Where columns would cost more than the products
that read them, nothing is copied: at stride 1 the output, laid out with the padded input's row
pitch, is a sum over kernel taps of contiguous shifted slices of the flattened input, so grouped
layers with few channels per group take one batched product per tap
(:func:`_correlate_by_shifted_products`) and depthwise layers (one input channel per group, a
length-``kH·kW`` dot product per output) one multiply-add per tap. Padded inputs and partial sums
live in reused buffers too (:func:`pad2d_scratch`).

Shape:
    - padded input: (N, C, H_p, W_p)
    - columns: (N, C, kH, kW, H_out, W_out) with ``H_out = (H_p − d_h(kH − 1) − 1) // s_h + 1``

Example:
    >>> import torch
    >>> x = torch.arange(16.).reshape(1, 1, 4, 4)
    >>> im2col(x, (3, 3), (1, 1), (1, 1), (2, 2))[0, 0, :, :, 0, 0]
    tensor([[ 0.,  1.,  2.],
            [ 4.,  5.,  6.],
            [ 8.,  9., 10.]])
"""

from __future__ import annotations

import threading

import torch

Pair = tuple[int, int]


def pad2d(x: torch.Tensor, pad: tuple[int, int, int, int]) -> torch.Tensor:
    """Zero-pad the last two dimensions by ``pad = (top, bottom, left, right)``.

    Returns ``x`` itself when there is nothing to pad. Differentiable (slice assignment).

    Shape: (..., H, W) -> (..., H + top + bottom, W + left + right)
    """
    top, bottom, left, right = pad
    if not any(pad):
        return x
    h, w = x.shape[-2:]
    out = x.new_zeros(*x.shape[:-2], h + top + bottom, w + left + right)
    out[..., top : top + h, left : left + w] = x
    return out


def crop2d(x: torch.Tensor, pad: tuple[int, int, int, int], size: Pair) -> torch.Tensor:
    """The adjoint of :func:`pad2d`: the ``size`` window that starts at (top, left) (a view)."""
    top, _, left, _ = pad
    return x[..., top : top + size[0], left : left + size[1]]


def im2col(
    x: torch.Tensor, kernel: Pair, stride: Pair, dilation: Pair, out: Pair
) -> torch.Tensor:
    """The receptive fields of ``x`` as a strided view (no copy).

    ``cols[n, c, i, j, h, w] = x[n, c, h·s_h + i·d_h, w·s_w + j·d_w]``

    Built on ``x``'s own strides, so a window cut out of a larger tensor needs no copy either.

    Shape: (N, C, H_p, W_p) -> (N, C, kH, kW, H_out, W_out)
    """
    sn, sc, sh, sw = x.stride()
    return x.as_strided(
        (x.shape[0], x.shape[1], kernel[0], kernel[1], out[0], out[1]),
        (sn, sc, sh * dilation[0], sw * dilation[1], sh * stride[0], sw * stride[1]),
    )


def col2im(
    cols: torch.Tensor,
    size: Pair,
    kernel: Pair,
    stride: Pair,
    dilation: Pair,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Add every column entry back to the pixel it was read from (the adjoint of :func:`im2col`).

    ``x[n, c, h·s_h + i·d_h, w·s_w + j·d_w] += cols[n, c, i, j, h, w]`` for all indices.

    Shape: (N, C, kH, kW, H_out, W_out) -> (N, C, H_p, W_p) with ``(H_p, W_p) = size``;
    written into ``out`` (zeroed first) when given.
    """
    n, c, kh, kw, ho, wo = cols.shape
    x = cols.new_zeros(n, c, size[0], size[1]) if out is None else out.zero_()
    (sh, sw), (dh, dw) = stride, dilation
    for i in range(kh):
        for j in range(kw):
            # one strided slice of the image receives one kernel tap of every column
            x[:, :, i * dh : i * dh + sh * (ho - 1) + 1 : sh,
              j * dw : j * dw + sw * (wo - 1) + 1 : sw] += cols[:, :, i, j]
    return x


#: Columns are built for this many bytes of samples at a time: a block that fits the allocator's
#: reusable heap (and the cache) instead of fresh pages for the whole batch. On a 2-core
#: machine, 16 MiB blocks ran the 64-channel 56×56 layer of ``python -m bench`` about twice as
#: fast as one block holding the whole batch.
COLUMN_BLOCK_BYTES = 16 * 2**20
#: On a GPU the caching allocator reuses memory, so blocks only bound the columns' memory.
CUDA_COLUMN_BLOCK_BYTES = 2**30


_WORKSPACE = threading.local()


def columns_buffer(
    shape: tuple[int, ...], like: torch.Tensor, slot: str = "columns"
) -> torch.Tensor:
    """A scratch tensor of ``shape`` for one block of columns, reused from call to call.

    On the CPU one flat buffer per thread, dtype and ``slot`` is kept and grown as needed, so
    that the columns of every block of every call land in memory already mapped: a fresh block
    of megabytes costs a page fault per 4 KiB page on first touch, which on the bench machine
    made up a quarter of a 3×3 layer's forward + backward time. The caller must be done with the
    columns before it asks for the next block of the same slot (``"columns"``; ``"padded"`` holds
    a padded input, :func:`pad2d_scratch`; ``"sums"`` the depthwise partial sums). Elsewhere
    (CUDA's caching allocator already reuses memory) it is a fresh tensor.
    """
    numel = 1
    for size in shape:
        numel *= size
    if like.device.type != "cpu":
        return like.new_empty(shape)
    buffers: dict[tuple[str, torch.dtype], torch.Tensor] = _WORKSPACE.__dict__.setdefault(
        "buffers", {}
    )
    buf = buffers.get((slot, like.dtype))
    if buf is None or buf.numel() < numel:
        buf = buffers[(slot, like.dtype)] = like.new_empty(numel)
    return buf[:numel].view(shape)


def pad2d_scratch(x: torch.Tensor, pad: tuple[int, int, int, int]) -> torch.Tensor:
    """:func:`pad2d` into a reused buffer (:func:`columns_buffer`'s ``"padded"`` slot).

    Only the four border strips are zeroed and the interior is copied once, into memory that is
    already mapped: a fresh zero-filled padded copy of a layer's input cost the bench's depthwise
    layer half its forward time in page faults. The result is scratch, overwritten by the next
    call on this thread: it must not be kept (an autograd Function saves the unpadded input and
    pads again in its backward pass). Returns ``x`` itself when there is nothing to pad.

    Shape: (N, C, H, W) -> (N, C, H + top + bottom, W + left + right)
    """
    top, bottom, left, right = pad
    if not any(pad):
        return x
    n, c, h, w = x.shape
    hp, wp = h + top + bottom, w + left + right
    out = columns_buffer((n, c, hp, wp), x, "padded")
    out[:, :, :top].zero_()
    out[:, :, top + h :].zero_()
    out[:, :, top : top + h, :left].zero_()
    out[:, :, top : top + h, left + w :].zero_()
    out[:, :, top : top + h, left : left + w] = x
    return out


#: The smaller blocks of the oneDNN path (:func:`product_nt`): with the columns in a reused
#: buffer, 8 MiB blocks ran the bench's 3×3 layers 3–10 % faster than 16 MiB ones (CPU time, one
#: thread), the columns of a block staying in the cache for the product that reads them.
ONEDNN_BLOCK_BYTES = 8 * 2**20


def sample_blocks(
    n: int, bytes_per_sample: int, device: torch.device | None = None,
    budget: int | None = None,
) -> list[slice]:
    """Split a batch of ``n`` samples into consecutive slices of about ``budget`` bytes
    (default ``COLUMN_BLOCK_BYTES``, ``CUDA_COLUMN_BLOCK_BYTES`` on a CUDA ``device``)."""
    if budget is None:
        budget = CUDA_COLUMN_BLOCK_BYTES if device is not None and device.type == "cuda" else (
            COLUMN_BLOCK_BYTES
        )
    step = max(1, budget // max(1, bytes_per_sample))
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


#: oneDNN's float32 inner product (``torch.ops.mkldnn._linear_pointwise``, ``a · bᵀ``; a private
#: op of PyTorch's x86 builds, so it is looked up once and everything falls back to
#: ``torch.matmul`` without it). It runs the GEMM kernels behind oneDNN's own convolutions;
#: PyTorch's ``matmul`` calls MKL instead, whose sgemm took twice oneDNN's CPU time on the
#: products of the bench's 3×3 layers on its AMD EPYC (one thread; MKL picks generic code paths
#: on non-Intel CPUs). Set :data:`ONEDNN_PRODUCTS` to False to use ``torch.matmul`` everywhere.
try:
    _ONEDNN_LINEAR = (
        torch.ops.mkldnn._linear_pointwise.default if torch.backends.mkldnn.is_available()
        else None
    )
except (AttributeError, RuntimeError):  # a build without oneDNN
    _ONEDNN_LINEAR = None
ONEDNN_PRODUCTS = _ONEDNN_LINEAR is not None
#: A block's products go through oneDNN, one per group, when each has at least this many
#: multiply-accumulates; below it the per-call cost wins and one batched ``matmul`` does the
#: block (many small groups, as in the bench's g=32 layer).
ONEDNN_MIN_MACS = 2**20


def _onednn(t: torch.Tensor, macs: int) -> bool:
    """Whether the products of a block go through oneDNN (CPU float32, large enough)."""
    return _onednn_kind(t) and macs >= ONEDNN_MIN_MACS


def _onednn_kind(t: torch.Tensor) -> bool:
    """Whether ``t``'s products may go through oneDNN at all (CPU, float32, available)."""
    return ONEDNN_PRODUCTS and t.device.type == "cpu" and t.dtype == torch.float32


def _blocks(n: int, bytes_per_sample: int, t: torch.Tensor, macs_per_sample: int) -> list[slice]:
    """The blocks of samples for a product: :data:`ONEDNN_BLOCK_BYTES` where oneDNN will run
    the products (and the budget leaves them large enough), else the default blocks."""
    if _onednn_kind(t):
        step = max(1, min(COLUMN_BLOCK_BYTES, ONEDNN_BLOCK_BYTES) // max(1, bytes_per_sample))
        if macs_per_sample * step >= ONEDNN_MIN_MACS:
            return sample_blocks(n, bytes_per_sample, t.device,
                                 min(COLUMN_BLOCK_BYTES, ONEDNN_BLOCK_BYTES))
    return sample_blocks(n, bytes_per_sample, t.device)


def product_nt(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a · bᵀ`` for a (M, K) and b (N, K) of any strides: (M, N), by oneDNN where it runs."""
    if ONEDNN_PRODUCTS and a.device.type == "cpu" and a.dtype == torch.float32:
        assert _ONEDNN_LINEAR is not None
        return _ONEDNN_LINEAR(a, b, None, "none", [], "")
    return a @ b.t()


def correlate(
    xp: torch.Tensor, w: torch.Tensor, kernel: Pair, stride: Pair, dilation: Pair, out: Pair
) -> torch.Tensor:
    """``y[n, g] = w[g] · cols[n, g]``: im2col, then one matrix product per block of samples.

    ``w`` is (G, O, C/G·kH·kW). Computes a grouped convolution of the padded input ``xp``
    (and the input gradient of a transposed convolution). On the CPU in float32, large products
    run through oneDNN's GEMM (:func:`product_nt`), one per group and block with the block's
    samples side by side in the columns' rows; otherwise one batched ``matmul`` per block.

    Shape: (N, C, H_p, W_p) -> (N, G, O, H_out·W_out)
    """
    n, c = xp.shape[:2]
    g, o, k = w.shape
    if c == g:
        return _correlate_by_tap(xp, w, kernel, stride, dilation, out)
    if g > 1 and stride == (1, 1) and c // g <= SHIFTED_PRODUCTS_MAX_CHANNELS:
        return _correlate_by_shifted_products(xp, w, kernel, dilation, out)
    length = out[0] * out[1]
    y = xp.new_empty(n, g, o, length)
    for block in _blocks(n, c * kernel[0] * kernel[1] * length * xp.element_size(), xp,
                         o * k * length):
        b = block.stop - block.start
        view = im2col(xp[block], kernel, stride, dilation, out)  # (b, C, kH, kW, Ho, Wo)
        if _onednn(xp, o * k * b * length):
            cols = _columns_by_channel(view, xp).view(g, k, b * length)  # (G, K, b·L)
            for gi in range(g):
                yg = product_nt(w[gi], cols[gi].t())  # (O, K)·(K, b·L) -> (O, b·L)
                y[block, gi] = yg.view(o, b, length).transpose(0, 1)
        else:
            cols = columns_buffer(tuple(view.shape), xp)
            cols.copy_(view)  # the one copy
            cols = cols.view(-1, g, k, length)  # (b, G, K, L)
            torch.matmul(w, cols, out=y[block])  # (G, O, K) @ (b, G, K, L) -> (b, G, O, L)
    return y


def _columns_by_channel(view: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The columns of a block with the samples side by side in each row: (C·kH·kW, b·L).

    One matrix product then covers the whole block (a wider product runs closer to the GEMM's
    peak than one per sample, and the weight gradient's sum over samples happens inside it).

    Shape: (b, C, kH, kW, H_out, W_out) view -> (C·kH·kW, b·H_out·W_out), a reused buffer
    """
    b, c, kh, kw, ho, wo = view.shape
    cols = columns_buffer((c, kh, kw, b, ho, wo), like)
    cols.copy_(view.permute(1, 2, 3, 0, 4, 5))
    return cols.view(c * kh * kw, b * ho * wo)


def scatter(
    y: torch.Tensor, w: torch.Tensor, size: Pair, kernel: Pair, stride: Pair, dilation: Pair,
    out: Pair,
) -> torch.Tensor:
    """``x = col2im(w[g]ᵀ · y[n, g])``: each input value spreads a weighted kernel onto the image.

    ``w`` is (G, O, C/G·kH·kW) as in :func:`correlate`, of which this is the adjoint: the input
    gradient of a convolution and the forward pass of a transposed convolution.

    Shape: (N, G, O, H_out·W_out) -> (N, C, H_p, W_p) with ``(H_p, W_p) = size``
    """
    n, g = y.shape[:2]
    o, k = w.shape[1], w.shape[2]
    c = g * k // (kernel[0] * kernel[1])
    if c == g:
        return _scatter_by_tap(y, w, size, kernel, stride, dilation, out)
    x = y.new_empty(n, c, size[0], size[1])
    length = out[0] * out[1]
    wt = w.transpose(1, 2)  # (G, K, O)
    kh, kw = kernel
    for block in _blocks(n, g * k * length * y.element_size(), y, o * k * length):
        b = block.stop - block.start
        if _onednn(y, o * k * b * length):
            # the samples side by side: one (K, O)·(O, b·L) product per group and block
            yb = y[block].permute(1, 2, 0, 3).reshape(g, o, b * length)  # (G, O, b·L)
            wtc = wt.contiguous()
            xg = x[block].view(b, g, c // g, size[0], size[1])
            for gi in range(g):
                cols = product_nt(wtc[gi], yb[gi].t())  # (K, b·L)
                cols = cols.view(c // g, kh, kw, b, out[0], out[1]).permute(3, 0, 1, 2, 4, 5)
                col2im(cols, size, kernel, stride, dilation, out=xg[:, gi])
        else:
            cols = torch.matmul(wt, y[block])  # (b, G, K, L)
            cols = cols.view(-1, c, kh, kw, out[0], out[1])  # (b, C, kH, kW, Ho, Wo)
            col2im(cols, size, kernel, stride, dilation, out=x[block])
    return x


def correlate_weight_grad(
    y: torch.Tensor, xp: torch.Tensor, kernel: Pair, stride: Pair, dilation: Pair, out: Pair
) -> torch.Tensor:
    """``Σ_n y[n, g] · cols[n, g]ᵀ``: the weight gradient of :func:`correlate`.

    Shape: y (N, G, O, H_out·W_out), xp (N, C, H_p, W_p) -> (G, O, C/G·kH·kW)
    """
    n, c = xp.shape[:2]
    g, o, length = y.shape[1], y.shape[2], y.shape[3]
    if c == g:
        return _weight_grad_by_tap(y, xp, kernel, stride, dilation, out)
    k = c // g * kernel[0] * kernel[1]
    grad = y.new_zeros(g, o, k)
    for block in _blocks(n, c * kernel[0] * kernel[1] * length * xp.element_size(), xp,
                         o * k * length):
        b = block.stop - block.start
        view = im2col(xp[block], kernel, stride, dilation, out)  # (b, C, kH, kW, Ho, Wo)
        if _onednn(xp, o * k * b * length):
            cols = _columns_by_channel(view, xp).view(g, k, b * length)  # (G, K, b·L)
            yb = y[block].permute(1, 2, 0, 3).reshape(g, o, b * length)  # (G, O, b·L)
            for gi in range(g):
                grad[gi] += product_nt(yb[gi], cols[gi])  # (O, b·L)·(b·L, K): Σ over samples
        else:
            cols = columns_buffer(tuple(view.shape), xp)
            cols = cols.copy_(view).view(-1, g, k, length)  # (b, G, K, L)
            grad += torch.matmul(y[block], cols.transpose(2, 3)).sum(0)  # (G, O, K)
    return grad


# One input channel per group (depthwise): each group's matrix product is a dot product of
# length kH·kW per output pixel, and a batched product of thousands of 1×k² matrices is slow.
# The same sums are accumulated tap by tap over the im2col view instead, with no copy of it.


def _taps(kernel: Pair) -> list[tuple[int, int]]:
    return [(i, j) for i in range(kernel[0]) for j in range(kernel[1])]


def _correlate_by_tap(
    xp: torch.Tensor, w: torch.Tensor, kernel: Pair, stride: Pair, dilation: Pair, out: Pair
) -> torch.Tensor:
    """:func:`correlate` for C = G: ``y[n, g, o] = Σ_ij w[g, o, ij] · cols[n, g, i, j]``."""
    n, g = xp.shape[:2]
    o = w.shape[1]
    if stride == (1, 1):
        return _correlate_by_shift(xp, w, kernel, dilation, out)
    cols = im2col(xp, kernel, stride, dilation, out)  # (N, G, kH, kW, Ho, Wo), a view
    w = w.view(g, o, kernel[0], kernel[1], 1, 1)
    y = xp.new_zeros(n, g, o, out[0], out[1])
    for i, j in _taps(kernel):
        y.addcmul_(cols[:, :, None, i, j], w[:, :, i, j])  # (N, G, 1, Ho, Wo) · (G, O, 1, 1)
    return y.view(n, g, o, out[0] * out[1])  # (N, G, O, L)


def _correlate_by_shift(
    xp: torch.Tensor, w: torch.Tensor, kernel: Pair, dilation: Pair, out: Pair
) -> torch.Tensor:
    """:func:`_correlate_by_tap` at stride 1, on the padded input's own row pitch.

    With stride 1, tap ``(i, j)`` of every output pixel ``(h, w)`` reads the flat index
    ``(h + i·d_h)·W_p + w + j·d_w`` of the padded image: the output laid out with the input's
    row pitch ``W_p`` (the last ``W_p − W_out`` columns of each row are never used) is a sum of
    ``kH·kW`` *contiguous* shifted slices of the flattened input, each scaled by one weight.
    Contiguous slices run the multiply-adds vectorised from end to end; the result is then read
    out as the (H_out, W_out) window of that layout.
    """
    n, g, hp, wp = xp.shape
    o = w.shape[1]
    (ho, wo), (dh, dw) = out, dilation
    length = ho * wp - (kernel[1] - 1) * dw  # up to the last output pixel, (H_out − 1)·W_p + W_out
    flat = xp.reshape(n, g, 1, hp * wp)
    taps = w.view(g, o, kernel[0] * kernel[1], 1)
    y = columns_buffer((n, g, o, length), xp, "sums")  # (N, G, O, length), reused memory
    for t, (i, j) in enumerate(_taps(kernel)):
        start = i * dh * wp + j * dw
        shifted = flat[..., start : start + length]  # (N, G, 1, length)
        if t == 0:
            torch.mul(shifted, taps[:, :, t], out=y)
        else:
            y.addcmul_(shifted, taps[:, :, t])
    window = y.as_strided((n, g, o, ho, wo), (g * o * length, o * length, length, wp, 1))
    # a copy out of the reused buffer, even where the window is the whole of it
    return window.clone(memory_format=torch.contiguous_format).view(n, g, o, ho * wo)


#: Grouped convolutions at stride 1 with at most this many input channels per group take
#: :func:`_correlate_by_shifted_products` (no columns) instead of im2col and a product.
SHIFTED_PRODUCTS_MAX_CHANNELS = 16
#: Their partial sums are kept for this many bytes of samples at a time, so that the
#: ``kH·kW`` products that add into them find them in the cache.
SHIFTED_BLOCK_BYTES = 4 * 2**20


def _correlate_by_shifted_products(
    xp: torch.Tensor, w: torch.Tensor, kernel: Pair, dilation: Pair, out: Pair
) -> torch.Tensor:
    """:func:`correlate` at stride 1 for small groups: one batched product per kernel tap.

    With few channels per group the columns (``kH·kW`` copies of the input) cost more to write
    than the products that read them: in the bench's g=32 layer (4 channels per group) the copy
    took about as long as the products. The row-pitch layout of :func:`_correlate_by_shift`
    needs none: tap ``(i, j)`` of all output pixels of a group is the contiguous slice of the
    flattened padded input that starts at ``i·d_h·W_p + j·d_w``, a (C/G, length) matrix read in
    place, so the output is ``Σ_ij W_ij · X_ij``, ``kH·kW`` batched products (one matrix per
    sample and group, ``W_ij`` the (O, C/G) weights of the tap) accumulated into one buffer.

    Shape: (N, C, H_p, W_p) -> (N, G, O, H_out·W_out)
    """
    n, c, hp, wp = xp.shape
    g, o = w.shape[:2]
    cg, taps = c // g, kernel[0] * kernel[1]
    (ho, wo), (dh, dw) = out, dilation
    length = ho * wp - (kernel[1] - 1) * dw  # up to the last output pixel
    flat = xp.reshape(n, g, cg, hp * wp)  # one (C/G, H_p·W_p) matrix per sample and group
    result = xp.new_empty(n, g, o, ho, wo)
    per_tap = w.view(g, o, cg, taps).permute(3, 0, 1, 2)  # (kH·kW, G, O, C/G)
    for block in sample_blocks(n, g * o * length * xp.element_size(), xp.device,
                               SHIFTED_BLOCK_BYTES):
        b = block.stop - block.start
        tap_w = per_tap[:, None].expand(taps, b, g, o, cg).reshape(taps, b * g, o, cg)
        y = columns_buffer((b * g, o, length), xp, "sums")  # (b·G, O, length), reused memory
        for t, (i, j) in enumerate(_taps(kernel)):
            start = i * dh * wp + j * dw
            shifted = flat[block, ..., start : start + length].reshape(b * g, cg, length)
            if t == 0:
                torch.bmm(tap_w[0], shifted, out=y)
            else:
                y.baddbmm_(tap_w[t], shifted)
        result[block] = y.as_strided((b, g, o, ho, wo), (g * o * length, o * length, length,
                                                          wp, 1))
    return result.view(n, g, o, ho * wo)


def _scatter_by_tap(
    y: torch.Tensor, w: torch.Tensor, size: Pair, kernel: Pair, stride: Pair, dilation: Pair,
    out: Pair,
) -> torch.Tensor:
    """:func:`scatter` for C = G: tap ``ij`` adds ``Σ_o w[g, o, ij] · y[n, g, o]`` to its slice."""
    n, g, o = y.shape[:3]
    y = y.view(n, g, o, out[0], out[1])
    w = w.view(g, o, kernel[0], kernel[1], 1, 1)
    x = y.new_zeros(n, g, size[0], size[1])
    window = im2col(x, kernel, stride, dilation, out)  # a writable view of x: (N, G, kH, kW, ..)
    for i, j in _taps(kernel):
        if o == 1:
            window[:, :, i, j].addcmul_(y[:, :, 0], w[:, 0, i, j])
        else:
            window[:, :, i, j] += (y * w[:, :, i, j]).sum(2)  # Σ_o: (N, G, Ho, Wo)
    return x


def _weight_grad_by_tap(
    y: torch.Tensor, xp: torch.Tensor, kernel: Pair, stride: Pair, dilation: Pair, out: Pair
) -> torch.Tensor:
    """:func:`correlate_weight_grad` for C = G: ``Σ_{n,h,w} y[n, g, o] · cols[n, g, i, j]``."""
    n, g, o = y.shape[:3]
    cols = im2col(xp, kernel, stride, dilation, out)  # (N, G, kH, kW, Ho, Wo), a view
    y = y.view(n, g, o, out[0], out[1])
    grad = y.new_empty(g, o, kernel[0], kernel[1])
    for i, j in _taps(kernel):
        grad[:, :, i, j] = (y * cols[:, :, None, i, j]).sum(dim=(0, 3, 4))  # (G, O)
    return grad.view(g, o, -1)
