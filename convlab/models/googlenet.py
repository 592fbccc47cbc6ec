"""GoogLeNet (Inception v1) as in Table 1 of its paper, without the auxiliary classifiers.

Paper: Szegedy, Liu, Jia, Sermanet, Reed, Anguelov, Erhan, Vanhoucke, Rabinovich, "Going Deeper
with Convolutions", CVPR 2015 (https://arxiv.org/abs/1409.4842).

Local response normalisation (after the first pooling and after the second conv) is left out:
it has no parameters and no multiply-accumulates in the counts, and later work dropped it.

The first layer is a plain 7×7 convolution by default, as the paper's text describes it and
re-implementations build it. Table 1's figures for that layer (2.7K params, 34M ops) are those
of a separable 7×7 convolution with depth multiplier 8 (:func:`~convlab.models.stems.
separable_stem`, which the BN paper says its Inception used); ``separable_stem=True`` builds
that variant, whose total lands on Table 1's 1.5G ops.
"""

from __future__ import annotations

import torch
from torch import nn

from convlab.blocks import ConvNormAct, InceptionModule

from .stems import separable_stem as _separable

#: Table 1: (in_channels, #1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj).
GOOGLENET_MODULES: dict[str, tuple[int, int, int, int, int, int, int]] = {
    "3a": (192, 64, 96, 128, 16, 32, 32),
    "3b": (256, 128, 128, 192, 32, 96, 64),
    "4a": (480, 192, 96, 208, 16, 48, 64),
    "4b": (512, 160, 112, 224, 24, 64, 64),
    "4c": (512, 128, 128, 256, 24, 64, 64),
    "4d": (512, 112, 144, 288, 32, 64, 64),
    "4e": (528, 256, 160, 320, 32, 128, 128),
    "5a": (832, 256, 160, 320, 32, 128, 128),
    "5b": (832, 384, 192, 384, 48, 128, 128),
}


def _max_pool() -> nn.MaxPool2d:
    # 3×3/2 with ceil_mode: 112 -> 56 -> 28 -> 14 -> 7, the sizes of Table 1
    return nn.MaxPool2d(3, stride=2, ceil_mode=True)


class GoogLeNet(nn.Module):
    """Inception v1: stem, nine Inception modules, global average pooling, dropout, linear.

    Shape:
        - Input: :math:`(N, 3, 224, 224)` (any size ≥ 32 works thanks to the global pool)
        - Output: :math:`(N, \\text{num\\_classes})`
    """

    def __init__(
        self, num_classes: int = 1000, dropout: float = 0.4, separable_stem: bool = False
    ) -> None:
        super().__init__()
        plain = {"norm_layer": None}  # GoogLeNet predates batch norm: convs with biases
        first = _separable(64, norm_layer=None) if separable_stem else \
            ConvNormAct(3, 64, 7, stride=2, **plain)
        self.stem = nn.Sequential(
            first,  # (N, 3, 224, 224) -> (N, 64, 112, 112)
            _max_pool(),  # -> (N, 64, 56, 56)
            ConvNormAct(64, 64, 1, **plain),
            ConvNormAct(64, 192, 3, **plain),  # -> (N, 192, 56, 56)
            _max_pool(),  # -> (N, 192, 28, 28)
        )
        m = {name: InceptionModule(*args) for name, args in GOOGLENET_MODULES.items()}
        self.inception3 = nn.Sequential(m["3a"], m["3b"])  # -> (N, 480, 28, 28)
        self.pool3 = _max_pool()  # -> (N, 480, 14, 14)
        self.inception4 = nn.Sequential(m["4a"], m["4b"], m["4c"], m["4d"], m["4e"])
        self.pool4 = _max_pool()  # (N, 832, 14, 14) -> (N, 832, 7, 7)
        self.inception5 = nn.Sequential(m["5a"], m["5b"])  # -> (N, 1024, 7, 7)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
            nn.Linear(1024, num_classes),  # (N, 1024) -> (N, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.pool3(self.inception3(x))
        x = self.pool4(self.inception4(x))
        return self.head(self.inception5(x))


def googlenet(num_classes: int = 1000, separable_stem: bool = False) -> GoogLeNet:
    """GoogLeNet (Inception v1), Table 1 of Szegedy et al. 2015, no auxiliary heads, no LRN.

    ``separable_stem=True`` makes the first layer the separable 7×7 conv whose cost Table 1
    lists (see the module docstring).
    """
    return GoogLeNet(num_classes=num_classes, separable_stem=separable_stem)
