"""Is channel_shuffle PyTorch's ChannelShuffle, a permutation, and undone by the C/g shuffle?"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from convlab.functional import channel_shuffle


@settings(deadline=None, max_examples=40)
@given(
    groups=st.integers(1, 6),
    per_group=st.integers(1, 5),
    n=st.integers(1, 3),
    rest=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    dtype=st.sampled_from([torch.float32, torch.float64]),
)
def test_matches_pytorch_channel_shuffle(
    groups: int, per_group: int, n: int, rest: list[int], dtype: torch.dtype
) -> None:
    x = torch.randn(n, groups * per_group, *rest, dtype=dtype)
    out = channel_shuffle(x, groups)
    assert out.shape == x.shape and out.dtype == dtype
    assert torch.equal(out, torch.nn.ChannelShuffle(groups)(x))
    # the inverse permutation is the shuffle with C/g groups
    assert torch.equal(channel_shuffle(out, per_group), x)


def test_hand_computed_permutation() -> None:
    # C = 6, g = 2: groups (0 1 2 | 3 4 5) interleave to 0 3 1 4 2 5
    x = torch.arange(6.0).view(1, 6, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]
    # g = 3: (0 1 | 2 3 | 4 5) -> 0 2 4 1 3 5
    assert channel_shuffle(x, 3).flatten().tolist() == [0, 2, 4, 1, 3, 5]
    assert torch.equal(channel_shuffle(x, 1), x) and torch.equal(channel_shuffle(x, 6), x)


def test_gradient_is_the_inverse_permutation() -> None:
    x = torch.randn(2, 6, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: channel_shuffle(t, 3), (x,))
    g = torch.randn(2, 6, 3, 3, dtype=torch.float64)
    (grad,) = torch.autograd.grad(channel_shuffle(x, 3), x, g)
    assert torch.equal(grad, channel_shuffle(g, 2))


@pytest.mark.parametrize(
    "x, groups, exc, match",
    [
        (torch.randn(2, 6, 3, 3), 4, ValueError, r"\(6\) must be divisible by groups \(4\)"),
        (torch.randn(2, 6, 3, 3), 0, ValueError, "groups must be a positive int"),
        (torch.randn(2, 6, 3, 3), -3, ValueError, "groups must be a positive int"),
        (torch.randn(6, 3), 3, ValueError, "at least 3 dimensions"),
        (torch.randn(2, 6, 3, 3), 1.5, TypeError, "groups must be an int"),
    ],
    ids=["indivisible", "zero groups", "negative groups", "rank 2", "float groups"],
)
def test_rejects_what_pytorch_rejects(x: torch.Tensor, groups, exc, match: str) -> None:
    with pytest.raises(Exception):  # noqa: B017 - PyTorch raises RuntimeError or TypeError
        torch.nn.functional.channel_shuffle(x, groups)
    with pytest.raises(exc, match=match):
        channel_shuffle(x, groups)
