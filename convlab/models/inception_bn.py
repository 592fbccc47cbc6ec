"""BN-Inception: the network of the Batch Normalization paper (its Figure 5).

Paper: Ioffe, Szegedy, "Batch Normalization: Accelerating Deep Network Training by Reducing
Internal Covariate Shift", ICML 2015 (https://arxiv.org/abs/1502.03167), Section 4.2 and
Appendix, Figure 5.

Differences from GoogLeNet that the paper's appendix lists: each 5×5 conv becomes two 3×3
convs ("double 3×3"), three 28×28 modules instead of two, average or max pooling inside the
modules, no pooling layers between modules but stride-2 modules (3c, 4e) that pass the
max-pooled input through, a separable first layer ("separable convolution with depth
multiplier 8", :func:`~convlab.models.stems.separable_stem`), and batch normalisation after
every convolution. The appendix puts the cost at "+25% parameters, +30% computation" over
GoogLeNet; the counts of the two networks built here agree on the computation (+30%) but not on
the parameters (+61%), and Section 4.2's "13.6·10^6 parameters" matches neither (11.3M here).

Figure 5's "depth" column lists 576 channels after 4c and 4d and 1024 after 4e, but its own
branch widths add up to 608, 608 and 1056 (160+160+160+128, 96+192+192+128, 0+192+256+608);
the network is built from the branch widths, as common re-implementations do.
"""

from __future__ import annotations

import torch
from torch import nn

from convlab.blocks import BNInceptionModule, ConvNormAct

from .stems import separable_stem as _separable

#: Figure 5: (in_channels, #1×1, #3×3 reduce, #3×3, double #3×3 reduce, double #3×3,
#: pool proj, pool, stride).
INCEPTION_BN_MODULES: dict[str, tuple[int, int, int, int, int, int, int, str, int]] = {
    "3a": (192, 64, 64, 64, 64, 96, 32, "avg", 1),
    "3b": (256, 64, 64, 96, 64, 96, 64, "avg", 1),
    "3c": (320, 0, 128, 160, 64, 96, 0, "max", 2),
    "4a": (576, 224, 64, 96, 96, 128, 128, "avg", 1),
    "4b": (576, 192, 96, 128, 96, 128, 128, "avg", 1),
    "4c": (576, 160, 128, 160, 128, 160, 128, "avg", 1),
    "4d": (608, 96, 128, 192, 160, 192, 128, "avg", 1),
    "4e": (608, 0, 128, 192, 192, 256, 0, "max", 2),
    "5a": (1056, 352, 192, 320, 160, 224, 128, "avg", 1),
    "5b": (1024, 352, 192, 320, 192, 224, 128, "max", 1),
}


class InceptionBN(nn.Module):
    """BN-Inception: stem, ten modules (two of them stride 2), global average pool, linear.

    Shape:
        - Input: :math:`(N, 3, 224, 224)`
        - Output: :math:`(N, \\text{num\\_classes})`
    """

    def __init__(self, num_classes: int = 1000, separable_stem: bool = True) -> None:
        super().__init__()
        first = _separable(64) if separable_stem else ConvNormAct(3, 64, 7, stride=2)
        self.stem = nn.Sequential(
            first,  # (N, 3, 224, 224) -> (N, 64, 112, 112)
            nn.MaxPool2d(3, stride=2, ceil_mode=True),  # -> (N, 64, 56, 56)
            ConvNormAct(64, 64, 1),
            ConvNormAct(64, 192, 3),  # -> (N, 192, 56, 56)
            nn.MaxPool2d(3, stride=2, ceil_mode=True),  # -> (N, 192, 28, 28)
        )
        modules = []
        for args in INCEPTION_BN_MODULES.values():
            *widths, pool, stride = args
            modules.append(BNInceptionModule(*widths, pool=pool, stride=stride))
        # 3a, 3b at 28×28; 3c -> 14×14; 4a-4d; 4e -> 7×7; 5a, 5b: (N, 1024, 7, 7)
        self.inception = nn.Sequential(*modules)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(1024, num_classes))  # (N, 1024) -> (N, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.inception(self.stem(x)))


def inception_bn(num_classes: int = 1000, separable_stem: bool = True) -> InceptionBN:
    """The BN paper's Inception network (Figure 5 of Ioffe & Szegedy 2015).

    ``separable_stem=False`` replaces the separable first layer with a plain 7×7 conv.
    """
    return InceptionBN(num_classes=num_classes, separable_stem=separable_stem)
