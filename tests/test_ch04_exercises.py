"""Chapter 4's declarations against independent computations: convlab's blocks, PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from convlab.analysis import count_macs
from convlab.blocks.resnet import Bottleneck
from convlab.exercises import PUBLIC_SEED, get
from convlab.exercises.ch04 import DigitsNiN, bottleneck_cost_formula


@pytest.mark.parametrize("c_in,planes,size,stride,in3", [
    (256, 64, 56, 1, False), (64, 64, 56, 1, False), (256, 128, 56, 2, False),
    (256, 128, 56, 2, True), (1024, 512, 14, 2, False), (512, 128, 28, 1, True)])
def test_the_bottleneck_formula_counts_convlabs_block(c_in, planes, size, stride, in3):
    block = Bottleneck(c_in, planes, stride, stride_in_3x3=in3)
    weights = sum(m.weight.numel() for m in block.modules() if isinstance(m, nn.Conv2d))
    macs = count_macs(block, (1, c_in, size, size))
    assert bottleneck_cost_formula(c_in, planes, size, stride, in3) == (weights, macs)


def test_the_pointwise_reference_is_pytorchs_1x1_convolution():
    ex = get("ch04.pointwise_conv")
    for case in ex.cases(PUBLIC_SEED):
        x, w = torch.from_numpy(case.x).double(), torch.from_numpy(case.w).double()
        b = None if case.b is None else torch.from_numpy(case.b).double()
        (got,) = ex.reference(case)
        np.testing.assert_allclose(got, F.conv2d(x, w, b).numpy(), rtol=1e-5, atol=1e-5)


def test_the_linear_to_conv_reference_reproduces_the_fully_connected_layer():
    ex = get("ch04.linear_to_conv")
    for case in ex.cases(PUBLIC_SEED):
        kernel, bias = ex.reference(case)
        x = torch.randn(3, *case.in_shape)
        fc = x.flatten(1) @ torch.from_numpy(case.weight).T + torch.from_numpy(case.bias)
        conv = F.conv2d(x, torch.from_numpy(kernel), torch.from_numpy(bias))[:, :, 0, 0]
        torch.testing.assert_close(conv, fc, rtol=1e-5, atol=1e-5)


def test_the_collapse_reference_equals_running_the_stack():
    ex = get("ch04.collapse_pointwise")
    for case in ex.cases(PUBLIC_SEED):
        W, b = ex.reference(case)
        x = np.random.default_rng(0).standard_normal((case.weights[0].shape[1], 7))
        y = x
        for w_l, b_l in zip(case.weights, case.biases, strict=True):
            y = w_l @ y + b_l[:, None]
        np.testing.assert_allclose(W @ x + b[:, None], y, rtol=1e-10, atol=1e-10)


def test_every_mistake_differs_from_the_reference_where_it_applies():
    """A diagnosis that equals the right answer would name a mistake on a correct submission."""
    for name in ("pointwise_conv", "collapse_pointwise", "linear_to_conv", "gap_head",
                 "bottleneck_cost"):
        ex = get(f"ch04.{name}")
        for mistake in ex.diagnoses:
            cases = [c for c in ex.cases(PUBLIC_SEED) if mistake.when(c)]
            assert cases, (name, mistake.name)
            assert any(ex.compare(c, mistake.variant(c)) is not None for c in cases), \
                (name, mistake.name)


def test_the_nin_network_uses_the_injected_pointwise_function():
    calls = []

    def spy(x, w, b=None):
        calls.append(tuple(w.shape))
        return F.conv2d(x, w, b)

    net = DigitsNiN(spy, seed=0)
    out = net(torch.zeros(2, 1, 8, 8))
    assert out.shape == (2, 10) and calls == [(16, 16, 1, 1), (32, 32, 1, 1), (10, 32, 1, 1)]
    x = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(DigitsNiN(seed=0)(x), DigitsNiN(spy, seed=0)(x), rtol=1e-5,
                               atol=1e-5)
