"""The convolution family's exercise kit: a float64 reference of the layer's forward pass, case
generators that cover its signature, the mistakes a convolution's output can show, and the loop
probe's input. Chapters whose exercises compute ``conv(x, w, b, stride, padding)`` share them.

Conventions: ``x (N, C, H, W)``, ``w (F, C, kH, kW)``, ``b (F,)``, ``stride`` and ``padding``
ints applied to both spatial dimensions; the layer computes the cross-correlation
``out[n, f, i, j] = b[f] + Σ_{c,u,v} x_pad[n, c, i·s + u, j·s + v] · w[f, c, u, v]``.
"""

from __future__ import annotations

import numpy as np
import torch

from .apis import CONV, TRANSPOSED, UNFOLD, forbid
from .arrays import f64, flip
from .spec import Case, Mistake, Outputs, changed

#: PyTorch's convolution, held before any student code runs; only reference code calls it.
_torch_conv2d = torch.nn.functional.conv2d

#: Every way to have a library compute the convolution (or its sliding windows).
LIBRARY_CONV = forbid(CONV, TRANSPOSED, UNFOLD)


# -- the convolution's references, cases and mistakes ------------------------------------------
def conv_reference(c: Case) -> Outputs:
    """The case's cross-correlation in float64 (PyTorch's), returned as float32.

    Shape: ``x (N, C, H, W)``, ``w (F, C, kH, kW)``, ``b (F,)`` → ``(N, F, H_out, W_out)``.
    """
    out = _torch_conv2d(f64(c.x), f64(c.w), f64(c.b), stride=c.stride, padding=c.padding)
    return (out.numpy().astype(np.float32),)


def out_hw(c: Case) -> tuple[int, int]:
    return tuple((n + 2 * c.padding - k) // c.stride + 1  # type: ignore[return-value]
                 for n, k in zip(c.x.shape[-2:], c.w.shape[-2:], strict=True))


CONV_MISTAKES = (
    Mistake("flipped-kernel",
            "the kernel is flipped: that is convolution in the signal-processing sense; a conv "
            "layer computes the cross-correlation out[i, j] = Σ x_pad[i·s + u, j·s + v] · "
            "w[u, v] (no flip)",
            changed(conv_reference, w=lambda c: flip(c.w)),
            when=lambda c: c.w.shape[-2:] != (1, 1)),
    Mistake("kernel-transposed",
            "the kernel's rows and columns are swapped: read w[f, c, u, v] with u along the "
            "height and v along the width",
            changed(conv_reference, w=lambda c: np.ascontiguousarray(c.w.swapaxes(-1, -2))),
            when=lambda c: max(c.w.shape[-2:]) > 1),
    Mistake("padding-off-by-one",
            "off-by-one size: the output is what padding p + 1 gives; pad exactly p zeros on "
            "each side",
            changed(conv_reference, padding=lambda c: c.padding + 1)),
    Mistake("padding-off-by-one",
            "off-by-one size: the output is what padding p − 1 gives; pad exactly p zeros on "
            "each side",
            changed(conv_reference, padding=lambda c: c.padding - 1),
            when=lambda c: c.padding > 0),
    Mistake("output-size-missing-plus-one",
            "off-by-one size: the output is one row and one column short; "
            "H_out = ⌊(H + 2p − kH)/s⌋ + 1 (the + 1 counts the first window)",
            lambda c: (conv_reference(c)[0][..., :-1, :-1],), when=lambda c: min(out_hw(c)) > 1),
    Mistake("padding-ignored",
            "the input is not padded: the output is what padding 0 gives; pad p zeros on each "
            "side",
            changed(conv_reference, padding=lambda c: 0), when=lambda c: c.padding > 1),
    Mistake("stride-ignored",
            "the stride is ignored: the output is what stride 1 gives; move the window s pixels "
            "at a time (input row i·s + u for output row i)",
            changed(conv_reference, stride=lambda c: 1), when=lambda c: c.stride > 1),
    Mistake("bias-missing", "the bias is missing: add b[f] to every output position of filter f",
            changed(conv_reference, b=lambda c: None)),
    Mistake("bias-per-input-channel",
            "the bias is added once per input channel (C times); add b[f] once, after the sum "
            "over channels",
            changed(conv_reference, b=lambda c: c.b * c.x.shape[1]),
            when=lambda c: c.x.shape[1] > 1),
)


def _conv_case(rng: np.random.Generator, label: str, n: int, c: int, f: int, hw: tuple[int, int],
               k: tuple[int, int], stride: int, padding: int) -> Case:
    x = rng.standard_normal((n, c, *hw)).astype(np.float32)
    w = rng.standard_normal((f, c, *k)).astype(np.float32)
    b = rng.standard_normal(f).astype(np.float32)
    h_out, w_out = ((s + 2 * padding - kk) // stride + 1 for s, kk in zip(hw, k, strict=True))
    return Case.of(f"{label}: x {x.shape}, w {w.shape}, stride {stride}, padding {padding} → "
                   f"{h_out}×{w_out}", x=x, w=w, b=b, stride=stride, padding=padding)


#: What :func:`make_conv_cases` covers, as the hidden tests report it.
CONV_COVERS = ("square and non-square kernels (1×1 up to the whole padded input), non-square "
               "inputs, stride 1–3 (also larger than the kernel), padding 0–2, batch, channels "
               "and filters of 1 and more")


def make_conv_cases(rng: np.random.Generator, scale: int = 1) -> list[Case]:
    """Six cases whose sizes the seed draws: a general one, a 1×1 kernel, a stride larger than
    the kernel, a non-square image and kernel, padding 2, and one image, channel and filter
    with a non-square kernel as large as the padded input. ``scale`` enlarges the images."""

    def r(lo: int, hi: int) -> int:
        return int(rng.integers(lo, hi + 1))

    s = scale
    cases = [
        # three or four filters against a batch of two: a batch/filter mix-up shows
        _conv_case(rng, "general", 2, r(2, 3), r(3, 4), (r(5, 7) * s, r(5, 7) * s),
                   (3, 3), r(1, 2), r(0, 1)),
        _conv_case(rng, "1×1 kernel", r(1, 2), r(2, 4), r(1, 3), (r(3, 6) * s, r(3, 6) * s),
                   (1, 1), r(1, 2), 0),
        _conv_case(rng, "stride larger than the kernel", r(1, 2), r(1, 3), r(1, 3),
                   (r(7, 9) * s, r(7, 9) * s), (2, 2), 3, r(0, 1)),
    ]
    # kH ≠ kW, and an image whose output is 2 or 3 rows taller than wide on every draw, so
    # that no mix-up of heights and widths can pass
    kh, kw = (2, 4) if rng.random() < 0.5 else (3, 1)
    h, stride = r(4, 6) * s, r(1, 2)
    cases.append(_conv_case(rng, "non-square", r(1, 2), r(1, 3), r(2, 3),
                            (h + kh + stride * r(2, 3), h + kw), (kh, kw), stride, r(0, 2)))
    cases.append(_conv_case(rng, "padding 2", 1, r(1, 2), r(1, 2), (r(4, 6) * s, r(4, 6) * s),
                            (3, 3), 1, 2))
    h = r(2, 4) * s
    cases.append(_conv_case(rng, "kernel as large as the padded input", 1, 1, 1, (h, h + 1),
                            (h + 2, h + 3), r(1, 2), 1))
    return cases


def conv_probe(c: Case, side: int) -> Case:
    """``c`` with an input whose output is ``side × side`` (same kernel, stride, padding)."""
    h, w = ((side - 1) * c.stride + k - 2 * c.padding for k in c.w.shape[-2:])
    if min(h, w) < 1:
        raise ValueError(f"probe side {side} is too small for this case")
    rng = np.random.default_rng(side)
    return c.with_(x=rng.standard_normal((*c.x.shape[:2], h, w)).astype(np.float32))


