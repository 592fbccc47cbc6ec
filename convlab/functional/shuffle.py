"""Channel shuffle (ShuffleNet): interleave the channels of ``groups`` groups.

With ``C = g·m`` channels, output channel ``i·g + j`` is input channel ``j·m + i``: view the
channels as a (g, m) grid, transpose it to (m, g) and read it out row by row. After a grouped
convolution this sends every group's outputs to every group of the next one (Zhang et al., 2018,
ShuffleNet, https://arxiv.org/abs/1707.01083). It is a fixed permutation of the channels, so its
inverse is the shuffle with ``C / g`` groups. Same result as ``torch.nn.ChannelShuffle(groups)``.

Shape:
    - Input: (N, C, *), at least 3 dimensions, channels in dimension 1 (as PyTorch's
      ``ChannelShuffle``), e.g. (N, C, H, W).
    - Output: the same shape.

Example:
    >>> import torch
    >>> channel_shuffle(torch.arange(6.).view(1, 6, 1, 1), 2).flatten().tolist()
    [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
"""

from __future__ import annotations

import numbers

import torch

__all__ = ["channel_shuffle"]


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Shuffle the channels (dimension 1) of ``x`` across ``groups`` groups.

    ``(N, C, *rest) -> (N, g, C/g, *rest) -> (N, C/g, g, *rest) -> (N, C, *rest)``

    Raises:
        TypeError: ``x`` is not a tensor or ``groups`` is not an int.
        ValueError: ``x`` has fewer than 3 dimensions, ``groups`` is not positive, or the
            number of channels is not divisible by ``groups``.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"channel_shuffle: input must be a torch.Tensor, got {type(x).__name__}")
    if isinstance(groups, bool) or not isinstance(groups, numbers.Integral):
        raise TypeError(f"channel_shuffle: groups must be an int, got {type(groups).__name__}")
    if x.dim() < 3:
        raise ValueError(
            f"channel_shuffle: input must have at least 3 dimensions (N, C, ...), got "
            f"{x.dim()}-D of shape {tuple(x.shape)}"
        )
    if groups < 1:
        raise ValueError(f"channel_shuffle: groups must be a positive int, got {groups}")
    n, c, *rest = x.shape
    if c % groups != 0:
        raise ValueError(
            f"channel_shuffle: channels ({c}) must be divisible by groups ({groups})"
        )
    y = x.reshape(n, groups, c // groups, *rest)  # (N, g, C/g, *rest)
    y = y.transpose(1, 2)  # (N, C/g, g, *rest)
    return y.reshape(n, c, *rest)  # (N, C, *rest)
