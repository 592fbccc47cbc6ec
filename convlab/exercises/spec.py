"""Exercise declarations: each graded exercise is declared once and used three ways.

* the notebook's visible check runs it with the public seed in the student's kernel
  (:func:`convlab.exercises.check`);
* nbgrader's hidden test cell runs it with a hidden seed in the student's kernel
  (:func:`convlab.exercises.grade`);
* the autograder runs :meth:`Exercise.run` inside a sandboxed worker and
  :meth:`Exercise.judge` in its own process, on inputs from a secret per-student seed.

The split matters: ``cases`` and ``judge`` only ever see plain ``numpy`` arrays and Python
scalars, so they can run in a process that never touches a student object; ``run`` is the only
part that calls student code, and it hands back plain arrays.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .compare import compare_outputs, to_plain_outputs, to_student_value

#: Seed of the visible checks. Hidden seeds are derived elsewhere and never equal it.
PUBLIC_SEED = 20210623


@dataclass(frozen=True)
class Case:
    """One call of the student's function.

    ``args``/``kwargs`` hold ``numpy`` arrays and plain Python scalars, tuples or strings only.
    Float arrays reach the student as ``torch.float32``/``float64`` tensors (see
    :func:`~convlab.exercises.compare.to_student_value`).
    """

    args: tuple = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""


@dataclass(frozen=True)
class Verdict:
    """The outcome of one exercise: pass/fail, a one-line message and any flags raised."""

    passed: bool
    message: str
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Diagnosis:
    """A named mistake: ``variant(case)`` computes what a solution with that mistake returns.

    When the student's output misses the reference but matches a variant, the feedback is
    ``message`` instead of a generic mismatch.
    """

    name: str
    message: str
    variant: Callable[[Case], tuple[np.ndarray, ...]]


Outputs = tuple[np.ndarray, ...]
#: What ``run`` produced for one case: the plain outputs, or the one-line error it raised.
Attempt = Outputs | str


@dataclass(frozen=True)
class Exercise:
    """A graded exercise.

    Args:
        chapter: ``"ch01"`` … ; the notebook the exercise lives in.
        name: identifier, unique in its chapter; the nbgrader test cell is ``test_<name>``.
        entry: the name the student's code defines (a function or class).
        points: points of the nbgrader test cell and of the results file.
        make_cases: ``rng -> [Case, ...]``, the inputs, drawn from a ``numpy`` Generator.
        reference: ``case -> outputs``; plain arrays, computed by ``convlab``.
        forbidden: dotted names of APIs the solution must not call
            (``"torch.nn.functional.conv2d"``).
        diagnoses: mistakes the feedback can name.
        rtol, atol: tolerances of the final comparison (float32 defaults).
        timeout_s: wall-time budget for all cases together inside the worker.
        title: a few words for feedback lines.
    """

    chapter: str
    name: str
    entry: str
    points: float
    make_cases: Callable[[np.random.Generator], list[Case]]
    reference: Callable[[Case], Outputs]
    forbidden: tuple[str, ...] = ()
    diagnoses: tuple[Diagnosis, ...] = ()
    rtol: float = 1e-4
    atol: float = 1e-4
    timeout_s: float = 60.0
    title: str = ""

    @property
    def key(self) -> str:
        return f"{self.chapter}.{self.name}"

    @property
    def grade_id(self) -> str:
        return f"test_{self.name}"

    # -- grader side -------------------------------------------------------------------
    def cases(self, seed: int) -> list[Case]:
        """The inputs for ``seed`` (deterministic)."""
        return self.make_cases(np.random.default_rng(seed))

    def judge(self, cases: Sequence[Case], attempts: Sequence[Attempt]) -> Verdict:
        """Compare the student's outputs with the reference, case by case.

        Only plain arrays are touched here. The first failing case decides the message; a
        matching :class:`Diagnosis` names the mistake.
        """
        if len(attempts) != len(cases):
            return Verdict(False, f"expected {len(cases)} results, got {len(attempts)}")
        for i, (case, got) in enumerate(zip(cases, attempts, strict=True)):
            where = f"case {i + 1}/{len(cases)}" + (f" ({case.label})" if case.label else "")
            if isinstance(got, str):
                return Verdict(False, f"{where}: {got}")
            expected = self.reference(case)
            problem = compare_outputs(got, expected, rtol=self.rtol, atol=self.atol)
            if problem is None:
                continue
            for d in self.diagnoses:
                try:
                    alt = d.variant(case)
                except Exception:  # a variant that does not apply to this case
                    continue
                if compare_outputs(got, alt, rtol=self.rtol, atol=self.atol) is None:
                    return Verdict(False, f"{where}: {d.message}", (f"mistake:{d.name}",))
            return Verdict(False, f"{where}: {problem}")
        return Verdict(True, f"all {len(cases)} cases match the reference")

    # -- worker side (runs student code) ------------------------------------------------
    def run(self, func: Callable[..., Any], case: Case) -> Outputs:
        """Call the student's ``func`` on one case and return plain arrays.

        Raises whatever the student code raises; the caller turns it into a message.
        """
        args = tuple(to_student_value(a) for a in case.args)
        kwargs = {k: to_student_value(v) for k, v in case.kwargs.items()}
        return to_plain_outputs(func(*args, **kwargs))

    def replace(self, **changes: Any) -> Exercise:
        return dataclasses.replace(self, **changes)
