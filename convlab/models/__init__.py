"""The papers' networks at full size, and the small networks of the digits experiments.

Full size (``num_classes=1000`` by default): :func:`googlenet`, :func:`inception_bn`,
:func:`inception_v3` (299×299), :func:`resnet50`, :func:`resnext50_32x4d`,
:func:`shufflenet_v1`, :func:`mobilenet_v1`, :func:`mobilenet_v2`. Their published parameter
and multiply-add counts are in :data:`PAPER_FIGURES`; :func:`paper_figures` sets them beside
the counts of the networks built here (:func:`paper_figures_markdown`: as a table).
Small: :mod:`convlab.models.small`.
"""

from .figures import MODELS, PAPER_FIGURES, PaperFigure, paper_figures, paper_figures_markdown
from .googlenet import GoogLeNet, GoogLeNetOutputs, googlenet
from .inception_bn import InceptionBN, inception_bn
from .inception_v3 import InceptionOutputs, InceptionV3, inception_v3
from .mobilenet import MobileNetV1, MobileNetV2, mobilenet_v1, mobilenet_v2
from .resnet import ResNet, resnet50
from .resnext import ResNeXt, resnext50_32x4d
from .shufflenet import ShuffleNetV1, shufflenet_v1

__all__ = [
    "MODELS",
    "PAPER_FIGURES",
    "GoogLeNet",
    "GoogLeNetOutputs",
    "InceptionBN",
    "InceptionOutputs",
    "InceptionV3",
    "MobileNetV1",
    "MobileNetV2",
    "PaperFigure",
    "ResNeXt",
    "ResNet",
    "ShuffleNetV1",
    "googlenet",
    "inception_bn",
    "inception_v3",
    "mobilenet_v1",
    "mobilenet_v2",
    "paper_figures",
    "paper_figures_markdown",
    "resnet50",
    "resnext50_32x4d",
    "shufflenet_v1",
]
