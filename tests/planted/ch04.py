"""Chapter 4's planted mistakes: (exercise, old text, new text, the mistake the feedback names).

Each edit turns the instructor solution into a typical mistake; see ``tests/kit.py``.
"""

START = "    ### BEGIN SOLUTION\n"
SCRAMBLE_OLD = ("    X = x.permute(1, 0, 2, 3).reshape(C_in, N * H * W)  # one column per pixel\n"
                "    Y = w[:, :, 0, 0] @ X  # (C_out, N*H*W)\n"
                "    y = Y.reshape(-1, N, H, W).permute(1, 0, 2, 3)\n")
SCRAMBLE_NEW = ("    X = x.reshape(C_in, N * H * W)\n    Y = w[:, :, 0, 0] @ X\n"
                "    y = Y.reshape(N, -1, H, W)\n")


def first(line: str) -> tuple[str, str]:
    """An edit that runs ``line`` first in the solution body."""
    return START, f"{START}    {line}\n"


PLANTED = [
    ("pointwise_conv", "x.permute(1, 0, 2, 3).reshape(C_in, N * H * W)",
     "x.reshape(C_in, N * H * W)", "input-pixels-scrambled"),
    ("pointwise_conv", SCRAMBLE_OLD, SCRAMBLE_NEW, "pixels-scrambled"),
    ("pointwise_conv", "Y = w[:, :, 0, 0] @ X", "Y = w[:, :, 0, 0].T @ X", "weight-transposed"),
    ("pointwise_conv", "return y if b is None else y + b.view(1, -1, 1, 1)", "return y",
     "bias-missing"),
    ("pointwise_conv", *first("return F.conv2d(x, w, b)"), "forbidden-api"),
    ("collapse_pointwise", "W, b = w_next @ W, w_next @ b + b_next",
     "W, b = W @ w_next, w_next @ b + b_next", "order-reversed"),
    ("collapse_pointwise", "W, b = w_next @ W, w_next @ b + b_next",
     "W, b = w_next @ W, b + b_next", "bias-not-propagated"),
    ("linear_to_conv", "return weight.reshape(weight.shape[0], C, h, w), bias",
     "return weight.reshape(weight.shape[0], h, w, C).permute(0, 3, 1, 2), bias",
     "channels-last-flatten"),
    ("linear_to_conv", "return weight.reshape(weight.shape[0], C, h, w), bias",
     "return weight.reshape(weight.shape[0], C, w, h).transpose(2, 3), bias",
     "spatial-axes-swapped"),
    ("gap_head", "return maps.mean(dim=(2, 3))", "return maps.amax(dim=(2, 3))", "max-pooled"),
    ("gap_head", "return maps.mean(dim=(2, 3))", "return maps.sum(dim=(2, 3))",
     "summed-not-averaged"),
    ("gap_head", "maps = pointwise_conv(x, w, b)", "maps = pointwise_conv(x, w)", "bias-missing"),
    ("bottleneck_cost", "    if stride != 1 or in_channels != 4 * planes:\n",
     "    if False:\n", "projection-missing"),
    ("bottleneck_cost", "first = (size if stride_in_3x3 else out) ** 2",
     "first = (out if stride_in_3x3 else size) ** 2", "stride-in-wrong-conv"),
    ("bottleneck_cost", "out = size // stride", "out = size", "stride-ignored"),
    ("train_nin", "Y = w[:, :, 0, 0] @ X", "Y = 0.5 * w[:, :, 0, 0] @ X", "training-curve"),
    ("train_nin", "Y = w[:, :, 0, 0] @ X", "Y = w[:, :, 0, 0].detach() @ X", "no-gradient"),
]

#: One submission with the first plant of each of these exercises, graded by the grader.
GRADED = ["pointwise_conv", "linear_to_conv"]
#: The head and the training check use the student's pointwise_conv, which now scrambles pixels.
KNOCK_ON = {"gap_head": "differs from the reference", "train_nin": "loss curve"}
