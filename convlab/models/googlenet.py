"""GoogLeNet (Inception v1) as in Table 1 of its paper, with optional auxiliary classifiers.

Paper: Szegedy, Liu, Jia, Sermanet, Reed, Anguelov, Erhan, Vanhoucke, Rabinovich, "Going Deeper
with Convolutions", CVPR 2015 (https://arxiv.org/abs/1409.4842).

Local response normalisation (after the first pooling and after the second conv) is left out:
it has no parameters and no multiply-accumulates in the counts, and later work dropped it.

The first layer is a plain 7×7 convolution by default, as the paper's text describes it and
re-implementations build it. Table 1's figures for that layer (2.7K params, 34M ops) are those
of a separable 7×7 convolution with depth multiplier 8 (:func:`~convlab.models.stems.
separable_stem`, which the BN paper says its Inception used); ``separable_stem=True`` builds
that variant, whose total lands on Table 1's 1.5G ops.

The auxiliary classifiers of Section 5 (``aux_logits=True``; off by default) sit on the outputs
of inception (4a) and (4d): "An average pooling layer with 5×5 filter size and stride 3,
resulting in an 4×4×512 output for the (4a), and 4×4×528 for the (4d) stage. A 1×1 convolution
with 128 filters for dimension reduction and rectified linear activation. A fully connected
layer with 1024 units and rectified linear activation. A dropout layer with 70% ratio of
dropped outputs. A linear layer with softmax loss as the classifier". Their losses were added
with weight 0.3 during training, and they are "discarded" at inference: in eval mode the
network returns the main logits only, and the multiply-adds counted for inference leave them
out. They hold 3,188,840 and 3,190,888 parameters (2.1M of each in the 2048 → 1024 layer).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from convlab.blocks import ConvNormAct, InceptionModule

from .stems import separable_stem as _separable

#: Table 1: (in_channels, #1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj).
GOOGLENET_MODULES: dict[str, tuple[int, int, int, int, int, int, int]] = {
    "3a": (192, 64, 96, 128, 16, 32, 32),
    "3b": (256, 128, 128, 192, 32, 96, 64),
    "4a": (480, 192, 96, 208, 16, 48, 64),
    "4b": (512, 160, 112, 224, 24, 64, 64),
    "4c": (512, 128, 128, 256, 24, 64, 64),
    "4d": (512, 112, 144, 288, 32, 64, 64),
    "4e": (528, 256, 160, 320, 32, 128, 128),
    "5a": (832, 256, 160, 320, 32, 128, 128),
    "5b": (832, 384, 192, 384, 48, 128, 128),
}


def _max_pool() -> nn.MaxPool2d:
    # 3×3/2 with ceil_mode: 112 -> 56 -> 28 -> 14 -> 7, the sizes of Table 1
    return nn.MaxPool2d(3, stride=2, ceil_mode=True)


class GoogLeNetOutputs(NamedTuple):
    """What :class:`GoogLeNet` returns in training mode with its auxiliary classifiers."""

    logits: torch.Tensor
    aux1: torch.Tensor  # on inception (4a)
    aux2: torch.Tensor  # on inception (4d)


class AuxClassifier(nn.Sequential):
    """GoogLeNet's auxiliary classifier (Section 5 of the paper, Figure 3).

    ``5×5/3 avg pool → 1×1 conv (128) + ReLU → FC (1024) + ReLU → dropout (0.7) → FC``; the
    conv has a bias and no normalisation, as in the rest of GoogLeNet.

    Shape:
        - Input: :math:`(N, C_{in}, 14, 14)` (inception 4a: 512 channels, 4d: 528); the pooled
          map must be 4×4, so the input must be 14×14 to 16×16
        - Output: :math:`(N, \\text{num\\_classes})`
    """

    def __init__(self, in_channels: int, num_classes: int = 1000,
                 dropout: float = 0.7) -> None:
        super().__init__(
            nn.AvgPool2d(5, stride=3),  # (N, C, 14, 14) -> (N, C, 4, 4)
            ConvNormAct(in_channels, 128, 1, norm_layer=None),  # -> (N, 128, 4, 4)
            nn.Flatten(),  # -> (N, 2048)
            nn.Linear(128 * 4 * 4, 1024), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(1024, num_classes),  # -> (N, num_classes)
        )


class GoogLeNet(nn.Module):
    """Inception v1: stem, nine Inception modules, global average pooling, dropout, linear.

    With ``aux_logits=True`` two :class:`AuxClassifier` heads read the outputs of inception
    (4a) and (4d); in training mode the forward pass then returns
    ``GoogLeNetOutputs(logits, aux1, aux2)``, in eval mode the logits alone.

    Shape:
        - Input: :math:`(N, 3, 224, 224)` (any size ≥ 32 works thanks to the global pool;
          with the auxiliary heads, 224×224 or a size that gives 14×14 at stage 4)
        - Output: :math:`(N, \\text{num\\_classes})`
    """

    def __init__(
        self, num_classes: int = 1000, dropout: float = 0.4, separable_stem: bool = False,
        aux_logits: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(aux_logits, bool):
            raise TypeError(f"aux_logits must be a bool, got {aux_logits!r}")
        plain = {"norm_layer": None}  # GoogLeNet predates batch norm: convs with biases
        first = _separable(64, norm_layer=None) if separable_stem else \
            ConvNormAct(3, 64, 7, stride=2, **plain)
        self.stem = nn.Sequential(
            first,  # (N, 3, 224, 224) -> (N, 64, 112, 112)
            _max_pool(),  # -> (N, 64, 56, 56)
            ConvNormAct(64, 64, 1, **plain),
            ConvNormAct(64, 192, 3, **plain),  # -> (N, 192, 56, 56)
            _max_pool(),  # -> (N, 192, 28, 28)
        )
        m = {name: InceptionModule(*args) for name, args in GOOGLENET_MODULES.items()}
        self.inception3 = nn.Sequential(m["3a"], m["3b"])  # -> (N, 480, 28, 28)
        self.pool3 = _max_pool()  # -> (N, 480, 14, 14)
        self.inception4 = nn.Sequential(m["4a"], m["4b"], m["4c"], m["4d"], m["4e"])
        self.pool4 = _max_pool()  # (N, 832, 14, 14) -> (N, 832, 7, 7)
        self.inception5 = nn.Sequential(m["5a"], m["5b"])  # -> (N, 1024, 7, 7)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
            nn.Linear(1024, num_classes),  # (N, 1024) -> (N, num_classes)
        )
        self.aux_logits = aux_logits
        self.aux1 = AuxClassifier(512, num_classes) if aux_logits else None  # on 4a
        self.aux2 = AuxClassifier(528, num_classes) if aux_logits else None  # on 4d

    def forward(self, x: torch.Tensor) -> torch.Tensor | GoogLeNetOutputs:
        x = self.stem(x)
        x = self.pool3(self.inception3(x))
        aux = self.aux_logits and self.training
        heads: list[torch.Tensor] = []
        for i, module in enumerate(self.inception4):  # 4a … 4e at 14×14
            x = module(x)
            if aux and i in (0, 3):  # (N, 512, 14, 14) after 4a, (N, 528, 14, 14) after 4d
                heads.append((self.aux1 if i == 0 else self.aux2)(x))  # type: ignore[misc]
        logits = self.head(self.inception5(self.pool4(x)))
        return GoogLeNetOutputs(logits, *heads) if aux else logits


def googlenet(
    num_classes: int = 1000, separable_stem: bool = False, aux_logits: bool = False
) -> GoogLeNet:
    """GoogLeNet (Inception v1), Table 1 of Szegedy et al. 2015, no LRN.

    ``separable_stem=True`` makes the first layer the separable 7×7 conv whose cost Table 1
    lists; ``aux_logits=True`` adds the auxiliary classifiers of Section 5 (see the module
    docstring), used in training mode only.
    """
    return GoogLeNet(num_classes=num_classes, separable_stem=separable_stem,
                     aux_logits=aux_logits)
