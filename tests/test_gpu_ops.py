"""On CUDA, do conv2d, conv_transpose2d and channel_shuffle match PyTorch (TF32 off)?

Imports only torch and convlab's ops, so the GPU machine needs no notebook tooling.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from convlab.functional import channel_shuffle, conv2d, conv_transpose2d

pytestmark = pytest.mark.gpu

TOL = {torch.float32: dict(rtol=1e-4, atol=1e-4), torch.float64: dict(rtol=1e-10, atol=1e-10)}

CONV_CASES = [
    ((8, 64, 56, 56), (64, 64, 3, 3), dict(padding=1)),
    ((4, 128, 28, 28), (128, 4, 3, 3), dict(padding=1, groups=32)),
    ((4, 128, 28, 28), (128, 1, 3, 3), dict(stride=2, padding=1, groups=128)),
    ((2, 256, 14, 14), (64, 256, 1, 1), {}),
    ((3, 6, 17, 13), (9, 2, 4, 3), dict(padding="same", dilation=(1, 2), groups=3)),
    ((3, 6, 17, 13), (8, 3, 3, 5), dict(stride=(3, 2), padding=(2, 0), dilation=2, groups=2)),
    ((5, 13, 11), (4, 5, 3, 3), dict(padding="valid")),  # unbatched
]

TRANSPOSE_CASES = [
    ((8, 64, 28, 28), (64, 32, 4, 4), dict(stride=2, padding=1)),
    ((3, 6, 7, 9), (6, 2, 3, 3), dict(stride=(3, 2), padding=1, output_padding=(2, 1), groups=3)),
    ((2, 4, 5, 5), (4, 3, 2, 3), dict(stride=1, output_padding=1, dilation=2)),
]


@pytest.fixture(autouse=True)
def _no_tf32() -> None:
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def _run(fn, x, w, b, kwargs):
    xl, wl, bl = (t.detach().clone().requires_grad_() for t in (x, w, b))
    out = fn(xl, wl, bl, **kwargs)
    gen = torch.Generator(device=x.device).manual_seed(1)
    r = torch.randn(out.shape, generator=gen, device=x.device, dtype=x.dtype)
    (out * r).sum().backward()
    return out.detach(), xl.grad, wl.grad, bl.grad


def _compare(fn, ref, x_shape, w_shape, kwargs, dtype, out_channels):
    gen = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(x_shape, generator=gen, device="cuda", dtype=dtype)
    w = torch.randn(w_shape, generator=gen, device="cuda", dtype=dtype) / w_shape[1] ** 0.5
    b = torch.randn(out_channels, generator=gen, device="cuda", dtype=dtype)
    ours, theirs = _run(fn, x, w, b, kwargs), _run(ref, x, w, b, kwargs)
    assert ours[0].device.type == "cuda" and ours[0].dtype == dtype
    for name, a, c in zip(("out", "grad_x", "grad_w", "grad_b"), ours, theirs, strict=True):
        scale = c.abs().max().clamp_min(1.0)  # weight gradients sum over N·H·W terms
        torch.testing.assert_close(a / scale, c / scale, **TOL[dtype],
                                   msg=lambda m, n=name: f"{n}: {m}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("x_shape, w_shape, kwargs", CONV_CASES)
def test_conv2d_cuda_matches_pytorch(x_shape, w_shape, kwargs, dtype) -> None:
    _compare(conv2d, F.conv2d, x_shape, w_shape, kwargs, dtype, w_shape[0])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("x_shape, w_shape, kwargs", TRANSPOSE_CASES)
def test_conv_transpose2d_cuda_matches_pytorch(x_shape, w_shape, kwargs, dtype) -> None:
    out_channels = w_shape[1] * kwargs.get("groups", 1)
    _compare(conv_transpose2d, F.conv_transpose2d, x_shape, w_shape, kwargs, dtype, out_channels)


def test_channel_shuffle_cuda_matches_pytorch() -> None:
    x = torch.randn(4, 24, 7, 7, device="cuda")
    assert torch.equal(channel_shuffle(x, 3), torch.nn.ChannelShuffle(3)(x))


def test_gradcheck_cuda_float64() -> None:
    x = torch.randn(1, 4, 5, 4, device="cuda", dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 2, 3, 2, device="cuda", dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: conv2d(a, b, padding=1, groups=2), (x, w))
    assert torch.autograd.gradcheck(
        lambda a, b: conv_transpose2d(a, b, stride=2, output_padding=1, groups=2), (x, w)
    )
