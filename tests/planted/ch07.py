"""Chapter 7's planted mistakes: (exercise, old text, new text, the mistake the feedback names).

Each edit turns the instructor solution into a typical mistake; see ``tests/kit.py``.
"""

START = "    ### BEGIN SOLUTION\n"
PAIRS = "offset[:, 2 * k]\n            px = ws + j + offset[:, 2 * k + 1]"
BASES = ("hs = torch.arange(Ho, dtype=x.dtype).view(Ho, 1) - padding\n"
         "    ws = torch.arange(Wo, dtype=x.dtype).view(1, Wo) - padding")
EINSUM = 'out = out + torch.einsum("oc,nchw->nohw", weight[:, :, i, j], sample)'


def first(line: str) -> tuple[str, str]:
    """An edit that runs ``line`` first in the solution body."""
    return START, f"{START}    {line}\n"


PLANTED = [
    ("bilinear_sample", *first("py, px = py.clamp(0, image.shape[0] - 1), "
                               "px.clamp(0, image.shape[1] - 1)"), "border-clamped"),
    ("bilinear_sample", *first("py, px = px, py"), "axes-swapped"),
    ("bilinear_sample", *first("py, px = torch.floor(py), torch.floor(px)"),
     "nearest-not-bilinear"),
    ("bilinear_sample", *first("return torch.nn.functional.grid_sample(image[None, None], "
                               "torch.stack([px, py], -1)[None, None])[0, 0, 0]"),
     "forbidden-api"),
    ("deform_conv2d", PAIRS, "offset[:, 2 * k + 1]\n            px = ws + j + offset[:, 2 * k]",
     "offset-pairs-swapped"),
    ("deform_conv2d", PAIRS, "offset[:, k]\n            px = ws + j + offset[:, kH * kW + k]",
     "offset-layout-planar"),
    ("deform_conv2d", *first("offset = torch.zeros_like(offset)"), "offsets-ignored"),
    ("deform_conv2d", *first("mask = None"), "mask-ignored"),
    ("deform_conv2d", BASES, BASES.replace(" - padding", ""), "padding-ignored"),
    ("deform_conv2d", "(wt * inside * valid)", "(wt * inside)", "border-gradient"),
    ("deform_conv2d", *first("return torch.nn.functional.conv2d(x, weight, bias, padding=padding)"),
     "forbidden-api"),
    ("dilation_offsets", "(d - 1)", "d", "factor-d"),
    ("dilation_offsets", "taps = [((i - c) * (d - 1), (j - c) * (d - 1))",
     "taps = [((j - c) * (d - 1), (i - c) * (d - 1))", "pairs-swapped"),
    ("dilation_offsets", "c = (k - 1) / 2", "c = 0", "from-corner"),
    ("offsets_and_mask", "torch.sigmoid(out[:, 2 * kk:])", "out[:, 2 * kk:]",
     "mask-without-sigmoid"),
    ("offsets_and_mask", "return out[:, :2 * kk], torch.sigmoid(out[:, 2 * kk:])",
     "return out[:, kk:], torch.sigmoid(out[:, :kk])", "mask-channels-first"),
    ("train_deformable", EINSUM, EINSUM.replace("out + torch", "out + 2 * torch"),
     "training-curve"),
    ("train_deformable", EINSUM,
     EINSUM.replace("weight[:, :, i, j]", "weight[:, :, i, j].detach()"), "no-gradient"),
]

#: One submission with the first plant of each of these exercises, graded by the grader.
GRADED = ["bilinear_sample", "dilation_offsets"]
