"""Chapter 9 exercises (``notebooks/ch09/inception.ipynb``), in notebook order.

Conventions stated in the notebook: an Inception module has no biases here and concatenates its
branches in the order 1×1, 3×3, 5×5, pool; batch normalisation is in training mode, with
PyTorch's semantics (biased batch variance to normalise, unbiased for the running estimate,
``r ← (1 − momentum)·r + momentum·stat``), written functionally (the new running buffers are
returned, not updated in place). References run in float64 on convlab.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from convlab.functional import batch_norm2d as _batch_norm2d
from convlab.functional import conv2d as _conv2d
from convlab.functional import max_pool2d as _max_pool2d
from convlab.models.small import SmallNet

from .apis import AUTOGRAD, forbid
from .arrays import f64, like
from .compare import compare_outputs
from .spec import Case, Mistake, Outputs, changed, declare, exercise
from .training import Training, training_check

#: Library batch normalisation, PyTorch's and convlab's.
BATCH_NORM = ("torch.nn.functional.batch_norm", "torch.batch_norm",
              "torch.nn.BatchNorm2d.forward", "convlab.functional.batch_norm2d")
#: Library cross-entropy (with its label_smoothing argument).
CROSS_ENTROPY = ("torch.nn.functional.cross_entropy", "torch.nn.CrossEntropyLoss.forward")


# -- 1. the Inception module -------------------------------------------------------------------
_BRANCH_SHAPES = ("w1", "w3r", "w3", "w5r", "w5", "wp")


def _module_cases(rng: np.random.Generator) -> list[Case]:
    specs = [  # (N, C, H, W, c1, r3, c3, r5, c5, cp)
        (2, 6, 6, 6, 4, 3, 5, 2, 3, 2), (1, 4, 5, 7, 2, 4, 4, 1, 2, 3),
        (3, 3, 4, 4, 1, 2, 3, 2, 2, 1), (1, 8, 3, 3, 5, 2, 2, 3, 4, 2)]
    cases = []
    for n, c, h, w, c1, r3, c3, r5, c5, cp in specs:
        def draw(*shape: int) -> np.ndarray:
            return (rng.standard_normal(shape) / math.sqrt(np.prod(shape[1:]))).astype(np.float32)

        cases.append(Case.of(f"N={n}, C={c}, {h}×{w}, branches {c1}+{c3}+{c5}+{cp}",
                             x=rng.standard_normal((n, c, h, w)).astype(np.float32),
                             w1=draw(c1, c, 1, 1), w3r=draw(r3, c, 1, 1), w3=draw(c3, r3, 3, 3),
                             w5r=draw(r5, c, 1, 1), w5=draw(c5, r5, 5, 5), wp=draw(cp, c, 1, 1)))
    return cases


def _module_ref(c: Case, reduce_relu: bool = True, pool: str = "max") -> Outputs:
    x = f64(c.x)
    w = {k: f64(getattr(c, k)) for k in _BRANCH_SHAPES}
    act = torch.relu if reduce_relu else (lambda t: t)
    b1 = torch.relu(_conv2d(x, w["w1"]))
    b3 = torch.relu(_conv2d(act(_conv2d(x, w["w3r"])), w["w3"], padding=1))
    b5 = torch.relu(_conv2d(act(_conv2d(x, w["w5r"])), w["w5"], padding=2))
    if pool == "max":
        pooled = _max_pool2d(x, 3, stride=1, padding=1)
    elif pool == "zero-padded":
        pooled = _max_pool2d(F.pad(x, (1, 1, 1, 1)), 3, stride=1)
    else:
        pooled = F.avg_pool2d(x, 3, stride=1, padding=1)
    bp = torch.relu(_conv2d(pooled, w["wp"]))
    return (like(torch.cat([b1, b3, b5, bp], dim=1), c.x),)


@exercise(points=15, cases=_module_cases, reference=_module_ref,
          mistakes=(
              Mistake("relu-missing-after-reduction",
                      "the 1×1 reductions have no ReLU: each is a layer of its own, relu(conv1×1) "
                      "before the 3×3 or 5×5 convolution",
                      lambda c: _module_ref(c, reduce_relu=False)),
              Mistake("average-pool",
                      "the pool branch averages: GoogLeNet's branch is a 3×3 *max* pool, stride "
                      "1, padding 1",
                      lambda c: _module_ref(c, pool="avg")),
              Mistake("zero-padded-pool",
                      "the max pool was padded with zeros: a max pool's padding must never win, "
                      "so pad with −∞ (F.max_pool2d's padding does)",
                      lambda c: _module_ref(c, pool="zero-padded"))),
          title="Inception module",
          covers="batch 1–3, 3–8 channels, grids 3×3 to 5×7, branch widths 1–5",
          summary="GoogLeNet's module: four branches with 1×1 reductions, padding 0/1/2, "
                  "concatenated along channels")
def inception_module(x, w1, w3r, w3, w5r, w5, wp):
    """GoogLeNet's Inception module with dimension reductions (no biases).

    Inputs:
    - x: (N, C, H, W)
    - w1: (c1, C, 1, 1); w3r: (r3, C, 1, 1), w3: (c3, r3, 3, 3);
      w5r: (r5, C, 1, 1), w5: (c5, r5, 5, 5); wp: (cp, C, 1, 1)

    Returns:
    - (N, c1 + c3 + c5 + cp, H, W): the concatenation along channels, in this order, of
        relu(conv(x, w1))
        relu(conv(relu(conv(x, w3r)), w3, padding=1))
        relu(conv(relu(conv(x, w5r)), w5, padding=2))
        relu(conv(maxpool3x3(x, stride=1, padding=1), wp))
      F.conv2d and F.max_pool2d may be used.
    """


# -- 2. batch normalisation, forward --------------------------------------------------------------
def _bn_cases(rng: np.random.Generator) -> list[Case]:
    specs = [(4, 3, 5, 5, 0.1, 1e-5), (2, 5, 3, 4, 0.3, 1e-3), (8, 2, 1, 1, 0.1, 1e-5),
             (3, 4, 2, 6, 0.05, 1e-2)]
    return [Case.of(f"N={n}, C={c}, {h}×{w}, momentum={m}, eps={e}",
                    x=(rng.standard_normal((n, c, h, w)) * 2 + 1).astype(np.float32),
                    gamma=rng.standard_normal(c).astype(np.float32),
                    beta=rng.standard_normal(c).astype(np.float32),
                    running_mean=rng.standard_normal(c).astype(np.float32),
                    running_var=rng.uniform(0.5, 2, c).astype(np.float32),
                    momentum=m, eps=e)
            for n, c, h, w, m, e in specs]


def _bn_ref(c: Case, normalise_unbiased: bool = False, running_biased: bool = False,
            reversed_momentum: bool = False, per_position: bool = False,
            eps_outside: bool = False) -> Outputs:
    x = f64(c.x)
    dims = (0,) if per_position else (0, 2, 3)
    m = x.numel() // x.shape[1] if not per_position else x.shape[0]
    if not (normalise_unbiased or running_biased or reversed_momentum or per_position
            or eps_outside):
        mean, var = f64(c.running_mean), f64(c.running_var)
        y = _batch_norm2d(x, f64(c.gamma), f64(c.beta), mean, var, training=True,
                          momentum=c.momentum, eps=c.eps)  # updates mean, var in place
        return like(y, c.x), like(mean, c.running_mean), like(var, c.running_var)
    mu = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, unbiased=False, keepdim=True)
    norm_var = var * m / (m - 1) if normalise_unbiased else var
    scale = (norm_var.sqrt() + c.eps) if eps_outside else (norm_var + c.eps).sqrt()
    g, b = f64(c.gamma).view(1, -1, 1, 1), f64(c.beta).view(1, -1, 1, 1)
    y = g * (x - mu) / scale + b
    stat_mean = x.mean(dim=(0, 2, 3))
    stat_var = x.var(dim=(0, 2, 3), unbiased=not running_biased)
    keep, new = (c.momentum, 1 - c.momentum) if reversed_momentum else (1 - c.momentum,
                                                                        c.momentum)
    r_mean = keep * f64(c.running_mean) + new * stat_mean
    r_var = keep * f64(c.running_var) + new * stat_var
    return like(y, c.x), like(r_mean, c.running_mean), like(r_var, c.running_var)


@exercise(points=20, cases=_bn_cases, reference=_bn_ref,
          forbidden=forbid(BATCH_NORM),
          mistakes=(
              Mistake("unbiased-variance-normalises",
                      "the output was normalised with the unbiased variance: normalise with the "
                      "biased one, Σ(x − μ)²/m; the unbiased m/(m − 1) version only enters the "
                      "running estimate",
                      lambda c: _bn_ref(c, normalise_unbiased=True)),
              Mistake("biased-running-variance",
                      "the running variance was updated with the biased variance: PyTorch keeps "
                      "the unbiased estimate, Σ(x − μ)²/(m − 1)",
                      lambda c: _bn_ref(c, running_biased=True)),
              Mistake("momentum-reversed",
                      "momentum weighs the old estimate: r ← (1 − momentum)·r + momentum·stat "
                      "gives the *new* statistic the weight momentum",
                      lambda c: _bn_ref(c, reversed_momentum=True),
                      when=lambda c: c.momentum != 0.5),
              Mistake("per-position-statistics",
                      "the statistics are per position: a convolutional layer normalises each "
                      "channel over the batch *and* all positions, m = N·H·W",
                      lambda c: _bn_ref(c, per_position=True),
                      when=lambda c: c.x.shape[2] * c.x.shape[3] > 1),
              Mistake("eps-outside-sqrt",
                      "eps was added outside the square root: divide by √(σ² + ε)",
                      lambda c: _bn_ref(c, eps_outside=True))),
          title="batch normalisation, forward",
          covers="batch 2–8, 2–5 channels, 1×1 to 5×5 maps, momentum 0.05–0.3, eps 1e-5–1e-2",
          summary="batch normalisation in training mode: the output and the new running "
                  "estimates, with PyTorch's biased and unbiased variances")
def batch_norm_forward(x, gamma, beta, running_mean, running_var, momentum=0.1, eps=1e-5):
    """Batch normalisation of an (N, C, H, W) input in training mode, written functionally.

    Inputs:
    - x: (N, C, H, W); gamma, beta: (C,)
    - running_mean, running_var: (C,) the current running estimates (not modified)
    - momentum: weight of the new statistic; eps: added to the variance

    Returns:
    - (y, new_running_mean, new_running_var), with, per channel c over m = N*H*W values,
        mu = mean(x[:, c]),  var = sum((x[:, c] - mu)**2) / m               (biased)
        y[:, c] = gamma[c] * (x[:, c] - mu) / sqrt(var + eps) + beta[c]
        new_running_mean = (1 - momentum) * running_mean + momentum * mu
        new_running_var = (1 - momentum) * running_var + momentum * var * m / (m - 1)
    """


# -- 3. batch normalisation, backward -------------------------------------------------------------
def _bn_back_cases(rng: np.random.Generator) -> list[Case]:
    specs = [(4, 3, 5, 5, 1e-5), (2, 5, 3, 4, 1e-3), (8, 2, 1, 1, 1e-5), (3, 4, 2, 6, 1e-2)]
    return [Case.of(f"N={n}, C={c}, {h}×{w}, eps={e}",
                    dy=rng.standard_normal((n, c, h, w)).astype(np.float32),
                    x=(rng.standard_normal((n, c, h, w)) * 2 + 1).astype(np.float32),
                    gamma=rng.standard_normal(c).astype(np.float32), eps=e)
            for n, c, h, w, e in specs]


def _bn_back_ref(c: Case, variant: str = "") -> Outputs:
    x, dy, g = f64(c.x), f64(c.dy), f64(c.gamma)
    mu = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    inv = 1 / (var + c.eps).sqrt()
    xhat = (x - mu) * inv
    dgamma, dbeta = (dy * xhat).sum(dim=(0, 2, 3)), dy.sum(dim=(0, 2, 3))
    if variant == "":
        x_req, g_req = x.clone().requires_grad_(), g.clone().requires_grad_()
        b_req = torch.zeros_like(g, requires_grad=True)
        y = _batch_norm2d(x_req, g_req, b_req, training=True, eps=c.eps)
        dx, dgamma, dbeta = torch.autograd.grad(y, (x_req, g_req, b_req), dy)
    elif variant == "no-mean-terms":
        dx = g.view(1, -1, 1, 1) * inv * dy
    else:  # "no-xhat-term"
        dx = g.view(1, -1, 1, 1) * inv * (dy - dy.mean(dim=(0, 2, 3), keepdim=True))
    if variant == "swapped":
        dgamma, dbeta = dbeta, dgamma
    return like(dx, c.x), like(dgamma, c.gamma), like(dbeta, c.gamma)


def _swapped_back(c: Case) -> Outputs:
    dx, dgamma, dbeta = _bn_back_ref(c)
    return dx, dbeta, dgamma


@exercise(points=25, cases=_bn_back_cases, reference=_bn_back_ref,
          forbidden=forbid(AUTOGRAD, BATCH_NORM), rtol=1e-3, atol=1e-4,
          mistakes=(
              Mistake("mean-terms-missing",
                      "dx misses the terms through μ and σ²: every output of a channel depends on "
                      "every input through the batch statistics, dx = γ/σ·(dy − mean(dy) − "
                      "x̂·mean(dy·x̂))",
                      lambda c: _bn_back_ref(c, "no-mean-terms")),
              Mistake("xhat-term-missing",
                      "dx misses the term through the variance, − x̂·mean(dy·x̂)",
                      lambda c: _bn_back_ref(c, "no-xhat-term")),
              Mistake("dgamma-dbeta-swapped",
                      "dgamma and dbeta are swapped: dgamma = Σ dy·x̂, dbeta = Σ dy",
                      _swapped_back)),
          title="batch normalisation, backward",
          covers="batch 2–8, 2–5 channels, 1×1 to 5×5 maps, eps 1e-5–1e-2",
          summary="the backward pass of training-mode batch normalisation by hand: dx, dγ, dβ, "
                  "without autograd")
def batch_norm_backward(dy, x, gamma, eps=1e-5):
    """Gradients of training-mode batch normalisation y = gamma * xhat + beta, by hand.

    Inputs:
    - dy: (N, C, H, W) gradient of the loss with respect to y
    - x: (N, C, H, W) the input of the forward pass; gamma: (C,); eps: as in the forward pass

    Returns:
    - (dx, dgamma, dbeta) of shapes (N, C, H, W), (C,), (C,), where per channel over the
      m = N*H*W values, with xhat = (x - mu) / sqrt(var + eps) (biased var):
        dgamma = sum(dy * xhat),  dbeta = sum(dy)
        dx = gamma / sqrt(var + eps) * (dy - mean(dy) - xhat * mean(dy * xhat))
    """


# -- 4. label smoothing ---------------------------------------------------------------------------
def _ls_cases(rng: np.random.Generator) -> list[Case]:
    specs = [(4, 10, 0.1, np.float32), (3, 5, 0.2, np.float32), (1, 1000, 0.1, np.float32),
             (6, 3, 0.5, np.float32), (2, 7, 0.0, np.float32), (5, 7, 0.3, np.float64)]
    return [Case.of(f"N={n}, K={k}, eps={e}" + (", float64" if dt is np.float64 else ""),
                    logits=(rng.standard_normal((n, k)) * 3).astype(dt),
                    target=rng.integers(0, k, n).astype(np.int64), eps=e)
            for n, k, e, dt in specs]


def _ls_ref(c: Case, others: bool = False, total: bool = False,
            targets: torch.dtype | None = None) -> Outputs:
    """The loss in the logits' dtype; ``targets`` builds the smoothed targets in another dtype
    (a float32 ``q`` against float64 logits)."""
    z = f64(c.logits)
    n, k = z.shape
    target = torch.from_numpy(np.asarray(c.target))
    q = torch.full((n, k), c.eps / (k - 1) if others else c.eps / k, dtype=targets or z.dtype)
    q[torch.arange(n), target] = 1 - c.eps if others else 1 - c.eps + c.eps / k
    loss = -(q * z.log_softmax(dim=1)).sum(dim=1)
    return (np.asarray((loss.sum() if total else loss.mean()).item(), dtype=c.logits.dtype),)


def _ls_float64(c: Case) -> bool:
    return np.asarray(c.logits).dtype == np.float64


def _ls_compare(c: Case, got: Outputs) -> str | None:
    """float32 cases at the course's float32 tolerances, float64 cases at float64's."""
    tol = 1e-11 if _ls_float64(c) else 1e-4
    return compare_outputs(got, _ls_ref(c), rtol=tol, atol=tol)


@exercise(points=10, cases=_ls_cases, reference=_ls_ref,
          forbidden=forbid(CROSS_ENTROPY),
          mistakes=(
              Mistake("smoothing-over-others-only",
                      "ε was spread over the other classes only: Inception v3's target is "
                      "(1 − ε)·one-hot + ε/K for every class, the correct one included",
                      lambda c: _ls_ref(c, others=True),
                      when=lambda c: c.eps > 0 and c.logits.shape[1] > 1),
              Mistake("sum-not-mean",
                      "the loss is summed over the batch: return the mean over the N examples",
                      lambda c: _ls_ref(c, total=True), when=lambda c: c.logits.shape[0] > 1),
              Mistake("no-smoothing",
                      "the targets are not smoothed: this is plain cross-entropy",
                      changed(_ls_ref, eps=lambda c: 0.0), when=lambda c: c.eps > 0),
              Mistake("float32-targets",
                      "the loss on float64 logits is off in the 8th digit: the smoothed targets "
                      "were made in float32; build q in the logits' dtype "
                      "(torch.full(..., dtype=logits.dtype))",
                      lambda c: _ls_ref(c, targets=torch.float32), when=_ls_float64)),
          check=_ls_compare, title="label smoothing",
          covers="batch 1–6, 3 to 1,000 classes, ε from 0 to 0.5, float32 and float64 logits "
                 "(float64 at a float64 tolerance)",
          summary="Inception v3's label-smoothed cross-entropy, without the library loss")
def label_smoothing_loss(logits, target, eps):
    """Cross-entropy against label-smoothed targets, averaged over the batch.

    Inputs:
    - logits: (N, K) float tensor; target: (N,) int64 class indices; eps: float in [0, 1)

    Returns:
    - a 0-dimensional tensor: mean over n of -sum_k q[n, k] * log_softmax(logits[n])[k], with
        q[n, k] = (1 - eps) * [k == target[n]] + eps / K
    """


# -- 5. the training check: a small Inception network on the digits ----------------------------
def _module_default(x: torch.Tensor, w1: torch.Tensor, w3r: torch.Tensor, w3: torch.Tensor,
                    w5r: torch.Tensor, w5: torch.Tensor, wp: torch.Tensor) -> torch.Tensor:
    b1 = F.relu(F.conv2d(x, w1))
    b3 = F.relu(F.conv2d(F.relu(F.conv2d(x, w3r)), w3, padding=1))
    b5 = F.relu(F.conv2d(F.relu(F.conv2d(x, w5r)), w5, padding=2))
    bp = F.relu(F.conv2d(F.max_pool2d(x, 3, stride=1, padding=1), wp))
    return torch.cat([b1, b3, b5, bp], dim=1)


class DigitsInception(SmallNet):
    """Two Inception modules on the 8×8 digits, each a call of an injected function.

    ``conv 3×3 (1→16) → ReLU → module (16 → 8 + 16 + 8 + 8 = 40) → maxpool 2 → module
    (40 → 16 + 24 + 8 + 8 = 56) → maxpool 2 → linear (56·2·2 → 10)``. Each module is
    ``inception(x, w1, w3r, w3, w5r, w5, wp)`` (default: ``F.conv2d`` and ``F.max_pool2d``).
    Weights are He-scaled normal draws from ``seed``.

    Shape:
        - Input: ``(N, 1, 8, 8)``; output: ``(N, 10)`` logits
    """

    def __init__(self, inception: object | None = None, seed: int = 0) -> None:
        super().__init__()
        self.inception = _module_default if inception is None else inception
        g = torch.Generator().manual_seed(seed)

        def he(*shape: int) -> torch.nn.Parameter:
            fan_in = int(np.prod(shape[1:]))
            return torch.nn.Parameter(torch.randn(shape, generator=g) * math.sqrt(2 / fan_in))

        self.stem_w, self.stem_b = he(16, 1, 3, 3), torch.nn.Parameter(torch.zeros(16))
        self.a = torch.nn.ParameterList([he(8, 16, 1, 1), he(8, 16, 1, 1), he(16, 8, 3, 3),
                                         he(4, 16, 1, 1), he(8, 4, 5, 5), he(8, 16, 1, 1)])
        self.b = torch.nn.ParameterList([he(16, 40, 1, 1), he(12, 40, 1, 1), he(24, 12, 3, 3),
                                         he(4, 40, 1, 1), he(8, 4, 5, 5), he(8, 40, 1, 1)])
        self.fc_w, self.fc_b = he(10, 224), torch.nn.Parameter(torch.zeros(10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.conv2d(x, self.stem_w, self.stem_b, padding=1))  # (N, 16, 8, 8)
        x = F.max_pool2d(self.inception(x, *self.a), 2)  # -> (N, 40, 4, 4)
        x = F.max_pool2d(self.inception(x, *self.b), 2)  # -> (N, 56, 2, 2)
        return F.linear(x.flatten(1), self.fc_w, self.fc_b)  # -> (N, 10)


train_inception = training_check(
    name="train_inception", entry="inception_module", points=20,
    training=Training(net=DigitsInception, steps=150, optimizer="adam", lr=0.01, bar=0.9),
    summary="your Inception module is both modules of a small Inception network on the digits; "
            "the loss curve must track the reference's and the accuracy clear a bar")


EXERCISES = declare(__name__, inception_module, batch_norm_forward, batch_norm_backward,
                    label_smoothing_loss, train_inception)
