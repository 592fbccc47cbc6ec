"""The separable 7×7 first layer of the Inception networks.

The BN paper's appendix: "Our model employed separable convolution with depth multiplier 8 on
the first convolutional layer" (Ioffe & Szegedy 2015, https://arxiv.org/abs/1502.03167). A 7×7
depthwise convolution gives each of the 3 input channels 8 filters (24 channels, no
nonlinearity in between), then a 1×1 convolution mixes them into 64:
``3·8·49 + 24·64 = 2,712`` weights and ``112²·(24·49 + 24·64) ≈ 34.0M`` MACs at 224×224 — the
"2.7K" parameters and "34M" ops that GoogLeNet's Table 1 lists for its first layer, where a
plain 7×7 convolution would have 9,408 weights and 118M MACs.
"""

from __future__ import annotations

from torch import nn

from convlab.blocks import ConvNormAct
from convlab.blocks.common import NormLayer


def separable_stem(
    out_channels: int = 64,
    depth_multiplier: int = 8,
    in_channels: int = 3,
    norm_layer: NormLayer = nn.BatchNorm2d,
) -> nn.Sequential:
    """``7×7/2 depthwise conv (×depth_multiplier) → 1×1 conv → norm → ReLU``.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`
        - Output: :math:`(N, \\text{out\\_channels}, \\lceil H/2 \\rceil, \\lceil W/2 \\rceil)`
    """
    mid = in_channels * depth_multiplier
    return nn.Sequential(
        nn.Conv2d(in_channels, mid, 7, stride=2, padding=3, groups=in_channels, bias=False),
        ConvNormAct(mid, out_channels, 1, norm_layer=norm_layer),  # -> (N, C_out, H/2, W/2)
    )
