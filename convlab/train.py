"""A small, reproducible training loop: device choice, seeding, deterministic mode and ``fit``.

``fit`` trains any classifier ``model(X) -> logits (B, num_classes)`` with cross-entropy, for a
number of optimiser steps or epochs, shows a tqdm bar, evaluates on a test loader at fixed
intervals and returns a :class:`History`. With the same seed, the same initial weights and the
same batches, the loss curve is identical from run to run on the CPU (and on the GPU under
:func:`deterministic`).

Example:
    >>> from convlab.data import digits_loaders
    >>> from convlab.models.small import DigitsCNN
    >>> train, test = digits_loaders(batch_size=64, seed=0)
    >>> history = fit(DigitsCNN(seed=0), train, test, steps=300, lr=0.05, progress=False)
    >>> history.test_accuracy > 0.9
    True
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

#: Environment variable that overrides the device (``cpu``, ``cuda``, ``cuda:1``, ...).
DEVICE_ENV = "CONVLAB_DEVICE"
OPTIMIZERS = ("sgd", "adam")


def pick_device(prefer: str | torch.device | None = None) -> torch.device:
    """The device to compute on: ``prefer``, else ``$CONVLAB_DEVICE``, else CUDA when present.

    Raises:
        ValueError: if the requested device is CUDA and no CUDA device is available, or the
            name is not a device.
    """
    name = prefer if prefer is not None else os.environ.get(DEVICE_ENV) or None
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"device must name a torch device (cpu, cuda, cuda:0...), got {name!r}"
        ) from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asks for CUDA but no CUDA device is available")
    return device


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's (CPU and all CUDA devices) generators."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def deterministic(enabled: bool = True) -> None:
    """Switch deterministic mode on (or off): TF32 off, deterministic algorithms, cuDNN fixed.

    On: ``torch.use_deterministic_algorithms(True, warn_only=True)`` (ops without a
    deterministic version warn instead of failing), cuDNN deterministic and not benchmarking,
    TF32 off for matmuls and convolutions (full float32 precision, so CPU and GPU agree to
    float32 rounding). Off restores PyTorch's defaults. Set ``CUBLAS_WORKSPACE_CONFIG`` before
    CUDA starts, as it is read once; this function sets it when it is unset.
    """
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    torch.backends.cudnn.deterministic = enabled
    torch.backends.cudnn.benchmark = False
    torch.backends.cuda.matmul.allow_tf32 = False  # PyTorch's default in both modes
    torch.backends.cudnn.allow_tf32 = not enabled


@dataclass
class History:
    """What :func:`fit` measured.

    Attributes:
        train_loss: the training loss of every optimiser step, in order.
        eval_steps: the step counts at which the test set was evaluated.
        eval_loss, eval_accuracy: test loss and accuracy at those steps.
        test_accuracy: accuracy on the test loader after the last step (``nan`` without one).
        test_loss: loss on the test loader after the last step (``nan`` without one).
        steps: optimiser steps taken.
        wall_time_s: seconds spent in ``fit``.
        device: the device trained on.
    """

    train_loss: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_loss: list[float] = field(default_factory=list)
    eval_accuracy: list[float] = field(default_factory=list)
    test_accuracy: float = float("nan")
    test_loss: float = float("nan")
    steps: int = 0
    wall_time_s: float = 0.0
    device: str = "cpu"

    def as_dict(self) -> dict[str, Any]:
        """Plain Python values only (lists, floats, ints, strings)."""
        return asdict(self)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable,
    device: torch.device | str | None = None,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` over ``loader``.

    The model is put in eval mode for the pass and its previous mode is restored. The loss is
    cross-entropy unless ``loss_fn`` (a mean over the batch) is given; the accuracy compares
    ``argmax`` of the output with integer targets, and is ``nan`` when the targets are not
    class labels (an autoencoder's images, say).

    Returns:
        ``(loss, accuracy)``, the loss averaged over examples, the accuracy in ``[0, 1]``.
    """
    device = _model_device(model) if device is None else torch.device(device)
    loss_fn = F.cross_entropy if loss_fn is None else loss_fn
    was_training = model.training
    model.eval()
    total_loss, correct, count, labels = 0.0, 0, 0, True
    try:
        for X, y in loader:
            X, y = X.to(device), y.to(device)
            out = model(X)  # (B, num_classes) for a classifier
            total_loss += loss_fn(out, y).item() * y.shape[0]
            labels = labels and not y.is_floating_point() and y.ndim == 1
            if labels:
                correct += (out.argmax(dim=1) == y).sum().item()
            count += y.shape[0]
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("loader yielded no examples")
    return total_loss / count, (correct / count if labels else float("nan"))


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def _batches(loader: Iterable, steps: int) -> Iterator[tuple[int, Any]]:
    """``steps`` batches, starting the loader again whenever an epoch ends."""
    step = 0
    while step < steps:
        empty = True
        for batch in loader:
            empty = False
            yield step, batch
            step += 1
            if step == steps:
                return
        if empty:
            raise ValueError("train_loader yielded no batches")


def _make_optimizer(name: str, params: Iterable[nn.Parameter], lr: float, momentum: float,
                    weight_decay: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def fit(
    model: nn.Module,
    train_loader: Iterable,
    test_loader: Iterable | None = None,
    *,
    steps: int | None = None,
    epochs: int | None = None,
    lr: float = 0.05,
    optimizer: str = "sgd",
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    eval_every: int | None = None,
    device: torch.device | str | None = None,
    seed: int | None = 0,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    progress: bool = True,
) -> History:
    """Train ``model`` with cross-entropy (or ``loss_fn``) and return its :class:`History`.

    Give exactly one of ``steps`` (optimiser steps; the loader restarts at each epoch end) or
    ``epochs`` (full passes over ``train_loader``).

    Args:
        model: maps a batch ``X`` to logits of shape ``(B, num_classes)`` (or to whatever
            ``loss_fn`` expects); moved to ``device`` in place.
        train_loader: iterable of ``(X, y)`` batches. Its order decides the curve: use a
            seeded loader (:func:`convlab.data.digits_loaders`) for reproducible runs.
        test_loader: optional; evaluated every ``eval_every`` steps and at the end.
        lr, optimizer, momentum, weight_decay: ``"sgd"`` (with ``momentum``) or ``"adam"``.
        eval_every: steps between evaluations (default: about ten evaluations per run).
        device: where to train (default :func:`pick_device`).
        seed: seeds every generator before training (see :func:`seed_everything`) so that
            dropout or other random layers repeat; ``None`` leaves the generators alone. The
            model's initial weights are the caller's business.
        loss_fn: ``loss_fn(output, y) -> scalar`` (a batch mean); default cross-entropy. It
            is also the evaluation loss; the accuracy is ``nan`` when ``y`` holds no labels.
        progress: show a tqdm bar with the running loss.

    Returns:
        A :class:`History` with one training loss per step.
    """
    if (steps is None) == (epochs is None):
        raise ValueError("give exactly one of steps or epochs")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if epochs is not None and (
        isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1
    ):
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    if epochs is not None:
        steps = epochs * len(train_loader)  # type: ignore[arg-type]
    assert steps is not None
    if eval_every is None:
        eval_every = max(1, steps // 10)
    elif isinstance(eval_every, bool) or not isinstance(eval_every, int) or eval_every < 1:
        raise ValueError(f"eval_every must be a positive int, got {eval_every!r}")
    device = pick_device(device)
    if seed is not None:
        seed_everything(seed)
    loss_fn = F.cross_entropy if loss_fn is None else loss_fn

    from tqdm.auto import tqdm

    model.to(device)
    opt = _make_optimizer(optimizer, model.parameters(), lr, momentum, weight_decay)
    history = History(device=str(device))
    start = time.perf_counter()
    bar = tqdm(total=steps, disable=not progress, desc="fit", leave=False)
    model.train()
    try:
        for step, (X, y) in _batches(train_loader, steps):
            X, y = X.to(device), y.to(device)
            loss = loss_fn(model(X), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            value = loss.item()
            if not np.isfinite(value):
                raise FloatingPointError(f"training loss became {value} at step {step}")
            history.train_loss.append(value)
            bar.update(1)
            bar.set_postfix(loss=f"{value:.4f}", refresh=False)
            done = step + 1
            if test_loader is not None and (done % eval_every == 0 or done == steps):
                eval_loss, eval_acc = evaluate(model, test_loader, device, loss_fn)
                history.eval_steps.append(done)
                history.eval_loss.append(eval_loss)
                history.eval_accuracy.append(eval_acc)
    finally:
        bar.close()
    history.steps = len(history.train_loss)
    if history.eval_steps:
        history.test_loss = history.eval_loss[-1]
        history.test_accuracy = history.eval_accuracy[-1]
    history.wall_time_s = time.perf_counter() - start
    return history


# -- adapters: a student's function behind the reference signature ---------------------------
def as_conv2d(func: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """A student's ``conv(x, w, b, stride, padding)`` behind the reference signature
    ``conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1)``."""

    def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
               stride: int = 1, padding: int = 0, dilation: int = 1,
               groups: int = 1) -> torch.Tensor:
        if dilation != 1 or groups != 1:
            raise ValueError("the exercise's convolution has dilation=1 and groups=1 only")
        if bias is None:
            bias = weight.new_zeros(weight.shape[0])
        return func(x, weight, bias, stride, padding)

    return conv2d


def as_conv_transpose2d(func: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """A student's ``conv_transpose2d_scatter(x, w, b, stride, padding, output_padding)`` behind
    the reference signature ``conv_transpose2d(x, weight, bias=None, stride=1, padding=0,
    output_padding=0, groups=1, dilation=1)``."""

    def conv_transpose2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                         stride: int = 1, padding: int = 0, output_padding: int = 0,
                         groups: int = 1, dilation: int = 1) -> torch.Tensor:
        if groups != 1 or dilation != 1:
            raise ValueError("the exercise's transposed convolution has groups=1, dilation=1")
        return func(x, weight, bias, stride, padding, output_padding)

    return conv_transpose2d
