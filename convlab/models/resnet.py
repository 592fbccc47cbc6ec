"""ResNet-50 as in Table 1 of its paper, and the variant most code builds.

Paper: He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016
(https://arxiv.org/abs/1512.03385). Table 1 gives ResNet-50 "3.8×10⁹" FLOPs, and the text
says what it counts: "Our 34-layer baseline has 3.6 billion FLOPs (multiply-adds)"; of
ResNet-50, "We use option B for increasing dimensions. This model has 3.8 billion FLOPs."

``stride_in_3x3=False`` (the default) builds the paper's network: the stride-2 downsampling of
conv3_1, conv4_1 and conv5_1 is in the block's first 1×1 convolution, as in the released
model. ``stride_in_3x3=True`` moves it to the 3×3 convolution, as torchvision's ``resnet50``
and most training code do ("ResNet v1.5"). Both have the same 25,557,032 parameters; the
variant costs 0.23×10⁹ more multiply-adds (4.09×10⁹ against 3.86×10⁹ at 224×224), all in the
first 1×1 convolutions of the three downsampling blocks, which then run on the block's full
input grid: ``3·H'W'·C_in·p`` more for an output grid ``H'×W'``, 77.1M in each of the three.

Counted here, the paper's network has 3.86×10⁹ multiply-adds, which Table 1 prints as "3.8":
its figures carry one decimal, and the same construction with (3, 4, 23, 3) and (3, 8, 36, 3)
blocks gives 7.57 and 11.28×10⁹, Table 1's "7.6" and "11.3" (the stride-in-3×3 variant gives
7.80 and 11.51). :class:`ResNet` builds those depths too.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from convlab.blocks import ConvNormAct
from convlab.blocks.resnet import Bottleneck

#: Table 1, 50-layer column: bottleneck blocks per stage (conv2_x … conv5_x).
RESNET50_LAYERS = (3, 4, 6, 3)


class ResNet(nn.Module):
    """A ResNet of :class:`~convlab.blocks.resnet.Bottleneck` stages.

    Stem ``7×7/2 conv (64) → BN → ReLU → 3×3/2 max pool``, then four stages of ``layers[i]``
    blocks with ``planes = 64·2^i`` (the first block of stages 2–4 has stride 2), global average
    pooling and a linear classifier on ``512·4 = 2048`` features.

    Shape:
        - Input: :math:`(N, 3, 224, 224)`
        - Output: :math:`(N, \\text{num\\_classes})`; the last feature map is
          :math:`(N, 2048, 7, 7)`.
    """

    def __init__(
        self,
        layers: Sequence[int] = RESNET50_LAYERS,
        stride_in_3x3: bool = False,
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        self.stem = nn.Sequential(
            ConvNormAct(3, 64, 7, stride=2),  # (N, 3, 224, 224) -> (N, 64, 112, 112)
            nn.MaxPool2d(3, stride=2, padding=1),  # -> (N, 64, 56, 56)
        )
        stages, in_channels = [], 64
        for i, depth in enumerate(layers):
            planes, blocks = 64 * 2**i, []
            for j in range(depth):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(Bottleneck(in_channels, planes, stride, stride_in_3x3))
                in_channels = planes * 4
            stages.append(nn.Sequential(*blocks))
        # conv2_x: (N, 256, 56, 56); conv3_x: (N, 512, 28, 28); conv4_x: (N, 1024, 14, 14);
        # conv5_x: (N, 2048, 7, 7)
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(in_channels, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))


def resnet50(num_classes: int = 1000, stride_in_3x3: bool = False) -> ResNet:
    """ResNet-50 (Table 1 of He et al. 2016): bottleneck stages (3, 4, 6, 3), option B.

    ``stride_in_3x3=False``: the paper's network (stride in the first 1×1 of each downsampling
    block, 3.8×10⁹ multiply-adds); ``True``: torchvision's "v1.5" (stride in the 3×3).
    """
    return ResNet(RESNET50_LAYERS, stride_in_3x3=stride_in_3x3, num_classes=num_classes)
