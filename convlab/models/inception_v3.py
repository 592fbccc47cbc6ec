"""Inception v3 at 299×299: the factorised network of "Rethinking the Inception Architecture".

Paper: Szegedy, Vanhoucke, Ioffe, Shlens, Wojna, "Rethinking the Inception Architecture for
Computer Vision", CVPR 2016 (https://arxiv.org/abs/1512.00567). Its abstract: "a network with
a computational cost of 5 billion multiply-adds per inference and with using less than 25
million parameters".

The layers are those of the released model (TensorFlow-Slim's ``inception_v3``), in
torchvision's layout and with its names (``Conv2d_1a_3x3`` … ``Mixed_7c``, ``AuxLogits``), so
the counts can be set beside torchvision's exact 27,161,264 parameters (23,834,568 without the
auxiliary classifier, whose 3,326,696 parameters are dropped at inference) and its 5.71×10⁹
multiply-adds. Measured against the paper:

* Parameters: 23.83M without the auxiliary head, within the abstract's "less than 25
  million"; 27.16M with it.
* Multiply-adds: 5.71×10⁹ at 299×299, 14 % above the abstract's round "5 billion".
* Layout: the paper's Table 1 lists a stem of six 3×3 convolutions and one pool (the last
  convolution 3×3/1 at 35×35, giving 288 channels) and 3 / 5 / 2 modules at 35×35 / 17×17 /
  8×8. The released model's stem is five convolutions and two pools, ending
  ``1×1 (80) → 3×3 (192) → 3×3/2 max pool`` at 35×35×192; it has 3 / 4 / 2 modules (Mixed_5b–d,
  6b–e, 7b–c) with the two grid reductions (Mixed_6a, 7a) between them; and its 35×35 modules
  keep a ``1×1 → 5×5`` branch beside the factorised "double 3×3" one.

The auxiliary classifier sits on the last 17×17 output (after Mixed_6e). In training mode with
``aux_logits=True`` the forward pass returns ``(logits, aux_logits)``; otherwise the logits.
The paper trains with the auxiliary loss weighted 0.3 and label smoothing ε = 0.1 (Section 7);
those belong to the loss, not to the network.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from convlab.blocks.inception_v3 import (
    ConvBN,
    InceptionA,
    InceptionAux,
    InceptionB,
    InceptionC,
    InceptionD,
    InceptionE,
)


class InceptionOutputs(NamedTuple):
    """What :class:`InceptionV3` returns in training mode with its auxiliary classifier."""

    logits: torch.Tensor
    aux_logits: torch.Tensor


class InceptionV3(nn.Module):
    """Inception v3 (the released model's layout), for 299×299 RGB input.

    ===================================  ==========================  =====================
    layers                               kind                        output (299×299 in)
    ===================================  ==========================  =====================
    Conv2d_1a_3x3 … Conv2d_4a_3x3, pools stem                        35×35×192
    Mixed_5b, 5c, 5d                     :class:`InceptionA`         35×35×256, 288, 288
    Mixed_6a                             :class:`InceptionB`         17×17×768
    Mixed_6b, 6c, 6d, 6e                 :class:`InceptionC` (n=7)   17×17×768
    AuxLogits (training only)            :class:`InceptionAux`       num_classes
    Mixed_7a                             :class:`InceptionD`         8×8×1280
    Mixed_7b, 7c                         :class:`InceptionE`         8×8×2048
    avg pool, dropout 0.5, fc            head                        num_classes
    ===================================  ==========================  =====================

    Shape:
        - Input: :math:`(N, 3, 299, 299)` (at least 75×75; the auxiliary head needs the
          17×17 stage to be at least 5×5 after its 5×5/3 pool, 299×299 gives exactly that)
        - Output: :math:`(N, \\text{num\\_classes})`, or :class:`InceptionOutputs` of two such
          tensors in training mode with ``aux_logits=True``.
    """

    def __init__(self, num_classes: int = 1000, aux_logits: bool = True,
                 dropout: float = 0.5) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        if not isinstance(aux_logits, bool):
            raise TypeError(f"aux_logits must be a bool, got {aux_logits!r}")
        self.aux_logits = aux_logits
        self.Conv2d_1a_3x3 = ConvBN(3, 32, 3, stride=2)  # (N, 3, 299, 299) -> (N, 32, 149, 149)
        self.Conv2d_2a_3x3 = ConvBN(32, 32, 3)  # -> 147×147
        self.Conv2d_2b_3x3 = ConvBN(32, 64, 3, padding=1)  # -> 147×147×64
        self.maxpool1 = nn.MaxPool2d(3, stride=2)  # -> 73×73
        self.Conv2d_3b_1x1 = ConvBN(64, 80, 1)  # -> 73×73×80
        self.Conv2d_4a_3x3 = ConvBN(80, 192, 3)  # -> 71×71×192
        self.maxpool2 = nn.MaxPool2d(3, stride=2)  # -> 35×35×192
        self.Mixed_5b = InceptionA(192, pool_features=32)  # -> 35×35×256
        self.Mixed_5c = InceptionA(256, pool_features=64)  # -> 35×35×288
        self.Mixed_5d = InceptionA(288, pool_features=64)  # -> 35×35×288
        self.Mixed_6a = InceptionB(288)  # -> 17×17×768
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)  # -> 17×17×768
        self.AuxLogits = InceptionAux(768, num_classes) if aux_logits else None
        self.Mixed_7a = InceptionD(768)  # -> 8×8×1280
        self.Mixed_7b = InceptionE(1280)  # -> 8×8×2048
        self.Mixed_7c = InceptionE(2048)  # -> 8×8×2048
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2048, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor | InceptionOutputs:
        for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1",
                     "Conv2d_3b_1x1", "Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c",
                     "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"):
            x = getattr(self, name)(x)
        aux = self.AuxLogits(x) if self.AuxLogits is not None and self.training else None
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))  # (N, 2048, 8, 8)
        logits = self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))
        return logits if aux is None else InceptionOutputs(logits, aux)


def inception_v3(num_classes: int = 1000, aux_logits: bool = True) -> InceptionV3:
    """Inception v3 (Szegedy et al. 2016) at 299×299, with the auxiliary classifier by default.

    In training mode with ``aux_logits=True`` the forward pass returns
    ``InceptionOutputs(logits, aux_logits)``; in eval mode, or with ``aux_logits=False``, the
    logits alone.
    """
    return InceptionV3(num_classes=num_classes, aux_logits=aux_logits)
