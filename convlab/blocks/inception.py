"""Inception modules: GoogLeNet's (v1) and the Batch Normalization paper's (BN-Inception).

Papers:
    Szegedy et al., "Going Deeper with Convolutions", CVPR 2015
    (https://arxiv.org/abs/1409.4842), Figure 2(b) and Table 1.
    Ioffe, Szegedy, "Batch Normalization: Accelerating Deep Network Training by Reducing
    Internal Covariate Shift", ICML 2015 (https://arxiv.org/abs/1502.03167), Figure 5.

Four parallel branches see the same input; their outputs are concatenated along channels, so
every branch must keep the spatial size (same padding, stride 1; or all stride 2).
"""

from __future__ import annotations

import torch
from torch import nn

from .common import ActLayer, ConvNormAct, NormLayer, check_positive

POOLS = ("avg", "max")


class InceptionModule(nn.Module):
    """GoogLeNet's Inception module with dimension reductions (Figure 2b).

    Branches: ``1×1``; ``1×1 reduce → 3×3``; ``1×1 reduce → 5×5``; ``3×3 max pool (stride 1) →
    1×1 projection``; each conv followed by ``act_layer`` (and ``norm_layer`` when given; the
    original has none, its convolutions carry biases).

    Args:
        in_channels: channels of the input.
        ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj: Table 1's columns "#1×1",
            "#3×3 reduce", "#3×3", "#5×5 reduce", "#5×5", "pool proj".
        norm_layer, act_layer: layer classes (``None``, ``nn.ReLU`` in GoogLeNet).

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`
        - Output: :math:`(N, \\text{ch1x1} + \\text{ch3x3} + \\text{ch5x5} + \\text{pool\\_proj},
          H, W)`

    Example:
        >>> m = InceptionModule(192, 64, 96, 128, 16, 32, 32)  # inception (3a)
        >>> tuple(m(torch.zeros(1, 192, 28, 28)).shape)
        (1, 256, 28, 28)
    """

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
        norm_layer: NormLayer = None,
        act_layer: ActLayer = nn.ReLU,
    ) -> None:
        super().__init__()
        check_positive(in_channels=in_channels, ch1x1=ch1x1, ch3x3red=ch3x3red, ch3x3=ch3x3,
                       ch5x5red=ch5x5red, ch5x5=ch5x5, pool_proj=pool_proj)
        layer = {"norm_layer": norm_layer, "act_layer": act_layer}
        self.in_channels = in_channels
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj
        self.branch1 = ConvNormAct(in_channels, ch1x1, 1, **layer)
        self.branch2 = nn.Sequential(ConvNormAct(in_channels, ch3x3red, 1, **layer),
                                     ConvNormAct(ch3x3red, ch3x3, 3, **layer))
        self.branch3 = nn.Sequential(ConvNormAct(in_channels, ch5x5red, 1, **layer),
                                     ConvNormAct(ch5x5red, ch5x5, 5, **layer))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1),
                                     ConvNormAct(in_channels, pool_proj, 1, **layer))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]
        return torch.cat(branches, dim=1)  # 4 × (N, C_b, H, W) -> (N, C_out, H, W)


class BNInceptionModule(nn.Module):
    """The BN paper's Inception module: the 5×5 branch becomes two 3×3 convs, BN everywhere.

    Branches (each conv followed by ``norm_layer`` and ``act_layer``):
    ``1×1``; ``1×1 reduce → 3×3``; ``1×1 reduce → 3×3 → 3×3`` ("double 3×3");
    ``3×3 avg or max pool → 1×1 projection``.

    At ``stride=2`` (modules 3c and 4e of Figure 5) there is no 1×1 branch, the last 3×3 of the
    two conv branches has stride 2 and the pool branch is a 3×3 max pool of stride 2 passed
    through without projection ("max + pass through"), so it keeps ``in_channels`` channels.

    Args:
        in_channels: channels of the input.
        ch1x1, ch3x3red, ch3x3, ch3x3dblred, ch3x3dbl, pool_proj: Figure 5's columns "#1×1",
            "#3×3 reduce", "#3×3", "double #3×3 reduce", "double #3×3", "Pool +proj"; at
            stride 2, ``ch1x1`` and ``pool_proj`` must be 0.
        pool: ``"avg"`` or ``"max"`` pooling in the pool branch (stride 2 uses max).
        stride: 1 or 2.
        norm_layer, act_layer: layer classes (``nn.BatchNorm2d``, ``nn.ReLU``).

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`
        - Output: stride 1: :math:`(N, \\text{ch1x1} + \\text{ch3x3} + \\text{ch3x3dbl} +
          \\text{pool\\_proj}, H, W)`; stride 2: :math:`(N, \\text{ch3x3} + \\text{ch3x3dbl} +
          C_{in}, \\lceil H/2 \\rceil, \\lceil W/2 \\rceil)`

    Example:
        >>> m = BNInceptionModule(320, 0, 128, 160, 64, 96, 0, pool="max", stride=2)  # (3c)
        >>> tuple(m(torch.zeros(1, 320, 28, 28)).shape)
        (1, 576, 14, 14)
    """

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch3x3dblred: int,
        ch3x3dbl: int,
        pool_proj: int,
        pool: str = "avg",
        stride: int = 1,
        norm_layer: NormLayer = nn.BatchNorm2d,
        act_layer: ActLayer = nn.ReLU,
    ) -> None:
        super().__init__()
        check_positive(in_channels=in_channels, ch3x3red=ch3x3red, ch3x3=ch3x3,
                       ch3x3dblred=ch3x3dblred, ch3x3dbl=ch3x3dbl)
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride!r}")
        if stride == 2 and (ch1x1 or pool_proj):
            raise ValueError("at stride 2 ch1x1 and pool_proj must be 0: the module has no 1×1 "
                             "branch and passes the max-pooled input through")
        if stride == 1:
            check_positive(ch1x1=ch1x1, pool_proj=pool_proj)
        layer = {"norm_layer": norm_layer, "act_layer": act_layer}
        self.in_channels, self.stride = in_channels, stride
        self.branch1 = ConvNormAct(in_channels, ch1x1, 1, **layer) if stride == 1 else None
        self.branch2 = nn.Sequential(ConvNormAct(in_channels, ch3x3red, 1, **layer),
                                     ConvNormAct(ch3x3red, ch3x3, 3, stride, **layer))
        self.branch3 = nn.Sequential(ConvNormAct(in_channels, ch3x3dblred, 1, **layer),
                                     ConvNormAct(ch3x3dblred, ch3x3dbl, 3, **layer),
                                     ConvNormAct(ch3x3dbl, ch3x3dbl, 3, stride, **layer))
        if stride == 2:
            self.branch4: nn.Module = nn.MaxPool2d(3, stride=2, padding=1)
            self.out_channels = ch3x3 + ch3x3dbl + in_channels
        else:
            pooling = nn.AvgPool2d(3, 1, 1, count_include_pad=False) if pool == "avg" \
                else nn.MaxPool2d(3, 1, 1)
            self.branch4 = nn.Sequential(pooling, ConvNormAct(in_channels, pool_proj, 1, **layer))
            self.out_channels = ch1x1 + ch3x3 + ch3x3dbl + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.branch2(x), self.branch3(x), self.branch4(x)]
        if self.branch1 is not None:
            branches.insert(0, self.branch1(x))
        return torch.cat(branches, dim=1)  # (N, C_b, H/s, W/s) each -> (N, C_out, H/s, W/s)
