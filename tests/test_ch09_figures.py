"""Do chapter 9's figure functions draw what they are given, and refuse what they cannot draw?"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from convlab.viz import inception as viz


def test_cost_bars_draw_one_bar_per_label_and_measure():
    fig = viz.cost_bars(["1×1", "3×3", "5×5"], {"a": [1.0, 2.0, 3.0], "b": [3.0, 2.0, 1.0]},
                        log=True)
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == [1.0, 2.0, 3.0, 3.0, 2.0, 1.0]
    assert ax.get_yscale() == "log"
    plt.close(fig)


def test_steps_to_target_draws_missed_runs_at_the_budget():
    fig = viz.steps_to_target({"BN": {0.1: [50, 70, None]}, "plain": {0.1: [None, None, None]}},
                              budget=300, target=90)
    ax = fig.axes[0]
    medians = {line.get_label(): line.get_ydata() for line in ax.lines
               if not line.get_label().startswith("_")}
    np.testing.assert_allclose(medians["BN (median)"], [70.0])
    np.testing.assert_allclose(medians["plain (median)"], [300.0])
    assert "90% test accuracy" in ax.get_ylabel()
    plt.close(fig)


def test_accuracy_curves_label_each_setting_once():
    fig = viz.accuracy_curves({"a": [([0, 10], [10.0, 50.0]), ([0, 10], [12.0, 60.0])]},
                              target=40)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["a"]
    plt.close(fig)


@pytest.mark.parametrize("call", [
    lambda: viz.cost_bars([], {"a": []}),
    lambda: viz.cost_bars(["x"], {"a": [1.0, 2.0]}),
    lambda: viz.steps_to_target({}, budget=10, target=90),
    lambda: viz.accuracy_curves({}),
])
def test_bad_inputs_are_refused(call):
    with pytest.raises(ValueError):
        call()
