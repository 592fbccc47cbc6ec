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

A training check may also ask for code the student writes in its own cell: an ``nn.Module``
class (a layer or a block) with its own registered parameters and initialisation. A
:class:`ModuleCheck` declares what the module must hold (parameter names and shapes for the
constructor's arguments), the rule its initial values follow (:class:`Uniform`), and what its
forward pass computes; on hidden constructor arguments the worker builds the module, runs it
forward and backward once and returns plain arrays (the output, which parameters are registered,
their initial values, which received a gradient), and ``judge`` checks them before the training
run: shapes, parameter count, the initialisation rule (with the usual slips named), the output
against the reference computed from the module's own initial values, and a gradient reaching
every parameter. The network of the training run is then built from the student's class and
starts from the reference network's initial weights, so the two loss curves stay comparable.

Fairness: the steps and the bar are the same numbers on a CPU and on a GPU, so a grade does not
depend on the grading hardware; and other exercises' functions the piece calls are replaced by
convlab's during the run (``stand_ins``), so a mistake there is not charged twice.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import torch

from .compare import compare_outputs, to_plain_outputs
from .spec import Attempt, Case, Exercise, Mistake, Outputs, Verdict


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


# -- a module the student writes -------------------------------------------------------------
#: The chance that a right initialisation is refused: the sample extremes of n draws from
#: U(−b, b) fall short of b·(1 − q) on either side with at most this probability.
INIT_MISS = 1e-6


def _reach(n: int) -> float:
    """How close to the bound the extremes of ``n`` uniform draws get: ``1 − q`` with
    ``(1 − q/2)ⁿ = INIT_MISS``."""
    return 1.0 - 2.0 * (1.0 - INIT_MISS ** (1.0 / max(n, 1)))


@dataclasses.dataclass(frozen=True)
class Uniform:
    """An initialisation rule: every entry drawn from ``U(−bound, bound)``.

    ``slips`` are ``(mistake name, the bound that mistake draws from)``: a parameter whose
    values fit one of those bounds instead is named by that mistake, and values that are all
    zero by ``zero`` (when given). :meth:`fits` accepts values within ``bound`` (float32
    rounding aside) whose largest and smallest entries reach past ``±bound·(1 − q)``, ``q`` set
    by the number of entries so that right values are refused with probability below
    :data:`INIT_MISS`.
    """

    bound: float
    slips: tuple[tuple[str, float], ...] = ()
    zero: str = ""

    @staticmethod
    def fits(values: np.ndarray, bound: float) -> bool:
        v = np.asarray(values, dtype=np.float64).ravel()
        if v.size == 0 or not np.isfinite(v).all():
            return False
        near = bound * _reach(v.size)
        return bool(np.abs(v).max() <= bound * (1 + 1e-5) and v.max() >= near
                    and -v.min() >= near)

    def problem(self, name: str, values: np.ndarray) -> tuple[str, str] | None:
        """``None`` when ``values`` follow the rule; else ``(mistake name or "", reason)``."""
        v = np.asarray(values, dtype=np.float64).ravel()
        if self.fits(v, self.bound):
            return None
        for slip, bound in self.slips:
            if self.fits(v, bound):
                return slip, ""
        if not np.isfinite(v).all():
            return "", f"{name} holds NaN or infinite values: it was never initialised"
        if not v.any():
            return self.zero, (f"{name} is all zeros: draw it from U(−{self.bound:.4g}, "
                               f"{self.bound:.4g}) too")
        return "", (f"{name}'s initial values lie in [{v.min():.4g}, {v.max():.4g}]; the rule "
                    f"draws them from U(−{self.bound:.4g}, {self.bound:.4g}), both signs, up to "
                    "the bound")


def _never(case: Case) -> Outputs:
    raise RuntimeError("a module check's mistakes are named from the module's values")


def slip(name: str, message: str) -> Mistake:
    """A mistake a :class:`ModuleCheck` names from the module's values (it has no variant)."""
    return Mistake(name, message, _never)


@dataclasses.dataclass(frozen=True)
class ModuleCheck:
    """Hidden checks on an ``nn.Module`` class the student writes, run before its training.

    Args:
        make_cases: ``rng -> [Case, ...]``, each ``Case.of(label, build=((name, value), ...),
            x=input, dout=upstream gradient, seed=int)``: the module is
            ``cls(**dict(build))``, built after ``torch.manual_seed(seed)``
            (:func:`module_case` makes one).
        parameters: ``case -> {name: shape}``, the registered parameters the module must hold
            (names as ``named_parameters()`` gives them), in order.
        init: ``case -> {name: Uniform}``, the rule each parameter's initial values follow.
        forward: ``(case, {name: initial values}) -> output``, the reference output for
            ``case.x`` computed from the module's own initial values (in ``x``'s dtype).
        mistakes: the named slips (:func:`slip`): the names :class:`Uniform` rules give and
            ``shape_slips`` name, and ``"not-registered"`` (a parameter that is a plain tensor
            or no attribute at all).
        shape_slips: ``case -> {name: ((mistake name, the shape that mistake gives), ...)}``.
        rtol, atol: the tolerances of the output comparison.
    """

    make_cases: Callable[[np.random.Generator], list[Case]]
    parameters: Callable[[Case], dict[str, tuple[int, ...]]]
    init: Callable[[Case], dict[str, Uniform]]
    forward: Callable[[Case, dict[str, np.ndarray]], np.ndarray]
    mistakes: tuple[Mistake, ...] = ()
    shape_slips: Callable[[Case], dict[str, tuple[tuple[str, tuple[int, ...]], ...]]] | None = None
    rtol: float = 1e-4
    atol: float = 1e-4

    def message(self, name: str) -> str | None:
        return next((m.message for m in self.mistakes if m.name == name), None)

    def probe(self, cls: Callable[..., Any], case: Case) -> Outputs:
        """Worker side: build the module, run it forward and backward once; plain arrays
        ``(output, status, extra, reached, *initial values)`` with ``status[i]`` 1 for a
        registered parameter, 0 for a tensor attribute that is not registered, −1 for none,
        ``extra`` the number of registered values beyond the declared ones and ``reached[i]``
        1 when a non-zero gradient reached parameter ``i``."""
        expected = self.parameters(case)
        torch.manual_seed(int(case.kwargs["seed"]))
        module = cls(**dict(case.kwargs["build"]))
        if not isinstance(module, torch.nn.Module):
            raise TypeError(f"it built a {type(module).__name__}, not a torch.nn.Module")
        registered = dict(module.named_parameters())
        status, tensors = [], []
        for name in expected:
            found: Any = module
            for part in name.split("."):
                found = getattr(found, part, None)
            status.append(1 if name in registered else 0 if isinstance(found, torch.Tensor)
                          else -1)
            tensors.append(found if isinstance(found, torch.Tensor) else None)
        extra = sum(p.numel() for n, p in registered.items() if n not in expected)
        values = [t.detach().cpu().numpy().copy() if t is not None else np.zeros(0)
                  for t in tensors]
        if any(v.shape != tuple(shape) for v, shape in zip(values, expected.values(),
                                                            strict=True)):
            # a parameter of the wrong shape: judged from the arrays, without a forward pass
            return (np.zeros(0, dtype=np.float32), np.asarray(status, dtype=np.int64),
                    np.asarray(extra, dtype=np.int64), np.zeros(len(values), dtype=np.int64),
                    *values)
        x = torch.from_numpy(np.array(case.kwargs["x"], copy=True))
        out = module(x)
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"forward returned a {type(out).__name__}, not a tensor")
        leaves = [t for t in tensors if t is not None and t.requires_grad]
        grads: dict[int, torch.Tensor | None] = {}
        if leaves and out.requires_grad:
            dout = torch.from_numpy(np.array(case.kwargs["dout"], copy=True)).to(out.dtype)
            if dout.shape != out.shape:  # a wrong output shape: judged from the arrays
                dout = torch.ones_like(out)
            got = torch.autograd.grad((out * dout).sum(), leaves, allow_unused=True)
            grads = {id(t): g for t, g in zip(leaves, got, strict=True)}
        reached = [int(t is not None and grads.get(id(t)) is not None
                       and bool(grads[id(t)].detach().ne(0).any())) for t in tensors]
        return (*to_plain_outputs(out), np.asarray(status, dtype=np.int64),
                np.asarray(extra, dtype=np.int64), np.asarray(reached, dtype=np.int64),
                *values)

    def judge(self, entry: str, case: Case, got: Outputs) -> Verdict | None:
        """Grader side: ``None`` when the probe's arrays are right, else the verdict."""
        expected = self.parameters(case)
        names = list(expected)
        if len(got) != 4 + len(names):
            return Verdict(False, f"the probe returned {len(got)} arrays, expected "
                                  f"{4 + len(names)}")
        out, status, extra, reached, *values = got
        for name, st in zip(names, np.asarray(status).tolist(), strict=True):
            if st != 1:
                how = ("is a plain tensor" if st == 0 else "is not an attribute")
                text = self.message("not-registered") or "register it as an nn.Parameter"
                return Verdict(False, f"self.{name} {how}, not a registered parameter "
                                      f"(named_parameters() does not list it), so the optimiser "
                                      f"sees none of it: {text}", ("mistake:not-registered",))
        slips = self.shape_slips(case) if self.shape_slips is not None else {}
        for name, value in zip(names, values, strict=True):
            shape = tuple(value.shape)
            if shape != tuple(expected[name]):
                text = f"self.{name} has shape {shape}, expected {tuple(expected[name])}"
                for mistake, wrong in slips.get(name, ()):
                    message = self.message(mistake)
                    if shape == tuple(wrong) and message is not None:
                        return Verdict(False, f"{text}: {message}", (f"mistake:{mistake}",))
                return Verdict(False, text)
        declared = sum(math.prod(shape) for shape in expected.values())
        if int(extra):
            return Verdict(False, f"the module registers {declared + int(extra)} parameter "
                                  f"values, expected {declared} ({', '.join(names)}): it holds "
                                  "parameters the contract does not ask for")
        params = dict(zip(names, values, strict=True))
        for name, rule in self.init(case).items():
            problem = rule.problem(name, params[name])
            if problem is None:
                continue
            mistake, reason = problem
            message = self.message(mistake) if mistake else None
            if message is not None:
                return Verdict(False, f"self.{name}: {message}", (f"mistake:{mistake}",))
            return Verdict(False, reason or f"self.{name} does not follow the initialisation "
                                            f"rule U(−{rule.bound:.4g}, {rule.bound:.4g})")
        problem = compare_outputs((out,), (self.forward(case, params),), rtol=self.rtol,
                                  atol=self.atol)
        if problem is not None:
            return Verdict(False, f"{problem.replace('the output', 'its output', 1)}, against "
                                  f"the reference computed from the module's own initial "
                                  f"parameters")
        cut = [n for n, r in zip(names, np.asarray(reached).tolist(), strict=True) if not r]
        if cut:
            return Verdict(False, f"no gradient reached {', '.join('self.' + n for n in cut)}: "
                                  "keep the parameters in the graph from forward's input to "
                                  "its output (no .detach(), .data, .numpy(), .item() or "
                                  "torch.no_grad())", ("no-gradient",))
        return None


def module_case(label: str, build: dict[str, Any], x: np.ndarray, dout: np.ndarray,
                seed: int) -> Case:
    """A :class:`ModuleCheck` case: build the module with the keyword arguments ``build``
    (kept as ``(name, value)`` pairs, plain values) after ``torch.manual_seed(seed)``, run it on
    ``x`` and back-propagate ``dout``."""
    return Case.of(label, build=tuple(build.items()), x=x, dout=dout, seed=seed)


def _scope(func: Callable[..., Any]) -> dict[str, Any]:
    """The globals a student's function (or the methods of a student's class) reads."""
    if inspect.isclass(func):
        for value in vars(func).values():
            if inspect.isfunction(value):
                return value.__globals__
        return {}
    return getattr(func, "__globals__", {})


def _seed_case(rng: np.random.Generator) -> list[Case]:
    return [Case(kwargs={"seed": int(rng.integers(0, 2**31 - 1))}, label="training run")]


def _no_reference(case: Case) -> Outputs:
    return ()


@dataclasses.dataclass(frozen=True)
class TrainingExercise(Exercise):
    """An exercise whose check is a :class:`Training` run of the student's ``entry``, after the
    hidden checks of a :class:`ModuleCheck` when ``entry`` is a module class the student
    writes in the exercise's own cell."""

    training: Training | None = None
    module: ModuleCheck | None = None
    timeout_s: float = 300.0

    @property
    def spec(self) -> Training:
        assert self.training is not None, f"{self.name}: a training check needs its Training"
        return self.training

    def cases(self, seed: int) -> list[Case]:
        """The module's probes (when there is a :class:`ModuleCheck`), then the training run."""
        rng = np.random.default_rng(seed)
        run = self.make_cases(rng)
        return ([*self.module.make_cases(rng), *run] if self.module is not None else run)

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
        scope = _scope(func)
        saved = {name: scope[name] for name, _ in t.stand_ins if name in scope}
        scope.update({name: f for name, f in t.stand_ins if name in saved})
        try:
            if "build" in case.kwargs:
                assert self.module is not None, f"{self.name}: a probe needs a ModuleCheck"
                return self.module.probe(t.adapt(func), case)
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
        probes = 0
        for i, (case, got) in enumerate(zip(cases, attempts, strict=True)):
            if "build" in case.kwargs:  # a hidden check of the student's module
                assert self.module is not None
                where = f"{self.entry}, case {i + 1}/{len(cases)} ({case.label})"
                if isinstance(got, str):
                    return Verdict(False, f"{where}: {got}")
                verdict = self.module.judge(self.entry, case, got)
                if verdict is not None:
                    return dataclasses.replace(verdict, message=f"{where}: {verdict.message}")
                probes += 1
                continue
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
        if probes:
            message = (f"{self.entry} passed {probes} hidden module check{'s' * (probes != 1)} "
                       f"(parameter shapes and count, initialisation, output, gradients); "
                       f"{message}")
        return Verdict(True, message)


def training_check(*, name: str, entry: str, points: float, training: Training, summary: str,
                   title: str = "training check", forbidden: tuple[str, ...] = (),
                   timeout_s: float = 300.0, module: ModuleCheck | None = None,
                   stub: Callable[..., Any] | None = None, covers: str = "") -> TrainingExercise:
    """Declare a training check of the student's ``entry``; with ``module``, ``entry`` is an
    ``nn.Module`` class the student writes (``stub``: its contract, a class whose
    ``__init__`` ends with ``super().__init__()``), checked by the :class:`ModuleCheck` before
    the network built on it trains."""
    return TrainingExercise(name=name, entry=entry, points=points, make_cases=_seed_case,
                            reference=_no_reference, forbidden=forbidden, title=title,
                            summary=summary, timeout_s=timeout_s, training=training,
                            module=module, stub=stub, covers=covers,
                            diagnoses=module.mistakes if module is not None else ())


def module_training(*, points: float, training: Training, module: ModuleCheck, summary: str,
                    title: str = "training check",
                    **options: Any) -> Callable[[type], TrainingExercise]:
    """Declare a training check on the ``nn.Module`` class the student writes, decorating the
    stub class (its ``__init__`` signature and the class docstring are the contract)::

        @module_training(points=15, training=Training(net=..., bar=0.85), module=LAYER_CHECK,
                         name="train_my_layer", summary="...")
        class MyLayer(torch.nn.Module):
            \"\"\"What the layer holds (parameter shapes, initialisation rule), computes.\"\"\"

            def __init__(self, in_channels, out_channels):
                super().__init__()

    ``options``: :func:`training_check`'s other keywords (``name``, ``forbidden``, ``covers``,
    ``timeout_s``).
    """

    def declare_stub(stub: type) -> TrainingExercise:
        return training_check(name=options.pop("name", stub.__name__), entry=stub.__name__,
                              points=points, training=training, module=module, stub=stub,
                              summary=summary, title=title, **options)

    return declare_stub
