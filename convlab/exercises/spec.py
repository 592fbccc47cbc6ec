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

A chapter module declares its exercises with :func:`exercise`, decorating the stub the student
completes (its signature and docstring are the contract the notebook's answer cell must start
with), and collects them with :func:`declare`.
"""

from __future__ import annotations

import dataclasses
import inspect
import textwrap
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
    :func:`~convlab.exercises.compare.to_student_value`). Values are read by parameter name:
    ``case.padding`` (``names`` holds the names of ``args``, set by :meth:`Exercise.cases`).
    """

    args: tuple = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""
    names: tuple[str, ...] = ()

    @classmethod
    def of(cls, label: str = "", /, **values: Any) -> Case:
        """A case given by parameter name: ``Case.of("1×1 kernel", x=x, w=w, stride=1)``."""
        return cls(kwargs=values, label=label)

    @property
    def values(self) -> dict[str, Any]:
        """Every value by parameter name."""
        return {**dict(zip(self.names, self.args, strict=False)), **self.kwargs}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        values = self.values
        if name not in values:
            raise AttributeError(f"this case has no parameter {name!r}; it has {list(values)}")
        return values[name]

    def with_(self, **changes: Any) -> Case:
        """The same case with the named values replaced."""
        unknown = set(changes) - set(self.values)
        if unknown:
            raise ValueError(f"this case has no parameter(s) {sorted(unknown)}")
        args = tuple(changes.get(n, a) for n, a in zip(self.names, self.args, strict=False))
        kwargs = {k: changes.get(k, v) for k, v in self.kwargs.items()}
        return dataclasses.replace(self, args=args, kwargs=kwargs)


@dataclass(frozen=True)
class Verdict:
    """The outcome of one exercise: pass/fail, a one-line message and any flags raised."""

    passed: bool
    message: str
    flags: tuple[str, ...] = ()


Outputs = tuple[np.ndarray, ...]
#: What ``run`` produced for one case: the plain outputs, or the one-line error it raised.
Attempt = Outputs | str


def _always(case: Case) -> bool:
    return True


@dataclass(frozen=True)
class Mistake:
    """A named mistake: ``variant(case)`` computes what a solution with that mistake returns,
    on the cases where ``when(case)`` holds (where the mistake can be told apart).

    When the student's output misses the reference but matches a variant, the feedback is
    ``message`` instead of a generic mismatch. A variant that raises is a bug in the
    declaration, and the error propagates.
    """

    name: str
    message: str
    variant: Callable[[Case], Outputs]
    when: Callable[[Case], bool] = _always


#: The earlier name of :class:`Mistake`.
Diagnosis = Mistake


def changed(reference: Callable[[Case], Outputs],
            **values: Callable[[Case], Any]) -> Callable[[Case], Outputs]:
    """A variant: ``reference`` on the case with named values replaced,
    ``changed(ref, padding=lambda c: c.padding + 1)``."""

    def variant(case: Case) -> Outputs:
        return reference(case.with_(**{k: f(case) for k, f in values.items()}))

    return variant


@dataclass(frozen=True)
class Exercise:
    """A graded exercise.

    Args:
        name: identifier, unique in its chapter; the nbgrader test cell is ``test_<name>``.
        entry: the name the student's code defines (a function or class).
        points: points of the nbgrader test cell and of the results file.
        make_cases: ``rng -> [Case, ...]``, the inputs, drawn from a ``numpy`` Generator.
        reference: ``case -> outputs``; plain arrays, computed by ``convlab``.
        forbidden: dotted names of APIs the solution must not call (built with
            :func:`convlab.exercises.apis.forbid`).
        diagnoses: the mistakes the feedback can name, tried in order.
        rtol, atol: tolerances of the final comparison (float32 defaults).
        timeout_s: wall-time budget for all cases together inside the worker.
        title: a few words for feedback lines.
        summary: one line saying what the exercise asks (the book's exercise tables).
        stub: the function the student completes: its signature and docstring are the
            contract the notebook's answer cell starts with.
        check: ``(case, outputs) -> reason or None``, a comparison that replaces the plain
            one with the reference (for answers judged by what they compute).
        covers: the argument forms the cases cover, in words (the hidden tests report it).
        chapter: ``"ch01"`` …; set from the registry by :func:`declare`.
    """

    name: str
    entry: str
    points: float
    make_cases: Callable[[np.random.Generator], list[Case]]
    reference: Callable[[Case], Outputs]
    forbidden: tuple[str, ...] = ()
    diagnoses: tuple[Mistake, ...] = ()
    rtol: float = 1e-4
    atol: float = 1e-4
    timeout_s: float = 60.0
    title: str = ""
    summary: str = ""
    stub: Callable[..., Any] | None = None
    check: Callable[[Case, Outputs], str | None] | None = None
    covers: str = ""
    chapter: str = ""

    @property
    def key(self) -> str:
        return f"{self.chapter}.{self.name}"

    @property
    def grade_id(self) -> str:
        return f"test_{self.name}"

    @property
    def contract(self) -> str | None:
        """The stub's source from ``def`` to the end of its docstring (from ``class`` to the end
        of the stub class, for a class): what the notebook's answer cell holds before
        ``### BEGIN SOLUTION``."""
        if self.stub is None:
            return None
        lines = textwrap.dedent(inspect.getsource(self.stub)).splitlines(keepends=True)
        start = next(i for i, line in enumerate(lines) if line.startswith(("def ", "class ")))
        return "".join(lines[start:])

    @property
    def indent(self) -> str:
        """The indentation of the answer's solution region: a function's body, or the body
        of the method a class stub ends in."""
        contract = self.contract or ""
        if not contract.startswith("class "):
            return "    "
        last = [line for line in contract.splitlines() if line.strip()][-1]
        return last[:len(last) - len(last.lstrip())]

    # -- grader side -------------------------------------------------------------------
    def cases(self, seed: int) -> list[Case]:
        """The inputs for ``seed`` (deterministic), positional in the stub's parameter order."""
        cases = self.make_cases(np.random.default_rng(seed))
        if self.stub is None:
            return cases
        signature = inspect.signature(self.stub)
        out = []
        for case in cases:
            bound = signature.bind(*case.args, **case.kwargs).arguments
            keyword = {n for n, p in signature.parameters.items() if p.kind is p.KEYWORD_ONLY}
            names = tuple(n for n in bound if n not in keyword)
            out.append(Case(tuple(bound[n] for n in names), {n: bound[n] for n in keyword
                                                              if n in bound},
                            case.label, names))
        return out

    def judge(self, cases: Sequence[Case], attempts: Sequence[Attempt]) -> Verdict:
        """Compare the student's outputs with the reference, case by case.

        Only plain arrays are touched here. The first failing case decides the message; a
        matching :class:`Mistake` names the mistake.
        """
        if len(attempts) != len(cases):
            return Verdict(False, f"expected {len(cases)} results, got {len(attempts)}")
        for i, (case, got) in enumerate(zip(cases, attempts, strict=True)):
            where = f"case {i + 1}/{len(cases)}" + (f" ({case.label})" if case.label else "")
            if isinstance(got, str):
                return Verdict(False, f"{where}: {got}")
            problem = self.compare(case, got)
            if problem is None:
                continue
            for d in self.diagnoses:
                if d.when(case) and compare_outputs(got, d.variant(case), rtol=self.rtol,
                                                    atol=self.atol) is None:
                    return Verdict(False, f"{where}: {d.message}", (f"mistake:{d.name}",))
            return Verdict(False, f"{where}: {problem}")
        covering = f" (covering {self.covers})" if self.covers else ""
        return Verdict(True, f"all {len(cases)} cases match the reference{covering}")

    def compare(self, case: Case, got: Outputs) -> str | None:
        """``None`` when ``got`` is right for ``case``; otherwise a one-line reason."""
        if self.check is not None:
            return self.check(case, got)
        return compare_outputs(got, self.reference(case), rtol=self.rtol, atol=self.atol)

    def named(self, case: Case) -> Case:
        """``case`` with its positional values named after the stub's parameters (a grading
        worker receives bare ``args`` and ``kwargs``)."""
        if case.names or self.stub is None:
            return case
        params = list(inspect.signature(self.stub).parameters)
        return dataclasses.replace(case, names=tuple(params[:len(case.args)]))

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


def exercise(*, points: float, cases: Callable[[np.random.Generator], list[Case]],
             reference: Callable[[Case], Outputs], summary: str, title: str,
             kind: type[Exercise] = Exercise, **options: Any) -> Callable[[Callable], Exercise]:
    """Declare an exercise on the stub the student completes (a ``def`` with its docstring)::

        @exercise(points=10, cases=size_cases, reference=size_ref, mistakes=(...),
                  title="output size", summary="the output-size relation, dilation included")
        def conv_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
            \"\"\"Output length of a convolution along one spatial dimension. ...\"\"\"

    ``mistakes`` fills :attr:`Exercise.diagnoses`; other keywords are :class:`Exercise`
    fields (``forbidden``, ``rtol``, ``atol``, ``timeout_s``) or those of ``kind``.
    """
    mistakes = tuple(options.pop("mistakes", ()))

    def declare_stub(stub: Callable[..., Any]) -> Exercise:
        return kind(name=options.pop("name", stub.__name__), entry=stub.__name__, points=points,
                    make_cases=cases, reference=reference, diagnoses=mistakes, summary=summary,
                    title=title, stub=stub, **options)

    return declare_stub


def declare(module: str, *exercises: Exercise) -> tuple[Exercise, ...]:
    """A chapter module's ``EXERCISES``: ``declare(__name__, ex1, ex2, ...)``, in notebook order,
    each stamped with the chapter id the registry gives the module."""
    from .registry import chapter_of_module

    chapter_id = chapter_of_module(module)
    names = [ex.name for ex in exercises]
    if len(set(names)) != len(names):
        raise ValueError(f"{module}: exercise names repeat: {names}")
    return tuple(ex.replace(chapter=chapter_id) for ex in exercises)
