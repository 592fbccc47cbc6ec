"""Do chapter 2's figure helpers compute what the pages say: connection masks that match real
grouped convolutions, the shuffle's permutation and its inverse, and dependency matrices?"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from convlab.functional import channel_shuffle, conv2d
from convlab.viz import groups as gviz


@pytest.mark.parametrize(("c_in", "c_out", "g"), [(12, 12, 1), (12, 18, 3), (8, 4, 4), (6, 6, 6)])
def test_the_mask_is_where_a_grouped_conv_has_nonzero_gradient(c_in, c_out, g):
    x = torch.randn(1, c_in, 1, 1)
    w = torch.randn(c_out, c_in // g, 1, 1)
    jac = torch.autograd.functional.jacobian(lambda v: conv2d(v, w, groups=g), x)
    depends = (jac.reshape(c_out, c_in).abs() > 0).numpy().astype(np.int64)
    assert (depends == gviz.group_mask(c_in, c_out, g)).all()


def test_the_permutation_is_convlabs_shuffle_and_its_inverse_is_the_other_shuffle():
    for c, g in ((12, 3), (12, 4), (16, 4), (30, 5)):
        perm = gviz.shuffle_permutation(c, g)
        x = torch.arange(float(c)).view(1, c, 1, 1)
        assert channel_shuffle(x, g).flatten().long().tolist() == perm.tolist()
        p, q = (gviz.permutation_matrix(gviz.shuffle_permutation(c, k)) for k in (g, c // g))
        assert (q @ p == np.eye(c)).all() and (p.T == q).all()
        assert (p @ p == np.eye(c)).all() == (g * g == c)


def test_reach_without_a_shuffle_stays_block_diagonal_and_with_one_fills_up():
    assert (gviz.reach(12, 3, 4, shuffle=False) == gviz.group_mask(12, 12, 3)).all()
    assert gviz.reach(12, 3, 2, shuffle=True).all()
    assert not gviz.reach(16, 4, 1, shuffle=True).all()  # one layer: nothing to shuffle yet


def test_bad_sizes_are_refused_with_the_rule():
    with pytest.raises(ValueError, match=r"c_in \(10\) must be divisible by groups \(3\)"):
        gviz.group_mask(10, 12, 3)
    with pytest.raises(ValueError, match=r"channels \(10\) must be divisible by groups \(4\)"):
        gviz.shuffle_permutation(10, 4)


def test_the_figures_draw():
    import matplotlib.pyplot as plt

    for fig in (gviz.connection_figure(12, 12, (1, 3)), gviz.shuffle_figure(12, 3),
                gviz.reach_figure(12, 3, 3),
                gviz.curves_figure({"a": [[0.1, 0.5], [0.2, 0.6]]}, [10, 20]),
                gviz.paired_figure({"a": [90.0, 80.0], "b": [91.0, 85.0]}, [0, 1])):
        assert fig.axes
        plt.close(fig)


def test_the_paired_difference_is_the_mean_and_spread_of_per_seed_differences():
    first, second = [93.9, 89.2, 81.4, 82.2], [93.9, 91.9, 91.1, 91.1]
    d = np.array(second) - np.array(first)
    got = gviz.paired_difference(first, second)
    assert got["mean"] == pytest.approx(d.mean())
    assert got["std"] == pytest.approx(np.sqrt(((d - d.mean()) ** 2).sum() / 3))
    assert got["sem"] == pytest.approx(got["std"] / 2) and got["n"] == 4
    # a constant shift has no spread; swapping the settings negates the mean only
    assert gviz.paired_difference([1.0, 2.0], [3.0, 4.0])["std"] == 0
    assert gviz.paired_difference(second, first)["mean"] == pytest.approx(-d.mean())


def test_paired_inputs_are_checked():
    with pytest.raises(ValueError, match="same length"):
        gviz.paired_difference([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="one value per seed"):
        gviz.paired_figure({"a": [1.0, 2.0]}, [0, 1, 2])
