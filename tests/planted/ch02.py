"""Chapter 2's planted mistakes: (exercise, old text, new text, the mistake the feedback names).

Each edit turns the instructor solution into a typical mistake; see ``tests/kit.py``.
"""

from kit import first

COLS = "cols = cols.reshape(N, g, m * kH * kW, H_out * W_out)"
SHUFFLE = "h = channel_shuffle(h, groups)"

PLANTED = [
    ("group_conv2d", COLS, f"{COLS}.flip(1)", "group-mapping-reversed"),
    ("group_conv2d", COLS, "cols = cols.reshape(N, m, g, kH * kW, H_out * W_out).transpose(1, 2)"
     ".reshape(N, g, m * kH * kW, H_out * W_out)", "groups-interleaved"),
    ("group_conv2d", "out = out.reshape(N, C_out, H_out, W_out)",
     "out = out.transpose(1, 2).reshape(N, C_out, H_out, W_out)", "outputs-interleaved"),
    ("group_conv2d", "out = out + bias.view(1, C_out, 1, 1)", "pass", "bias-missing"),
    ("group_conv2d", *first("return F.conv2d(x, weight, bias, stride, padding, 1, groups)"),
     "forbidden-api"),
    ("group_conv2d", *first("import convlab.functional as cf; return cf.conv2d(x, weight, bias, "
                            "stride, padding, 1, groups)"), "forbidden-api"),
    ("resnext_branches_to_grouped", "W3 = w3.permute(1, 0, 2, 3, 4).reshape(C_out, C * d, 1, 1)",
     "W3 = w3.reshape(C_out, C * d, 1, 1)", "w3-reshaped-without-permute"),
    ("resnext_branches_to_grouped", *first(
        "C, d = w2.shape[:2]\n    W2 = torch.zeros(C * d, C * d, 3, 3)\n"
        "    for i in range(C):\n        W2[i * d:(i + 1) * d, i * d:(i + 1) * d] = w2[i]\n"
        "    return (w1.reshape(C * d, -1, 1, 1), W2, "
        "w3.permute(1, 0, 2, 3, 4).reshape(w3.shape[1], C * d, 1, 1))"), "w2-dense-block-diagonal"),
    ("channel_shuffle", "x.reshape(N, groups, C // groups, H, W)",
     "x.reshape(N, C // groups, groups, H, W)", "shuffle-transposed-wrong-way"),
    ("channel_shuffle", ".transpose(1, 2)", "", "shuffle-identity"),
    ("channel_shuffle", *first("return torch.nn.ChannelShuffle(groups)(x)"), "forbidden-api"),
    ("channel_shuffle", *first("return torch.native_channel_shuffle(x, groups)"),
     "forbidden-api"),
    ("shufflenet_unit", "return F.relu(x + h)", "return F.relu(h)", "missing-residual-add"),
    ("shufflenet_unit", "return F.relu(torch.cat([shortcut, h], dim=1))", "return F.relu(h)",
     "missing-concat-shortcut"),
    ("shufflenet_unit", "torch.cat([shortcut, h], dim=1)", "torch.cat([h, shortcut], dim=1)",
     "concat-order"),
    ("shufflenet_unit", SHUFFLE, "pass", "missing-shuffle"),
    ("shufflenet_unit", SHUFFLE, "h = channel_shuffle(h, h.shape[1] // groups)",
     "shuffle-transposed-wrong-way"),
    ("shufflenet_unit", "groups=h.shape[1])  # depthwise", "groups=h.shape[1]).relu()  # depthwise",
     "relu-after-depthwise"),
    ("shufflenet_unit", SHUFFLE, "h = torch.channel_shuffle(h, groups)", "forbidden-api"),
    ("train_shufflenet", "1, 1), in_channels // groups)", "1, 1), in_channels)",
     "fan-in-ignores-groups"),
    ("train_shufflenet", "1 * 3 * 3)", "mid * 3 * 3)", "depthwise-fan-in"),
    ("train_shufflenet", "mid = out_channels // 4", "mid = in_channels // 4",
     "bottleneck-width"),
    ("train_shufflenet", "c_b = in_channels if stride == 1 else out_channels - in_channels",
     "c_b = out_channels", "branch-width"),
    ("train_shufflenet", "bound = (6 / fan_in) ** 0.5", "bound = (3 / fan_in) ** 0.5",
     "gain-missing"),
    ("train_shufflenet", "torch.empty(shape[0]).uniform_(-1 / fan_in ** 0.5, 1 / fan_in ** 0.5)",
     "torch.zeros(shape[0])", "bias-not-initialised"),
    ("train_shufflenet", "return torch.nn.Parameter(w), torch.nn.Parameter(b)",
     "return w.requires_grad_(), torch.nn.Parameter(b)", "not-registered"),
    ("train_shufflenet", "params = (self.w1, self.b1, self.w2,",
     "params = (self.w1, self.b1, self.w2.detach(),", "no-gradient"),
]

#: One submission with the first plant of each of these exercises, graded by the grader.
GRADED = ["group_conv2d", "channel_shuffle"]
#: The unit calls the student's (now wrong) shuffle; its training check does not (convlab's
#: shuffle stands in for it), so it keeps its points.
KNOCK_ON = {"shufflenet_unit": "transposed the wrong way"}
