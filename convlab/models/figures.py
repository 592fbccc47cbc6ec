"""The papers' published parameter and multiply-add counts, beside the counts of our networks.

Every paper here reports cost as multiply-adds (MACs; "FLOPs" in ResNeXt and ShuffleNet means
multiply-adds), for one 224×224 image. :func:`paper_figures` counts our networks with
:func:`convlab.analysis.count_params` (trainable parameters, batch-norm scales and shifts
included) and :func:`convlab.analysis.count_macs` (convolutions and linear layers, biases
excluded) and sets each beside the published figure with the relative difference.

Where a network does not land within 1 % of its paper, the :attr:`PaperFigure.note` says why:

* GoogLeNet's Table 1 gives its first layer 2.7K parameters and 34M ops, which no 7×7 conv from
  3 to 64 channels has (9,408 weights, 118M MACs at 112×112), and counts parameters in units of
  1,024 ("159K" for inception 3a's 163,328 weights). With our first layer, the MACs are 5.5 %
  and the parameters 2.9 % above the totals; with Table 1's first-layer figures and its units
  they are within 1 %.
* The BN paper states "13.6·10⁶ parameters" for the network of its Figure 5, but that figure's
  layers hold 11.3M (as common re-implementations find); the paper's own "+25 % parameters over
  GoogLeNet" would be about 8.5M, so its statements do not agree with one another.

Example:
    >>> PAPER_FIGURES["resnext50_32x4d"].params
    25000000.0
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import torch
from torch import nn

from convlab.analysis.cost import count_macs, count_params

from .googlenet import googlenet
from .inception_bn import inception_bn
from .mobilenet import mobilenet_v1
from .resnext import resnext50_32x4d
from .shufflenet import shufflenet_v1


class PaperFigure(NamedTuple):
    """A published cost figure: parameters and multiply-adds at 224×224 (``None``: not given).

    ``macs_kinds`` are the layer kinds the paper's count covers (see
    :func:`convlab.analysis.count_macs`). ``within_1pct`` says whether our network is expected
    to land within 1 % of the figure; when it is not, ``note`` explains the difference.
    """

    params: float | None
    macs: float | None
    source: str
    within_1pct: bool = True
    note: str = ""
    macs_kinds: tuple[str, ...] = ("conv2d", "linear")


#: Networks of :data:`PAPER_FIGURES` by name, as zero-argument builders.
MODELS: dict[str, Callable[[], nn.Module]] = {
    "googlenet": googlenet,
    "inception_bn": inception_bn,
    "resnext50_32x4d": resnext50_32x4d,
    "shufflenet_v1_g1": partial(shufflenet_v1, groups=1),
    "shufflenet_v1_g2": partial(shufflenet_v1, groups=2),
    "shufflenet_v1_g3": partial(shufflenet_v1, groups=3),
    "shufflenet_v1_g4": partial(shufflenet_v1, groups=4),
    "shufflenet_v1_g8": partial(shufflenet_v1, groups=8),
    "mobilenet_v1": mobilenet_v1,
}

_SHUFFLENET_SOURCE = (
    "Zhang et al. 2018, ShuffleNet (arXiv:1707.01083), Table 1, 'Complexity' of ShuffleNet 1× "
    "with g = {g} (MFLOPs = mega multiply-adds); no parameter count is published"
)

#: Published figures, keyed like :data:`MODELS`.
PAPER_FIGURES: dict[str, PaperFigure] = {
    "googlenet": PaperFigure(
        6.8e6, 1.5e9,
        "Szegedy et al. 2015, Going Deeper with Convolutions (arXiv:1409.4842), Table 1 totals "
        "of the 'params' and 'ops' columns",
        within_1pct=False,
        note="Table 1 lists the 7×7 first layer as 2.7K params / 34M ops (a 7×7×3×64 conv has "
        "9,408 weights and 118M MACs) and counts params in units of 1,024",
    ),
    "inception_bn": PaperFigure(
        13.6e6, None,
        "Ioffe & Szegedy 2015, Batch Normalization (arXiv:1502.03167), Section 4.2: 'The "
        "network contains 13.6·10^6 parameters'; no multiply-add count is published",
        within_1pct=False,
        note="the layers of the paper's Figure 5 hold 11.3M parameters; the paper's own "
        "'+25% parameters over GoogLeNet' would be about 8.5M",
    ),
    "resnext50_32x4d": PaperFigure(
        25.0e6, 4.2e9,
        "Xie et al. 2017, Aggregated Residual Transformations (arXiv:1611.05431), Table 1: "
        "# params 25.0×10^6, FLOPs 4.2×10^9 (multiply-adds)",
    ),
    **{
        f"shufflenet_v1_g{g}": PaperFigure(
            None, mflops * 1e6, _SHUFFLENET_SOURCE.format(g=g), macs_kinds=("conv2d",),
            note="Table 1 counts the convolutions only: for all five g the conv MACs round to "
            "its figure, while adding the final FC layer's 0.6-1.5M would not",
        )
        for g, mflops in ((1, 143), (2, 140), (3, 137), (4, 133), (8, 137))
    },
    "mobilenet_v1": PaperFigure(
        4.2e6, 569e6,
        "Howard et al. 2017, MobileNets (arXiv:1704.04861), Table 8: 1.0 MobileNet-224, "
        "569 million mult-adds, 4.2 million parameters",
    ),
}


def _relative(computed: int, published: float | None) -> float | None:
    return None if published is None else computed / published - 1.0


def paper_figures(
    names: tuple[str, ...] | None = None, input_size: int = 224
) -> list[dict[str, object]]:
    """Count our networks and set the counts beside the published figures.

    The networks are built on PyTorch's ``meta`` device, where tensors have shapes but no
    data, so counting even ResNeXt-50 takes a fraction of a second.

    Args:
        names: keys of :data:`PAPER_FIGURES` (default: all, in its order).
        input_size: side of the square RGB input (the papers use 224).

    Returns:
        One row per network: ``model``, ``params``, ``paper_params``, ``params_diff``
        (relative, ``computed / paper − 1``), ``macs`` (conv and linear layers), ``macs_as_paper``
        (the layer kinds the paper counts), ``paper_macs``, ``macs_diff`` (of ``macs_as_paper``),
        ``source``, ``note``. Missing published figures are ``None``.
    """
    names = tuple(PAPER_FIGURES) if names is None else tuple(names)
    unknown = [n for n in names if n not in PAPER_FIGURES]
    if unknown:
        raise ValueError(f"names must be keys of PAPER_FIGURES {list(PAPER_FIGURES)}, "
                         f"got {unknown}")
    rows = []
    for name in names:
        figure = PAPER_FIGURES[name]
        with torch.device("meta"):  # shapes only: no memory, no initialisation, no arithmetic
            model = MODELS[name]()
        shape = (1, 3, input_size, input_size)
        params, macs = count_params(model), count_macs(model, shape)
        as_paper = macs if set(figure.macs_kinds) == {"conv2d", "linear"} else count_macs(
            model, shape, kinds=figure.macs_kinds
        )
        rows.append({
            "model": name,
            "params": params,
            "paper_params": figure.params,
            "params_diff": _relative(params, figure.params),
            "macs": macs,
            "macs_as_paper": as_paper,
            "paper_macs": figure.macs,
            "macs_diff": _relative(as_paper, figure.macs),
            "source": figure.source,
            "note": figure.note,
        })
    return rows
