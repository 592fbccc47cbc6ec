"""MobileNet's depthwise separable convolution.

Paper: Howard, Zhu, Chen, Kalenichenko, Wang, Weyand, Andreetto, Adam, "MobileNets: Efficient
Convolutional Neural Networks for Mobile Vision Applications", 2017
(https://arxiv.org/abs/1704.04861), Figure 3 (right).
"""

from __future__ import annotations

import torch
from torch import nn

from .common import ActLayer, ConvNormAct, NormLayer


class DepthwiseSeparable(nn.Module):
    """``3×3 depthwise conv (stride) → BN → ReLU → 1×1 pointwise conv → BN → ReLU``.

    The depthwise conv filters each channel on its own (``groups = C_in``); the pointwise conv
    mixes channels. Cost per output position relative to a full 3×3 conv:
    :math:`1/C_{out} + 1/9`.

    Args:
        in_channels, out_channels: channels in and out.
        stride: stride of the depthwise conv.
        norm_layer, act_layer: layer classes (``nn.BatchNorm2d``, ``nn.ReLU``); MobileNet has an
            activation after both convolutions (Xception has none in between: pass
            ``mid_act_layer=None``).
        mid_act_layer: the activation after the depthwise conv (default ``act_layer``).

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`
        - Output: :math:`(N, C_{out}, \\lceil H/s \\rceil, \\lceil W/s \\rceil)`

    Example:
        >>> block = DepthwiseSeparable(32, 64)
        >>> tuple(block(torch.zeros(1, 32, 112, 112)).shape)
        (1, 64, 112, 112)
    """

    _DEFAULT = object()

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        norm_layer: NormLayer = nn.BatchNorm2d,
        act_layer: ActLayer = nn.ReLU,
        mid_act_layer: ActLayer | object = _DEFAULT,
    ) -> None:
        super().__init__()
        mid_act = act_layer if mid_act_layer is self._DEFAULT else mid_act_layer
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.depthwise = ConvNormAct(in_channels, in_channels, 3, stride, groups=in_channels,
                                     norm_layer=norm_layer, act_layer=mid_act)  # type: ignore[arg-type]
        self.pointwise = ConvNormAct(in_channels, out_channels, 1, norm_layer=norm_layer,
                                     act_layer=act_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.depthwise(x)  # (N, C_in, H, W) -> (N, C_in, H/s, W/s)
        return self.pointwise(x)  # -> (N, C_out, H/s, W/s)
