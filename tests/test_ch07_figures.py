"""Do chapter 7's figure functions draw what they are given, and refuse what they cannot draw?"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from convlab.viz import deformable as viz


def test_sampling_points_draws_the_regular_and_the_moved_taps():
    regular = np.array([[[1.0, 1.0], [1.0, 2.0]]])  # (P=1, K=2, 2) as (y, x)
    moved = regular + np.array([[[0.5, -0.5], [0.0, 1.0]]])
    fig = viz.sampling_points(np.zeros((4, 4)), regular, moved, title="t")
    ax = fig.axes[0]
    rings, dots = ax.collections
    np.testing.assert_allclose(rings.get_offsets(), [[1.0, 1.0], [2.0, 1.0]])  # (x, y)
    np.testing.assert_allclose(dots.get_offsets(), [[0.5, 1.5], [3.0, 1.0]])
    assert len(ax.texts) == 2 and ax.get_title() == "t"  # one arrow per tap
    plt.close(fig)


def test_interpolation_and_seed_comparison_draw():
    fig = viz.interpolation(np.eye(3), np.ones((9, 9)), np.zeros((9, 9)))
    assert len(fig.axes) == 4  # three panels and a colour bar
    plt.close(fig)
    fig = viz.seed_comparison({"a": [1.0, 3.0], "b": [2.0]})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    np.testing.assert_allclose(ax.collections[1].get_segments()[0][:, 1], [2.0, 2.0])  # mean
    plt.close(fig)


@pytest.mark.parametrize("call", [
    lambda: viz.sampling_points(np.zeros((3, 3)), np.zeros((1, 2, 2)), np.zeros((1, 3, 2))),
    lambda: viz.interpolation(np.zeros(3), np.zeros((2, 2)), np.zeros((2, 2))),
    lambda: viz.seed_comparison({}),
    lambda: viz.seed_comparison({"a": []}),
])
def test_bad_inputs_are_refused(call):
    with pytest.raises(ValueError):
        call()
