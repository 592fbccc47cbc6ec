"""Do chapter 3's figure functions draw what they are given (and agree with convlab)?"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from convlab.functional import conv_transpose2d
from convlab.linalg import conv_matrix, conv_transpose2d_as_conv
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
        viz.plot_zero_insertion(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.randn(3, 3), 2, 1, 1),
    ]
    assert [len(f.axes) for f in figs] == [6, 2, 2, 2, 4]
    title = figs[2].axes[0].get_title()
    assert "not divisible" in title and "[1, 2, 4]" in title
    for f in figs:
        plt.close(f)


def test_the_zero_insertion_canvas_convolved_with_the_flipped_kernel_is_the_layer():
    for h, w_, k, s, p, op in [(2, 2, 3, 2, 1, 1), (3, 2, 4, 2, 1, 0), (2, 3, 3, 3, 0, 2),
                               (3, 3, 2, 1, 0, 0)]:
        x, w = torch.randn(h, w_, dtype=torch.float64), torch.randn(k, k, dtype=torch.float64)
        canvas, roles = viz.zero_insertion_canvas(x, k, s, p, op)
        assert canvas.shape == roles.shape
        assert int((roles == 1).sum()) == h * w_  # every input value appears once
        assert (canvas[roles != 1] == 0).all()  # inserted and padding cells hold zeros
        assert int((roles == 0).sum()) == (s * (h - 1) + 1) * (s * (w_ - 1) + 1) - h * w_
        got = torch.nn.functional.conv2d(canvas[None, None], w.flip(0, 1)[None, None])[0, 0]
        ref = torch.nn.functional.conv_transpose2d(x[None, None], w[None, None], stride=s,
                                                   padding=p, output_padding=op)[0, 0]
        torch.testing.assert_close(got, ref)
        torch.testing.assert_close(conv_transpose2d_as_conv(
            x[None, None], w[None, None], None, s, p, op)[0, 0], ref)


def test_the_zero_insertion_drawing_refuses_what_it_cannot_draw():
    with pytest.raises(ValueError, match="padding must lie in"):
        viz.zero_insertion_canvas(torch.ones(2, 2), 3, 2, padding=3)
    with pytest.raises(ValueError, match="output_padding must lie in"):
        viz.zero_insertion_canvas(torch.ones(2, 2), 3, 2, padding=1, output_padding=2)
    with pytest.raises(ValueError, match=r"x must have shape \(H, W\)"):
        viz.zero_insertion_canvas(torch.ones(1, 2, 2), 3, 2)
