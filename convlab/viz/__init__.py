"""The book's figures, one module per topic; every figure is drawn from computed arrays.

Shared:

* :mod:`.style` — the shared look (colours, sizes) and small drawing helpers;
* :mod:`.tables` — measured tables as Markdown for the pages;
* :mod:`.animate` — animated GIFs of the sliding window (chapter 1) and of the transposed
  convolution's stamps and zero insertion (chapter 3), from computed window positions.

Chapter 1, vanilla convolution:

* :mod:`.sliding` — the sliding window: padding, stride and dilation grids, impulse responses
  of cross-correlation and convolution;
* :mod:`.channels` — multi-channel sums and the convolution matrix;
* :mod:`.equivariance` — shifted inputs and feature maps, invariance curves;
* :mod:`.edges` — classic edge kernels applied to a photo;
* :mod:`.training` — loss curves and learned filters (also the training checks').

Chapter 2, group convolution: :mod:`.groups`. Chapter 3, transposed convolution:
:mod:`.transposed`. Chapter 4, 1×1 convolution: :mod:`.pointwise`. Chapter 5, atrous
convolution: :mod:`.atrous`. Chapter 6, depthwise separable convolution: :mod:`.separable`.
Chapter 7, deformable convolution: :mod:`.deformable`. Chapter 8,
spatially separable convolution: :mod:`.separable_spatial`. Chapter 9, Inception blocks:
:mod:`.inception`.

Each function returns a :class:`matplotlib.figure.Figure` and draws what it is given (or
computes with :mod:`convlab`), so what a page shows is what its cells computed. Import the
module you need (``from convlab.viz import sliding``); importing this package does not import
matplotlib.
"""

__all__ = [
    "animate", "atrous", "channels", "deformable", "edges", "equivariance", "groups", "inception",
    "pointwise", "separable", "separable_spatial", "sliding", "style", "tables", "training",
    "transposed",
]
