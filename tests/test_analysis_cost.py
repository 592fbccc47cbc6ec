"""Do the parameter and MAC counters follow their formulas, hand-counted, and check args?"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from convlab.analysis import count_macs, count_params
from convlab.analysis.cost import LAYER_KINDS


def test_conv_macs_by_hand() -> None:
    conv = nn.Conv2d(3, 8, 3, padding=1)
    assert count_macs(conv, (1, 3, 32, 32)) == 8 * 32 * 32 * 3 * 3 * 3
    assert count_macs(conv, (4, 3, 32, 32)) == 4 * 8 * 32 * 32 * 27  # batch included


def test_grouped_strided_dilated_conv_macs() -> None:
    conv = nn.Conv2d(12, 18, 3, stride=2, padding=2, dilation=2, groups=3)
    # output 18 × 16 × 16 (32 + 4 − 4 − 1) // 2 + 1 = 16; each output sums 12/3 · 9 products
    assert count_macs(conv, (1, 12, 32, 32)) == 18 * 16 * 16 * 4 * 9
    depthwise = nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False)
    assert count_macs(depthwise, (1, 16, 10, 10)) == 16 * 10 * 10 * 9


def test_conv_transpose_macs_scatter_each_input() -> None:
    deconv = nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)
    # each of the 8·7·7 inputs is scattered into a 4 × 4 × 4 output window
    assert count_macs(deconv, (2, 8, 7, 7)) == 2 * 8 * 7 * 7 * 4 * 16
    grouped = nn.ConvTranspose2d(8, 6, 3, groups=2)
    assert count_macs(grouped, (1, 8, 5, 5)) == 8 * 5 * 5 * 3 * 9


def test_conv_transpose_macs_equal_the_matching_conv() -> None:
    # a transposed conv is the adjoint of a conv: same multiplications, run backwards
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1)
    deconv = nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1)
    assert count_macs(conv, (1, 4, 16, 16)) == count_macs(deconv, (1, 6, 8, 8))


def test_linear_and_mixed_model() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 6 * 6, 10))
    conv_macs, fc_macs = 2 * 6 * 6 * 9, 72 * 10
    assert count_macs(model, (1, 1, 8, 8)) == conv_macs + fc_macs
    assert count_macs(model, (1, 1, 8, 8), kinds=("conv2d",)) == conv_macs
    assert count_macs(model, (1, 1, 8, 8), kinds=("linear",)) == fc_macs
    assert count_macs(nn.Linear(5, 3), (2, 7, 5)) == 2 * 7 * 5 * 3  # leading dims are rows


def test_shared_module_counted_per_call() -> None:
    conv = nn.Conv2d(2, 2, 1, bias=False)
    model = nn.Sequential(conv, conv)
    assert count_macs(model, (1, 2, 4, 4)) == 2 * (2 * 16 * 2)
    assert count_params(model) == 4  # but its parameters once


def test_count_params_trainable_only() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 2))
    assert count_params(model) == (3 * 4 * 9 + 4) + (4 + 4) + (4 * 2 + 2)
    model[0].weight.requires_grad_(False)
    assert count_params(model) == 4 + 8 + 10


def test_count_macs_restores_mode_and_leaves_no_hooks() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Dropout())
    model.train()
    model[2].eval()
    count_macs(model, (1, 1, 5, 5))
    assert model.training and model[1].training and not model[2].training
    assert not model[0]._forward_hooks


def test_meta_device_models_are_counted() -> None:
    with torch.device("meta"):
        model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(8 * 30 * 30, 4))
    assert count_macs(model, (1, 3, 32, 32)) == 8 * 30 * 30 * 27 + 8 * 900 * 4


@pytest.mark.parametrize(
    ("shape", "kinds", "error", "match"),
    [
        ((1, 3, 0, 8), tuple(LAYER_KINDS), ValueError, "input_shape"),
        ((1, 3, 8.0, 8), tuple(LAYER_KINDS), ValueError, "input_shape"),
        (None, tuple(LAYER_KINDS), TypeError, "input_shape"),
        ((1, 3, 8, 8), ("conv3d",), ValueError, "kinds"),
        ((1, 3, 8, 8), "conv2d", ValueError, "kinds"),
        ((1, 3, 8, 8), (), ValueError, "kinds"),
    ],
)
def test_count_macs_bad_args(shape: object, kinds: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        count_macs(nn.Conv2d(3, 4, 3), shape, kinds=kinds)  # type: ignore[arg-type]


def test_not_a_module() -> None:
    with pytest.raises(TypeError, match="model"):
        count_params(lambda x: x)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="model"):
        count_macs("resnet", (1, 3, 8, 8))  # type: ignore[arg-type]
