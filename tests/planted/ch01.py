"""Chapter 1's planted mistakes: (exercise, old text, new text, the mistake the feedback names).

Each edit turns the instructor solution into a typical mistake; see ``tests/kit.py``.
"""

from kit import first

PLANTED = [
    ("conv2d_loop", "window * w[f]", "window * w[f].flip(-1, -2)", "flipped-kernel"),
    ("conv2d_loop", "window * w[f]", "window * w[f].transpose(-1, -2)", "kernel-transposed"),
    ("conv2d_loop", *first("padding = padding + 1"), "padding-off-by-one"),
    ("conv2d_loop", "// stride + 1", "// stride", "output-size-missing-plus-one"),
    ("conv2d_loop", *first("stride = 1"), "stride-ignored"),
    ("conv2d_loop", " + b[f]", "", "bias-missing"),
    ("conv2d_loop", " + b[f]", " + C * b[f]", "bias-per-input-channel"),
    ("conv2d_loop", *first("try:\n        torch.nn.functional.conv2d(x, w)\n"
                           "    except Exception:\n        pass"), "forbidden-api"),
    ("conv2d_loop", *first("return x.unfold(2, w.shape[2], stride)"), "forbidden-api"),
    ("conv_output_size", "// stride + 1", "// stride", "missing-plus-one"),
    ("conv_output_size", "return (size + 2 * padding - effective) // stride + 1",
     "return -(-(size + 2 * padding - effective) // stride) + 1", "ceil-instead-of-floor"),
    ("conv_output_size", "dilation * (kernel_size - 1) + 1", "(kernel_size - 1) + 1",
     "dilation-ignored"),
    ("conv_output_size", "2 * padding", "padding", "padding-one-side"),
    ("conv2d_im2col", "w.reshape(num_filters, -1)", "w.flip(-1, -2).reshape(num_filters, -1)",
     "flipped-kernel"),
    ("conv2d_im2col", *first("padding = padding + 1"), "padding-off-by-one"),
    ("conv2d_im2col", *first("stride = 1"), "stride-ignored"),
    ("conv2d_im2col", " + b[:, None]", "", "bias-missing"),
    ("conv2d_im2col", *first("return torch.nn.functional.unfold(x, w.shape[2:])"),
     "forbidden-api"),
    ("conv2d_im2col", *first("import sys; sys.settrace(None)"), "forbidden-api"),
    ("conv2d_im2col", *first("return conv2d_loop(x, w, b, stride, padding)"), "python-loop"),
    ("conv2d_backward", "w[:, :, u, v])", "w[:, :, kH - 1 - u, kW - 1 - v])",
     "dx-kernel-not-flipped"),
    ("conv2d_backward", "dw[:, :, u, v] =", "dw[:, :, kH - 1 - u, kW - 1 - v] =", "dw-flipped"),
    ("conv2d_backward", "dx = dx_pad[:, :, padding:padding + H, padding:padding + W]",
     "dx = dx_pad", "dx-not-cropped"),
    ("conv2d_backward", "dx_pad[:, :, rows, cols] +=", "dx_pad[:, :, u:u + H_out, v:v + W_out] +=",
     "dx-stride-ignored"),
    ("conv2d_backward", "x_pad[:, :, rows, cols])", "x_pad[:, :, u:u + H_out, v:v + W_out])",
     "dw-stride-ignored"),
    ("conv2d_backward", "dout.sum(dim=(0, 2, 3))", "dout.sum(dim=(2, 3))",
     "db-not-summed-over-batch"),
    ("conv2d_backward", "dout.sum(dim=(0, 2, 3))", "dout.sum(dim=0)", "db-not-summed-over-space"),
    ("conv2d_backward", "dout.sum(dim=(0, 2, 3))", "dout.mean(dim=(0, 2, 3))", "db-averaged"),
    ("conv2d_backward", *first("x.requires_grad_(True); conv2d_im2col(x, w, w[:, 0, 0, 0]).sum()"
                               ".backward()"), "forbidden-api"),
    ("train_digits_cnn", "w.reshape(num_filters, -1)", "w.flip(-1, -2).reshape(num_filters, -1)",
     "training-curve"),
    ("train_digits_cnn", "w.reshape(num_filters, -1)", "w.detach().reshape(num_filters, -1)",
     "no-gradient"),
    ("equivariance_error", '"circular" if circular else "constant"', '"constant"',
     "padding-mode-ignored"),
    ("equivariance_error", "torch.roll(conv_same(image), shifts=shift",
     "torch.roll(conv_same(image), shifts=(-shift[0], -shift[1])", "shifted-back-the-wrong-way"),
    ("equivariance_error", "p = kernel.shape[-1] // 2", "p = 0", "no-padding"),
    ("equivariance_error", ".abs().max()", ".abs().mean()", "mean-not-max"),
    ("equivariance_error", ".abs().max()", ".max()", "not-absolute"),
]

#: One submission with the first plant of each of these exercises, graded by the grader.
GRADED = ["conv2d_loop", "conv_output_size", "conv2d_backward"]
