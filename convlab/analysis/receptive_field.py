"""Receptive fields of convolutional stacks: by the recursion, and measured by a gradient.

**Theory** (Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural
Networks", Distill 2019). Each layer ``l`` with kernel ``k_l``, stride ``s_l`` and dilation
``d_l`` (per spatial axis) updates the receptive field size ``r`` of one output pixel, in input
pixels, and the jump ``j`` (the distance in input pixels between two neighbouring outputs):

    r_l = r_{l−1} + (k_l − 1)·d_l·j_{l−1},      j_l = j_{l−1}·s_l,      r_0 = j_0 = 1

so with stride 1 everywhere ``r = 1 + Σ_l (k_l − 1)·d_l``: three 3×3 convolutions see 7×7, and
3×3 convolutions dilated 1, 2, 4, 8 see 31×31. Padding moves the field, never grows it.
Element-wise layers (activations, batch normalisation, dropout) leave ``r`` and ``j`` alone.
:func:`receptive_field` applies the recursion to an ``nn.Sequential`` (nested ones too) of
``Conv2d``, ``MaxPool2d``, ``AvgPool2d`` and such element-wise layers.

**Measurement** (:func:`measured_receptive_field`): the receptive field of an output pixel is the
set of input pixels its value depends on, i.e. where the gradient of that output with respect
to the input is nonzero. Taken naively, the gradient can miss pixels the output depends on:
a ReLU that is off, a max-pool that picked another pixel of its window, or positive and
negative weights cancelling. So the measurement runs on a *positive linear copy* of the model,
in float64: every convolution keeps its geometry (kernel, stride, padding, dilation, groups)
with all weights set to 1 and no bias, every max-pool becomes a window sum of the same geometry
(the pixels it *could* pick), average pools stay (their weights are positive), and element-wise
layers become the identity. All paths then carry positive weight, nothing cancels, and the
gradient of the centre output is positive exactly on the pixels it can depend on. The measured
size is the extent of that set (its bounding box; a dilated stack may leave holes inside it,
the "gridding" of chapter 5), which :func:`receptive_field_map` returns as an image.

Example:
    >>> from torch import nn
    >>> stack = nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=1) for _ in range(3)])
    >>> rf = receptive_field(stack)
    >>> rf.size, rf.jump
    ((7, 7), (1, 1))
    >>> measured_receptive_field(stack, (1, 1, 15, 15))
    (7, 7)
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

__all__ = [
    "ELEMENTWISE",
    "LayerField",
    "ReceptiveField",
    "measured_receptive_field",
    "receptive_field",
    "receptive_field_map",
]

Pair = tuple[int, int]

#: Layers that act on each pixel on its own (or are the identity in evaluation): they pass
#: the receptive field through unchanged.
ELEMENTWISE: tuple[type[nn.Module], ...] = (
    nn.Identity,
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU,
    nn.SiLU, nn.Mish, nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid,
    nn.Softplus, nn.Softsign, nn.Tanhshrink, nn.Threshold, nn.LogSigmoid,
    nn.BatchNorm2d, nn.SyncBatchNorm,
    nn.Dropout, nn.Dropout2d, nn.AlphaDropout, nn.FeatureAlphaDropout,
)


@dataclass(frozen=True)
class LayerField:
    """The receptive field after one layer: its path in the model, its type, size and jump."""

    name: str
    kind: str
    size: Pair
    jump: Pair


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of one output pixel of a stack, per spatial axis (h, w).

    ``size``: the extent of input pixels one output pixel depends on. ``jump``: the input
    distance between neighbouring output pixels (the product of the strides). ``layers``: the
    same two after every layer, in order (element-wise layers included).
    """

    size: Pair
    jump: Pair
    layers: tuple[LayerField, ...] = ()


def _pair(value: int | Sequence[int]) -> Pair:
    if isinstance(value, numbers.Integral):
        return (int(value), int(value))
    items = tuple(int(v) for v in value)
    return (items[0], items[1]) if len(items) == 2 else (items[0], items[0])


def _leaves(model: nn.Module, prefix: str = "") -> Iterator[tuple[str, nn.Module]]:
    """The non-Sequential modules of ``model`` in forward order, with their dotted paths."""
    if isinstance(model, nn.Sequential):
        for name, child in model.named_children():
            yield from _leaves(child, f"{prefix}.{name}" if prefix else name)
    else:
        yield (prefix or type(model).__name__, model)


def _geometry(name: str, layer: nn.Module) -> tuple[Pair, Pair, Pair] | None:
    """(kernel, stride, dilation) of a spatial layer, None for an element-wise one."""
    if isinstance(layer, nn.Conv2d):
        return _pair(layer.kernel_size), _pair(layer.stride), _pair(layer.dilation)
    if isinstance(layer, nn.MaxPool2d):
        k = _pair(layer.kernel_size)
        s = k if layer.stride is None or layer.stride == () else _pair(layer.stride)
        return k, s, _pair(layer.dilation)
    if isinstance(layer, nn.AvgPool2d):
        k = _pair(layer.kernel_size)
        s = k if layer.stride is None or layer.stride == () else _pair(layer.stride)
        return k, s, (1, 1)
    if isinstance(layer, ELEMENTWISE):
        return None
    raise TypeError(
        f"receptive_field: layer {name!r} ({type(layer).__name__}) is not supported: the model "
        "must be an nn.Sequential (nested ones allowed) of Conv2d, MaxPool2d, AvgPool2d and "
        "element-wise layers (activations, BatchNorm2d, dropout)"
    )


def _check_model(model: object, op: str) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"{op}: model must be a torch.nn.Module, got {type(model).__name__}")
    return model


def receptive_field(model: nn.Module) -> ReceptiveField:
    """Receptive field size and jump of ``model``'s output pixels, by Araujo et al.'s recursion.

    ``r_l = r_{l−1} + (k_l − 1)·d_l·j_{l−1}`` and ``j_l = j_{l−1}·s_l`` from ``r_0 = j_0 = 1``,
    per axis, over the layers in forward order.

    Args:
        model: an ``nn.Sequential`` (nested Sequentials allowed) of ``Conv2d``, ``MaxPool2d``,
            ``AvgPool2d`` and element-wise layers (:data:`ELEMENTWISE`), or one such layer.

    Returns:
        :class:`ReceptiveField` with ``size`` and ``jump`` as (h, w) and the per-layer values.

    Raises:
        TypeError: ``model`` is not a module, or contains a layer of another kind (named by
            its path in the model and its type).
    """
    model = _check_model(model, "receptive_field")
    r, j = [1, 1], [1, 1]
    layers = []
    for name, layer in _leaves(model):
        geo = _geometry(name, layer)
        if geo is not None:
            k, s, d = geo
            for a in (0, 1):
                r[a] += (k[a] - 1) * d[a] * j[a]
                j[a] *= s[a]
        layers.append(LayerField(name, type(layer).__name__, (r[0], r[1]), (j[0], j[1])))
    return ReceptiveField((r[0], r[1]), (j[0], j[1]), tuple(layers))


class _WindowSum(nn.Module):
    """Sum over a max-pool's windows (same kernel, stride, padding, dilation): every pixel a
    max-pool could pick gets a positive weight."""

    def __init__(self, pool: nn.MaxPool2d) -> None:
        super().__init__()
        self.kernel = _pair(pool.kernel_size)
        self.stride = self.kernel if pool.stride in (None, ()) else _pair(pool.stride)
        self.padding, self.dilation = _pair(pool.padding), _pair(pool.dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from convlab.functional import conv2d

        ones = x.new_ones(x.shape[1], 1, *self.kernel)
        return conv2d(x, ones, None, self.stride, self.padding, self.dilation, x.shape[1])


def _positive_linear_copy(model: nn.Module) -> nn.Sequential:
    """The float64 measurement copy described in the module docstring."""
    layers: list[nn.Module] = []
    for name, layer in _leaves(model):
        geo = _geometry(name, layer)
        if geo is None:
            layers.append(nn.Identity())
        elif isinstance(layer, nn.Conv2d):
            conv = copy.deepcopy(layer).to(torch.float64)
            conv.padding_mode = "zeros"
            with torch.no_grad():
                conv.weight.fill_(1.0)
            conv.bias = None
            layers.append(conv)
        elif isinstance(layer, nn.MaxPool2d):
            layers.append(_WindowSum(layer))
        else:
            layers.append(copy.deepcopy(layer))
    return nn.Sequential(*layers)


def _check_shape(input_shape: Sequence[int]) -> tuple[int, int, int, int]:
    if isinstance(input_shape, torch.Size):
        input_shape = tuple(input_shape)
    if not isinstance(input_shape, tuple | list) or len(input_shape) not in (3, 4):
        raise ValueError(
            "measured_receptive_field: input_shape must be (N, C, H, W) or (C, H, W), got "
            f"{input_shape!r}"
        )
    for v in input_shape:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
            raise ValueError(
                "measured_receptive_field: input_shape must hold positive ints, got "
                f"{input_shape!r}"
            )
    shape = tuple(int(v) for v in input_shape)
    return (1, *shape[-3:]) if len(shape) == 3 else (1, *shape[1:])  # one sample is enough


def receptive_field_map(model: nn.Module, input_shape: Sequence[int]) -> torch.Tensor:
    """|∂ (centre output pixel, summed over channels) / ∂ input| of the positive linear copy.

    Positive exactly on the input pixels the centre output pixel ``(H_out // 2, W_out // 2)``
    depends on, zero elsewhere (see the module docstring for the copy and why).

    Shape: input_shape (N, C, H, W) or (C, H, W) -> (H, W), float64.
    """
    model = _check_model(model, "measured_receptive_field")
    shape = _check_shape(input_shape)
    probe = _positive_linear_copy(model)
    x = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
    out = probe(x)
    if out.dim() != 4:
        raise ValueError(
            f"measured_receptive_field: the model must map (N, C, H, W) to (N, C', H', W'), got "
            f"an output of shape {tuple(out.shape)}"
        )
    ho, wo = out.shape[-2:]
    out[0, :, ho // 2, wo // 2].sum().backward()
    assert x.grad is not None
    return x.grad[0].abs().sum(dim=0)


def measured_receptive_field(model: nn.Module, input_shape: Sequence[int]) -> Pair:
    """Receptive field size (h, w) of the centre output pixel, measured by its input gradient.

    The extent (bounding box) of the input pixels where the gradient of the centre output of
    the model's positive linear copy is nonzero (:func:`receptive_field_map`). Choose
    ``input_shape`` large enough that this field lies inside the input: a field cut by the
    border is measured smaller than :func:`receptive_field` says.

    Raises:
        TypeError: ``model`` is not a module or has an unsupported layer.
        ValueError: ``input_shape`` is not 3 or 4 positive ints, or the model's output is not
            4-D.
    """
    grad = receptive_field_map(model, input_shape)
    extent = []
    for axis in (1, 0):  # rows are nonzero where any column is, and vice versa
        hit = torch.nonzero(grad.amax(dim=axis) > 0).flatten()
        extent.append(int(hit[-1] - hit[0] + 1) if hit.numel() else 0)
    return (extent[0], extent[1])
