"""Chapter 5's planted mistakes: (exercise, old text, new text, the mistake the feedback names).

Each edit turns the instructor solution into a typical mistake; see ``tests/kit.py``.
"""

START = "    ### BEGIN SOLUTION\n"
PAD_OLD = ("    xp = torch.nn.functional.pad(x, (padding, padding, padding, padding))\n"
           "    H_out, W_out = H + 2 * padding - d * (k - 1), W + 2 * padding - d * (k - 1)\n")


def first(line: str) -> tuple[str, str]:
    """An edit that runs ``line`` first in the solution body."""
    return START, f"{START}    {line}\n"


PLANTED = [
    ("dilate_kernel", "out[:, :, ::dilation, ::dilation] = w",
     "out = w.new_zeros(C_out, C_in, (dilation + 1) * (k - 1) + 1, (dilation + 1) * (k - 1) + 1)"
     "\n    out[:, :, ::dilation + 1, ::dilation + 1] = w", "d-zeros-inserted"),
    ("dilate_kernel", "out[:, :, ::dilation, ::dilation] = w",
     "out = w.new_zeros(C_out, C_in, dilation * k, dilation * k)\n"
     "    out[:, :, ::dilation, ::dilation] = w", "trailing-zeros"),
    ("dilated_conv2d", "    d = dilation\n", "    d = 1\n", "dilation-ignored"),
    ("dilated_conv2d", PAD_OLD, "    xp = x\n    H_out, W_out = H - d * (k - 1), W - d * (k - 1)\n",
     "padding-ignored"),
    ("dilated_conv2d", "w[:, :, u, v])", "w[:, :, k - 1 - u, k - 1 - v])", "flipped-kernel"),
    ("dilated_conv2d", "out = b.view(1, -1, 1, 1).expand(N, Fo, H_out, W_out).clone()",
     "out = x.new_zeros(N, Fo, H_out, W_out)", "bias-missing"),
    ("dilated_conv2d", *first("return F.conv2d(x, w, b, padding=padding, dilation=dilation)"),
     "forbidden-api"),
    ("receptive_field_size", "(kernel_size - 1) * dilation * jump", "(kernel_size - 1) * dilation",
     "jump-ignored"),
    ("receptive_field_size", "(kernel_size - 1) * dilation * jump", "(kernel_size - 1) * jump",
     "dilation-ignored"),
    ("receptive_field_size",
     "        size = size + (kernel_size - 1) * dilation * jump\n        jump = jump * stride\n",
     "        jump = jump * stride\n        size = size + (kernel_size - 1) * dilation * jump\n",
     "jump-updated-first"),
    ("coverage_map", "    return torch.outer(line, line)",
     "    return (torch.outer(line, line) > 0).long()", "reach-not-count"),
    ("coverage_map", "    for d in rates:\n", "    for d in [1] * len(rates):\n",
     "dilation-ignored"),
    ("aspp_forward", "branches.append(F.relu(pooled)", "branches.append((pooled)",
     "pooling-relu-missing"),
    ("aspp_forward", "    y = torch.cat(branches, dim=1)",
     "    y = torch.cat(branches[-1:] + branches[:-1], dim=1)", "pooling-branch-first"),
    ("aspp_forward", "return F.relu(F.conv2d(y,", "return (F.conv2d(y,", "projection-relu-missing"),
    ("train_aspp", "return F.relu(F.conv2d(y,", "return 3 * F.relu(F.conv2d(y,", "training-curve"),
    ("train_aspp", "    y = torch.cat(branches, dim=1)",
     "    y = torch.cat(branches, dim=1).detach()", "no-gradient"),
]

#: One submission with the first plant of each of these exercises, graded by the grader.
GRADED = ["dilated_conv2d", "coverage_map"]
