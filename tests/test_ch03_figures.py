"""Do chapter 3's figure functions draw what they are given (and agree with convlab)?"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from convlab.functional import conv_transpose2d
from convlab.linalg import conv_matrix
from convlab.viz import transposed as viz


def test_the_stamps_add_up_to_the_transposed_convolution():
    x, w = torch.randn(3, 2), torch.randn(3, 3)
    stamps = viz.scatter_stamps(x, w, stride=2)  # (6, 7, 5)
    assert stamps.shape == (6, 7, 5)
    expected = conv_transpose2d(x[None, None], w[None, None], stride=2)[0, 0]
    torch.testing.assert_close(stamps.sum(0), expected)
    assert int((stamps[0] != 0).sum()) == int((w != 0).sum())  # one stamp: the kernel, scaled


def test_the_figures_draw():
    figs = [
        viz.plot_scatter(torch.tensor([[1.0, 2.0], [3.0, -1.0]]), torch.randn(3, 3), 2, 1),
        viz.plot_conv_matrix(conv_matrix((4, 4), torch.randn(1, 1, 3, 3)), (4, 4), (2, 2)),
        viz.plot_overlap_counts(4, [(3, 2), (4, 2)]),
        viz.plot_image_grid({"a": np.zeros((4, 4)), "b": np.ones((4, 4))}),
    ]
    assert [len(f.axes) for f in figs] == [6, 2, 2, 2]
    title = figs[2].axes[0].get_title()
    assert "not divisible" in title and "[1, 2, 4]" in title
    for f in figs:
        plt.close(f)
