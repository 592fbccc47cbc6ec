"""Chapter 3's planted mistakes: (exercise, old text, new text, the mistake the feedback names).

Each edit turns the instructor solution into a typical mistake; see ``tests/kit.py``.
"""

from kit import first

CROP = "out = full[:, :, p:full_h - p, p:full_w - p]"
HEAD = ("    N, C_in, H, W = x.shape\n    _, C_out, kH, kW = w.shape\n"
        "    s, p, op = stride, padding, output_padding\n")
OUTPUT_PADDING = ("s, p, op = stride, padding, output_padding", "s, p, op = stride, padding, 0")

PLANTED = [
    ("conv_transpose2d_scatter", *OUTPUT_PADDING, "output-padding-ignored"),
    ("conv_transpose2d_scatter", "out = full[:, :, p:full_h - p, p:full_w - p]", "out = full",
     "padding-not-cropped"),
    ("conv_transpose2d_scatter", '"nc,cokl->nokl"', '"nc,ockl->nokl"', "weight-axes-swapped"),
    ("conv_transpose2d_scatter", "x[:, :, i, j], w)", "x[:, :, i, j], w.flip(-1, -2))",
     "kernel-flipped"),
    ("conv_transpose2d_scatter", "out = out + b.view(1, -1, 1, 1)", "out = out", "bias-missing"),
    ("conv_transpose2d_scatter", CROP, "out = full[:, :, p:full_h - p - 1, p:full_w - p - 1]",
     "output-size-missing-plus-one"),
    ("conv_transpose2d_scatter", HEAD, "    x = F.pad(x, (padding,) * 4)\n"
     + HEAD.replace("stride, padding, output_padding", "stride, 0, output_padding"),
     "input-padded"),
    ("conv_transpose2d_scatter", CROP, "out = full[:, :, p:, p:]", "cropped-one-side"),
    ("conv_transpose2d_scatter", *first("return F.conv_transpose2d(x, w, b, stride, padding, "
                                        "output_padding)"), "forbidden-api"),
    ("conv_transpose2d_scatter", *first("return torch.nn.grad.conv2d_input((1, 1, 9, 9), w, x)"),
     "forbidden-api"),
    ("conv_matrix", "    return C\n", "    return C.T\n", "returned-transpose"),
    ("conv_matrix", "= w[u, v]", "= w[kH - 1 - u, kW - 1 - v]", "kernel-flipped"),
    ("conv_matrix", *first("padding = 0"), "padding-ignored"),
    ("conv_matrix", "C[i * W_out + j, r * W + q]", "C[j * H_out + i, q * H + r]", "column-major"),
    ("conv_matrix", *first("eye = torch.eye(input_hw[0] * input_hw[1], dtype=w.dtype)"
                           ".reshape(-1, 1, *input_hw)\n    return F.conv2d(eye, w[None, None], "
                           "stride=stride, padding=padding).reshape(eye.shape[0], -1).T"),
     "forbidden-api"),
    ("overlap_count", *first("stride = 1"), "stride-ignored"),
    ("zero_insert_conv", "torch.flip(w, (2, 3)).transpose(0, 1)", "w.transpose(0, 1)",
     "kernel-not-flipped"),
    ("zero_insert_conv", "torch.flip(w, (2, 3)).transpose(0, 1)", "torch.flip(w, (2, 3))",
     "channel-axes-not-swapped"),
    ("zero_insert_conv", *first("stride = stride + 1"), "s-zeros-inserted"),
    ("zero_insert_conv", "eh, ew = kH - 1 - p, kW - 1 - p", "eh, ew = kH - 1, kW - 1",
     "padding-not-reduced"),
    ("zero_insert_conv", *first("return torch.conv_transpose2d(x, w, None, stride, padding)"),
     "forbidden-api"),
    ("train_decoder", "torch.empty(in_channels, out_channels, kernel_size",
     "torch.empty(out_channels, in_channels, kernel_size", "convolution-layout"),
    ("train_decoder", "fan_in = out_channels * kernel_size", "fan_in = in_channels * kernel_size",
     "fan-in-from-in-channels"),
    ("train_decoder", "(6 / fan_in) ** 0.5", "(3 / fan_in) ** 0.5", "gain-missing"),
    ("train_decoder", "(6 / fan_in) ** 0.5", "(1 / fan_in) ** 0.5", "pytorch-default-bound"),
    ("train_decoder",
     "torch.empty(out_channels).uniform_(-1 / fan_in ** 0.5, 1 / fan_in ** 0.5)",
     "torch.zeros(out_channels)", "bias-not-initialised"),
    ("train_decoder", "self.bias = torch.nn.Parameter(", "self.bias = torch.Tensor.requires_grad_(",
     "not-registered"),
    ("train_decoder", "(x, self.weight, self.bias,", "(x, self.weight.detach(), self.bias,",
     "no-gradient"),
]

#: One submission with the first plant of each of these exercises, graded by the grader.
GRADED = ["conv_transpose2d_scatter", "zero_insert_conv"]
#: The decoder's layer calls the student's scatter, which now ignores output_padding: the
#: layer's output is a row and a column short on the hidden checks' output_padding=1 layer.
KNOCK_ON = {"train_decoder": "its output has shape"}
