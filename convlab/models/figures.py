"""The papers' published parameter and multiply-add counts, beside the counts of our networks.

Every paper here reports cost as multiply-adds (MACs; "FLOPs" in ResNet, ResNeXt and
ShuffleNet means multiply-adds), for one 224×224 image (299×299 for Inception v3).
:func:`paper_figures` counts our networks with :func:`convlab.analysis.count_params` (trainable
parameters, batch-norm scales and shifts included) and :func:`convlab.analysis.count_macs`
(convolutions and linear layers, biases excluded) and sets each beside the published figure
with the relative difference, and beside the common implementation's (torchvision's) figures
where it builds the same network: its parameter counts are exact, and ours equal them.

Where a network does not land within 1 % of its paper, the :attr:`PaperFigure.note` says why:

* GoogLeNet's Table 1 lists its first layer at 2.7K parameters and 34M ops: the cost of a
  separable 7×7 conv with depth multiplier 8 (2,712 weights, 34.0M MACs; see
  :mod:`convlab.models.stems`), not of the plain 7×7 conv its text describes (9,408 weights,
  118M MACs). Built with that stem, GoogLeNet lands on Table 1's 1.5G ops. Table 1 also counts
  parameters in units of 1,024 (inception 3a's 163,328 weights are "159K"), so its "6.8M" is
  a sum of such K: in those units our weights (biases aside) come within 1 %, in plain units
  they are 2.8 % above.
* The BN paper states "13.6·10⁶ parameters" for the network of its Figure 5, but that
  figure's layers hold 11.3M (as common re-implementations find). Its appendix's "+25 %
  parameters over GoogLeNet" would be about 8.5M; its "+30 % computational cost" agrees with
  our counts.
* ResNet-50's Table 1 "3.8×10⁹" is one decimal of the 3.86×10⁹ counted for the paper's network
  (stride in the first 1×1); built the same way, ResNet-101 and -152 round to Table 1's 7.6 and
  11.3, while the stride-in-3×3 variant (torchvision's, 4.09×10⁹) gives 7.8 and 11.5.
* MobileNet v2's "3.4M" parameters: the conv and FC weights alone are 3.47M (the figure of
  TensorFlow's released checkpoints); batch norm's scales and shifts and the FC bias bring the
  trainable total to 3,504,872. Its 6.9M at width 1.4 matches no count (6.06M weights, 6.11M
  in all).
* Inception v3's abstract gives a bound and a round figure ("less than 25 million parameters",
  "5 billion multiply-adds"): 23.83M parameters without the training-only auxiliary head, and
  5.71×10⁹ multiply-adds for the released model's layout.

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
from .inception_v3 import inception_v3
from .mobilenet import mobilenet_v1, mobilenet_v2
from .resnet import resnet50
from .resnext import resnext50_32x4d
from .shufflenet import shufflenet_v1


class PaperFigure(NamedTuple):
    """A published cost figure: parameters and multiply-adds (``None``: not given).

    ``macs_kinds`` are the layer kinds the paper's count covers (see
    :func:`convlab.analysis.count_macs`). ``params_match`` and ``macs_match`` say whether our
    network lands within 1 % of each figure; where one does not, ``note`` explains why.
    ``input_size`` is the side of the square RGB image the figures are for.

    ``impl_params`` and ``impl_macs`` are the figures of the common implementation
    (torchvision's, named in ``impl_source``) where it builds the same network: its parameter
    count is exact, so ours must equal it; its multiply-adds are published rounded, so ours must
    round to them.
    """

    params: float | None
    macs: float | None
    source: str
    params_match: bool = True
    macs_match: bool = True
    note: str = ""
    macs_kinds: tuple[str, ...] = ("conv2d", "linear")
    input_size: int = 224
    impl_params: int | None = None
    impl_macs: float | None = None
    impl_source: str = ""


#: Networks of :data:`PAPER_FIGURES` by name, as zero-argument builders.
MODELS: dict[str, Callable[[], nn.Module]] = {
    "googlenet": googlenet,
    "googlenet_separable_stem": partial(googlenet, separable_stem=True),
    "inception_bn": inception_bn,
    "resnext50_32x4d": resnext50_32x4d,
    "shufflenet_v1_g1": partial(shufflenet_v1, groups=1),
    "shufflenet_v1_g2": partial(shufflenet_v1, groups=2),
    "shufflenet_v1_g3": partial(shufflenet_v1, groups=3),
    "shufflenet_v1_g4": partial(shufflenet_v1, groups=4),
    "shufflenet_v1_g8": partial(shufflenet_v1, groups=8),
    "mobilenet_v1": mobilenet_v1,
    "inception_v3": partial(inception_v3, aux_logits=False),
    "inception_v3_aux": inception_v3,
    "mobilenet_v2": mobilenet_v2,
    "mobilenet_v2_1.4": partial(mobilenet_v2, width_mult=1.4),
    "resnet50": resnet50,
    "resnet50_stride_in_3x3": partial(resnet50, stride_in_3x3=True),
}

_GOOGLENET_SOURCE = (
    "Szegedy et al. 2015, Going Deeper with Convolutions (arXiv:1409.4842), Table 1 totals "
    "of the 'params' and 'ops' columns"
)
_RESNET_SOURCE = (
    "He et al. 2016, Deep Residual Learning (arXiv:1512.03385), Table 1, 50-layer: FLOPs "
    "3.8×10^9 ('This model has 3.8 billion FLOPs'; FLOPs are multiply-adds: 'Our 34-layer "
    "baseline has 3.6 billion FLOPs (multiply-adds)'); no parameter count is published"
)
_TORCHVISION = "torchvision {name}: num_params {params:,} (exact), _ops {ops} GFLOPS (= GMACs)"
_INCEPTION_V3_SOURCE = (
    "Szegedy et al. 2016, Rethinking the Inception Architecture (arXiv:1512.00567), abstract: "
    "'a computational cost of 5 billion multiply-adds per inference and with using less than "
    "25 million parameters' (299×299 input)"
)
_MOBILENET_V2_SOURCE = (
    "Sandler et al. 2018, MobileNetV2 (arXiv:1801.04381), Table 4 (Params, MAdds: 'we count the "
    "total number of Multiply-Adds'): MobileNetV2 {params}, {madds}"
)
_MOBILENET_V2_NOTE = (
    "counting conv and FC weights only (no batch-norm scales and shifts, no biases) gives 3.47M "
    "at width 1 and 6.06M at width 1.4, the figures TensorFlow's released checkpoints list; the "
    "paper prints the first as 3.4M, and its 6.9M at width 1.4 matches no count of this network"
)
_SHUFFLENET_SOURCE = (
    "Zhang et al. 2018, ShuffleNet (arXiv:1707.01083), Table 1, 'Complexity' of ShuffleNet 1× "
    "with g = {g} (MFLOPs = mega multiply-adds); no parameter count is published"
)

#: Published figures, keyed like :data:`MODELS`.
PAPER_FIGURES: dict[str, PaperFigure] = {
    "googlenet": PaperFigure(
        6.8e6, 1.5e9, _GOOGLENET_SOURCE, params_match=False, macs_match=False,
        note="Table 1 gives the first layer the cost of a separable 7×7 conv (2.7K params, "
        "34M ops) where a plain one has 9,408 weights and 118M MACs, and counts params in "
        "units of 1,024",
    ),
    "googlenet_separable_stem": PaperFigure(
        6.8e6, 1.5e9, _GOOGLENET_SOURCE, params_match=False,
        note="Table 1 counts params in units of 1,024 (inception 3a's 163,328 weights are "
        "'159K'); in those units the weights are within 1%",
    ),
    "inception_bn": PaperFigure(
        13.6e6, None,
        "Ioffe & Szegedy 2015, Batch Normalization (arXiv:1502.03167), Section 4.2: 'The "
        "network contains 13.6·10^6 parameters'; no multiply-add count is published",
        params_match=False,
        note="the layers of the paper's Figure 5 hold 11.3M parameters; the appendix's own "
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
    "inception_v3": PaperFigure(
        25e6, 5e9, _INCEPTION_V3_SOURCE, params_match=False, macs_match=False,
        note="the abstract gives a bound and a round figure: 23.83M parameters without the "
        "auxiliary classifier (dropped at inference) are 'less than 25 million'; 5.71×10⁹ "
        "multiply-adds are 14% above '5 billion'. The paper leaves the exact layer widths to a "
        "supplementary model.txt; these are the released model's",
        input_size=299, impl_params=23_834_568, impl_macs=5.713e9,
        impl_source="torchvision inception_v3(aux_logits=False): 27,161,264 parameters less "
        "the auxiliary classifier's 3,326,696; _ops 5.713 GFLOPS (= GMACs)",
    ),
    "inception_v3_aux": PaperFigure(
        None, None, "Inception v3 with its auxiliary classifier on the 17×17 grid (used in "
        "training only; the multiply-adds are those of inference, without it)",
        input_size=299, impl_params=27_161_264, impl_macs=5.713e9,
        impl_source=_TORCHVISION.format(name="inception_v3", params=27_161_264, ops=5.713),
    ),
    "mobilenet_v2": PaperFigure(
        3.4e6, 300e6, _MOBILENET_V2_SOURCE.format(params="3.4M", madds="300M")
        + "; Section 4: 'a computational cost of 300 million multiply-adds and uses 3.4 million "
        "parameters'", params_match=False, note=_MOBILENET_V2_NOTE,
        impl_params=3_504_872, impl_macs=0.301e9,
        impl_source=_TORCHVISION.format(name="mobilenet_v2", params=3_504_872, ops=0.301),
    ),
    "mobilenet_v2_1.4": PaperFigure(
        6.9e6, 585e6, _MOBILENET_V2_SOURCE.format(params="(1.4) 6.9M", madds="585M"),
        params_match=False, note=_MOBILENET_V2_NOTE,
    ),
    "resnet50": PaperFigure(
        None, 3.8e9, _RESNET_SOURCE, macs_match=False,
        note="Table 1 prints one decimal and 3.86×10⁹ lies in [3.8, 3.9)×10⁹; the same "
        "construction gives 7.57×10⁹ and 11.28×10⁹ for 101 and 152 layers, which round to "
        "Table 1's 7.6 and 11.3 (the stride-in-3×3 variant's 7.80 and 11.51 do not)",
        impl_params=25_557_032,
        impl_source=_TORCHVISION.format(name="resnet50", params=25_557_032, ops=4.089)
        + ", for the stride-in-3×3 variant, whose parameters are the same",
    ),
    "resnet50_stride_in_3x3": PaperFigure(
        None, None, "the widely used variant of He et al. 2016's ResNet-50 (torchvision, "
        "'ResNet v1.5'): the stride moves from the first 1×1 conv to the 3×3 conv",
        impl_params=25_557_032, impl_macs=4.089e9,
        impl_source=_TORCHVISION.format(name="resnet50", params=25_557_032, ops=4.089),
    ),
}


def _relative(computed: int, published: float | None) -> float | None:
    return None if published is None else computed / published - 1.0


def paper_figures(
    names: tuple[str, ...] | None = None, input_size: int | None = None
) -> list[dict[str, object]]:
    """Count our networks and set the counts beside the published figures.

    The networks are built on PyTorch's ``meta`` device, where tensors have shapes but no
    data, so counting even ResNeXt-50 takes a fraction of a second.

    Args:
        names: keys of :data:`PAPER_FIGURES` (default: all, in its order).
        input_size: side of the square RGB input (default: each figure's ``input_size``, 224
            for all but Inception v3's 299).

    Returns:
        One row per network: ``model``, ``input_size``, ``params``, ``paper_params``,
        ``params_diff`` (relative, ``computed / paper − 1``), ``macs`` (conv and linear layers),
        ``macs_as_paper`` (the layer kinds the paper counts), ``paper_macs``, ``macs_diff`` (of
        ``macs_as_paper``), ``impl_params``, ``impl_params_diff``, ``impl_macs``,
        ``impl_macs_diff`` (against the common implementation's figures), ``source``,
        ``impl_source``, ``note``. Missing figures are ``None``.
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
        size = figure.input_size if input_size is None else input_size
        shape = (1, 3, size, size)
        params, macs = count_params(model), count_macs(model, shape)
        as_paper = macs if set(figure.macs_kinds) == {"conv2d", "linear"} else count_macs(
            model, shape, kinds=figure.macs_kinds
        )
        rows.append({
            "model": name,
            "input_size": size,
            "params": params,
            "paper_params": figure.params,
            "params_diff": _relative(params, figure.params),
            "macs": macs,
            "macs_as_paper": as_paper,
            "paper_macs": figure.macs,
            "macs_diff": _relative(as_paper, figure.macs),
            "impl_params": figure.impl_params,
            "impl_params_diff": _relative(params, figure.impl_params),
            "impl_macs": figure.impl_macs,
            "impl_macs_diff": _relative(macs, figure.impl_macs),
            "source": figure.source,
            "impl_source": figure.impl_source,
            "note": figure.note,
        })
    return rows


def _millions(value: float | None) -> str:
    return "—" if value is None else f"{value / 1e6:,.2f}M"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:+.2f}%"


def paper_figures_markdown(rows: list[dict[str, object]] | None = None) -> str:
    """:func:`paper_figures` as a Markdown table (computed, published, common implementation).

    Args:
        rows: rows from :func:`paper_figures` (default: computed now for every network).

    Returns:
        The table's Markdown text, one line per network, then one footnote line per note.
    """
    rows = paper_figures() if rows is None else rows
    lines = [
        "| model | params | paper | diff | common impl. | diff "
        "| MACs (as the paper counts) | paper | diff | common impl. | diff |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    notes: list[str] = []
    for row in rows:
        mark = ""
        if row["note"]:
            if row["note"] not in notes:
                notes.append(str(row["note"]))
            mark = f" [{notes.index(row['note']) + 1}]"
        cells = [
            _millions(row["params"]), _millions(row["paper_params"]),  # type: ignore[arg-type]
            _percent(row["params_diff"]), _millions(row["impl_params"]),  # type: ignore[arg-type]
            _percent(row["impl_params_diff"]),  # type: ignore[arg-type]
            _millions(row["macs_as_paper"]), _millions(row["paper_macs"]),  # type: ignore[arg-type]
            _percent(row["macs_diff"]), _millions(row["impl_macs"]),  # type: ignore[arg-type]
            _percent(row["impl_macs_diff"]),  # type: ignore[arg-type]
        ]
        lines.append(f"| {row['model']}{mark} | " + " | ".join(cells) + " |")
    return "\n".join(lines + [""] + [f"[{i}] {n}." for i, n in enumerate(notes, 1)])
