"""Chapter 6's figure helpers: the cost ratio against counted layers, traffic, and drawing."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from convlab.analysis import count_macs
from convlab.viz import separable as viz


@settings(max_examples=30, deadline=None)
@given(m=st.integers(1, 64), n=st.integers(1, 64), k=st.sampled_from([1, 3, 5, 7]),
       s=st.integers(4, 12))
def test_the_ratio_is_what_counting_pytorch_layers_gives(m, n, k, s):
    with torch.device("meta"):
        full = nn.Conv2d(m, n, k, padding=k // 2, bias=False)
        sep = nn.Sequential(nn.Conv2d(m, m, k, padding=k // 2, groups=m, bias=False),
                            nn.Conv2d(m, n, 1, bias=False))
    shape = (1, m, s, s)
    assert count_macs(sep, shape) / count_macs(full, shape) == pytest.approx(
        viz.separable_ratio(k, n), rel=1e-12)


def test_layer_traffic_counts_input_weights_and_output():
    assert viz.layer_traffic(4, 6, 5, 3, 2, batch=2, bytes_per_value=1) == (
        2 * 4 * 25 + 6 * 2 * 9 + 2 * 6 * 25)
    with pytest.raises(ValueError, match="divisible"):
        viz.layer_traffic(4, 6, 5, 3, 4)
    with pytest.raises(ValueError, match="positive"):
        viz.separable_ratio(0, 3)


def test_the_figures_draw():
    figs = [viz.ratio_figure([8, 16], [3], {3: [0.2, 0.17]}),
            viz.paper_bars_figure(["a", "b"], [1.0, 2.0], [1.1, 2.1], "M"),
            viz.timing_figure([{"name": "x", "ns_per_mac": 1.0, "intensity": 2.0, "gmacs": 3.0},
                               {"name": "y", "ns_per_mac": 2.0, "intensity": 1.0, "gmacs": 1.5}])]
    assert [len(f.axes) for f in figs] == [1, 1, 2]
    heights = [p.get_height() for p in figs[1].axes[0].patches]
    assert heights == [1.0, 2.0, 1.1, 2.1]
    with pytest.raises(ValueError, match="same length"):
        viz.paper_bars_figure(["a"], [1.0, 2.0], [1.0], "M")
    for f in figs:
        plt.close(f)
