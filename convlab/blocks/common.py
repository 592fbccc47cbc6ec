"""The conv → norm → activation unit every block here is built from."""

from __future__ import annotations

from torch import nn

from convlab.analysis.shapes import same_padding

NormLayer = type[nn.Module] | None
ActLayer = type[nn.Module] | None


def check_positive(**values: int) -> None:
    """Raise ``ValueError`` naming the first argument that is not a positive int."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


def check_divisible(name: str, value: int, by_name: str, by: int) -> None:
    """Raise ``ValueError`` with the rule when ``value`` is not a multiple of ``by``."""
    if value % by:
        raise ValueError(f"{name} ({value}) must be divisible by {by_name} ({by})")


def make_act(act_layer: type[nn.Module]) -> nn.Module:
    """``act_layer(inplace=True)``, or ``act_layer()`` for a class without ``inplace``."""
    try:
        return act_layer(inplace=True)
    except TypeError:
        return act_layer()


class ConvNormAct(nn.Sequential):
    """``Conv2d → norm_layer → act_layer`` (the conv has a bias only when there is no norm).

    Args:
        in_channels, out_channels, kernel_size, stride, groups: as :class:`torch.nn.Conv2d`;
            the padding is ``(k − 1) / 2`` (:func:`convlab.analysis.shapes.same_padding`), so
            ``H_out = ceil(H / stride)``; the kernel size must be odd.
        norm_layer: a class called as ``norm_layer(out_channels)``, or ``None`` for none.
        act_layer: an activation class (see :func:`make_act`), or ``None``.

    Shape:
        - Input: :math:`(N, C_{in}, H, W)`
        - Output: :math:`(N, C_{out}, \\lfloor (H + 2p - k)/s \\rfloor + 1, \\ldots)`
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        stride: int = 1,
        groups: int = 1,
        norm_layer: NormLayer = nn.BatchNorm2d,
        act_layer: ActLayer = nn.ReLU,
    ) -> None:
        check_positive(in_channels=in_channels, out_channels=out_channels,
                       kernel_size=kernel_size, stride=stride, groups=groups)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd for symmetric padding, got {kernel_size}")
        check_divisible("in_channels", in_channels, "groups", groups)
        check_divisible("out_channels", out_channels, "groups", groups)
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel_size, stride,
                      same_padding(kernel_size)[0], groups=groups, bias=norm_layer is None)
        ]
        if norm_layer is not None:
            layers.append(norm_layer(out_channels))
        if act_layer is not None:
            layers.append(make_act(act_layer))
        super().__init__(*layers)
        self.in_channels, self.out_channels = in_channels, out_channels
