"""Inception v3's factorised modules, in the layout of the released model.

Paper: Szegedy, Vanhoucke, Ioffe, Shlens, Wojna, "Rethinking the Inception Architecture for
Computer Vision", CVPR 2016 (https://arxiv.org/abs/1512.00567), Sections 3–6, Figures 5–7
and 10.

The factorisations, each a module here:

* :class:`InceptionA` (35×35, Figure 5): a 5×5 convolution costs ``25/9 ≈ 2.78`` times a 3×3
  one with as many filters; two stacked 3×3 convolutions see the same 5×5 window for
  ``2·9/25 = 72 %`` of its cost ("double 3×3" branch).
* :class:`InceptionC` (17×17, Figure 6): an ``n×n`` convolution becomes ``1×n`` then ``n×1``
  (``2n/n² = 2/n`` of the cost; the paper uses ``n = 7``).
* :class:`InceptionE` (8×8, Figure 7): the 3×3 convolutions' outputs are split into parallel
  ``1×3`` and ``3×1`` convolutions whose outputs are concatenated ("expanded filter bank").
* :class:`InceptionB` and :class:`InceptionD` (Figure 10): "efficient grid size reduction" — a
  stride-2 convolution branch and a stride-2 pooling branch side by side, concatenated, so the
  grid halves without first widening the representation on the large grid.
* :class:`InceptionAux`: the auxiliary classifier on the 17×17 grid (Figure 8).

The widths follow the released model (TensorFlow-Slim's ``inception_v3``, whose layout
torchvision's ``Inception3`` copies with the same attribute names). Its 35×35 modules keep a
``1×1 → 5×5`` branch beside the "double 3×3" branch, where the paper's Figure 5 shows only the
factorised one. Every convolution is ``conv (no bias) → batch norm (eps 0.001) → ReLU``
(:class:`ConvBN`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .common import check_positive

Size2 = int | tuple[int, int]


class ConvBN(nn.Sequential):
    """``Conv2d (no bias) → BatchNorm2d (eps 0.001) → ReLU``, the unit of Inception v3.

    Unlike :class:`~convlab.blocks.ConvNormAct`, the kernel may be rectangular (``(1, 7)``) and
    the padding is given, since Inception v3 mixes "valid" and "same" convolutions.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`
        - Output: :math:`(N, C_{out}, \\lfloor (H + 2p_h - k_h)/s \\rfloor + 1,
          \\lfloor (W + 2p_w - k_w)/s \\rfloor + 1)`
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Size2,
                 stride: Size2 = 1, padding: Size2 = 0) -> None:
        check_positive(in_channels=in_channels, out_channels=out_channels)
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False),
            nn.BatchNorm2d(out_channels, eps=0.001),
            nn.ReLU(inplace=True),
        )
        self.in_channels, self.out_channels = in_channels, out_channels


def _avg_pool(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1)


class InceptionA(nn.Module):
    """35×35 module (Figure 5): 5×5 factorised into two 3×3.

    Branches: ``1×1 (64)``; ``1×1 (48) → 5×5 (64)``; ``1×1 (64) → 3×3 (96) → 3×3 (96)``;
    ``3×3 avg pool → 1×1 (pool_features)``.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`
        - Output: :math:`(N, 224 + \\text{pool\\_features}, H, W)`

    Example:
        >>> m = InceptionA(192, pool_features=32)  # Mixed_5b
        >>> tuple(m(torch.zeros(1, 192, 35, 35)).shape)
        (1, 256, 35, 35)
    """

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        check_positive(in_channels=in_channels, pool_features=pool_features)
        self.in_channels, self.out_channels = in_channels, 224 + pool_features
        self.branch1x1 = ConvBN(in_channels, 64, 1)
        self.branch5x5_1 = ConvBN(in_channels, 48, 1)
        self.branch5x5_2 = ConvBN(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = ConvBN(in_channels, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, padding=1)
        self.branch_pool = ConvBN(in_channels, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(_avg_pool(x))
        return torch.cat([b1, b5, b3, bp], dim=1)  # (N, 64 + 64 + 96 + pool, H, W)


class InceptionB(nn.Module):
    """35×35 → 17×17 grid reduction (Figure 10): strided convs beside a strided max pool.

    Branches: ``3×3/2 (384)``; ``1×1 (64) → 3×3 (96) → 3×3/2 (96)``; ``3×3/2 max pool``
    (passes the input's channels through). All stride-2 layers are unpadded.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`
        - Output: :math:`(N, 480 + C_{in}, \\lfloor (H-3)/2 \\rfloor + 1,
          \\lfloor (W-3)/2 \\rfloor + 1)`
    """

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        check_positive(in_channels=in_channels)
        self.in_channels, self.out_channels = in_channels, 384 + 96 + in_channels
        self.branch3x3 = ConvBN(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = ConvBN(in_channels, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, bd, bp], dim=1)  # (N, 384 + 96 + C_in, H', W')


class InceptionC(nn.Module):
    """17×17 module (Figure 6): ``n×n`` factorised into ``1×n`` then ``n×1``, ``n = 7``.

    Branches: ``1×1 (192)``; ``1×1 (c) → 1×7 (c) → 7×1 (192)``;
    ``1×1 (c) → 7×1 (c) → 1×7 (c) → 7×1 (c) → 1×7 (192)``; ``3×3 avg pool → 1×1 (192)``, with
    ``c = channels_7x7`` (128, 160, 160, 192 in Mixed_6b–6e).

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`
        - Output: :math:`(N, 768, H, W)`
    """

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        check_positive(in_channels=in_channels, channels_7x7=channels_7x7)
        c = channels_7x7
        self.in_channels, self.out_channels = in_channels, 768
        self.branch1x1 = ConvBN(in_channels, 192, 1)
        self.branch7x7_1 = ConvBN(in_channels, c, 1)
        self.branch7x7_2 = ConvBN(c, c, (1, 7), padding=(0, 3))
        self.branch7x7_3 = ConvBN(c, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = ConvBN(in_channels, c, 1)
        self.branch7x7dbl_2 = ConvBN(c, c, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = ConvBN(c, c, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = ConvBN(c, c, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = ConvBN(c, 192, (1, 7), padding=(0, 3))
        self.branch_pool = ConvBN(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        for conv in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                     self.branch7x7dbl_5):
            bd = conv(bd)
        bp = self.branch_pool(_avg_pool(x))
        return torch.cat([b1, b7, bd, bp], dim=1)  # (N, 4·192, H, W)


class InceptionD(nn.Module):
    """17×17 → 8×8 grid reduction (Figure 10).

    Branches: ``1×1 (192) → 3×3/2 (320)``; ``1×1 (192) → 1×7 (192) → 7×1 (192) → 3×3/2 (192)``;
    ``3×3/2 max pool`` (passes the input's channels through).

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`
        - Output: :math:`(N, 512 + C_{in}, \\lfloor (H-3)/2 \\rfloor + 1,
          \\lfloor (W-3)/2 \\rfloor + 1)`
    """

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        check_positive(in_channels=in_channels)
        self.in_channels, self.out_channels = in_channels, 320 + 192 + in_channels
        self.branch3x3_1 = ConvBN(in_channels, 192, 1)
        self.branch3x3_2 = ConvBN(192, 320, 3, stride=2)
        self.branch7x7x3_1 = ConvBN(in_channels, 192, 1)
        self.branch7x7x3_2 = ConvBN(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = ConvBN(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = ConvBN(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_1(x)
        for conv in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            b7 = conv(b7)
        bp = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([b3, b7, bp], dim=1)  # (N, 320 + 192 + C_in, H', W')


class InceptionE(nn.Module):
    """8×8 module (Figure 7): expanded filter bank outputs.

    Branches: ``1×1 (320)``; ``1×1 (384) → [1×3 (384) ‖ 3×1 (384)]``;
    ``1×1 (448) → 3×3 (384) → [1×3 (384) ‖ 3×1 (384)]``; ``3×3 avg pool → 1×1 (192)``, where
    ``‖`` runs both convolutions on the same input and concatenates them.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`
        - Output: :math:`(N, 2048, H, W)`
    """

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        check_positive(in_channels=in_channels)
        self.in_channels, self.out_channels = in_channels, 320 + 768 + 768 + 192
        self.branch1x1 = ConvBN(in_channels, 320, 1)
        self.branch3x3_1 = ConvBN(in_channels, 384, 1)
        self.branch3x3_2a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = ConvBN(in_channels, 448, 1)
        self.branch3x3dbl_2 = ConvBN(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = ConvBN(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], dim=1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], dim=1)
        bp = self.branch_pool(_avg_pool(x))
        return torch.cat([b1, b3, bd, bp], dim=1)  # (N, 320 + 768 + 768 + 192, H, W)


class InceptionAux(nn.Module):
    """The auxiliary classifier on the 17×17 grid (Figure 8 of the paper).

    ``5×5/3 avg pool → 1×1 conv (128) → 5×5 conv (768) → global avg pool → linear``, each conv
    with batch norm and ReLU ("the main classifier of the network performs better if the side
    branch is batch-normalized", Section 4). On a 17×17 input the pool gives 5×5 and the 5×5
    conv 1×1.

    Shape:
        - Input: :math:`(N, C_{in}, 17, 17)` (any size with a pooled map of at least 5×5)
        - Output: :math:`(N, \\text{num\\_classes})`
    """

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        check_positive(in_channels=in_channels, num_classes=num_classes)
        self.conv0 = ConvBN(in_channels, 128, 1)
        self.conv1 = ConvBN(128, 768, 5)
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool2d(x, kernel_size=5, stride=3)  # (N, C, 17, 17) -> (N, C, 5, 5)
        x = self.conv1(self.conv0(x))  # -> (N, 768, 1, 1)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)  # -> (N, 768)
        return self.fc(x)  # -> (N, num_classes)
