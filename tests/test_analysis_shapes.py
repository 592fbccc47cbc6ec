"""Do the output-size relations give the sizes PyTorch produces, and reject bad input?"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from convlab.analysis.shapes import (
    conv_output_size,
    conv_transpose_output_size,
    effective_kernel_size,
    same_padding,
)


@settings(deadline=None, max_examples=80)
@given(
    size=st.integers(1, 20),
    k=st.integers(1, 6),
    s=st.integers(1, 4),
    p=st.integers(0, 4),
    d=st.integers(1, 4),
)
def test_conv_output_size_is_pytorchs(size: int, k: int, s: int, p: int, d: int) -> None:
    assume(size + 2 * p >= d * (k - 1) + 1)
    out = F.conv2d(torch.zeros(1, 1, size, 1), torch.zeros(1, 1, k, 1), stride=(s, 1),
                   padding=(p, 0), dilation=(d, 1))
    assert conv_output_size(size, k, s, p, d) == out.shape[2]
    # the closed form of the docstring, written out once more as the test's own oracle
    assert conv_output_size(size, k, s, p, d) == (size + 2 * p - d * (k - 1) - 1) // s + 1


@settings(deadline=None, max_examples=80)
@given(
    size=st.integers(1, 12),
    k=st.integers(1, 6),
    s=st.integers(1, 4),
    p=st.integers(0, 4),
    op=st.integers(0, 3),
    d=st.integers(1, 4),
)
def test_conv_transpose_output_size_is_pytorchs(
    size: int, k: int, s: int, p: int, op: int, d: int
) -> None:
    assume(op < s or op < d)
    expected = (size - 1) * s - 2 * p + d * (k - 1) + op + 1
    assume(expected >= 1)
    out = F.conv_transpose2d(torch.zeros(1, 1, size, 1), torch.zeros(1, 1, k, 1), stride=(s, 1),
                             padding=(p, 0), output_padding=(op, 0), dilation=(d, 1))
    assert conv_transpose_output_size(size, k, s, p, op, d) == out.shape[2] == expected


@settings(deadline=None, max_examples=60)
@given(size=st.integers(1, 30), k=st.integers(1, 6), s=st.integers(1, 4), d=st.integers(1, 3))
def test_transpose_inverts_the_size_map(size: int, k: int, s: int, d: int) -> None:
    # a stride-s convolution maps s input sizes to one output size; output_padding picks one back
    p = (d * (k - 1)) // 2
    assume(size + 2 * p >= d * (k - 1) + 1)
    out = conv_output_size(size, k, s, p, d)
    op = (size + 2 * p - d * (k - 1) - 1) % s
    assert conv_transpose_output_size(out, k, s, p, op, d) == size


@pytest.mark.filterwarnings("ignore:Using padding=.same.")
@pytest.mark.parametrize("k, d", [(1, 1), (3, 1), (3, 2), (4, 1), (4, 3), (5, 2), (2, 2)])
def test_same_padding_keeps_the_size_and_splits_like_pytorch(k: int, d: int) -> None:
    before, after = same_padding(k, d)
    assert before + after == effective_kernel_size(k, d) - 1 and after - before in (0, 1)
    x = torch.randn(1, 1, 9, 1, dtype=torch.float64)
    w = torch.randn(1, 1, k, 1, dtype=torch.float64)
    ref = F.conv2d(x, w, padding="same", dilation=(d, 1))
    padded = torch.cat([x.new_zeros(1, 1, before, 1), x, x.new_zeros(1, 1, after, 1)], dim=2)
    torch.testing.assert_close(F.conv2d(padded, w, dilation=(d, 1)), ref)
    assert conv_output_size(9, k, 1, (before, after), d) == 9


def test_effective_kernel_size() -> None:
    assert [effective_kernel_size(3, d) for d in (1, 2, 3, 4)] == [3, 5, 7, 9]
    assert effective_kernel_size(1, 5) == 1


def test_hand_computed_sizes() -> None:
    assert conv_output_size(224, 7, stride=2, padding=3) == 112  # ResNet stem
    assert conv_output_size(56, 3, padding=1) == 56
    assert conv_output_size(5, 3, stride=2) == 2
    assert conv_output_size(7, 3, dilation=3) == 1
    assert conv_transpose_output_size(28, 4, stride=2, padding=1) == 56
    assert conv_transpose_output_size(3, 3, stride=2, padding=1, output_padding=1) == 6


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: conv_output_size(4, 5), ValueError, r"effective kernel size \(5\) exceeds"),
        (lambda: conv_output_size(4, 3, dilation=2), ValueError, r"padded input size \(4\)"),
        (lambda: conv_output_size(0, 1), ValueError, "size must be positive"),
        (lambda: conv_output_size(5, 0), ValueError, "kernel_size must be positive"),
        (lambda: conv_output_size(5, 3, stride=0), ValueError, "stride must be positive"),
        (lambda: conv_output_size(5, 3, padding=-1), ValueError, "padding must be >= 0"),
        (lambda: conv_output_size(5, 3, dilation=0), ValueError, "dilation must be positive"),
        (lambda: conv_output_size(5.0, 3), TypeError, "size must be an int"),
        (lambda: conv_output_size(5, 3, padding=(1, 2, 3)), ValueError, "before, after"),
        (lambda: conv_output_size(True, 3), TypeError, "size must be an int"),
        (lambda: conv_transpose_output_size(4, 3, stride=2, output_padding=2), ValueError,
         "output_padding"),
        (lambda: conv_transpose_output_size(1, 3, padding=2), ValueError, "is not positive"),
        (lambda: conv_transpose_output_size(4, 3, output_padding=-1), ValueError,
         "output_padding must be >= 0"),
        (lambda: same_padding(0), ValueError, "kernel_size must be positive"),
        (lambda: effective_kernel_size(3, 0), ValueError, "dilation must be positive"),
    ],
)
def test_rejects_bad_arguments(call, exc, match: str) -> None:
    with pytest.raises(exc, match=match):
        call()


def test_docstring_examples_run() -> None:
    import doctest

    import convlab.analysis.shapes

    result = doctest.testmod(convlab.analysis.shapes)
    assert result.attempted > 0 and result.failed == 0
