"""The ShuffleNet v1 unit: grouped 1×1 convolutions with a channel shuffle between them.

Paper: Zhang, Zhou, Lin, Sun, "ShuffleNet: An Extremely Efficient Convolutional Neural Network
for Mobile Devices", CVPR 2018 (https://arxiv.org/abs/1707.01083), Figure 2 (b) and (c).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .common import ConvNormAct, NormLayer, check_divisible, check_positive


class ShuffleNetUnit(nn.Module):
    """ShuffleNet v1 unit (Figure 2b at stride 1, Figure 2c at stride 2).

    Residual branch: ``1×1 group conv (g) → BN → ReLU → channel shuffle (g) → 3×3 depthwise
    conv (stride) → BN → 1×1 group conv (g) → BN``, with ``mid = out_channels // 4`` bottleneck
    channels (the paper: "the number of bottleneck channels to 1/4 of the output channels").

    * stride 1: ``out = ReLU(x + branch(x))``; needs ``in_channels == out_channels``.
    * stride 2: ``out = ReLU(concat(avgpool3×3/2(x), branch(x)))``; the branch makes
      ``out_channels − in_channels`` channels so the concatenation has ``out_channels``.

    Args:
        in_channels, out_channels: channels in and out of the unit.
        groups: ``g``, the groups of both pointwise convolutions and of the shuffle.
        stride: 1 or 2.
        first_grouped: group the first pointwise conv. The paper does not for the first unit of
            Stage 2, "because the number of input channels is relatively small" (24).
        norm_layer: normalisation class (``nn.BatchNorm2d``).

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`
        - Output: :math:`(N, C_{out}, \\lceil H/s \\rceil, \\lceil W/s \\rceil)`

    Example:
        >>> unit = ShuffleNetUnit(240, 240, groups=3)
        >>> tuple(unit(torch.zeros(1, 240, 28, 28)).shape)
        (1, 240, 28, 28)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        groups: int = 3,
        stride: int = 1,
        first_grouped: bool = True,
        norm_layer: NormLayer = nn.BatchNorm2d,
    ) -> None:
        super().__init__()
        check_positive(in_channels=in_channels, out_channels=out_channels, groups=groups)
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride!r}")
        if stride == 1 and in_channels != out_channels:
            raise ValueError(f"at stride 1 in_channels ({in_channels}) must equal "
                             f"out_channels ({out_channels}) for the residual addition")
        branch_out = out_channels - in_channels if stride == 2 else out_channels
        if branch_out < 1:
            raise ValueError(f"at stride 2 out_channels ({out_channels}) must exceed "
                             f"in_channels ({in_channels}): the branch adds the difference")
        mid = out_channels // 4
        first_groups = groups if first_grouped else 1
        check_divisible("out_channels // 4", mid, "groups", groups)
        check_divisible("in_channels", in_channels, "groups of the first 1×1 conv", first_groups)
        check_divisible("the branch's output channels", branch_out, "groups", groups)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.groups, self.stride, self.mid_channels = groups, stride, mid
        self.compress = ConvNormAct(in_channels, mid, 1, groups=first_groups, norm_layer=norm_layer)
        self.depthwise = ConvNormAct(mid, mid, 3, stride, groups=mid, norm_layer=norm_layer,
                                     act_layer=None)
        self.expand = ConvNormAct(mid, branch_out, 1, groups=groups, norm_layer=norm_layer,
                                  act_layer=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from convlab.functional import channel_shuffle

        y = self.compress(x)  # (N, C_in, H, W) -> (N, mid, H, W)
        y = channel_shuffle(y, self.groups)  # same shape, channels interleaved across groups
        y = self.depthwise(y)  # -> (N, mid, H/s, W/s)
        y = self.expand(y)  # -> (N, C_out or C_out - C_in, H/s, W/s)
        if self.stride == 1:
            return F.relu(x + y)
        shortcut = F.avg_pool2d(x, 3, stride=2, padding=1)  # -> (N, C_in, H/2, W/2)
        return F.relu(torch.cat([shortcut, y], dim=1))  # -> (N, C_out, H/2, W/2)
