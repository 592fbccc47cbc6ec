"""Chapter 5's figure helpers against independent computations, and the shapes task's data."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from convlab.shapes import CLASSES, confusion, iou_per_class, mean_iou, shapes_dataset
from convlab.viz import atrous as viz


@settings(max_examples=25, deadline=None)
@given(k=st.integers(1, 4), d=st.integers(1, 4), size=st.integers(12, 18))
def test_the_zero_inserted_kernel_is_the_dilated_convolution(k, d, size):
    g = torch.Generator().manual_seed(k * 100 + d * 10 + size)
    x = torch.randn(1, 2, size, size, generator=g, dtype=torch.float64)
    w = torch.randn(3, 2, k, k, generator=g, dtype=torch.float64)
    if d * (k - 1) + 1 > size:
        return
    torch.testing.assert_close(F.conv2d(x, viz.dilate_kernel(w, d)), F.conv2d(x, w, dilation=d))


def test_dilate_kernel_refuses_bad_arguments():
    with pytest.raises(ValueError, match="dilation"):
        viz.dilate_kernel(torch.ones(1, 1, 3, 3), 0)
    with pytest.raises(ValueError, match="4-D"):
        viz.dilate_kernel(torch.ones(3, 3), 2)


def test_holes_counts_the_zeros_inside_the_bounding_box():
    m = np.zeros((7, 7))
    m[1:6:2, 1:6:2] = 1  # a 5×5 box with 9 ones
    assert viz.holes(m) == 25 - 9
    assert viz.holes(np.zeros((3, 3))) == 0


@pytest.mark.parametrize("size,rate", [(65, 1), (65, 6), (65, 24), (65, 64), (10, 3)])
def test_valid_tap_counts_match_a_brute_force_count(size, rate):
    counts = np.zeros(10)
    for i in range(size):
        for j in range(size):
            n = sum(0 <= i + rate * u < size and 0 <= j + rate * v < size
                    for u in (-1, 0, 1) for v in (-1, 0, 1))
            counts[n] += 1
    np.testing.assert_allclose(viz.valid_tap_counts(size, rate), counts / size**2)


def test_the_figures_draw():
    figs = [viz.taps_figure(3, (1, 2)), viz.growth_figure([1, 2], {"a": [3, 5]}, {"a": [3, 5]}),
            viz.field_maps_figure({"a": np.eye(5), "b": np.ones((5, 5))}, box={"a": 3}),
            viz.valid_taps_figure(9, [1, 2, 3]),
            viz.segmentation_figure(np.zeros((2, 4, 4)), np.zeros((2, 4, 4), int),
                                    {"p": np.zeros((2, 4, 4), int)})]
    assert [len(f.axes) for f in figs] == [2, 1, 2, 1, 6]
    assert figs[0].axes[1].get_title().startswith("d = 2: 9 taps span 5×5")
    for f in figs:
        plt.close(f)


def test_shapes_dataset_is_reproducible_and_labels_every_drawn_pixel():
    X, y = shapes_dataset(16, size=32, seed=3)
    X2, y2 = shapes_dataset(16, size=32, seed=3)
    assert torch.equal(X, X2) and torch.equal(y, y2)
    assert X.shape == (16, 1, 32, 32) and y.dtype == torch.int64
    assert torch.equal(X[:, 0] > 0, y > 0)  # a pixel is drawn exactly where it is labelled
    assert set(torch.unique(y).tolist()) <= set(range(len(CLASSES)))
    assert not torch.equal(shapes_dataset(4, seed=4)[1], shapes_dataset(4, seed=5)[1])


def test_iou_against_a_direct_count():
    g = torch.Generator().manual_seed(0)
    truth = torch.randint(0, 3, (2, 5, 5), generator=g)
    pred = torch.randint(0, 3, (2, 5, 5), generator=g)
    for c in range(3):
        inter = ((pred == c) & (truth == c)).sum().item()
        union = ((pred == c) | (truth == c)).sum().item()
        assert iou_per_class(pred, truth, 3)[c].item() == pytest.approx(inter / union)
    assert mean_iou(truth, truth, 3) == 1.0
    assert confusion(pred, truth, 3).sum().item() == truth.numel()
    with pytest.raises(ValueError, match="same shape"):
        confusion(pred[0], truth, 3)
