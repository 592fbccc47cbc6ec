"""The forbidden-API vocabulary: every named set of APIs an exercise can forbid, and the one
resolver from a dotted name to the object it names.

The static scan (:mod:`autograder.scan`), the worker's run-time guard (:mod:`autograder.worker`)
and the in-kernel checks (:mod:`convlab.exercises.forbid`) all read these sets and resolve their
names with :func:`resolve`. A declaration builds its list with :func:`forbid`, which resolves
every name when the declarations load: a name the installed torch (or convlab) does not have is
an error there, never a silently dropped (and so silently allowed) API.

Sets whose name starts ``TORCH_`` hold PyTorch's entry points only; ``CONVLAB_`` sets hold
convlab's own reference implementations; the plain names join the two.
"""

from __future__ import annotations

import importlib
from typing import Any, NamedTuple

#: The engine every PyTorch convolution (direct or transposed) goes through.
TORCH_CONV_ENGINE: tuple[str, ...] = ("torch.convolution", "torch._convolution")
#: Every PyTorch entry point that computes a 2-D convolution.
TORCH_CONV2D: tuple[str, ...] = (
    "torch.nn.functional.conv2d",
    "torch.conv2d",
    *TORCH_CONV_ENGINE,
    "torch.nn.Conv2d.forward",
)
#: PyTorch's transposed convolutions, including the input gradient of a convolution.
TORCH_CONV_TRANSPOSE2D: tuple[str, ...] = (
    "torch.nn.functional.conv_transpose2d",
    "torch.conv_transpose2d",
    "torch.nn.ConvTranspose2d.forward",
    "torch.nn.grad.conv2d_input",
)
#: Sliding windows handed out by the library (the im2col shortcut).
TORCH_UNFOLD: tuple[str, ...] = (
    "torch.Tensor.unfold",
    "torch.nn.functional.unfold",
    "torch.nn.Unfold.forward",
)
#: Overlap-adding columns back into an image (col2im, a transposed convolution in disguise).
TORCH_FOLD: tuple[str, ...] = ("torch.nn.functional.fold", "torch.nn.Fold.forward")
#: Every PyTorch op a from-scratch convolution must not call.
TORCH_CONV_OPS: tuple[str, ...] = TORCH_CONV2D + TORCH_CONV_TRANSPOSE2D + TORCH_UNFOLD + TORCH_FOLD

#: convlab's own convolution (public and internal entry points).
CONVLAB_CONV2D: tuple[str, ...] = (
    "convlab.functional.conv2d",
    "convlab.functional.conv.conv2d",
    "convlab.functional.conv.conv2d_naive",
    "convlab.functional.im2col.correlate",
)
#: convlab's transposed convolution and its matrix and zero-insertion forms.
CONVLAB_CONV_TRANSPOSE2D: tuple[str, ...] = (
    "convlab.functional.conv_transpose2d",
    "convlab.linalg.conv_transpose2d_as_conv",
    "convlab.linalg.zero_insert",
    "convlab.linalg.conv_matrix",
)

#: Any way to have a library compute a convolution.
CONV: tuple[str, ...] = TORCH_CONV2D + CONVLAB_CONV2D
#: Any way to have a library compute a transposed convolution (or col2im).
TRANSPOSED: tuple[str, ...] = TORCH_CONV_TRANSPOSE2D + TORCH_FOLD + CONVLAB_CONV_TRANSPOSE2D
#: Library sliding windows, PyTorch's or convlab's.
UNFOLD: tuple[str, ...] = TORCH_UNFOLD + ("convlab.functional.im2col.im2col",)
#: Autograd entry points, forbidden where the gradient is the exercise.
AUTOGRAD: tuple[str, ...] = (
    "torch.autograd.grad",
    "torch.autograd.backward",
    "torch.Tensor.backward",
    "torch.nn.grad.conv2d_input",
    "torch.nn.grad.conv2d_weight",
    "torch.nn.functional.fold",
)
#: Jacobians computed for the student (where the matrix is the exercise).
JACOBIAN: tuple[str, ...] = (
    "torch.autograd.functional.jacobian",
    "torch.func.jacrev",
    "torch.func.jacfwd",
)
#: Channel shuffles, PyTorch's and convlab's.
SHUFFLE: tuple[str, ...] = (
    "torch.nn.functional.channel_shuffle",
    "torch.channel_shuffle",
    "torch.native_channel_shuffle",
    "torch.nn.ChannelShuffle.forward",
    "convlab.functional.channel_shuffle",
)
#: PyTorch's pooling entry points (max and average, with indices, as modules).
TORCH_POOL: tuple[str, ...] = (
    "torch.nn.functional.max_pool2d",
    "torch.nn.functional.max_pool2d_with_indices",
    "torch.nn.functional.avg_pool2d",
    "torch.nn.functional.adaptive_max_pool2d",
    "torch.nn.functional.adaptive_avg_pool2d",
    "torch.nn.functional.lp_pool2d",
    "torch.nn.functional.max_unpool2d",
    "torch.max_pool2d",
    "torch.nn.MaxPool2d.forward",
    "torch.nn.AvgPool2d.forward",
)
#: convlab's own pooling (public and internal entry points).
CONVLAB_POOL: tuple[str, ...] = (
    "convlab.functional.max_pool2d",
    "convlab.functional.avg_pool2d",
    "convlab.functional.pool.max_pool2d",
    "convlab.functional.pool.avg_pool2d",
)
#: Any way to have a library compute a pooling layer.
POOL: tuple[str, ...] = TORCH_POOL + CONVLAB_POOL
#: Switching the line tracer off would hide Python loops from the loop probe.
TRACER: tuple[str, ...] = ("sys.settrace", "sys.setprofile")


class API(NamedTuple):
    """A resolved dotted name: the object that holds it and the attribute's name.

    ``owner, attr = resolve(name)`` unpacks; ``resolve(name).value`` is the object itself.
    """

    owner: Any
    attr: str

    @property
    def value(self) -> Any:
        return getattr(self.owner, self.attr)


def resolve(dotted: str) -> API:
    """``"torch.nn.functional.conv2d"`` → ``API(torch.nn.functional, "conv2d")``.

    The longest importable module prefix is imported, the rest is followed as attributes, so
    class attributes work too: ``"torch.Tensor.unfold"`` → ``API(torch.Tensor, "unfold")``.

    Raises:
        ValueError: if ``dotted`` is not a dotted name, or names nothing in this installation.
    """
    parts = dotted.split(".") if isinstance(dotted, str) else []
    if len(parts) < 2 or not all(p.isidentifier() for p in parts):
        raise ValueError(f"an API must be a dotted name like 'torch.conv2d', got {dotted!r}")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            owner: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:-1]:
                owner = getattr(owner, attr)
        except AttributeError:
            break
        if hasattr(owner, parts[-1]):
            return API(owner, parts[-1])
        break
    raise ValueError(f"cannot resolve forbidden API {dotted!r} in this installation")


def forbid(*groups: str | tuple[str, ...]) -> tuple[str, ...]:
    """The union of API sets and single names, in order, without repeats; each resolved now.

    ``forbid(CONV, UNFOLD, "convlab.linalg.overlap_counts")``.

    Raises:
        ValueError: if a name does not resolve (see :func:`resolve`).
    """
    names: dict[str, None] = {}
    for group in groups:
        for name in (group,) if isinstance(group, str) else group:
            resolve(name)
            names[name] = None
    return tuple(names)
