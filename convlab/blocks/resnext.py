"""ResNeXt's bottleneck block: a ResNet bottleneck whose 3×3 convolution is grouped.

Paper: Xie, Girshick, Dollár, Tu, He, "Aggregated Residual Transformations for Deep Neural
Networks", CVPR 2017 (https://arxiv.org/abs/1611.05431). The block aggregates ``C`` (the
cardinality) parallel paths of width ``d``; its form (c), used here, writes them as one grouped
convolution with ``groups = C`` on ``C·d`` channels.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .common import ConvNormAct, NormLayer, check_positive, make_act


def bottleneck_width(planes: int, cardinality: int = 1, base_width: int = 64) -> int:
    """Channels of the grouped 3×3 conv: ``floor(planes · base_width / 64) · cardinality``.

    ResNeXt-50 32×4d, first stage: ``planes = 64`` gives ``4 · 32 = 128`` (the paper's Table 1).
    """
    return int(math.floor(planes * (base_width / 64))) * cardinality


class ResNeXtBlock(nn.Module):
    """``1×1 → 3×3 grouped (stride) → 1×1`` with a shortcut, ``out = act(F(x) + shortcut(x))``.

    ``F(x) = norm(conv1×1_{w→out}(act(norm(conv3×3_{w→w, groups=C, stride}(act(norm(
    conv1×1_{in→w}(x))))))))`` with ``w = bottleneck_width(planes, C, base_width)`` and
    ``out = planes · expansion``. The shortcut is the identity when the shape is kept and a
    strided 1×1 projection (+ norm) otherwise (ResNet's option B). Variants are arguments:
    ``cardinality=1, base_width=64`` is ResNet's bottleneck; ``cardinality=32, base_width=4`` is
    ResNeXt 32×4d.

    Args:
        in_channels: channels of the input.
        planes: the block's base width; the output has ``planes · expansion`` channels.
        stride: stride of the grouped 3×3 conv (and of the projection).
        cardinality: number of groups ``C`` of the 3×3 conv.
        base_width: width ``d`` of each group at ``planes = 64``.
        expansion: ratio of output channels to ``planes`` (4 in ResNet/ResNeXt).
        downsample: ``None`` picks the projection when needed; ``False`` forbids it (the shapes
            must then match); or a module to use as the shortcut.
        norm_layer, act_layer: layer classes (``nn.BatchNorm2d``, ``nn.ReLU``).
        zero_init_last: start the last norm's scale at zero, so the block begins as
            ``act(shortcut(x))`` (Goyal et al. 2017).

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`
        - Output: :math:`(N, \\text{planes}\\cdot\\text{expansion}, \\lceil H/s \\rceil,
          \\lceil W/s \\rceil)`

    Example:
        >>> block = ResNeXtBlock(256, 64, cardinality=32, base_width=4)
        >>> tuple(block(torch.zeros(1, 256, 56, 56)).shape)
        (1, 256, 56, 56)
    """

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        cardinality: int = 32,
        base_width: int = 4,
        expansion: int = 4,
        downsample: nn.Module | bool | None = None,
        norm_layer: NormLayer = nn.BatchNorm2d,
        act_layer: type[nn.Module] = nn.ReLU,
        zero_init_last: bool = False,
    ) -> None:
        super().__init__()
        check_positive(in_channels=in_channels, planes=planes, stride=stride,
                       cardinality=cardinality, base_width=base_width, expansion=expansion)
        width = bottleneck_width(planes, cardinality, base_width)
        if width < cardinality:
            raise ValueError(f"planes·base_width/64 ({planes}·{base_width}/64) must be >= 1 "
                             "so that each group has a channel")
        out_channels = planes * expansion
        self.in_channels, self.out_channels, self.width = in_channels, out_channels, width
        self.conv1 = ConvNormAct(in_channels, width, 1, norm_layer=norm_layer, act_layer=act_layer)
        self.conv2 = ConvNormAct(width, width, 3, stride, groups=cardinality,
                                 norm_layer=norm_layer, act_layer=act_layer)
        self.conv3 = ConvNormAct(width, out_channels, 1, norm_layer=norm_layer, act_layer=None)
        needs_projection = stride != 1 or in_channels != out_channels
        if downsample is None:
            downsample = needs_projection
        if downsample is True:
            self.downsample: nn.Module | None = ConvNormAct(
                in_channels, out_channels, 1, stride, norm_layer=norm_layer, act_layer=None
            )
        elif downsample is False:
            if needs_projection:
                raise ValueError(
                    f"downsample=False needs stride 1 and in_channels ({in_channels}) == "
                    f"planes·expansion ({out_channels})"
                )
            self.downsample = None
        else:
            self.downsample = downsample
        self.act = make_act(act_layer)
        if zero_init_last and norm_layer is not None:
            nn.init.zeros_(self.conv3[1].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)  # -> (N, out, H/s, W/s)
        y = self.conv1(x)  # (N, C_in, H, W) -> (N, w, H, W)
        y = self.conv2(y)  # -> (N, w, H/s, W/s), C groups of w/C channels
        y = self.conv3(y)  # -> (N, out, H/s, W/s)
        return self.act(y + shortcut)


# -- the three equivalent forms of the block's transformation (Fig. 3 of the paper) ------------
def _conv(x: torch.Tensor, w: torch.Tensor, groups: int = 1, padding: int = 0) -> torch.Tensor:
    from convlab.functional import conv2d

    return conv2d(x, w, None, padding=padding, groups=groups)


def resnext_form_a(x: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor,
                   w3: torch.Tensor) -> torch.Tensor:
    """ResNeXt's form (a): the sum over C branches of 1×1 → 3×3 → 1×1 (ReLU between).

    Shape:
        - x: ``(N, C_in, H, W)``; w1: ``(C, d, C_in, 1, 1)``; w2: ``(C, d, d, 3, 3)``;
          w3: ``(C, C_out, d, 1, 1)``
        - output: ``(N, C_out, H, W)`` = Σ_i T_i(x)
    """
    out = 0
    for i in range(w1.shape[0]):
        h = torch.relu(_conv(x, w1[i]))  # (N, d, H, W)
        h = torch.relu(_conv(h, w2[i], padding=1))
        out = out + _conv(h, w3[i])  # (N, C_out, H, W)
    return out


def resnext_form_b(x: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor,
                   W3: torch.Tensor) -> torch.Tensor:
    """ResNeXt's form (b), early concatenation: the C branches' first two layers, their
    outputs concatenated, then one dense 1×1.

    Shape:
        - w1: ``(C, d, C_in, 1, 1)``; w2: ``(C, d, d, 3, 3)``; W3: ``(C_out, C·d, 1, 1)``
    """
    hs = [torch.relu(_conv(torch.relu(_conv(x, w1[i])), w2[i], padding=1))
          for i in range(w1.shape[0])]  # C tensors (N, d, H, W)
    return _conv(torch.cat(hs, dim=1), W3)  # (N, C·d, H, W) -> (N, C_out, H, W)


def resnext_form_c(x: torch.Tensor, W1: torch.Tensor, W2: torch.Tensor,
                   W3: torch.Tensor, cardinality: int) -> torch.Tensor:
    """ResNeXt's form (c): dense 1×1 → grouped 3×3 (``groups=C``) → dense 1×1.

    Shape:
        - W1: ``(C·d, C_in, 1, 1)``; W2: ``(C·d, d, 3, 3)``; W3: ``(C_out, C·d, 1, 1)``
    """
    h = torch.relu(_conv(x, W1))  # (N, C·d, H, W)
    h = torch.relu(_conv(h, W2, groups=cardinality, padding=1))
    return _conv(h, W3)  # (N, C_out, H, W)
