"""Small networks for the digits, whose convolutions are injected functions.

A student's convolution drops straight in: :class:`DigitsCNN` calls
``conv(x, weight, bias, stride=1, padding=1)`` and :class:`DigitsAutoencoder`'s decoder calls
``conv_transpose(x, weight, bias, stride=2, padding=1, output_padding=1)``;
:class:`ShuffleDigitsNet` calls ``unit(x, params, groups, stride)``. The defaults are
convlab's own from-scratch ops (:func:`convlab.functional.conv2d`,
:func:`convlab.functional.conv_transpose2d`). The weights are plain :class:`~torch.nn.Parameter`
tensors drawn from a seeded generator, so two models built with the same seed are identical,
and :meth:`~SmallNet.state_arrays` / :meth:`~SmallNet.load_arrays` move them in and out as plain
``numpy`` arrays (the grader receives a student's trained weights that way).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ConvFn = Callable[..., torch.Tensor]


def _uniform(shape: tuple[int, ...], fan_in: int, generator: torch.Generator) -> nn.Parameter:
    """PyTorch's default conv/linear init, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, seeded."""
    bound = 1.0 / math.sqrt(fan_in)
    values = torch.rand(shape, generator=generator, dtype=torch.float32) * (2 * bound) - bound
    return nn.Parameter(values)


def _check_channels(channels: Sequence[int]) -> tuple[int, ...]:
    channels = tuple(channels)
    if len(channels) != 2 or any(
        isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in channels
    ):
        raise ValueError(f"channels must be two positive ints, got {channels!r}")
    return channels


def _check_size(name: str, value: int, multiple: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < multiple:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    if value % multiple:
        raise ValueError(f"{name} ({value}) must be divisible by {multiple}")
    return value


class SmallNet(nn.Module):
    """Plain-array access to the parameters, shared by the digits networks."""

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Every parameter as a float32 ``numpy`` copy, keyed by its name."""
        return {
            name: p.detach().to("cpu", torch.float32).numpy().copy()
            for name, p in self.named_parameters()
        }

    def load_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Copy plain arrays into the parameters; names and shapes must match exactly.

        Raises:
            ValueError: on a missing or unexpected name, a shape mismatch or non-finite values.
        """
        params = dict(self.named_parameters())
        missing = sorted(set(params) - set(arrays))
        extra = sorted(set(arrays) - set(params))
        if missing or extra:
            raise ValueError(f"arrays must hold exactly {sorted(params)}; missing {missing}, "
                             f"unexpected {extra}")
        with torch.no_grad():
            for name, p in params.items():
                value = np.asarray(arrays[name])
                if value.shape != tuple(p.shape):
                    raise ValueError(
                        f"arrays[{name!r}] has shape {value.shape}, expected {tuple(p.shape)}"
                    )
                if not np.issubdtype(value.dtype, np.number) or not np.all(np.isfinite(value)):
                    raise ValueError(f"arrays[{name!r}] must hold finite numbers")
                p.copy_(torch.from_numpy(value.astype(np.float32)))


class DigitsCNN(SmallNet):
    """Two 3×3 convolutions and a linear classifier for the 8×8 (or upsampled) digits.

    ``conv(1→c1, 3×3, pad 1) → ReLU → maxpool 2 → conv(c1→c2, 3×3, pad 1) → ReLU → maxpool 2 →
    flatten → linear(c2·(S/4)² → num_classes)``. Each convolution is a call of the injected
    ``conv(x, weight, bias, stride=1, padding=1)``.

    Args:
        conv: a function with :func:`torch.nn.functional.conv2d`'s signature; default
            :func:`convlab.functional.conv2d`.
        channels: output channels ``(c1, c2)`` of the two convolutions.
        num_classes: outputs of the linear layer.
        image_size: side ``S`` of the square input (a multiple of 4: 8, 16, 32...).
        seed: seed of the initial weights (PyTorch's default uniform init).

    Shape:
        - Input: :math:`(N, 1, S, S)`
        - Output: :math:`(N, \\text{num\\_classes})` logits

    Example:
        >>> import torch.nn.functional as F
        >>> net = DigitsCNN(conv=F.conv2d, seed=0)
        >>> tuple(net(torch.zeros(2, 1, 8, 8)).shape)
        (2, 10)
    """

    def __init__(
        self,
        conv: ConvFn | None = None,
        channels: Sequence[int] = (8, 16),
        num_classes: int = 10,
        image_size: int = 8,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if conv is None:
            from convlab.functional import conv2d as conv
        if not callable(conv):
            raise TypeError(f"conv must be callable, got {type(conv).__name__}")
        c1, c2 = _check_channels(channels)
        self.image_size = _check_size("image_size", image_size, 4)
        num_classes = _check_size("num_classes", num_classes, 1)
        self.conv = conv
        g = torch.Generator().manual_seed(seed)
        features = c2 * (image_size // 4) ** 2
        self.conv1_weight = _uniform((c1, 1, 3, 3), 9, g)
        self.conv1_bias = _uniform((c1,), 9, g)
        self.conv2_weight = _uniform((c2, c1, 3, 3), c1 * 9, g)
        self.conv2_bias = _uniform((c2,), c1 * 9, g)
        self.fc_weight = _uniform((num_classes, features), features, g)
        self.fc_bias = _uniform((num_classes,), features, g)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 1 or tuple(x.shape[-2:]) != (self.image_size,) * 2:
            raise ValueError(f"x must be (N, 1, {self.image_size}, {self.image_size}), "
                             f"got {tuple(x.shape)}")
        x = F.relu(self.conv(x, self.conv1_weight, self.conv1_bias, stride=1, padding=1))
        x = F.max_pool2d(x, 2)  # (N, c1, S, S) -> (N, c1, S/2, S/2)
        x = F.relu(self.conv(x, self.conv2_weight, self.conv2_bias, stride=1, padding=1))
        x = F.max_pool2d(x, 2)  # (N, c2, S/2, S/2) -> (N, c2, S/4, S/4)
        return F.linear(x.flatten(1), self.fc_weight, self.fc_bias)  # -> (N, num_classes)


class DigitsAutoencoder(SmallNet):
    """A convolutional autoencoder whose decoder upsamples with transposed convolutions.

    Encoder: ``conv(1→c1, 3×3, stride 2, pad 1) → ReLU → conv(c1→c2, 3×3, stride 2, pad 1) →
    ReLU`` takes ``S×S`` to ``S/4×S/4``. Decoder: ``conv_transpose(c2→c1, 3×3, stride 2, pad 1,
    output_padding 1) → ReLU → conv_transpose(c1→1, same) → sigmoid`` takes it back, since
    :math:`(H-1)\\cdot 2 - 2 + 3 + 1 = 2H`. The decoder calls the injected
    ``conv_transpose(x, weight, bias, stride=2, padding=1, output_padding=1)`` with weights of
    shape ``(C_in, C_out, 3, 3)`` (PyTorch's layout).

    Args:
        conv_transpose: a function with :func:`torch.nn.functional.conv_transpose2d`'s
            signature; default :func:`convlab.functional.conv_transpose2d`.
        conv: the encoder's convolution; default :func:`convlab.functional.conv2d`.
        channels: ``(c1, c2)`` channels of the two encoder stages.
        image_size: side ``S`` of the square input (a multiple of 4).
        seed: seed of the initial weights.

    Shape:
        - Input: :math:`(N, 1, S, S)` in ``[0, 1]``
        - Output: :math:`(N, 1, S, S)` in ``(0, 1)``; train with ``F.mse_loss`` against the input.
    """

    def __init__(
        self,
        conv_transpose: ConvFn | None = None,
        conv: ConvFn | None = None,
        channels: Sequence[int] = (16, 32),
        image_size: int = 8,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if conv_transpose is None:
            from convlab.functional import conv_transpose2d as conv_transpose
        if conv is None:
            from convlab.functional import conv2d as conv
        for name, fn in (("conv_transpose", conv_transpose), ("conv", conv)):
            if not callable(fn):
                raise TypeError(f"{name} must be callable, got {type(fn).__name__}")
        c1, c2 = _check_channels(channels)
        self.image_size = _check_size("image_size", image_size, 4)
        self.conv, self.conv_transpose = conv, conv_transpose
        g = torch.Generator().manual_seed(seed)
        self.enc1_weight = _uniform((c1, 1, 3, 3), 9, g)
        self.enc1_bias = _uniform((c1,), 9, g)
        self.enc2_weight = _uniform((c2, c1, 3, 3), c1 * 9, g)
        self.enc2_bias = _uniform((c2,), c1 * 9, g)
        # transposed-conv weights are (C_in, C_out, k, k); PyTorch's fan_in is C_out·k·k
        self.dec1_weight = _uniform((c2, c1, 3, 3), c1 * 9, g)
        self.dec1_bias = _uniform((c1,), c1 * 9, g)
        self.dec2_weight = _uniform((c1, 1, 3, 3), 9, g)
        self.dec2_bias = _uniform((1,), 9, g)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 1 or tuple(x.shape[-2:]) != (self.image_size,) * 2:
            raise ValueError(f"x must be (N, 1, {self.image_size}, {self.image_size}), "
                             f"got {tuple(x.shape)}")
        up = {"stride": 2, "padding": 1, "output_padding": 1}
        z = F.relu(self.conv(x, self.enc1_weight, self.enc1_bias, stride=2, padding=1))
        # (N, 1, S, S) -> (N, c1, S/2, S/2)
        z = F.relu(self.conv(z, self.enc2_weight, self.enc2_bias, stride=2, padding=1))
        # -> (N, c2, S/4, S/4)
        y = F.relu(self.conv_transpose(z, self.dec1_weight, self.dec1_bias, **up))
        # -> (N, c1, S/2, S/2)
        y = self.conv_transpose(y, self.dec2_weight, self.dec2_bias, **up)  # -> (N, 1, S, S)
        return torch.sigmoid(y)


# -- a small ShuffleNet ------------------------------------------------------------------------
def shufflenet_unit_reference(
    x: torch.Tensor,
    params: Sequence[torch.Tensor],
    groups: int,
    stride: int,
    *,
    shuffle: bool = True,
    shuffle_groups: int | None = None,
    shortcut: bool = True,
    relu_after_dw: bool = False,
    concat_branch_first: bool = False,
) -> torch.Tensor:
    """The ShuffleNet unit (Zhang et al., 2018, Fig. 2b/2c) with batch norm folded into biases.

    Branch: 1×1 group conv (``w1, b1``, ``groups``) → ReLU → channel shuffle (``groups``) →
    3×3 depthwise conv (``w2, b2``, ``stride``, padding 1) → 1×1 group conv (``w3, b3``).
    Stride 1: ``ReLU(x + branch(x))``. Stride 2: ``ReLU(cat[avgpool3×3,s2,p1(x), branch(x)])``.
    The keyword flags build the typical mistakes (no shuffle, a shuffle with other groups, no
    shortcut, a ReLU after the depthwise conv, the concatenation in the other order).

    Shape:
        - x: ``(N, C_in, H, W)``; w1: ``(M, C_in/g, 1, 1)``; w2: ``(M, 1, 3, 3)``;
          w3: ``(C_b, M/g, 1, 1)`` with ``C_b = C_in`` (stride 1) or ``C_out − C_in`` (stride 2)
        - output: ``(N, C_in, H, W)`` (stride 1) or ``(N, C_in + C_b, ⌈H/2⌉, ⌈W/2⌉)`` (stride 2)
    """
    from convlab.functional import channel_shuffle, conv2d

    w1, b1, w2, b2, w3, b3 = params
    h = torch.relu(conv2d(x, w1, b1, groups=groups))  # (N, M, H, W)
    if shuffle:
        h = channel_shuffle(h, groups if shuffle_groups is None else shuffle_groups)
    h = conv2d(h, w2, b2, stride=stride, padding=1, groups=w2.shape[0])  # depthwise
    if relu_after_dw:
        h = torch.relu(h)
    h = conv2d(h, w3, b3, groups=groups)  # (N, C_b, H', W')
    if not shortcut:
        return torch.relu(h)
    if stride == 1:
        return torch.relu(x + h)
    pooled = F.avg_pool2d(x, 3, 2, 1)  # (N, C_in, H', W')
    parts = (h, pooled) if concat_branch_first else (pooled, h)
    return torch.relu(torch.cat(parts, dim=1))  # (N, C_in + C_b, H', W')


def unit_params(rng: np.random.Generator, c_in: int, c_out: int, mid: int, groups: int,
                stride: int, dtype: type = np.float32) -> tuple[np.ndarray, ...]:
    """Random ``(w1, b1, w2, b2, w3, b3)`` of a ShuffleNet unit, He-scaled by fan-in."""
    c_b = c_in if stride == 1 else c_out - c_in
    shapes = [(mid, c_in // groups, 1, 1), (mid, 1, 3, 3), (c_b, mid // groups, 1, 1)]
    out: list[np.ndarray] = []
    for shape in shapes:
        fan_in = int(np.prod(shape[1:]))
        out.append((rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype))
        out.append((0.1 * rng.standard_normal(shape[0])).astype(dtype))
    return tuple(out)


class ShuffleDigitsNet(SmallNet):
    """A small ShuffleNet for the 8×8 digits whose two units call an injected function.

    ``conv3×3(1→C) → ReLU → unit(stride 2, C→2C) → unit(stride 1, 2C→2C) → flatten →
    linear(2C·4·4 → 10)``, each unit ``unit(x, (w1, b1, w2, b2, w3, b3), groups, stride)`` with
    ``C/2`` bottleneck channels (default :func:`shufflenet_unit_reference`). Weights are drawn
    from ``seed`` (He-scaled normal; :func:`unit_params` for the units).

    Shape:
        - Input: ``(N, 1, 8, 8)``; output: ``(N, 10)`` logits
    """

    def __init__(self, unit: ConvFn | None = None, channels: int = 12, groups: int = 3,
                 seed: int = 0) -> None:
        super().__init__()
        if channels % (2 * groups):
            raise ValueError(f"channels ({channels}) must be divisible by 2·groups ({2 * groups})")
        rng = np.random.default_rng(seed)
        self.unit = shufflenet_unit_reference if unit is None else unit
        self.groups = groups
        c, mid = channels, channels // 2

        def param(a: np.ndarray) -> nn.Parameter:
            return nn.Parameter(torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)))

        self.stem_w = param(rng.standard_normal((c, 1, 3, 3)) * np.sqrt(2 / 9))
        self.stem_b = param(np.zeros(c))
        self.unit1 = nn.ParameterList(param(p) for p in unit_params(rng, c, 2 * c, mid, groups, 2))
        self.unit2 = nn.ParameterList(
            param(p) for p in unit_params(rng, 2 * c, 2 * c, mid, groups, 1))
        self.fc_w = param(rng.standard_normal((10, 32 * c)) / np.sqrt(32 * c))
        self.fc_b = param(np.zeros(10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from convlab.functional import conv2d

        h = torch.relu(conv2d(x, self.stem_w, self.stem_b, padding=1))  # (N, C, 8, 8)
        h = self.unit(h, tuple(self.unit1), self.groups, 2)  # (N, 2C, 4, 4)
        h = self.unit(h, tuple(self.unit2), self.groups, 1)  # (N, 2C, 4, 4)
        return F.linear(h.flatten(1), self.fc_w, self.fc_b)  # (N, 10)
