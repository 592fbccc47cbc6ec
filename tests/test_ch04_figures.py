"""Do chapter 4's figure functions draw what they are given, and refuse what they cannot draw?"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from convlab.functional import conv2d
from convlab.viz import pointwise as viz


def test_the_pointwise_figure_shows_a_real_1x1_convolution():
    rng = np.random.default_rng(0)
    x, w = rng.random((3, 5, 6)), rng.standard_normal((2, 3))
    y = conv2d(torch.from_numpy(x)[None], torch.from_numpy(w)[:, :, None, None])[0].numpy()
    fig = viz.pointwise_figure(x, w, y, ["a", "b", "c"], ["p", "q"])
    assert len(fig.axes) == 3 + 1 + 2  # inputs, the weight matrix, outputs
    shown = fig.axes[3].images[0].get_array()
    np.testing.assert_allclose(shown, w)
    plt.close(fig)


def test_the_pointwise_figure_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="weight"):
        viz.pointwise_figure(np.zeros((3, 4, 4)), np.zeros((2, 2)), np.zeros((2, 4, 4)),
                             ["a", "b", "c"], ["p", "q"])
    with pytest.raises(ValueError, match="name every channel"):
        viz.pointwise_figure(np.zeros((3, 4, 4)), np.zeros((2, 3)), np.zeros((2, 4, 4)),
                             ["a", "b"], ["p", "q"])


def test_the_cost_and_spread_figures_draw_the_values():
    fig = viz.cost_figure(["small", "large"], [10, 1000], [100, 10**6])
    widths = [p.get_width() for p in fig.axes[1].patches]
    assert widths == [100, 10**6]
    plt.close(fig)
    fig = viz.seed_spread_figure({"a": [90.0, 92.0, 94.0], "b": [80.0, 81.0, 82.0]})
    bars = [p.get_height() for p in fig.axes[0].patches]
    assert bars == pytest.approx([92.0, 81.0])  # the bar is the mean over seeds
    plt.close(fig)
    with pytest.raises(ValueError, match="same length"):
        viz.cost_figure(["a"], [1, 2], [3])


def test_the_score_map_marks_the_winning_class():
    scores = np.zeros((10, 3, 4))
    scores[7, 1, 2] = 5.0
    fig = viz.score_map_figure(np.zeros((10, 11)), scores, marks=[(1, 2)])
    labels = [t.get_text() for t in fig.axes[1].texts]
    assert labels == ["7"]
    assert len(fig.axes) == 2 + 10
    plt.close(fig)
