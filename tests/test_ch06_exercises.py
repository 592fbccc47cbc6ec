"""Chapter 6's declarations against independent computations: PyTorch and convlab's block."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from convlab.blocks import DepthwiseSeparable
from convlab.exercises import PUBLIC_SEED, get
from convlab.exercises.ch06 import DigitsMobileNet, mobilenet_block_reference
from convlab.viz.separable import separable_ratio


def test_the_depthwise_reference_is_pytorchs_grouped_convolution():
    ex = get("ch06.depthwise_conv2d")
    for case in ex.cases(PUBLIC_SEED):
        x = torch.from_numpy(case.x)
        expected = F.conv2d(x, torch.from_numpy(case.w), torch.from_numpy(case.b),
                            stride=case.stride, padding=case.padding, groups=x.shape[1])
        (got,) = ex.reference(case)
        torch.testing.assert_close(torch.from_numpy(got), expected, rtol=1e-4, atol=1e-4)


def test_the_ratio_reference_is_the_formula():
    ex = get("ch06.separable_cost_ratio")
    for case in ex.cases(PUBLIC_SEED):
        (got,) = ex.reference(case)
        k, m, n = case.kernel_size, case.in_channels, case.out_channels
        assert float(got) == separable_ratio(k, n) == (k * k * m + m * n) / (k * k * m * n)


def test_the_block_reference_is_convlabs_block_with_identity_batch_norm():
    block = DepthwiseSeparable(4, 6, stride=2).eval()
    dw, pw = block.depthwise[0], block.pointwise[0]
    params = (dw.weight.detach(), torch.zeros(4), pw.weight.detach(), torch.zeros(6))
    x = torch.randn(2, 4, 7, 7)
    with torch.no_grad():
        torch.testing.assert_close(mobilenet_block_reference(x, params, 2), block(x),
                                   rtol=1e-4, atol=1e-4)
    xception = DepthwiseSeparable(4, 6, mid_act_layer=None).eval()
    params = (xception.depthwise[0].weight.detach(), torch.zeros(4),
              xception.pointwise[0].weight.detach(), torch.zeros(6))
    with torch.no_grad():
        torch.testing.assert_close(mobilenet_block_reference(x, params, 1, mid_relu=False),
                                   xception(x), rtol=1e-4, atol=1e-4)


def test_every_mistake_differs_from_the_reference_where_it_applies():
    for name in ("depthwise_conv2d", "separable_conv2d", "separable_cost_ratio",
                 "mobilenet_block_forward"):
        ex = get(f"ch06.{name}")
        for mistake in ex.diagnoses:
            cases = [c for c in ex.cases(PUBLIC_SEED) if mistake.when(c)]
            assert cases, (name, mistake.name)
            assert any(ex.compare(c, mistake.variant(c)) is not None for c in cases), \
                (name, mistake.name)


def test_the_digits_mobilenet_calls_the_injected_block():
    calls = []

    def spy(x, params, stride):
        calls.append((x.shape[1], stride))
        return mobilenet_block_reference(x, params, stride)

    out = DigitsMobileNet(spy, seed=0)(torch.zeros(2, 1, 8, 8))
    assert out.shape == (2, 10) and calls == [(16, 1), (32, 2), (64, 1)]
    assert isinstance(DigitsMobileNet(seed=0).blocks, nn.ModuleList)
