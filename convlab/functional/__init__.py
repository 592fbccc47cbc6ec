"""The convolutions and the layers around them, written from scratch (no
``torch.nn.functional.conv*``, pooling, normalisation or sampling op inside).

* :func:`conv2d` — convolution by im2col and one matrix product (:mod:`.conv`);
* :func:`conv_transpose2d` — transposed convolution by one matrix product and col2im
  (:mod:`.conv_transpose`);
* :func:`channel_shuffle` — ShuffleNet's channel permutation (:mod:`.shuffle`);
* :func:`max_pool2d`, :func:`avg_pool2d` — pooling, forward and backward by hand (:mod:`.pool`,
  with :func:`pool_output_size`);
* :func:`batch_norm2d` — batch normalisation with the compact hand-written backward
  (:mod:`.batch_norm`);
* :func:`deform_conv2d` — deformable convolution v1/v2 with torchvision's layout, bilinear
  sampling by rows of a channels-last table (:mod:`.deform`).

Each has PyTorch's semantics (torchvision's for :func:`deform_conv2d`), shapes and errors and is
differentiable by autograd; the loop versions :func:`conv2d_naive` and
:func:`conv_transpose2d_naive` are the readable ground truth.
"""

from .batch_norm import batch_norm2d
from .conv import conv2d, conv2d_naive
from .conv_transpose import conv_transpose2d, conv_transpose2d_naive
from .deform import deform_conv2d
from .pool import avg_pool2d, max_pool2d, pool_output_size
from .shuffle import channel_shuffle

__all__ = [
    "avg_pool2d",
    "batch_norm2d",
    "channel_shuffle",
    "conv2d",
    "conv2d_naive",
    "conv_transpose2d",
    "conv_transpose2d_naive",
    "deform_conv2d",
    "max_pool2d",
    "pool_output_size",
]
