"""Chapter 8's planted mistakes: (exercise, old text, new text, the mistake the feedback names).

Each edit turns the instructor solution into a typical mistake; see ``tests/kit.py``.
"""

START = "    ### BEGIN SOLUTION\n"
PASSES = "t = sum(column[:, u].view(1, C, 1, 1) * xp[:, :, u:u + Ho, :] for u in range(kH))"
RETURN_LOW_RANK = "return (U[..., :, :rank] * S[..., None, :rank]) @ Vh[..., :rank, :]"
PAIR = "c_in * c_mid * n + c_mid * c_out * n"


def first(line: str) -> tuple[str, str]:
    """An edit that runs ``line`` first in the solution body."""
    return START, f"{START}    {line}\n"


PLANTED = [
    ("separable_factors", "column, row = U[:, 0] * root, Vh[0] * root",
     "column, row = U[:, 0] * S[0], Vh[0]", "unbalanced-factors"),
    ("separable_factors", "if column[column.abs().argmax()] < 0:",
     "if column[column.abs().argmax()] > 0:", "sign-not-fixed"),
    ("separable_factors", "    return column, row\n", "    return row, column\n",
     "factors-swapped"),
    ("separable_conv2d", "kH, kW = column.shape[1], row.shape[1]",
     "column, row = row, column\n    kH, kW = column.shape[1], row.shape[1]", "passes-swapped"),
    ("separable_conv2d", "    xp = F.pad",
     "    column, row = column.flip(1), row.flip(1)\n    xp = F.pad", "kernel-flipped"),
    ("separable_conv2d", *first("padding = 0"), "padding-ignored"),
    ("separable_conv2d", *first("return F.conv2d(x, torch.einsum('ci,cj->cij', column, row)"
                                "[:, None], padding=padding, groups=x.shape[1])"),
     "forbidden-api"),
    ("low_rank_kernel", RETURN_LOW_RANK, "return U[..., :, :rank] @ Vh[..., :rank, :]",
     "singular-values-dropped"),
    ("low_rank_kernel", RETURN_LOW_RANK,
     "return (U[..., :, -rank:] * S[..., None, -rank:]) @ Vh[..., -rank:, :]", "smallest-kept"),
    ("low_rank_kernel", "S[..., None, :rank])", "S[..., None, :rank].sqrt())", "sqrt-sigma"),
    ("asymmetric_macs", PAIR, "c_in * c_out * n + c_out * c_out * n", "mid-channels-ignored"),
    ("asymmetric_macs", PAIR, "c_in * c_mid * n * n + c_mid * c_out * n * n",
     "n-squared-per-layer"),
    ("train_separable", "y = sum(row[:, v]", "y = sum(2 * row[:, v]", "training-curve"),
    ("train_separable", "row[:, v].view(1, C, 1, 1)", "row[:, v].detach().view(1, C, 1, 1)",
     "no-gradient"),
]

#: One submission with the first plant of each of these exercises, graded by the grader.
GRADED = ["separable_factors", "low_rank_kernel"]
