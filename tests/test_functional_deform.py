"""Does deform_conv2d agree with independent formulations of torchvision's deform_conv2d?

torchvision does not load here, so the reference values come from three other routes: zero
offsets give ``F.conv2d``; integer offsets move kernel taps, which is an ordinary convolution
with a larger kernel on a shifted crop; and fractional offsets are bilinear samples, which
``F.grid_sample`` (zeros padding) computes on its own, layouts written out again in this file.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from convlab.analysis.shapes import conv_output_size
from convlab.exercises.forbid import forbidden
from convlab.functional import deform_conv2d

TOL = {torch.float32: dict(rtol=1e-4, atol=1e-4), torch.float64: dict(rtol=1e-9, atol=1e-9)}

FORBIDDEN = [
    "torch.nn.functional.grid_sample",
    "torch.nn.functional.interpolate",
    "torch.nn.functional.conv2d",
    "torch.nn.functional.unfold",
    "torch.conv2d",
    "torch.grid_sampler",
    "torch.grid_sampler_2d",
    "torch.Tensor.unfold",
]


def grid_sample_deform(x, offset, weight, bias=None, stride=1, padding=0, dilation=1, mask=None):
    """deform_conv2d written with ``F.grid_sample``: one bilinear sample per tap and group.

    A pixel coordinate ``p`` of an axis of length ``L`` is grid coordinate ``(2p + 1)/L − 1``
    with ``align_corners=False``; ``padding_mode='zeros'`` makes neighbours outside the image
    zero, which also makes every sample at ``p ≤ −1`` or ``p ≥ L`` zero (torchvision's rule).
    """
    s, p, d = (v if isinstance(v, tuple) else (v, v) for v in (stride, padding, dilation))
    n, c, h, w = x.shape
    c_out, cw, kh, kw = weight.shape
    ho = conv_output_size(h, kh, s[0], p[0], d[0])
    wo = conv_output_size(w, kw, s[1], p[1], d[1])
    g_off = offset.shape[1] // (2 * kh * kw)
    cg = c // g_off
    samples = []  # per input channel group: (N, cg, kH·kW, Ho, Wo)
    for g in range(g_off):
        taps = []
        for i in range(kh):
            for j in range(kw):
                k = i * kw + j
                dy = offset[:, g * 2 * kh * kw + 2 * k]  # (N, Ho, Wo)
                dx = offset[:, g * 2 * kh * kw + 2 * k + 1]
                py = (torch.arange(ho, dtype=x.dtype) * s[0] - p[0] + i * d[0])[:, None] + dy
                px = (torch.arange(wo, dtype=x.dtype) * s[1] - p[1] + j * d[1])[None, :] + dx
                grid = torch.stack(((2 * px + 1) / w - 1, (2 * py + 1) / h - 1), dim=-1)
                v = F.grid_sample(x[:, g * cg : (g + 1) * cg], grid, mode="bilinear",
                                  padding_mode="zeros", align_corners=False)  # (N, cg, Ho, Wo)
                if mask is not None:
                    v = v * mask[:, g * kh * kw + k, None]
                taps.append(v)
        samples.append(torch.stack(taps, dim=2))
    cols = torch.cat(samples, dim=1)  # (N, C, kH·kW, Ho, Wo)
    g_w = c // cw
    og = c_out // g_w
    outs = []
    for gw in range(g_w):
        wk = weight[gw * og : (gw + 1) * og].reshape(og, cw, kh * kw)
        outs.append(torch.einsum("ock,nckhw->nohw", wk, cols[:, gw * cw : (gw + 1) * cw]))
    out = torch.cat(outs, dim=1)
    return out if bias is None else out + bias[:, None, None]


@st.composite
def deform_cases(draw: st.DrawFn, dtypes=(torch.float64,), offsets: str = "random") -> dict:
    """A valid call with offset groups, weight groups, stride, padding, dilation, mask."""
    g_off, g_w = draw(st.integers(1, 2), label="offset groups"), draw(st.integers(1, 2),
                                                                        label="weight groups")
    c = g_off * g_w * draw(st.integers(1, 2), label="channel multiple")
    c_out = g_w * draw(st.integers(1, 2), label="out per weight group")
    kh, kw = draw(st.integers(1, 3), label="kH"), draw(st.integers(1, 3), label="kW")
    h, w = draw(st.integers(1, 7), label="H"), draw(st.integers(1, 7), label="W")
    stride = draw(st.tuples(st.integers(1, 2), st.integers(1, 2)), label="stride")
    padding = draw(st.tuples(st.integers(0, 2), st.integers(0, 2)), label="padding")
    dilation = draw(st.tuples(st.integers(1, 2), st.integers(1, 2)), label="dilation")
    try:
        ho = conv_output_size(h, kh, stride[0], padding[0], dilation[0])
        wo = conv_output_size(w, kw, stride[1], padding[1], dilation[1])
    except ValueError:
        assume(False)
    n = draw(st.integers(1, 2), label="N")
    dtype = draw(st.sampled_from(dtypes), label="dtype")
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16), label="seed"))
    x = torch.randn(n, c, h, w, generator=gen, dtype=dtype)
    weight = torch.randn(c_out, c // g_w, kh, kw, generator=gen, dtype=dtype)
    bias = torch.randn(c_out, generator=gen, dtype=dtype) if draw(st.booleans()) else None
    shape = (n, 2 * g_off * kh * kw, ho, wo)
    if offsets == "zero":
        offset = torch.zeros(shape, dtype=dtype)
    else:
        # spread of ±2.5 pixels: many samples leave the image or straddle its border
        offset = (torch.rand(shape, generator=gen, dtype=dtype) - 0.5) * 5
    use_mask = offsets != "zero" and draw(st.booleans(), label="mask")
    mask = torch.rand(n, g_off * kh * kw, ho, wo, generator=gen, dtype=dtype) if use_mask else None
    kwargs = dict(stride=stride, padding=padding, dilation=dilation)
    return dict(x=x, offset=offset, weight=weight, bias=bias, mask=mask, kwargs=kwargs,
                out=(n, c_out, ho, wo), g_w=g_w)


def _grads(fn, case: dict, seed: int = 1) -> list:
    """[out, then dL/d(input, offset, weight, bias, mask)] for L = Σ out · R, R fixed."""
    names = ("x", "offset", "weight", "bias", "mask")
    leaves = {k: None if case[k] is None else case[k].detach().clone().requires_grad_()
              for k in names}
    out = fn(leaves["x"], leaves["offset"], leaves["weight"], leaves["bias"],
             mask=leaves["mask"], **case["kwargs"])
    r = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=out.dtype)
    (out * r).sum().backward()
    return [out.detach()] + [None if leaves[k] is None else leaves[k].grad for k in names]


@settings(deadline=None, derandomize=True, max_examples=25)
@given(case=deform_cases())
def test_matches_grid_sample_formulation_values_and_gradients(case: dict) -> None:
    ours = _grads(deform_conv2d, case)
    ref = _grads(grid_sample_deform, case)
    assert ours[0].shape == case["out"]
    names = ("out", "grad_input", "grad_offset", "grad_weight", "grad_bias", "grad_mask")
    for name, a, b in zip(names, ours, ref, strict=True):
        if b is None:
            assert a is None, name
        else:
            torch.testing.assert_close(a, b, **TOL[torch.float64],
                                       msg=lambda m, n=name: f"{n}: {m}")


@settings(deadline=None, derandomize=True, max_examples=20)
@given(case=deform_cases(dtypes=(torch.float32, torch.float64), offsets="zero"))
def test_zero_offsets_are_a_grouped_dilated_convolution(case: dict) -> None:
    x, w, b = case["x"], case["weight"], case["bias"]
    out = deform_conv2d(x, case["offset"], w, b, **case["kwargs"])
    ref = F.conv2d(x, w, b, groups=case["g_w"], **case["kwargs"])
    torch.testing.assert_close(out, ref, **TOL[x.dtype])


def moved_taps_conv(x, weight, shifts, stride, padding, dilation):
    """Convolution whose tap ``(i, j)`` is moved by the integer ``shifts[i, j] = (a, b)``
    everywhere: an ordinary convolution with a larger kernel (each weight placed at
    ``(i·d + a, j·d + b)``) on a crop of the zero-padded input."""
    kh, kw = weight.shape[2:]
    pos_y = [i * dilation[0] + int(shifts[i, j, 0]) for i in range(kh) for j in range(kw)]
    pos_x = [j * dilation[1] + int(shifts[i, j, 1]) for i in range(kh) for j in range(kw)]
    y0, x0 = min(pos_y), min(pos_x)
    big = weight.new_zeros(*weight.shape[:2], max(pos_y) - y0 + 1, max(pos_x) - x0 + 1)
    for k, (py, px) in enumerate(zip(pos_y, pos_x, strict=True)):
        big[:, :, py - y0, px - x0] += weight[:, :, k // kw, k % kw]
    margin = 20
    xp = F.pad(x, (margin,) * 4)
    ho = conv_output_size(x.shape[2], kh, stride[0], padding[0], dilation[0])
    wo = conv_output_size(x.shape[3], kw, stride[1], padding[1], dilation[1])
    top, left = margin - padding[0] + y0, margin - padding[1] + x0
    crop = xp[:, :, top : top + (ho - 1) * stride[0] + big.shape[2],
              left : left + (wo - 1) * stride[1] + big.shape[3]]
    return F.conv2d(crop, big, stride=stride, groups=x.shape[1] // weight.shape[1])


@settings(deadline=None, derandomize=True, max_examples=20)
@given(case=deform_cases(), data=st.data())
def test_integer_offsets_move_kernel_taps(case: dict, data: st.DataObject) -> None:
    x, w, b, kwargs = case["x"], case["weight"], case["bias"], case["kwargs"]
    kh, kw = w.shape[2:]
    seed = data.draw(st.integers(0, 2**16), label="shift seed")
    shifts = torch.randint(-3, 4, (kh, kw, 2), generator=torch.Generator().manual_seed(seed))
    n, _, ho, wo = case["out"]
    g_off = case["offset"].shape[1] // (2 * kh * kw)
    # the same integer (Δy, Δx) for every output pixel and offset group, per tap
    offset = shifts.reshape(1, 1, kh * kw * 2, 1, 1).to(x.dtype).expand(n, g_off, -1, ho, wo)
    out = deform_conv2d(x, offset.reshape(n, -1, ho, wo), w, b, **kwargs)
    ref = moved_taps_conv(x, w, shifts, kwargs["stride"], kwargs["padding"], kwargs["dilation"])
    if b is not None:
        ref = ref + b[:, None, None]
    torch.testing.assert_close(out, ref, **TOL[x.dtype])


def test_border_rule_on_a_hand_example() -> None:
    # 1×1 kernel of weight 1 on a 1×2 image [a, b] = [3, 5]: the output is the sample itself
    x = torch.tensor([[[[3.0, 5.0]]]])
    w = torch.ones(1, 1, 1, 1)

    def sample(dy: float, dx: float) -> float:
        off = torch.tensor([dy, dx]).view(1, 2, 1, 1).expand(1, 2, 1, 2).contiguous()
        return deform_conv2d(x, off, w)[0, 0, 0, 0].item()  # the first pixel moved

    assert sample(0.0, 0.5) == 4.0  # halfway between 3 and 5
    assert sample(0.0, 1.5) == 2.5  # halfway between 5 and the zero outside
    assert sample(0.0, 2.0) == 0.0  # p_x = W: outside, 0
    assert sample(0.0, -0.5) == 1.5  # halfway between the zero at -1 and 3
    assert sample(0.0, -1.0) == 0.0  # p_x = -1: outside, 0
    assert sample(-0.25, 0.0) == 2.25  # a quarter toward the zero row above
    assert sample(0.75, 0.0) == 0.75  # H = 1: three quarters toward the zero row below


def test_mask_scales_each_tap_and_group() -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(1, 4, 5, 5, generator=gen, dtype=torch.float64)
    w = torch.randn(3, 4, 3, 3, generator=gen, dtype=torch.float64)
    off = torch.randn(1, 2 * 2 * 9, 3, 3, generator=gen, dtype=torch.float64)
    ones = torch.ones(1, 2 * 9, 3, 3, dtype=torch.float64)
    torch.testing.assert_close(deform_conv2d(x, off, w, mask=ones), deform_conv2d(x, off, w))
    # zeroing the mask of offset group 1 is zeroing its input channels (2 and 3)
    half = ones.clone()
    half[:, 9:] = 0
    x_half = x.clone()
    x_half[:, 2:] = 0
    torch.testing.assert_close(deform_conv2d(x, off, w, mask=half), deform_conv2d(x_half, off, w))


@pytest.mark.parametrize("with_mask", [False, True])
def test_gradcheck_float64(with_mask: bool) -> None:
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(1, 4, 5, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 2, 2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, generator=gen, dtype=torch.float64, requires_grad=True)
    kwargs = dict(stride=(1, 2), padding=1, dilation=(2, 1))
    ho, wo = conv_output_size(5, 2, 1, 1, 2), conv_output_size(4, 3, 2, 1, 1)
    # fractional offsets away from integers: the sampling is smooth there
    off = ((torch.rand(1, 2 * 2 * 6, ho, wo, generator=gen, dtype=torch.float64) - 0.5) * 3)
    off = (off.round() + 0.3 + 0.4 * torch.rand(off.shape, generator=gen, dtype=torch.float64))
    off.requires_grad_()
    inputs = [x, off, w, b]
    if with_mask:
        inputs.append(torch.rand(1, 2 * 6, ho, wo, generator=gen, dtype=torch.float64,
                                 requires_grad=True))

    def fn(x_, off_, w_, b_, *m):
        return deform_conv2d(x_, off_, w_, b_, mask=m[0] if m else None, **kwargs)

    assert torch.autograd.gradcheck(fn, tuple(inputs))


def test_uses_no_pytorch_sampling_or_convolution() -> None:
    x = torch.randn(2, 4, 6, 6, requires_grad=True)
    w = torch.randn(4, 2, 3, 3, requires_grad=True)
    off = torch.randn(2, 2 * 2 * 9, 6, 6, requires_grad=True)
    m = torch.rand(2, 2 * 9, 6, 6, requires_grad=True)
    with forbidden(FORBIDDEN) as guard:
        deform_conv2d(x, off, w, padding=1, mask=m).sum().backward()
    assert guard.used == []
    assert all(t.grad is not None for t in (x, w, off, m))


X = torch.randn(2, 4, 6, 6)
W = torch.randn(6, 2, 3, 3)  # weight groups 4 / 2 = 2
OFF = torch.zeros(2, 18, 4, 4)
MASK = torch.ones(2, 9, 4, 4)

#: (description, args, kwargs, expected exception type, text the message must contain)
BAD_CALLS = [
    ("input rank", (X[0], OFF, W), {}, ValueError, "input must be 4-D"),
    ("offset rank", (X, OFF[0], W), {}, ValueError, "offset must be 4-D"),
    ("offset channels", (X, torch.zeros(2, 17, 4, 4), W), {}, ValueError,
     r"offset.shape\[1\] must be a positive multiple of 2·kH·kW = 18"),
    ("offset size", (X, torch.zeros(2, 18, 6, 6), W), {}, ValueError,
     r"offset must have shape .* = \(2, 18, 4, 4\), got \(2, 18, 6, 6\)"),
    ("offset batch", (X, OFF[:1], W), {}, ValueError, "offset must have shape"),
    ("offset groups do not divide channels", (X, torch.zeros(2, 54, 4, 4), W), {}, ValueError,
     r"divisible by the offset groups"),
    ("mask channels", (X, OFF, W), dict(mask=torch.ones(2, 18, 4, 4)), ValueError,
     r"mask must have shape \(N, offset_groups·kH·kW, H_out, W_out\) = \(2, 9, 4, 4\)"),
    ("mask size", (X, OFF, W), dict(mask=MASK[..., :3]), ValueError, "mask must have shape"),
    ("weight groups", (X, OFF, torch.randn(6, 3, 3, 3)), {}, ValueError,
     r"multiple of weight.shape\[1\]"),
    ("out channels", (X, OFF, torch.randn(5, 2, 3, 3)), {}, ValueError,
     "out_channels .* divisible by the weight groups"),
    ("bias shape", (X, OFF, W, torch.zeros(5)), {}, ValueError, "bias must have shape"),
    ("kernel too big", (X, OFF, torch.randn(6, 2, 7, 3)), {}, ValueError, "kernel size"),
    ("stride 0", (X, OFF, W), dict(stride=0), ValueError, "stride must be positive"),
    ("dtype", (X, OFF.double(), W), {}, TypeError, "offset dtype"),
]


@pytest.mark.parametrize("args, kwargs, exc, match", [c[1:] for c in BAD_CALLS],
                         ids=[c[0] for c in BAD_CALLS])
def test_rejects_bad_calls_with_named_rules(args: tuple, kwargs: dict, exc, match: str) -> None:
    with pytest.raises(exc, match=match) as info:
        deform_conv2d(*args, **kwargs)
    assert str(info.value).startswith("deform_conv2d:")


def test_rejects_non_tensors() -> None:
    with pytest.raises(TypeError, match="offset must be a torch.Tensor"):
        deform_conv2d(X, 0.0, W)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="mask must be a torch.Tensor or None"):
        deform_conv2d(X, OFF, W, mask=1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="floating-point"):
        deform_conv2d(X.long(), OFF.long(), W.long())


def test_docstring_examples_run() -> None:
    import doctest

    import convlab.functional.deform as module

    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
