"""Does the receptive-field recursion agree with the gradient measurement, and with known nets?"""

from __future__ import annotations

import importlib

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from convlab.analysis import (
    measured_receptive_field,
    receptive_field,
    receptive_field_map,
)


def _conv(k, s=1, d=1, p=0) -> nn.Conv2d:
    return nn.Conv2d(2, 2, k, stride=s, padding=p, dilation=d)


@st.composite
def layer(draw: st.DrawFn) -> nn.Module:
    kind = draw(st.sampled_from(["conv", "conv", "max", "avg", "act", "bn", "nested"]))
    k = draw(st.tuples(st.integers(1, 4), st.integers(1, 4)), label="kernel")
    s = draw(st.tuples(st.integers(1, 2), st.integers(1, 2)), label="stride")
    d = draw(st.tuples(st.integers(1, 3), st.integers(1, 3)), label="dilation")
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    if kind == "conv":
        return nn.Conv2d(2, 2, k, stride=s, padding=p, dilation=d,
                         groups=draw(st.sampled_from([1, 2]), label="groups"))
    if kind == "max":
        return nn.MaxPool2d(k, stride=s, padding=p, dilation=d)
    if kind == "avg":
        return nn.AvgPool2d(k, stride=s, padding=p)
    if kind == "act":
        return draw(st.sampled_from([nn.ReLU(), nn.GELU(), nn.Dropout(0.5), nn.Tanh()]))
    if kind == "bn":
        return nn.BatchNorm2d(2)
    return nn.Sequential(_conv(3, d=draw(st.integers(1, 2))), nn.ReLU())


@settings(deadline=None, derandomize=True, max_examples=30)
@given(layers=st.lists(layer(), min_size=1, max_size=4))
def test_theory_equals_measurement_on_random_stacks(layers: list[nn.Module]) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(*layers)
    theory = receptive_field(model)
    # an input wide enough that the centre output's field lies inside it (the padding moves
    # the field by at most half its size)
    sizes = tuple(3 * theory.size[a] + 4 * theory.jump[a] + 4 for a in (0, 1))
    grad = receptive_field_map(model, (1, 2, *sizes))
    # the field must not touch the border, or the measurement would be cut by it
    rows = torch.nonzero(grad.amax(dim=1) > 0).flatten()
    cols = torch.nonzero(grad.amax(dim=0) > 0).flatten()
    assert rows[0] > 0 and rows[-1] < sizes[0] - 1 and cols[0] > 0 and cols[-1] < sizes[1] - 1
    assert measured_receptive_field(model, (1, 2, *sizes)) == theory.size


def test_three_3x3_convolutions_see_7x7() -> None:
    model = nn.Sequential(*[_conv(3, p=1) for _ in range(3)])
    rf = receptive_field(model)
    assert rf.size == (7, 7) and rf.jump == (1, 1)
    assert [layer.size for layer in rf.layers] == [(3, 3), (5, 5), (7, 7)]
    assert measured_receptive_field(model, (1, 2, 21, 21)) == (7, 7)


def test_dilations_1_2_4_8_of_3x3_see_31x31() -> None:
    model = nn.Sequential(*[m for d in (1, 2, 4, 8) for m in (_conv(3, d=d, p=d), nn.ReLU())])
    assert receptive_field(model).size == (31, 31)
    assert measured_receptive_field(model, (1, 2, 65, 65)) == (31, 31)
    grad = receptive_field_map(model, (1, 2, 65, 65))
    assert (grad > 0).sum() == 31 * 31  # 1, 2, 4, 8 dilations tile the square with no holes


def test_gridding_leaves_holes_inside_the_field() -> None:
    # three 3×3 convolutions all at dilation 2: the field spans 13 but only every other pixel
    model = nn.Sequential(*[_conv(3, d=2, p=2) for _ in range(3)])
    assert receptive_field(model).size == (13, 13)
    grad = receptive_field_map(model, (1, 2, 31, 31))
    assert measured_receptive_field(model, (1, 2, 31, 31)) == (13, 13)
    assert (grad > 0).sum() == 7 * 7  # the gridding artifact of chapter 5


def test_alexnet_features_see_195_pixels_with_jump_32() -> None:
    # Araujo et al.'s table: AlexNet's last pooling layer, r = 195, j = 32
    model = nn.Sequential(
        nn.Conv2d(3, 4, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(4, 4, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU()),
        nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU()),
        nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU()),
        nn.MaxPool2d(3, 2),
    )
    rf = receptive_field(model)
    assert rf.size == (195, 195) and rf.jump == (32, 32)
    assert measured_receptive_field(model, (1, 3, 450, 450)) == (195, 195)


def test_stride_multiplies_the_jump_and_later_kernels_grow_by_it() -> None:
    model = nn.Sequential(_conv((3, 1), s=(2, 1)), nn.AvgPool2d(2), _conv(3))
    rf = receptive_field(model)
    # h: 1 + 2·1 = 3, j 2; +1·2 = 5, j 4; +2·4 = 13.  w: 1, j 1; +1·1 = 2, j 2; +2·2 = 6
    assert rf.size == (13, 6) and rf.jump == (4, 2)
    assert measured_receptive_field(model, (1, 2, 60, 40)) == (13, 6)


def test_max_pool_window_counts_even_where_its_gradient_would_not_reach() -> None:
    # a max-pool's gradient goes to one pixel per window; the field counts the whole window
    model = nn.Sequential(nn.MaxPool2d(4, stride=1))
    assert measured_receptive_field(model, (1, 1, 12, 12)) == (4, 4)
    x = torch.zeros(1, 1, 12, 12, requires_grad=True)
    model(x)[0, 0, 4, 4].backward()
    assert (x.grad != 0).sum() == 1  # the naive gradient would say 1×1


def test_measurement_is_cut_by_a_small_input() -> None:
    model = nn.Sequential(*[_conv(3, p=1) for _ in range(5)])  # 11×11
    assert measured_receptive_field(model, (2, 8, 8)) == (8, 8)


def test_unsupported_layer_is_named() -> None:
    model = nn.Sequential(_conv(3), nn.Sequential(nn.ReLU(), nn.Flatten()))
    with pytest.raises(TypeError, match=r"layer '1.1' \(Flatten\) is not supported"):
        receptive_field(model)
    with pytest.raises(TypeError, match=r"Flatten"):
        measured_receptive_field(model, (1, 2, 9, 9))
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        receptive_field([_conv(3)])  # type: ignore[arg-type]


def test_bad_input_shape() -> None:
    with pytest.raises(ValueError, match="input_shape must be"):
        measured_receptive_field(_conv(3), (9, 9))
    with pytest.raises(ValueError, match="positive ints"):
        measured_receptive_field(_conv(3), (1, 2, 0, 9))


def test_single_layer_and_model_left_untouched() -> None:
    conv = _conv(5, d=2)
    before = conv.weight.detach().clone()
    assert receptive_field(conv).size == (9, 9)
    assert measured_receptive_field(conv, (1, 2, 20, 20)) == (9, 9)
    assert torch.equal(conv.weight, before) and conv.weight.dtype == torch.float32


def test_docstring_examples_run() -> None:
    import doctest

    result = doctest.testmod(importlib.import_module("convlab.analysis.receptive_field"))
    assert result.attempted > 0 and result.failed == 0
