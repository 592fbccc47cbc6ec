"""ResNeXt-50 (32×4d) as in Table 1 of its paper.

Paper: Xie, Girshick, Dollár, Tu, He, "Aggregated Residual Transformations for Deep Neural
Networks", CVPR 2017 (https://arxiv.org/abs/1611.05431).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from convlab.blocks import ConvNormAct, ResNeXtBlock


class ResNeXt(nn.Module):
    """A ResNet of :class:`~convlab.blocks.ResNeXtBlock` stages.

    Stem ``7×7/2 conv (64) → BN → ReLU → 3×3/2 max pool``, then four stages of
    ``layers[i]`` blocks with ``planes = 64·2^i`` (the first block of stages 2–4 has stride 2),
    global average pooling and a linear classifier on ``512·4 = 2048`` features.

    Shape:
        - Input: :math:`(N, 3, 224, 224)`
        - Output: :math:`(N, \\text{num\\_classes})`
    """

    def __init__(
        self,
        layers: Sequence[int] = (3, 4, 6, 3),
        cardinality: int = 32,
        base_width: int = 4,
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            ConvNormAct(3, 64, 7, stride=2),  # (N, 3, 224, 224) -> (N, 64, 112, 112)
            nn.MaxPool2d(3, stride=2, padding=1),  # -> (N, 64, 56, 56)
        )
        stages, in_channels = [], 64
        for i, depth in enumerate(layers):
            planes, blocks = 64 * 2**i, []
            for j in range(depth):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(ResNeXtBlock(in_channels, planes, stride, cardinality, base_width))
                in_channels = planes * 4
            stages.append(nn.Sequential(*blocks))
        # conv2: (N, 256, 56, 56); conv3: (N, 512, 28, 28); conv4: (N, 1024, 14, 14);
        # conv5: (N, 2048, 7, 7)
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(in_channels, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))


def resnext50_32x4d(num_classes: int = 1000) -> ResNeXt:
    """ResNeXt-50 (32×4d): blocks (3, 4, 6, 3), cardinality 32, width 4 (Table 1)."""
    return ResNeXt((3, 4, 6, 3), cardinality=32, base_width=4, num_classes=num_classes)
