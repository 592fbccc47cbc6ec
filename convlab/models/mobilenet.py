"""MobileNet v1 as in Table 1 of its paper.

Paper: Howard, Zhu, Chen, Kalenichenko, Wang, Weyand, Andreetto, Adam, "MobileNets: Efficient
Convolutional Neural Networks for Mobile Vision Applications", 2017
(https://arxiv.org/abs/1704.04861).

Table 1 marks the last depthwise layer "s2" but gives it a 7×7 input and output; it is built
with stride 1, as the output sizes (and every released implementation) require.
"""

from __future__ import annotations

import torch
from torch import nn

from convlab.blocks import ConvNormAct, DepthwiseSeparable

#: Table 1 after the first conv: (output channels, stride) of each depthwise separable layer.
MOBILENET_LAYERS: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1),
    (1024, 2), (1024, 1),
)


class MobileNetV1(nn.Module):
    """``3×3/2 conv (32α) → 13 depthwise separable layers → global pool → FC``.

    ``width_mult`` (the paper's α) scales every layer's channels: ``int(c·α)``.

    Shape:
        - Input: :math:`(N, 3, 224, 224)`
        - Output: :math:`(N, \\text{num\\_classes})`; the last feature map is 7×7×1024α.
    """

    def __init__(self, width_mult: float = 1.0, num_classes: int = 1000) -> None:
        super().__init__()
        if not width_mult > 0:
            raise ValueError(f"width_mult must be > 0, got {width_mult!r}")

        def scaled(c: int) -> int:
            return max(1, int(c * width_mult))

        in_channels = scaled(32)
        layers: list[nn.Module] = [ConvNormAct(3, in_channels, 3, stride=2)]  # -> 112×112
        for channels, stride in MOBILENET_LAYERS:
            layers.append(DepthwiseSeparable(in_channels, scaled(channels), stride))
            in_channels = scaled(channels)
        self.features = nn.Sequential(*layers)  # (N, 3, 224, 224) -> (N, 1024α, 7, 7)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(in_channels, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def mobilenet_v1(width_mult: float = 1.0, num_classes: int = 1000) -> MobileNetV1:
    """MobileNet α-224 with α = ``width_mult`` (Table 1 of Howard et al. 2017)."""
    return MobileNetV1(width_mult=width_mult, num_classes=num_classes)
