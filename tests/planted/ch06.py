"""Chapter 6's planted mistakes: (exercise, old text, new text, the mistake the feedback names).

Each edit turns the instructor solution into a typical mistake; see ``tests/kit.py``.
"""

START = "    ### BEGIN SOLUTION\n"


def first(line: str) -> tuple[str, str]:
    """An edit that runs ``line`` first in the solution body."""
    return START, f"{START}    {line}\n"


PLANTED = [
    ("depthwise_conv2d", "out = out + patch * w[:, 0, u, v].view(1, -1, 1, 1)",
     "out = out + patch.sum(1, keepdim=True) * w[:, 0, u, v].view(1, -1, 1, 1)",
     "channels-mixed"),
    ("depthwise_conv2d", "w[:, 0, u, v].view", "w[:, 0, k - 1 - u, k - 1 - v].view",
     "flipped-kernel"),
    ("depthwise_conv2d", "    s = stride\n", "    s = 1\n", "stride-ignored"),
    ("depthwise_conv2d", "out = b.view(1, -1, 1, 1).expand(N, C, H_out, W_out).clone()",
     "out = x.new_zeros(N, C, H_out, W_out)", "bias-missing"),
    ("depthwise_conv2d", *first("return F.conv2d(x, w, b, stride, padding, groups=x.shape[1])"),
     "forbidden-api"),
    ("separable_conv2d", "    y = torch.einsum(\"om,nmhw->nohw\", w_pw[:, :, 0, 0], z)",
     "    y = torch.einsum(\"om,nmhw->nohw\", w_pw[:, :, 0, 0], torch.relu(z))",
     "activation-between"),
    ("separable_conv2d", *first("return F.conv2d(depthwise_conv2d(x, w_dw, 0 * w_dw[:, 0, 0, 0], "
                                "stride, 1), w_pw, b_pw)"), "forbidden-api"),
    ("separable_cost_ratio", "1.0 / out_channels", "1.0 / in_channels", "in-channels-used"),
    ("separable_cost_ratio", "kernel_size ** 2", "kernel_size", "kernel-not-squared"),
    ("separable_cost_ratio", "    return 1.0 / out_channels + 1.0 / kernel_size ** 2",
     "    return 1.0 / (1.0 / out_channels + 1.0 / kernel_size ** 2)", "ratio-inverted"),
    ("mobilenet_block_forward", "y = F.relu(F.conv2d(x, w_dw,", "y = (F.conv2d(x, w_dw,",
     "relu-between-missing"),
    ("mobilenet_block_forward", "return F.relu(F.conv2d(y, w_pw, b_pw))",
     "return F.conv2d(y, w_pw, b_pw)", "last-relu-missing"),
    ("train_mobilenet", "return F.relu(F.conv2d(y, w_pw, b_pw))",
     "return F.relu(F.conv2d(y, 2 * w_pw, b_pw))", "training-curve"),
    ("train_mobilenet", "return F.relu(F.conv2d(y, w_pw, b_pw))",
     "return F.relu(F.conv2d(y, w_pw.detach(), b_pw))", "no-gradient"),
]

#: One submission with the first plant of each of these exercises, graded by the grader.
GRADED = ["depthwise_conv2d", "separable_cost_ratio"]
#: The separable layer calls the student's depthwise convolution, which now mixes channels.
KNOCK_ON = {"separable_conv2d": "differs from the reference"}
