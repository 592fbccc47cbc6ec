"""ShuffleNet v1 as in Table 1 of its paper.

Paper: Zhang, Zhou, Lin, Sun, "ShuffleNet: An Extremely Efficient Convolutional Neural Network
for Mobile Devices", CVPR 2018 (https://arxiv.org/abs/1707.01083).
"""

from __future__ import annotations

import torch
from torch import nn

from convlab.blocks import ConvNormAct, ShuffleNetUnit

#: Table 1: output channels of Stages 2, 3, 4 of ShuffleNet 1× for each number of groups g.
STAGE_CHANNELS: dict[int, tuple[int, int, int]] = {
    1: (144, 288, 576),
    2: (200, 400, 800),
    3: (240, 480, 960),
    4: (272, 544, 1088),
    8: (384, 768, 1536),
}
#: Table 1: units per stage (the first of each with stride 2).
STAGE_REPEATS = (4, 8, 4)
#: Channels of Conv1 (not scaled by ``width_mult``).
STEM_CHANNELS = 24


def stage_channels(groups: int, width_mult: float = 1.0) -> tuple[int, int, int]:
    """Table 1's stage widths times ``width_mult``, rounded to a multiple of ``4·groups``.

    The rounding keeps the bottleneck (a quarter of the width) divisible by ``groups``; it
    changes none of Table 1's 1× widths.
    """
    if groups not in STAGE_CHANNELS:
        raise ValueError(f"groups must be one of {sorted(STAGE_CHANNELS)}, got {groups!r}")
    if not width_mult > 0:
        raise ValueError(f"width_mult must be > 0, got {width_mult!r}")
    unit = 4 * groups
    return tuple(  # type: ignore[return-value]
        max(unit, int(round(c * width_mult / unit)) * unit) for c in STAGE_CHANNELS[groups]
    )


class ShuffleNetV1(nn.Module):
    """``Conv1 3×3/2 (24) → MaxPool 3×3/2 → Stage 2, 3, 4 → global pool → FC``.

    Shape:
        - Input: :math:`(N, 3, 224, 224)`
        - Output: :math:`(N, \\text{num\\_classes})`; stage outputs at 28, 14, 7 pixels.
    """

    def __init__(self, groups: int = 3, width_mult: float = 1.0, num_classes: int = 1000) -> None:
        super().__init__()
        widths = stage_channels(groups, width_mult)
        self.stem = nn.Sequential(
            ConvNormAct(3, STEM_CHANNELS, 3, stride=2),  # (N, 3, 224, 224) -> (N, 24, 112, 112)
            nn.MaxPool2d(3, stride=2, padding=1),  # -> (N, 24, 56, 56)
        )
        stages, in_channels = [], STEM_CHANNELS
        for s, (width, repeats) in enumerate(zip(widths, STAGE_REPEATS, strict=True)):
            units = []
            for j in range(repeats):
                units.append(ShuffleNetUnit(in_channels, width, groups, stride=2 if j == 0 else 1,
                                            first_grouped=not (s == 0 and j == 0)))
                in_channels = width
            stages.append(nn.Sequential(*units))
        self.stages = nn.Sequential(*stages)  # -> (N, widths[2], 7, 7)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(in_channels, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))


def shufflenet_v1(
    groups: int = 3, width_mult: float = 1.0, num_classes: int = 1000
) -> ShuffleNetV1:
    """ShuffleNet ``width_mult``× with ``groups`` groups (Table 1 of Zhang et al. 2018)."""
    return ShuffleNetV1(groups=groups, width_mult=width_mult, num_classes=num_classes)
