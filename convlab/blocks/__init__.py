"""Building blocks of the papers' networks, and a registry that names them.

=========================  ====================================================  =======
name                       block                                                 chapter
=========================  ====================================================  =======
``resnext``                :class:`ResNeXtBlock` (grouped bottleneck)            2
``bottleneck``             :class:`Bottleneck` (ResNet, stride in 1×1 or 3×3)    4
``shufflenet``             :class:`ShuffleNetUnit` (group conv + shuffle)        2
``depthwise_separable``    :class:`DepthwiseSeparable` (MobileNet)               6
``aspp``                   :class:`ASPP` (DeepLab v3, atrous pyramid)            5
``inverted_residual``      :class:`InvertedResidual` (MobileNet v2)              6
``inception``              :class:`InceptionModule` (GoogLeNet)                  9
``bn_inception``           :class:`BNInceptionModule` (BN-Inception)             9
``inception_v3_a``         :class:`InceptionA` (35×35, 5×5 → two 3×3)            9
``inception_v3_b``         :class:`InceptionB` (35 → 17 grid reduction)          9
``inception_v3_c``         :class:`InceptionC` (17×17, 7×7 → 1×7 + 7×1)          8, 9
``inception_v3_d``         :class:`InceptionD` (17 → 8 grid reduction)           9
``inception_v3_e``         :class:`InceptionE` (8×8, expanded 1×3 ‖ 3×1)         9
=========================  ====================================================  =======

Example:
    >>> block_class("resnext") is ResNeXtBlock
    True
"""

from __future__ import annotations

from torch import nn

from .aspp import ASPP
from .common import ConvNormAct, make_act
from .inception import BNInceptionModule, InceptionModule
from .inception_v3 import InceptionA, InceptionB, InceptionC, InceptionD, InceptionE
from .mobilenet import DepthwiseSeparable, InvertedResidual
from .resnet import Bottleneck
from .resnext import ResNeXtBlock, bottleneck_width
from .shufflenet import ShuffleNetUnit

#: Block classes by the names chapters and checks use.
BLOCKS: dict[str, type[nn.Module]] = {
    "resnext": ResNeXtBlock,
    "bottleneck": Bottleneck,
    "shufflenet": ShuffleNetUnit,
    "depthwise_separable": DepthwiseSeparable,
    "aspp": ASPP,
    "inverted_residual": InvertedResidual,
    "inception": InceptionModule,
    "bn_inception": BNInceptionModule,
    "inception_v3_a": InceptionA,
    "inception_v3_b": InceptionB,
    "inception_v3_c": InceptionC,
    "inception_v3_d": InceptionD,
    "inception_v3_e": InceptionE,
}


def block_class(name: str) -> type[nn.Module]:
    """The block class registered as ``name`` (one of :data:`BLOCKS`)."""
    if name not in BLOCKS:
        raise ValueError(f"name must be one of {sorted(BLOCKS)}, got {name!r}")
    return BLOCKS[name]


__all__ = [
    "ASPP",
    "BLOCKS",
    "BNInceptionModule",
    "Bottleneck",
    "ConvNormAct",
    "DepthwiseSeparable",
    "InceptionA",
    "InceptionB",
    "InceptionC",
    "InceptionD",
    "InceptionE",
    "InceptionModule",
    "InvertedResidual",
    "ResNeXtBlock",
    "ShuffleNetUnit",
    "block_class",
    "bottleneck_width",
    "make_act",
]
