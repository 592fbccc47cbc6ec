"""Model cost: trainable parameters and multiply-accumulates (MACs) of one forward pass.

Convention (the one the papers' "FLOPs" or "mult-adds" use): one MAC is one multiplication
added into an accumulator. Biases, normalisation, activations, pooling and element-wise
additions are not counted. Per layer, for a batch of ``N``:

* ``nn.Conv2d``: :math:`N \\cdot C_{out} H_{out} W_{out} \\cdot (C_{in}/g) \\, k_h k_w`
  (each output element is a dot product over its group's ``C_in/g`` channels and the kernel);
* ``nn.ConvTranspose2d``: :math:`N \\cdot C_{in} H_{in} W_{in} \\cdot (C_{out}/g) \\, k_h k_w`
  (each input element is scattered, multiplied by a ``C_out/g × k_h × k_w`` slice of the
  kernel);
* ``nn.Linear``: :math:`N' \\cdot \\text{in} \\cdot \\text{out}`, with :math:`N'` the number of
  input rows (all leading dimensions).

The counts come from forward hooks on those module types during one pass on a zero input under
``torch.no_grad()``; convolutions written as function calls (the digits networks' injected
``conv``) are not modules and are not seen.

Example:
    >>> from torch import nn
    >>> count_macs(nn.Conv2d(3, 8, 3, padding=1), (1, 3, 32, 32))  # 8·32·32 · 3·3·3
    221184
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import torch
from torch import nn


def count_params(model: nn.Module) -> int:
    """The number of trainable parameters (``requires_grad``) of ``model``, counted once each."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def conv2d_macs(module: nn.Conv2d, output: torch.Tensor) -> int:
    """MACs of one ``nn.Conv2d`` call that produced ``output`` of shape ``(N, C_out, H, W)``."""
    kh, kw = module.kernel_size
    return output.numel() * (module.in_channels // module.groups) * kh * kw


def conv_transpose2d_macs(module: nn.ConvTranspose2d, inputs: torch.Tensor) -> int:
    """MACs of one ``nn.ConvTranspose2d`` call on ``inputs`` of shape ``(N, C_in, H, W)``."""
    kh, kw = module.kernel_size
    return inputs.numel() * (module.out_channels // module.groups) * kh * kw


def linear_macs(module: nn.Linear, inputs: torch.Tensor) -> int:
    """MACs of one ``nn.Linear`` call on ``inputs`` of shape ``(*, in_features)``."""
    return (inputs.numel() // module.in_features) * module.in_features * module.out_features


def _check_shape(input_shape: Sequence[int]) -> tuple[int, ...]:
    if isinstance(input_shape, torch.Size):
        input_shape = tuple(input_shape)
    if not isinstance(input_shape, tuple | list) or not input_shape:
        raise TypeError(f"input_shape must be a non-empty tuple of ints, got {input_shape!r}")
    if any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in input_shape):
        raise ValueError(f"input_shape must hold positive ints, got {tuple(input_shape)}")
    return tuple(input_shape)


#: Layer kinds :func:`count_macs` can count, by the names its ``kinds`` argument takes.
LAYER_KINDS: dict[str, type[nn.Module]] = {
    "conv2d": nn.Conv2d,
    "conv_transpose2d": nn.ConvTranspose2d,
    "linear": nn.Linear,
}


def count_macs(
    model: nn.Module,
    input_shape: Sequence[int],
    kinds: Collection[str] = tuple(LAYER_KINDS),
) -> int:
    """Multiply-accumulates of one forward pass of ``model`` on an input of ``input_shape``.

    Counts ``nn.Conv2d`` (groups included), ``nn.ConvTranspose2d`` and ``nn.Linear`` modules,
    bias excluded (see the module docstring for the formulas). The batch size is part of
    ``input_shape``, so ``(8, 3, 224, 224)`` counts eight images. The pass runs in eval mode
    on zeros of the model's dtype and device; the model's mode is restored afterwards.

    Args:
        model: the network.
        input_shape: shape of the one input tensor, batch first, e.g. ``(1, 3, 224, 224)``.
        kinds: the layer kinds to count, a subset of :data:`LAYER_KINDS` (all by default);
            ``kinds=("conv2d",)`` counts the convolutions only, the convention of some papers.

    Returns:
        The total MACs as an int.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    shape = _check_shape(input_shape)
    if isinstance(kinds, str) or not set(kinds) <= set(LAYER_KINDS) or not kinds:
        raise ValueError(f"kinds must be a non-empty collection of {tuple(LAYER_KINDS)}, "
                         f"got {kinds!r}")
    first = next(iter(model.parameters()), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    total = 0

    def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            total += conv2d_macs(module, output)
        elif isinstance(module, nn.ConvTranspose2d):
            total += conv_transpose2d_macs(module, args[0])
        else:
            total += linear_macs(module, args[0])

    counted = tuple(LAYER_KINDS[k] for k in kinds)
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, counted)]
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(shape, dtype=dtype, device=device))
    finally:
        for handle in handles:
            handle.remove()
        for m, training in modes.items():
            m.training = training
    return int(total)
