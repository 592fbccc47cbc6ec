"""ConvLab: the companion package of the course on convolution variants.

Submodules: ``functional`` (the convolutions, written from scratch), ``analysis`` (output sizes,
parameter and MAC counts), ``data`` (embedded datasets), ``train`` (a small training loop),
``models`` and ``blocks`` (the papers' architectures), ``viz`` (the book's figures) and
``exercises`` (the assignments' scaffold and checks).
"""

__version__ = "0.1.0"
