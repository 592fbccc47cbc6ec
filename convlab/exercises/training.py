"""Training checks as data: a student's piece trains a small network like convlab's does.

A :class:`Training` says what is trained (a network factory that takes the piece), on what data,
with which loss, optimizer and number of steps, and how the result is judged (a metric and its
pass bar). :func:`training_check` turns it into an exercise:

* ``run`` (in the worker) trains the network built on the student's piece for ``steps`` steps
  from the case's seed and returns the loss curve and the final weights;
* ``judge`` (in the grader) trains the reference network (convlab's piece) from the same seed
  on the same batches, once per grading run (cached), requires the two curves, smoothed over
  ``window`` steps, to agree within ``curve_atol + curve_rtol · reference``, then loads the
  returned weights into a reference network and requires the metric to clear the bar (so a
  made-up curve cannot pass).

Fairness: the steps and the bar are the same numbers on a CPU and on a GPU, so a grade does not
depend on the grading hardware; and other exercises' functions the piece calls are replaced by
convlab's during the run (``stand_ins``), so a mistake there is not charged twice.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import torch

from .spec import Attempt, Case, Exercise, Outputs, Verdict


class TrainableNet(Protocol):
    """A network whose parameters travel as named plain arrays."""

    def state_arrays(self) -> dict[str, np.ndarray]: ...

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None: ...


def _identity(func: Callable[..., Any]) -> Callable[..., Any]:
    return func


@dataclasses.dataclass(frozen=True)
class Training:
    """What a training check trains and how it is judged.

    Args:
        net: ``net(piece, seed=seed)`` builds the network on ``piece`` (convlab's reference
            when ``None``), its weights drawn from ``seed``.
        adapt: turns the student's function into the ``piece`` the network calls.
        targets: ``digits_loaders``'s targets, ``"label"`` (classification) or ``"image"``.
        loss: ``"cross_entropy"`` or ``"mse"``.
        optimizer, lr, steps, batch_size: the run (``steps`` the same on any hardware).
        metric: ``"accuracy"`` (passes at or above ``bar``) or ``"mse"`` (at or below).
        bar: the pass bar on the test split, the same on any hardware.
        window, curve_atol, curve_rtol: the curve comparison.
        stand_ins: ``(name, convlab's function)`` pairs; during the run the student's own
            ``name`` is replaced by convlab's, so only the piece itself is tested.
    """

    net: Callable[..., Any]
    bar: float
    adapt: Callable[[Callable[..., Any]], Callable[..., Any]] = _identity
    targets: str = "label"
    loss: str = "cross_entropy"
    optimizer: str = "sgd"
    lr: float = 0.05
    steps: int = 100
    batch_size: int = 64
    metric: str = "accuracy"
    window: int = 10
    curve_atol: float = 0.05
    curve_rtol: float = 0.0
    stand_ins: tuple[tuple[str, Callable[..., Any]], ...] = ()

    def __post_init__(self) -> None:
        if self.metric not in ("accuracy", "mse") or self.loss not in ("cross_entropy", "mse"):
            raise ValueError(f"metric must be 'accuracy' or 'mse' and loss 'cross_entropy' or "
                             f"'mse', got {self.metric!r}, {self.loss!r}")

    @property
    def metric_flag(self) -> str:
        return "training-accuracy" if self.metric == "accuracy" else "training-error"

    @property
    def passes_text(self) -> str:
        """The bar in words, as the notebook states it."""
        if self.metric == "accuracy":
            return f"test accuracy at least {self.bar:.0%} after {self.steps} steps"
        return f"test reconstruction MSE at most {self.bar} after {self.steps} steps"

    def loaders(self, seed: int) -> tuple[Any, Any]:
        from convlab.data import digits_loaders

        return digits_loaders(batch_size=self.batch_size, seed=seed, targets=self.targets)

    def loss_fn(self) -> Callable[..., torch.Tensor] | None:
        return torch.nn.functional.mse_loss if self.loss == "mse" else None

    def train(self, piece: Callable[..., Any] | None, seed: int,
              device: torch.device) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Train the network on ``piece`` (the reference when ``None``): the loss curve
        ``(steps,)`` (float32) and the final weights."""
        from convlab.train import fit

        net = self.net(piece, seed=seed)
        train, _ = self.loaders(seed)
        threads = torch.get_num_threads()
        if device.type == "cpu":
            torch.set_num_threads(1)  # networks this small run fastest on one thread
        try:
            history = fit(net, train, None, steps=self.steps, lr=self.lr,
                          optimizer=self.optimizer, device=device, seed=seed,
                          loss_fn=self.loss_fn(), progress=False)
        finally:
            torch.set_num_threads(threads)
        return np.asarray(history.train_loss, dtype=np.float32), net.state_arrays()

    def assess(self, net: TrainableNet, seed: int) -> tuple[bool, str]:
        """``(passes, text)`` for trained weights loaded in ``net``."""
        from convlab.train import evaluate

        _, test = self.loaders(seed)
        loss, accuracy = evaluate(net, test, torch.device("cpu"), loss_fn=self.loss_fn())
        if self.metric == "accuracy":
            if accuracy < self.bar:
                return False, f"test accuracy {accuracy:.0%} is below the bar {self.bar:.0%}"
            return True, f"test accuracy {accuracy:.1%}"
        if loss > self.bar:
            return False, f"test reconstruction MSE {loss:.4f} is above the bar {self.bar}"
        return True, f"test reconstruction MSE {loss:.4f}"


@functools.lru_cache(maxsize=32)
def reference_run(training: Training, seed: int,
                  device: str) -> tuple[np.ndarray, tuple[tuple[str, np.ndarray], ...]]:
    """The reference network's run, computed once per process for each seed and device."""
    losses, weights = training.train(None, seed, torch.device(device))
    return losses, tuple(weights.items())


#: Reference runs handed in from outside this process, keyed like :func:`reference_run`: a
#: batch computes each chapter's once, outside any sandbox, and every grading process loads it
#: read-only (:mod:`autograder.reference`). :meth:`TrainingExercise.judge` looks here first.
SHARED_RUNS: dict[tuple[Training, int, str],
                  tuple[np.ndarray, tuple[tuple[str, np.ndarray], ...]]] = {}


def _seed_case(rng: np.random.Generator) -> list[Case]:
    return [Case(kwargs={"seed": int(rng.integers(0, 2**31 - 1))}, label="training run")]


def _no_reference(case: Case) -> Outputs:
    return ()


@dataclasses.dataclass(frozen=True)
class TrainingExercise(Exercise):
    """An exercise whose check is a :class:`Training` run of the student's ``entry``."""

    training: Training | None = None
    timeout_s: float = 300.0

    @property
    def spec(self) -> Training:
        assert self.training is not None, f"{self.name}: a training check needs its Training"
        return self.training

    def _piece(self) -> str:
        t = self.spec
        text = f"the network built on your {self.entry}"
        if t.stand_ins:
            names = ", ".join(name for name, _ in t.stand_ins)
            text += f" (convlab's {names} standing in for yours)"
        return text

    def run(self, func: Callable[..., Any], case: Case) -> Outputs:
        from convlab.train import pick_device

        t = self.spec
        scope = getattr(func, "__globals__", {})
        saved = {name: scope[name] for name, _ in t.stand_ins if name in scope}
        scope.update({name: f for name, f in t.stand_ins if name in saved})
        try:
            losses, weights = t.train(t.adapt(func), case.kwargs["seed"], pick_device())
        finally:
            scope.update(saved)
        return (losses, *weights.values())

    def judge(self, cases: Sequence[Case], attempts: Sequence[Attempt]) -> Verdict:
        from convlab.train import pick_device

        t = self.spec
        if not cases or len(attempts) != len(cases):
            return Verdict(False, f"expected {len(cases)} results, got {len(attempts)}")
        message = ""
        for case, got in zip(cases, attempts, strict=True):
            if isinstance(got, str):
                return Verdict(False, f"training failed: {got} (in {self._piece()})")
            seed = case.kwargs["seed"]
            run_key = (t, seed, str(pick_device()))
            reference, weights = SHARED_RUNS.get(run_key) or reference_run(*run_key)
            names = [name for name, _ in weights]
            if len(got) != 1 + len(names):
                return Verdict(False, f"the run returned {len(got)} arrays, expected "
                                      f"{1 + len(names)} (a loss curve and the weights)")
            losses = np.asarray(got[0], dtype=np.float64)
            if losses.shape != (t.steps,):
                return Verdict(False, f"the loss curve has shape {losses.shape}, expected "
                                      f"({t.steps},)")
            if not np.isfinite(losses).all():
                return Verdict(False, f"the loss of {self._piece()} became NaN or infinite",
                               ("training-curve",))
            initial = t.net(None, seed=seed).state_arrays()  # the same seed, the same start
            frozen = [n for n, w in zip(names, got[1:], strict=True)  # (zero starts aside)
                      if initial[n].any() and np.array_equal(np.asarray(w), initial[n])]
            if frozen:
                return Verdict(False, f"no gradient reached {', '.join(frozen)}: those weights "
                                      f"came back unchanged; keep your {self.entry}'s inputs "
                                      "and weights in the graph (no .detach(), .numpy(), "
                                      ".item() or torch.no_grad(), no in-place writes)",
                               ("no-gradient",))
            smooth = np.ones(t.window) / t.window
            mine = np.convolve(losses, smooth, "valid")  # (steps - window + 1,)
            ref = np.convolve(reference.astype(np.float64), smooth, "valid")
            gap = np.abs(mine - ref)
            off = np.nonzero(gap > t.curve_atol + t.curve_rtol * ref)[0]
            if off.size:
                step = int(off[0])
                return Verdict(False, f"the loss curve of {self._piece()} diverges from the "
                                      f"reference after step {step} (smoothed over {t.window} "
                                      f"steps: {mine[step]:.4g} against {ref[step]:.4g})",
                               ("training-curve",))
            net = t.net(None, seed=seed)
            try:
                net.load_arrays(dict(zip(names, got[1:], strict=True)))
            except ValueError as err:
                return Verdict(False, f"the returned weights do not fit the network: {err}")
            passes, text = t.assess(net, seed)
            if not passes:
                return Verdict(False, f"the weights trained through {self._piece()}, in "
                                      f"convlab's network: {text}", (t.metric_flag,))
            message = (f"trained {t.steps} steps: the loss curve tracks the reference (largest "
                       f"smoothed gap {gap.max():.2g}), {text}")
        return Verdict(True, message)


def training_check(*, name: str, entry: str, points: float, training: Training, summary: str,
                   title: str = "training check", forbidden: tuple[str, ...] = (),
                   timeout_s: float = 300.0) -> TrainingExercise:
    """Declare a training check of the student's ``entry``."""
    return TrainingExercise(name=name, entry=entry, points=points, make_cases=_seed_case,
                            reference=_no_reference, forbidden=forbidden, title=title,
                            summary=summary, timeout_s=timeout_s, training=training)
