"""Is ``convlab.linalg`` right: C computes conv2d, Cᵀ computes conv_transpose2d, the
zero-insertion form equals the transposed convolution, and overlap counts are Cᵀ's row counts?"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from convlab.linalg import (
    bilinear_upsampling_kernel,
    conv_matrix,
    conv_transpose2d_as_conv,
    matching_output_padding,
    overlap_counts,
    zero_insert,
)


@settings(deadline=None, max_examples=25)
@given(c_in=st.integers(1, 3), c_out=st.integers(1, 3), h=st.integers(3, 7),
       w=st.integers(3, 7), k=st.integers(1, 3), s=st.integers(1, 3), p=st.integers(0, 2),
       d=st.integers(1, 2))
def test_c_is_conv2d_and_its_transpose_is_conv_transpose2d(c_in, c_out, h, w, k, s, p, d):
    if h + 2 * p < d * (k - 1) + 1 or w + 2 * p < d * (k - 1) + 1:
        return  # no output
    weight = torch.randn(c_out, c_in, k, k, dtype=torch.float64)
    C = conv_matrix((h, w), weight, stride=s, padding=p, dilation=d)
    x = torch.randn(2, c_in, h, w, dtype=torch.float64)
    y = F.conv2d(x, weight, stride=s, padding=p, dilation=d)
    torch.testing.assert_close(x.reshape(2, -1) @ C.T, y.reshape(2, -1))
    op = matching_output_padding((h, w), k, s, p, d)
    t = F.conv_transpose2d(y, weight, stride=s, padding=p, output_padding=op, dilation=d)
    assert t.shape[-2:] == (h, w)
    torch.testing.assert_close(y.reshape(2, -1) @ C, t.reshape(2, -1))
    sparse = conv_matrix((h, w), weight, stride=s, padding=p, dilation=d, sparse=True)
    torch.testing.assert_close(sparse.to_dense(), C)


@settings(deadline=None, max_examples=25)
@given(c_in=st.integers(1, 3), c_out=st.integers(1, 3), h=st.integers(1, 5),
       k=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 3), d=st.integers(1, 2),
       op=st.integers(0, 2))
def test_zero_insertion_equals_the_transposed_convolution(c_in, c_out, h, k, s, p, d, op):
    if op >= max(s, d) or s * (h - 1) - 2 * p + d * (k - 1) + op + 1 < 1:
        return  # PyTorch refuses these
    x = torch.randn(2, c_in, h, h + 1, dtype=torch.float64)
    w = torch.randn(c_in, c_out, k, k, dtype=torch.float64)
    b = torch.randn(c_out, dtype=torch.float64)
    torch.testing.assert_close(
        conv_transpose2d_as_conv(x, w, b, s, p, op, d),
        F.conv_transpose2d(x, w, b, stride=s, padding=p, output_padding=op, dilation=d))


def test_hand_worked_cases():
    C = conv_matrix((3, 3), torch.arange(1.0, 5.0).reshape(1, 1, 2, 2))
    assert C.tolist() == [[1, 2, 0, 3, 4, 0, 0, 0, 0], [0, 1, 2, 0, 3, 4, 0, 0, 0],
                          [0, 0, 0, 1, 2, 0, 3, 4, 0], [0, 0, 0, 0, 1, 2, 0, 3, 4]]
    assert zero_insert(torch.ones(1, 1, 2, 2), 2)[0, 0].tolist() == [[1, 0, 1], [0, 0, 0],
                                                                     [1, 0, 1]]
    assert overlap_counts((1, 3), 3, 2).tolist() == [[1, 1, 2, 1, 2, 1, 1]] * 3
    assert matching_output_padding((7, 8), 3, 2, 1) == (0, 1)


@pytest.mark.parametrize("k, s", [(3, 2), (4, 2), (2, 3), (5, 3), (1, 1)])
def test_overlap_counts_are_the_transposed_convolution_of_ones(k, s):
    ones = torch.ones(1, 1, 4, 5, dtype=torch.float64)
    expected = F.conv_transpose2d(ones, torch.ones(1, 1, k, k, dtype=torch.float64), stride=s)
    counts = overlap_counts((4, 5), k, s)
    assert counts.dtype == torch.int64 and torch.equal(counts.double(), expected[0, 0])


def test_gradients_reach_the_shared_weights():
    weight = torch.randn(2, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    x = torch.randn(16, dtype=torch.float64)
    (conv_matrix((4, 4), weight) @ x).sum().backward()
    same = weight.detach().clone().requires_grad_()
    F.conv2d(x.reshape(1, 1, 4, 4), same).sum().backward()
    torch.testing.assert_close(weight.grad, same.grad)


def test_bad_arguments_name_the_rule():
    with pytest.raises(ValueError, match="weight must have shape"):
        conv_matrix((4, 4), torch.randn(3, 3))
    with pytest.raises(TypeError, match="floating"):
        conv_matrix((4, 4), torch.ones(1, 1, 3, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match="stride"):
        conv_matrix((4, 4), torch.randn(1, 1, 3, 3), stride=0)
    with pytest.raises(ValueError, match="kernel|effective"):
        conv_matrix((2, 2), torch.randn(1, 1, 3, 3))
    with pytest.raises(ValueError, match="zero_insert"):
        zero_insert(torch.randn(3, 3), 2)


@pytest.mark.parametrize("f", [1, 2, 3, 4, 5])
def test_the_bilinear_kernel_upsamples_as_interpolate_does_away_from_the_border(f):
    kernel = bilinear_upsampling_kernel(f, torch.float64)
    k = kernel.shape[0]
    assert k == 2 * f - f % 2 and torch.allclose(kernel, kernel.T)
    c = 3
    x = torch.randn(2, c, 7, 6, dtype=torch.float64)
    weight = kernel.expand(c, 1, k, k)  # one kernel per channel, groups = channels
    up = F.conv_transpose2d(x, weight, stride=f, padding=(k - f) // 2, groups=c)
    ref = F.interpolate(x, scale_factor=f, mode="bilinear", align_corners=False)
    assert up.shape == ref.shape == (2, c, 7 * f, 6 * f)
    b = f // 2  # the clamped border: half a factor on each side
    inner = (..., slice(b, up.shape[-2] - b), slice(b, up.shape[-1] - b))
    torch.testing.assert_close(up[inner], ref[inner])
    if f > 1:
        assert (up - ref).abs().max() > 1e-3  # the border does differ
    # a constant stays constant in the interior: the taps of every phase sum to 1
    ones = F.conv_transpose2d(torch.ones(1, 1, 6, 6, dtype=torch.float64), kernel[None, None],
                              stride=f, padding=(k - f) // 2)
    n = ones.shape[-1]
    torch.testing.assert_close(ones[..., b:n - b, b:n - b], torch.ones(1, 1, n - 2 * b, n - 2 * b,
                                                                     dtype=torch.float64))


def test_the_bilinear_kernel_refuses_a_bad_factor():
    for bad in (0, -2, 2.0, True):
        with pytest.raises(ValueError, match="factor must be an int"):
            bilinear_upsampling_kernel(bad)
