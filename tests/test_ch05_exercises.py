"""Chapter 5's declarations against independent computations: convlab's analysis and blocks."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from convlab.analysis import receptive_field, receptive_field_map
from convlab.blocks import ASPP
from convlab.exercises import PUBLIC_SEED, get
from convlab.exercises.ch05 import ShapesASPPNet, aspp_reference


def test_the_receptive_field_reference_is_convlabs_recursion():
    ex = get("ch05.receptive_field_size")
    for case in ex.cases(PUBLIC_SEED):
        stack = nn.Sequential(*[nn.Conv2d(1, 1, k, stride=s, dilation=d)
                                for k, s, d in case.layers])
        size, jump = ex.reference(case)
        rf = receptive_field(stack)
        assert (int(size), int(jump)) == (rf.size[0], rf.jump[0])


def test_the_coverage_reference_is_convlabs_measured_map():
    ex = get("ch05.coverage_map")
    for case in ex.cases(PUBLIC_SEED):
        (expected,) = ex.reference(case)
        k = case.kernel_size
        stack = nn.Sequential(*[nn.Conv2d(1, 1, k, dilation=d) for d in case.rates])
        side = expected.shape[0]
        measured = receptive_field_map(stack, (1, 1, side, side)).numpy()
        np.testing.assert_array_equal(measured, expected)


def test_the_aspp_reference_is_convlabs_block_with_identity_batch_norm():
    block = ASPP(4, 3, rates=(1, 2, 3)).eval()  # BN in eval with fresh statistics: identity
    convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
    params = []
    for conv in convs:
        params += [conv.weight.detach(), torch.zeros(conv.out_channels)]
    x = torch.randn(2, 4, 9, 9)
    with torch.no_grad():
        expected = block(x)
    got = aspp_reference(x, tuple(params), (1, 2, 3))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_every_mistake_differs_from_the_reference_where_it_applies():
    for name in ("dilate_kernel", "dilated_conv2d", "receptive_field_size", "coverage_map",
                 "aspp_forward"):
        ex = get(f"ch05.{name}")
        for mistake in ex.diagnoses:
            cases = [c for c in ex.cases(PUBLIC_SEED) if mistake.when(c)]
            assert cases, (name, mistake.name)
            assert any(ex.compare(c, mistake.variant(c)) is not None for c in cases), \
                (name, mistake.name)


def test_the_shapes_network_calls_the_injected_aspp_and_keeps_the_size():
    calls = []

    def spy(x, params, rates):
        calls.append(rates)
        return aspp_reference(x, params, rates)

    out = ShapesASPPNet(spy, seed=0)(torch.zeros(2, 1, 24, 24))
    assert out.shape == (2, 5, 24, 24) and calls == [(2, 4, 8)]
