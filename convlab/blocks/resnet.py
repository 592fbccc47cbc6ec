"""ResNet's bottleneck block, with the stride where the paper puts it or where most code does.

Paper: He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016
(https://arxiv.org/abs/1512.03385), Figure 5 (right) and Table 1.

The paper's Table 1 says "Downsampling is performed by conv3_1, conv4_1, and conv5_1 with a
stride of 2", and the released Caffe model puts that stride in the block's first 1×1
convolution. Most later code (torchvision, "ResNet v1.5") moves it to the 3×3 convolution. The
weights are the same and the 3×3 convolution produces the same number of outputs either way;
what changes is the first 1×1 convolution, which then runs on the block's full input grid
(four times the multiply-adds) instead of reading one input pixel in four and discarding the
rest.
"""

from __future__ import annotations

import torch
from torch import nn

from .common import ConvNormAct, NormLayer, check_positive, make_act


class Bottleneck(nn.Module):
    """``1×1 → 3×3 → 1×1`` with a shortcut: ``out = act(F(x) + shortcut(x))``.

    ``F(x) = norm(conv1×1_{p→4p}(act(norm(conv3×3_{p→p}(act(norm(conv1×1_{in→p}(x))))))))``
    with ``p = planes`` and ``4p = planes · expansion`` output channels. At ``stride=2`` the
    stride sits in the first 1×1 convolution (``stride_in_3x3=False``, the paper) or in the 3×3
    convolution (``stride_in_3x3=True``, torchvision's "v1.5"). The shortcut is the identity when
    the shape is kept and a strided ``1×1 conv → norm`` projection otherwise (the paper's
    option B).

    Cost at an output grid of ``H' × W'`` (input ``H × W = s²·H'W'``): the 3×3 convolution
    costs ``9p²·H'W'`` MACs wherever the stride is; the first 1×1 costs ``in·p·H'W'`` with the
    stride in it and ``s²·in·p·H'W'`` with the stride in the 3×3.

    Args:
        in_channels: channels of the input.
        planes: the width ``p`` of the bottleneck; the output has ``planes · expansion``.
        stride: the block's stride (1 or 2 in ResNet).
        stride_in_3x3: put the stride in the 3×3 conv instead of the first 1×1 conv.
        expansion: output channels over ``planes`` (4 in ResNet-50/101/152).
        downsample: ``None`` picks the projection when the shape changes; ``False`` forbids it.
        norm_layer, act_layer: layer classes (``nn.BatchNorm2d``, ``nn.ReLU``).
        zero_init_last: start the last norm's scale at zero, so the block begins as
            ``act(shortcut(x))`` (Goyal et al. 2017).

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`
        - Output: :math:`(N, \\text{planes}\\cdot\\text{expansion}, \\lceil H/s \\rceil,
          \\lceil W/s \\rceil)`

    Example:
        >>> block = Bottleneck(256, 128, stride=2)
        >>> tuple(block(torch.zeros(1, 256, 56, 56)).shape)
        (1, 512, 28, 28)
    """

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        stride_in_3x3: bool = False,
        expansion: int = 4,
        downsample: bool | None = None,
        norm_layer: NormLayer = nn.BatchNorm2d,
        act_layer: type[nn.Module] = nn.ReLU,
        zero_init_last: bool = False,
    ) -> None:
        super().__init__()
        check_positive(in_channels=in_channels, planes=planes, stride=stride,
                       expansion=expansion)
        if not isinstance(stride_in_3x3, bool):
            raise TypeError(f"stride_in_3x3 must be a bool, got {stride_in_3x3!r}")
        out_channels = planes * expansion
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.stride_in_3x3 = stride_in_3x3
        layer = {"norm_layer": norm_layer, "act_layer": act_layer}
        s1, s3 = (1, stride) if stride_in_3x3 else (stride, 1)
        self.conv1 = ConvNormAct(in_channels, planes, 1, s1, **layer)
        self.conv2 = ConvNormAct(planes, planes, 3, s3, **layer)
        self.conv3 = ConvNormAct(planes, out_channels, 1, norm_layer=norm_layer, act_layer=None)
        needs_projection = stride != 1 or in_channels != out_channels
        if downsample is False and needs_projection:
            raise ValueError(f"downsample=False needs stride 1 and in_channels ({in_channels}) "
                             f"== planes·expansion ({out_channels})")
        self.downsample = ConvNormAct(
            in_channels, out_channels, 1, stride, norm_layer=norm_layer, act_layer=None
        ) if needs_projection and downsample is not False else None
        self.act = make_act(act_layer)
        if zero_init_last and norm_layer is not None:
            nn.init.zeros_(self.conv3[1].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)  # (N, 4p, H/s, W/s)
        y = self.conv1(x)  # (N, C_in, H, W) -> (N, p, H/s, W/s), or (N, p, H, W) if in 3×3
        y = self.conv2(y)  # -> (N, p, H/s, W/s)
        y = self.conv3(y)  # -> (N, 4p, H/s, W/s)
        return self.act(y + shortcut)
