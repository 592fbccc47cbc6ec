"""The book's figures, one module per topic; every figure is drawn from computed arrays.

* :mod:`.style` — the shared look (colours, sizes) and small drawing helpers;
* :mod:`.tables` — measured tables as Markdown for the pages;
* :mod:`.sliding` — the sliding window: padding, stride and dilation grids, impulse responses
  of cross-correlation and convolution (chapter 1);
* :mod:`.channels` — multi-channel sums and the convolution matrix (chapter 1);
* :mod:`.equivariance` — shifted inputs and feature maps, invariance curves (chapter 1);
* :mod:`.edges` — classic edge kernels applied to a photo (chapter 1);
* :mod:`.training` — loss curves and learned filters (chapter 1 and the training checks).

Each function returns a :class:`matplotlib.figure.Figure` and draws nothing it did not get as
an argument, so what a page shows is what its cells computed. Import the module you need
(``from convlab.viz import sliding``); importing this package does not import matplotlib.
"""

__all__ = ["channels", "edges", "equivariance", "sliding", "style", "tables", "training"]
