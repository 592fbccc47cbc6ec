"""Do chapter 8's figure functions draw what they are given, and refuse what they cannot draw?"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from convlab.viz import separable_spatial as viz


def test_the_outer_product_panel_shows_the_product_of_its_factors():
    fig = viz.outer_product(np.array([1.0, 2.0, 1.0]), np.array([1.0, 0.0, -1.0]), "Sobel")
    kernel = fig.axes[2].images[0].get_array()
    np.testing.assert_array_equal(np.asarray(kernel), [[1, 0, -1], [2, 0, -2], [1, 0, -1]])
    assert "Sobel" in fig.axes[2].get_title()
    plt.close(fig)


def test_spectra_are_divided_by_the_largest_singular_value():
    s = np.array([[4.0, 2.0, 1.0], [2.0, 2.0, 0.0]])
    fig = viz.spectra({"layer": s})
    median = fig.axes[0].lines[-1].get_ydata()
    np.testing.assert_allclose(median, [1.0, 0.75, 0.125])
    plt.close(fig)


def test_tradeoff_draws_the_mean_and_the_range_over_seeds():
    fig = viz.tradeoff({"a": (100.0, [90.0, 94.0]), "b": (50.0, [80.0, 80.0])})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    plt.close(fig)
    hist = viz.energy_histogram({"trained": np.array([0.5, 0.9]), "random": np.array([0.7])})
    assert "median 0.70" in [t.get_text() for t in hist.axes[0].get_legend().get_texts()][0]
    plt.close(hist)


@pytest.mark.parametrize("call", [
    lambda: viz.outer_product(np.zeros((2, 2)), np.ones(3)),
    lambda: viz.spectra({}),
    lambda: viz.spectra({"bad": np.ones(3)}),
    lambda: viz.tradeoff({"a": (1.0, [])}),
    lambda: viz.energy_histogram({}),
])
def test_bad_inputs_are_refused(call):
    with pytest.raises(ValueError):
        call()
