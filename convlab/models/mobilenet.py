"""MobileNet v1 as in Table 1 of its paper, and MobileNet v2 as in Table 2 of its own.

Papers:
    Howard, Zhu, Chen, Kalenichenko, Wang, Weyand, Andreetto, Adam, "MobileNets: Efficient
    Convolutional Neural Networks for Mobile Vision Applications", 2017
    (https://arxiv.org/abs/1704.04861).
    Sandler, Howard, Zhu, Zhmoginov, Chen, "MobileNetV2: Inverted Residuals and Linear
    Bottlenecks", CVPR 2018 (https://arxiv.org/abs/1801.04381).

MobileNet v1's Table 1 marks the last depthwise layer "s2" but gives it a 7×7 input and output;
it is built with stride 1, as the output sizes (and every released implementation) require.

MobileNet v2: "Our primary network (width multiplier 1, 224×224), has a computational cost of
300 million multiply-adds and uses 3.4 million parameters" (Section 4; Table 4: 3.4M, 300M).
Built here with the reference implementation's channel rounding (to multiples of 8), it has
3,504,872 parameters and 300.8M multiply-adds, torchvision's exact figures.
"""

from __future__ import annotations

import torch
from torch import nn

from convlab.blocks import ConvNormAct, DepthwiseSeparable
from convlab.blocks.mobilenet import InvertedResidual

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


#: MobileNet v2, Table 2: (expansion t, output channels c, repeats n, first stride s) of each
#: sequence of bottlenecks, after the first 3×3/2 conv with 32 filters.
MOBILENET_V2_SETTINGS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
#: Channels of MobileNet v2's last 1×1 conv (Table 2: "conv2d 1x1, 1280").
MOBILENET_V2_LAST = 1280


def make_divisible(value: float, divisor: int = 8) -> int:
    """``value`` rounded to the nearest multiple of ``divisor``, never more than 10 % below it.

    The rule of the reference implementations (TensorFlow's ``_make_divisible``, torchvision's
    ``_make_divisible``): ``max(divisor, int(value + divisor / 2) // divisor · divisor)``, plus
    ``divisor`` when that falls below ``0.9 · value``. Every width of MobileNet v2 at
    ``width_mult = 1`` is already a multiple of 8 and stays as Table 2 gives it.

    Example:
        >>> make_divisible(32 * 0.35), make_divisible(16 * 0.35), make_divisible(1280 * 1.4)
        (16, 8, 1792)
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class MobileNetV2(nn.Module):
    """``3×3/2 conv (32) → 17 inverted residuals (Table 2) → 1×1 conv (1280) → pool → FC``.

    Every conv is followed by batch norm and ReLU6 (except the linear 1×1 at the end of each
    bottleneck); the classifier is ``dropout (0.2) → linear``, as in the reference
    implementation. ``width_mult`` scales every width by α and rounds it with
    :func:`make_divisible`; the last conv keeps 1280 channels when α < 1 ("for multipliers less
    than one, we apply width multiplier to all layers except the very last convolutional
    layer") and widens to ``make_divisible(1280·α)`` when α > 1.

    Shape:
        - Input: :math:`(N, 3, 224, 224)`
        - Output: :math:`(N, \\text{num\\_classes})`; the last feature map is 7×7×1280.
    """

    def __init__(self, width_mult: float = 1.0, num_classes: int = 1000,
                 dropout: float = 0.2) -> None:
        super().__init__()
        if isinstance(width_mult, bool) or not isinstance(width_mult, int | float) \
                or not width_mult > 0:
            raise ValueError(f"width_mult must be a positive number, got {width_mult!r}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        relu6 = {"act_layer": nn.ReLU6}
        in_channels = make_divisible(32 * width_mult)
        last = make_divisible(MOBILENET_V2_LAST * max(1.0, width_mult))
        layers: list[nn.Module] = [ConvNormAct(3, in_channels, 3, stride=2, **relu6)]  # 112²
        for t, c, n, s in MOBILENET_V2_SETTINGS:
            out_channels = make_divisible(c * width_mult)
            for i in range(n):
                layers.append(InvertedResidual(in_channels, out_channels, s if i == 0 else 1, t))
                in_channels = out_channels
        layers.append(ConvNormAct(in_channels, last, 1, **relu6))
        # 112² ×16, 56² ×24, 28² ×32, 14² ×64, 14² ×96, 7² ×160, 7² ×320 -> (N, 1280, 7, 7)
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
                                  nn.Linear(last, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def mobilenet_v2(num_classes: int = 1000, width_mult: float = 1.0) -> MobileNetV2:
    """MobileNet v2 (Table 2 of Sandler et al. 2018) with width multiplier ``width_mult``."""
    return MobileNetV2(width_mult=width_mult, num_classes=num_classes)
