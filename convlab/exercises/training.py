"""The training checks' shared contract: train in the worker, re-train the reference in the
grader, compare the two loss curves, then evaluate the returned weights in a reference network.

Each chapter's training check subclasses :class:`TrainingExercise` and fills in the network,
the training run and the evaluation of the weights; the curve comparison, the checks on the
returned arrays and the feedback lines live here once.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol

import numpy as np
import torch

from .spec import Attempt, Case, Exercise, Outputs, Verdict


def no_reference(case: Case) -> Outputs:
    """A training check's ``reference``: unused, ``judge`` trains the reference network."""
    return ()


def seed_cases(label: str) -> Callable[[np.random.Generator], list[Case]]:
    """``make_cases`` of a training check: one case holding a seed drawn from ``rng``."""

    def make_cases(rng: np.random.Generator) -> list[Case]:
        return [Case(kwargs={"seed": int(rng.integers(0, 2**31 - 1))}, label=label)]

    return make_cases


class TrainableNet(Protocol):
    """A network whose parameters travel as named plain arrays."""

    def state_arrays(self) -> dict[str, np.ndarray]: ...

    def load_arrays(self, arrays: dict[str, np.ndarray]) -> None: ...


@dataclasses.dataclass(frozen=True)
class TrainingExercise(Exercise, abc.ABC):
    """A training check: the student's op trains a small network on the digits.

    The case holds the seed (initial weights and batch order). ``run`` (in the worker) trains
    the network built on the student's op for ``steps_gpu`` steps on a GPU, or ``steps_cpu``
    on the CPU, and returns the per-step loss curve followed by the final weights (in
    ``state_arrays`` order). ``judge`` (in the grader) trains the reference network from the
    same seed on the same batches for as many steps, requires the two curves, smoothed over
    ``window`` steps (a moving average), to stay within :meth:`curve_limit` of each other, then
    loads the returned weights into a reference network and requires :meth:`assess` to pass
    (so a made-up curve cannot pass).
    """

    reference: Callable[[Case], Outputs] = no_reference
    timeout_s: float = 300.0
    title: str = "training check"
    steps_cpu: int = 100
    steps_gpu: int = 300
    batch_size: int = 64
    lr: float = 0.05
    window: int = 10
    curve_atol: float = 0.05

    #: What the loss curve measures, as feedback names it.
    loss_name: ClassVar[str] = "training loss"
    #: The feedback flag of weights that miss the bar.
    metric_flag: ClassVar[str] = "training-accuracy"
    #: Whether a judge given no cases fails rather than passes.
    needs_cases: ClassVar[bool] = False

    @abc.abstractmethod
    def make_net(self, seed: int) -> TrainableNet:
        """The reference network, initialised from ``seed``."""

    @abc.abstractmethod
    def _train(self, op: Callable[..., Any] | None, seed: int, steps: int,
               device: torch.device) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Train the network built on ``op`` (the reference op when ``None``) for ``steps``
        steps from ``seed``; returns the loss curve ``(steps,)`` (float32) and the weights."""

    @abc.abstractmethod
    def assess(self, net: TrainableNet, seed: int, steps: int) -> tuple[bool, str]:
        """Evaluate the returned weights loaded in ``net`` after a ``steps``-step run:
        ``(passes, text)``, ``text`` the failure message, or the metric's summary on a pass."""

    def adapt(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """The student's function as the op :meth:`_train` expects."""
        return func

    def _reference_losses(self, seed: int, steps: int) -> np.ndarray:
        """The reference network's loss curve ``(steps,)`` from ``seed``."""
        from convlab.train import pick_device

        reference, _ = self._train(None, seed, steps, pick_device())
        return reference

    def curve_limit(self, ref: np.ndarray) -> float | np.ndarray:
        """The largest allowed gap between the smoothed curves, given the smoothed reference."""
        return self.curve_atol

    def divergence_message(self, step: int, losses: np.ndarray, reference: np.ndarray,
                           mine: np.ndarray, ref: np.ndarray) -> str:
        """Feedback for curves that part at ``step`` (raw curves ``losses``, ``reference``;
        smoothed ones ``mine``, ``ref``)."""
        return (f"the loss curve diverges from the reference after step {step} (smoothed "
                f"over {self.window} steps: {losses[step:step + self.window].mean():.3f} "
                f"against {reference[step:step + self.window].mean():.3f})")

    def run(self, func: Callable[..., Any], case: Case) -> Outputs:
        from convlab.train import pick_device

        device = pick_device()
        steps = self.steps_gpu if device.type == "cuda" else self.steps_cpu
        losses, weights = self._train(self.adapt(func), case.kwargs["seed"], steps, device)
        return (losses, *weights.values())

    def judge(self, cases: Sequence[Case], attempts: Sequence[Attempt]) -> Verdict:
        if len(attempts) != len(cases) or (self.needs_cases and not cases):
            return Verdict(False, f"expected {len(cases)} results, got {len(attempts)}")
        message = ""
        for case, got in zip(cases, attempts, strict=True):
            if isinstance(got, str):
                return Verdict(False, f"training failed: {got}")
            seed = case.kwargs["seed"]
            names = list(self.make_net(seed).state_arrays())
            if len(got) != 1 + len(names):
                return Verdict(False, f"the run returned {len(got)} arrays, expected "
                                      f"{1 + len(names)} (a loss curve and the weights)")
            losses = np.asarray(got[0], dtype=np.float64)
            if losses.ndim != 1 or len(losses) not in (self.steps_cpu, self.steps_gpu):
                return Verdict(False, f"the loss curve has shape {losses.shape}, expected "
                                      f"({self.steps_cpu},) or ({self.steps_gpu},)")
            if not np.isfinite(losses).all():
                return Verdict(False, f"the {self.loss_name} became NaN or infinite")
            steps = len(losses)
            reference = self._reference_losses(seed, steps)
            smooth = np.ones(self.window) / self.window
            mine = np.convolve(losses, smooth, "valid")  # (steps - window + 1,)
            ref = np.convolve(reference.astype(np.float64), smooth, "valid")
            gap = np.abs(mine - ref)
            off = np.nonzero(gap > self.curve_limit(ref))[0]
            if off.size:
                step = int(off[0])
                return Verdict(False, self.divergence_message(step, losses, reference, mine, ref),
                               ("training-curve",))
            net = self.make_net(seed)
            try:
                net.load_arrays(dict(zip(names, got[1:], strict=True)))
            except ValueError as err:
                return Verdict(False, f"the returned weights do not fit the network: {err}")
            passes, text = self.assess(net, seed, steps)
            if not passes:
                return Verdict(False, text, (self.metric_flag,))
            message = (f"trained {steps} steps: the loss curve tracks the reference (largest "
                       f"smoothed gap {gap.max():.2g}), {text}")
        return Verdict(True, message)


@dataclasses.dataclass(frozen=True)
class DigitsClassifierTraining(TrainingExercise):
    """A training check of a digits classifier: the returned weights pass when their test
    accuracy reaches ``accuracy_bar_gpu`` after a GPU-length run, ``accuracy_bar_cpu`` after a
    CPU-length one."""

    accuracy_bar_cpu: float = 0.85
    accuracy_bar_gpu: float = 0.9

    #: How feedback qualifies the evaluated weights (after "of the trained weights").
    weights_note: ClassVar[str] = ""

    def assess(self, net: TrainableNet, seed: int, steps: int) -> tuple[bool, str]:
        from convlab.data import digits_loaders
        from convlab.train import evaluate

        _, test = digits_loaders(batch_size=self.batch_size, seed=seed)
        _, accuracy = evaluate(net, test, torch.device("cpu"))
        bar = self.accuracy_bar_gpu if steps == self.steps_gpu else self.accuracy_bar_cpu
        if accuracy < bar:
            return False, (f"test accuracy {accuracy:.0%} of the trained weights"
                           f"{self.weights_note} is below the bar {bar:.0%}")
        return True, f"test accuracy {accuracy:.1%}"
