"""Running an exercise inside the student's own kernel: the notebook's visible checks and
nbgrader's hidden test cells. (The autograder splits the same steps across two processes.)"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .forbid import forbidden
from .spec import Attempt, Exercise, Verdict


def describe_exception(exc: BaseException) -> str:
    if isinstance(exc, NotImplementedError):
        return "not implemented yet (the function raises NotImplementedError)"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"raised {type(exc).__name__}" + (f": {text}" if text else "")


def attempt_all(
    ex: Exercise, func: Callable[..., Any], cases: list
) -> tuple[list[Attempt], list[str]]:
    """Run every case under the exercise's forbidden-API guard. Returns attempts and violations."""
    attempts: list[Attempt] = []
    with forbidden(ex.forbidden) as guard:
        for case in cases:
            try:
                attempts.append(ex.run(func, case))
            except Exception as exc:  # the student's error, reported per case
                attempts.append(describe_exception(exc))
    return attempts, list(guard.used)


def run_exercise(ex: Exercise, func: Callable[..., Any], seed: int) -> Verdict:
    cases = ex.cases(seed)
    attempts, used = attempt_all(ex, func, cases)
    if used:
        return Verdict(False, f"calls {used[0]}, which this exercise forbids", ("forbidden-api",))
    return ex.judge(cases, attempts)
