"""Chapter 9's planted mistakes: (exercise, old text, new text, the mistake the feedback names).

Each edit turns the instructor solution into a typical mistake; see ``tests/kit.py``.
"""

START = "    ### BEGIN SOLUTION\n"
POOL = "F.max_pool2d(x, 3, stride=1, padding=1)"
NEW_VAR = "new_var = (1 - momentum) * running_var + momentum * var * m / (m - 1)"
DX = "dx = gamma.view(1, -1, 1, 1) * inv * (dy - mean_dy - xhat * mean_dy_xhat)"


def first(line: str) -> tuple[str, str]:
    """An edit that runs ``line`` first in the solution body."""
    return START, f"{START}    {line}\n"


PLANTED = [
    ("inception_module", "r3, r5 = F.relu(F.conv2d(x, w3r)), F.relu(F.conv2d(x, w5r))",
     "r3, r5 = F.conv2d(x, w3r), F.conv2d(x, w5r)", "relu-missing-after-reduction"),
    ("inception_module", POOL, "F.avg_pool2d(x, 3, stride=1, padding=1)", "average-pool"),
    ("inception_module", POOL, "F.max_pool2d(F.pad(x, (1, 1, 1, 1)), 3, stride=1)",
     "zero-padded-pool"),
    ("batch_norm_forward", "xhat = (x - mu.view(1, -1, 1, 1)) / torch.sqrt(var.view(1, -1, 1, 1)",
     "xhat = (x - mu.view(1, -1, 1, 1)) / torch.sqrt(var.view(1, -1, 1, 1) * m / (m - 1)",
     "unbiased-variance-normalises"),
    ("batch_norm_forward", NEW_VAR, "new_var = (1 - momentum) * running_var + momentum * var",
     "biased-running-variance"),
    ("batch_norm_forward", *first("momentum = 1 - momentum"), "momentum-reversed"),
    ("batch_norm_forward", "torch.sqrt(var.view(1, -1, 1, 1) + eps)",
     "(torch.sqrt(var.view(1, -1, 1, 1)) + eps)", "eps-outside-sqrt"),
    ("batch_norm_forward", *first("return F.batch_norm(x, running_mean, running_var, gamma, "
                                  "beta, True, momentum, eps)"), "forbidden-api"),
    ("batch_norm_backward", DX, "dx = gamma.view(1, -1, 1, 1) * inv * dy", "mean-terms-missing"),
    ("batch_norm_backward", DX, "dx = gamma.view(1, -1, 1, 1) * inv * (dy - mean_dy)",
     "xhat-term-missing"),
    ("batch_norm_backward", "    return dx, dgamma, dbeta\n", "    return dx, dbeta, dgamma\n",
     "dgamma-dbeta-swapped"),
    ("label_smoothing_loss", "q = torch.full((N, K), eps / K, dtype=logits.dtype)\n"
     "    q[torch.arange(N), target] += 1 - eps",
     "q = torch.full((N, K), eps / (K - 1), dtype=logits.dtype)\n"
     "    q[torch.arange(N), target] = 1 - eps", "smoothing-over-others-only"),
    ("label_smoothing_loss", ".sum(dim=1).mean()", ".sum(dim=1).sum()", "sum-not-mean"),
    ("label_smoothing_loss", *first("eps = 0.0"), "no-smoothing"),
    ("label_smoothing_loss", "q = torch.full((N, K), eps / K, dtype=logits.dtype)",
     "q = torch.full((N, K), eps / K)", "float32-targets"),
    ("train_inception", "return torch.cat([b1, b3, b5, bp], dim=1)",
     "return torch.cat([b1, b3, b5, 2 * bp], dim=1)", "training-curve"),
    ("train_inception", "return torch.cat([b1, b3, b5, bp], dim=1)",
     "return torch.cat([b1, b3, b5, bp], dim=1).detach()", "no-gradient"),
]

#: One submission with the first plant of each of these exercises, graded by the grader.
GRADED = ["batch_norm_forward", "label_smoothing_loss"]
