"""Atrous Spatial Pyramid Pooling (ASPP) as in DeepLab v3.

Paper: Chen, Papandreou, Schroff, Adam, "Rethinking Atrous Convolution for Semantic Image
Segmentation", 2017 (https://arxiv.org/abs/1706.05587), Section 3.3 and Figure 5: "our
improved ASPP consists of (a) one 1×1 convolution and three 3×3 convolutions with rates =
(6, 12, 18) when output stride = 16 (all with 256 filters and batch normalization), and (b)
the image-level features [...]. Note that the rates are doubled when output stride = 8. The
resulting features from all the branches are then concatenated and pass through another 1×1
convolution (also with 256 filters and batch normalization)". The image-level features: global
average pooling, a 1×1 convolution with 256 filters and batch normalisation, then bilinear
upsampling "to the desired spatial dimension". They are there because a 3×3 filter with a rate
close to the feature map's size degenerates: most of its taps fall on the padding, and only
its centre weight sees the image.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .common import ActLayer, NormLayer, check_positive, make_act


def _conv_norm_act(in_channels: int, out_channels: int, kernel_size: int, dilation: int,
                   norm_layer: NormLayer, act_layer: ActLayer) -> nn.Sequential:
    # padding = dilation keeps the size of a 3×3 (effective size 2·d + 1) convolution
    padding = dilation if kernel_size == 3 else 0
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel_size,
                                         padding=padding, dilation=dilation,
                                         bias=norm_layer is None)]
    if norm_layer is not None:
        layers.append(norm_layer(out_channels))
    if act_layer is not None:
        layers.append(make_act(act_layer))
    return nn.Sequential(*layers)


class ASPPPooling(nn.Module):
    """The image-level branch: ``global avg pool → 1×1 conv → norm → act → bilinear upsample``.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`
        - Output: :math:`(N, C_{out}, H, W)`, constant over ``(H, W)`` for each image and
          channel up to float rounding (bilinear upsampling of a 1×1 map repeats its value)
    """

    def __init__(self, in_channels: int, out_channels: int,
                 norm_layer: NormLayer = nn.BatchNorm2d, act_layer: ActLayer = nn.ReLU) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv = _conv_norm_act(in_channels, out_channels, 1, 1, norm_layer, act_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(self.pool(x))  # (N, C_in, H, W) -> (N, C_out, 1, 1)
        return F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    """DeepLab v3's ASPP head: parallel atrous branches and image-level features, then a 1×1.

    Branches, each ``conv (no bias) → norm → act`` with ``out_channels`` filters:

    * a 1×1 convolution;
    * one 3×3 convolution per rate ``r`` in ``rates``, with dilation ``r`` and padding ``r``
      (effective kernel ``2r + 1``), so the spatial size is kept;
    * :class:`ASPPPooling`, the image-level features.

    Their outputs are concatenated (``(2 + len(rates))·out_channels`` channels) and projected by
    a ``1×1 conv → norm → act`` to ``out_channels``, followed by dropout with probability
    ``dropout``. The paper's Section 3.3 mentions no dropout, so the default is 0 (no dropout);
    torchvision's DeepLab v3 head uses 0.5 here.

    In training mode the pooling branch's batch norm sees one value per image and channel, so
    it needs a batch of at least 2 (PyTorch raises otherwise), as in every implementation.

    Args:
        in_channels: channels of the input feature map.
        out_channels: filters of every branch and of the projection (256 in the paper).
        rates: dilation rates of the 3×3 branches ((6, 12, 18) at output stride 16; the
            paper doubles them at output stride 8).
        dropout: dropout probability after the projection, in ``[0, 1)``.
        norm_layer, act_layer: layer classes (``nn.BatchNorm2d``, ``nn.ReLU``); without a norm
            the convolutions get biases.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`
        - Output: :math:`(N, \\text{out\\_channels}, H, W)`

    Example:
        >>> aspp = ASPP(2048).eval()
        >>> tuple(aspp(torch.zeros(1, 2048, 33, 33)).shape)
        (1, 256, 33, 33)
        >>> [b[0].dilation for b in aspp.branches[1:4]]
        [(6, 6), (12, 12), (18, 18)]
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int = 256,
        rates: Sequence[int] = (6, 12, 18),
        dropout: float = 0.0,
        norm_layer: NormLayer = nn.BatchNorm2d,
        act_layer: ActLayer = nn.ReLU,
    ) -> None:
        super().__init__()
        check_positive(in_channels=in_channels, out_channels=out_channels)
        if isinstance(rates, str) or not isinstance(rates, Sequence):
            raise TypeError(f"rates must be a sequence of positive ints, got {rates!r}")
        rates = tuple(rates)
        for rate in rates:
            if isinstance(rate, bool) or not isinstance(rate, int) or rate < 1:
                raise ValueError(f"rates must hold positive ints, got {rates!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, int | float) \
                or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
        self.in_channels, self.out_channels, self.rates = in_channels, out_channels, rates
        branches: list[nn.Module] = [
            _conv_norm_act(in_channels, out_channels, 1, 1, norm_layer, act_layer)]
        branches += [_conv_norm_act(in_channels, out_channels, 3, rate, norm_layer, act_layer)
                     for rate in rates]
        branches.append(ASPPPooling(in_channels, out_channels, norm_layer, act_layer))
        self.branches = nn.ModuleList(branches)
        self.project = nn.Sequential(
            _conv_norm_act(len(branches) * out_channels, out_channels, 1, 1, norm_layer,
                           act_layer),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([branch(x) for branch in self.branches], dim=1)  # (N, (2+R)·C_out, H, W)
        return self.project(y)  # -> (N, C_out, H, W)
