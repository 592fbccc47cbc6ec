"""MobileNet's depthwise separable convolution and MobileNet v2's inverted residual.

Papers:
    Howard, Zhu, Chen, Kalenichenko, Wang, Weyand, Andreetto, Adam, "MobileNets: Efficient
    Convolutional Neural Networks for Mobile Vision Applications", 2017
    (https://arxiv.org/abs/1704.04861), Figure 3 (right).
    Sandler, Howard, Zhu, Zhmoginov, Chen, "MobileNetV2: Inverted Residuals and Linear
    Bottlenecks", CVPR 2018 (https://arxiv.org/abs/1801.04381), Table 1 and Figure 4(d).
"""

from __future__ import annotations

import torch
from torch import nn

from .common import ActLayer, ConvNormAct, NormLayer, check_positive


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


class InvertedResidual(nn.Module):
    """MobileNet v2's bottleneck: expand (1×1) → depthwise 3×3 → linear 1×1, with a shortcut.

    Table 1 of the paper, for ``k`` input and ``k'`` output channels, stride ``s`` and
    expansion factor ``t``:

    ========================  ==============================  =========================
    input                     operator                        output
    ========================  ==============================  =========================
    ``h × w × k``             1×1 conv2d, ReLU6               ``h × w × tk``
    ``h × w × tk``            3×3 depthwise, stride s, ReLU6  ``h/s × w/s × tk``
    ``h/s × w/s × tk``        linear 1×1 conv2d               ``h/s × w/s × k'``
    ========================  ==============================  =========================

    Each convolution is followed by batch normalisation; the last has no activation (the
    "linear bottleneck": a ReLU on the narrow output would destroy information). The shortcut
    joins the two narrow ends and exists only when ``s = 1`` and ``k = k'``. At ``t = 1`` there
    is no expansion convolution (the network's first bottleneck). The expanded width is
    ``round(k·t)``, as in the reference implementation.

    Args:
        in_channels, out_channels: ``k`` and ``k'``.
        stride: stride ``s`` of the depthwise conv (1 or 2).
        expand_ratio: expansion factor ``t`` (a positive number; 6 in the paper's network).
        norm_layer, act_layer: layer classes (``nn.BatchNorm2d``, ``nn.ReLU6``).

    Shape:
        - Input: :math:`(N, k, H, W)`
        - Output: :math:`(N, k', \\lceil H/s \\rceil, \\lceil W/s \\rceil)`

    Example:
        >>> block = InvertedResidual(24, 24, expand_ratio=6)  # 24 -> 144 -> 144 -> 24, + x
        >>> tuple(block(torch.zeros(1, 24, 56, 56)).shape), block.use_residual
        ((1, 24, 56, 56), True)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        expand_ratio: float = 6,
        norm_layer: NormLayer = nn.BatchNorm2d,
        act_layer: ActLayer = nn.ReLU6,
    ) -> None:
        super().__init__()
        check_positive(in_channels=in_channels, out_channels=out_channels)
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride!r}")
        if isinstance(expand_ratio, bool) or not isinstance(expand_ratio, int | float) \
                or not expand_ratio > 0:
            raise ValueError(f"expand_ratio must be a positive number, got {expand_ratio!r}")
        hidden = int(round(in_channels * expand_ratio))
        if hidden < 1:
            raise ValueError(f"in_channels·expand_ratio ({in_channels}·{expand_ratio}) must "
                             "round to at least 1 channel")
        layer = {"norm_layer": norm_layer, "act_layer": act_layer}
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.hidden_channels = hidden
        self.use_residual = stride == 1 and in_channels == out_channels
        self.expand = ConvNormAct(in_channels, hidden, 1, **layer) if expand_ratio != 1 \
            else None
        self.depthwise = ConvNormAct(hidden, hidden, 3, stride, groups=hidden, **layer)
        self.project = ConvNormAct(hidden, out_channels, 1, norm_layer=norm_layer,
                                   act_layer=None)  # linear: no activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x if self.expand is None else self.expand(x)  # (N, k, H, W) -> (N, tk, H, W)
        y = self.depthwise(y)  # -> (N, tk, H/s, W/s)
        y = self.project(y)  # -> (N, k', H/s, W/s)
        return x + y if self.use_residual else y
