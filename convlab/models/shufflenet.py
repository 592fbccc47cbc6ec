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
#: Channels of Conv1 in ShuffleNet 1×.
STEM_CHANNELS = 24


def _round_to(value: float, unit: int) -> int:
    return max(unit, int(round(value / unit)) * unit)


def stage_channels(groups: int, width_mult: float = 1.0) -> tuple[int, int, int, int]:
    """Widths of Conv1 and Stages 2–4: Table 1's 1× widths times ``width_mult``, rounded.

    "ShuffleNet s× means scaling the number of filters in ShuffleNet 1× by s times", Conv1
    included. Stage widths are rounded to a multiple of ``4·groups`` (so the bottleneck, a
    quarter of the width, splits into ``groups``) and Conv1 to a multiple of ``groups``; the
    rounding changes none of Table 1's 1× widths.

    Returns:
        ``(conv1, stage2, stage3, stage4)`` output channels.
    """
    if groups not in STAGE_CHANNELS:
        raise ValueError(f"groups must be one of {sorted(STAGE_CHANNELS)}, got {groups!r}")
    if isinstance(width_mult, bool) or not isinstance(width_mult, int | float) or \
            not width_mult > 0:
        raise ValueError(f"width_mult must be a number > 0, got {width_mult!r}")
    stem = _round_to(STEM_CHANNELS * width_mult, groups)
    s2, s3, s4 = (_round_to(c * width_mult, 4 * groups) for c in STAGE_CHANNELS[groups])
    return stem, s2, s3, s4


class ShuffleNetV1(nn.Module):
    """``Conv1 3×3/2 (24s) → MaxPool 3×3/2 → Stage 2, 3, 4 → global pool → FC``.

    Widths come from :func:`stage_channels`; the first pointwise conv of Stage 2 is not grouped.

    Shape:
        - Input: :math:`(N, 3, 224, 224)`
        - Output: :math:`(N, \\text{num\\_classes})`; stage outputs at 28, 14, 7 pixels.
    """

    def __init__(self, groups: int = 3, width_mult: float = 1.0, num_classes: int = 1000) -> None:
        super().__init__()
        stem, *widths = stage_channels(groups, width_mult)
        self.stem = nn.Sequential(
            ConvNormAct(3, stem, 3, stride=2),  # (N, 3, 224, 224) -> (N, 24s, 112, 112)
            nn.MaxPool2d(3, stride=2, padding=1),  # -> (N, 24s, 56, 56)
        )
        stages, in_channels = [], stem
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
