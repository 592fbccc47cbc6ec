"""The exercise scaffold the notebooks use.

In a notebook::

    from convlab.exercises import check
    check("ch01.conv2d_loop", conv2d_loop)   # visible check, public seed

Each exercise is declared once, on the stub the student completes (:func:`exercise`), in the
chapter's module (``convlab.exercises.ch01`` …) and registered in :mod:`.registry`; the
autograder grades the same declarations in a sandbox. The pieces: :mod:`.apis` (the
forbidden-API vocabulary), :mod:`.spec` (cases, mistakes, exercises), :mod:`.training` (training
checks as data), :mod:`.conv` (the convolution family's cases, reference and mistakes),
:mod:`.lines` (the loop probe), :mod:`.scaffold` (a notebook skeleton from the declarations).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .inkernel import run_exercise
from .registry import CHAPTERS, chapter, exercises, get
from .seeds import derive_seed, kernel_hidden_seed
from .spec import (
    PUBLIC_SEED,
    Case,
    Diagnosis,
    Exercise,
    Mistake,
    Verdict,
    changed,
    declare,
    exercise,
)

__all__ = [
    "CHAPTERS", "PUBLIC_SEED", "Case", "CheckFailed", "Diagnosis", "Exercise", "Mistake", "Verdict",
    "chapter", "changed", "check", "declare", "derive_seed", "exercise", "exercises", "get",
    "grade", "run_exercise", "uses",
]


class CheckFailed(AssertionError):
    """A check that failed. In a notebook it shows as its one-line message, without a
    traceback (IPython renders ``_render_traceback_``); nbgrader still sees the cell fail."""

    def _render_traceback_(self) -> list[str]:
        return [f"✗ {self}"]


def check(key: str, func: Callable[..., Any]) -> None:
    """Visible check: run exercise ``key`` on the public inputs; print ✓ or raise
    :class:`CheckFailed`. Returns nothing, so a check cell shows its line only."""
    ex = get(key)
    verdict = run_exercise(ex, func, PUBLIC_SEED)
    if not verdict.passed:
        raise CheckFailed(f"{ex.entry}: {verdict.message}")
    print(f"✓ {ex.entry}: {verdict.message} (visible check)")


def grade(key: str, func: Callable[..., Any]) -> None:
    """nbgrader's hidden test: the exercise on hidden inputs; prints how many cases ran and
    what they cover, or raises :class:`CheckFailed`."""
    ex = get(key)
    seed = kernel_hidden_seed(key)
    verdict = run_exercise(ex, func, seed)
    if not verdict.passed:
        raise CheckFailed(f"{ex.entry} (hidden tests): {verdict.message}")
    n = len(ex.cases(seed))
    covering = f", covering {ex.covers}" if ex.covers else ""
    print(f"✓ {ex.entry}: passed the hidden tests ({n} case{'s' * (n != 1)}{covering})")


def uses(key: str, func: Callable[..., Any]) -> bool:
    """Guard of a notebook cell that uses an answer: ``if uses("ch03.conv_matrix",
    conv_matrix):``. In a notebook kernel it runs exercise ``key``'s visible check quietly and,
    when ``func`` fails it, prints which exercise to fix first and returns ``False`` (instead of
    an error from deep inside the cell). Outside a notebook kernel (a grading worker) it returns
    ``True`` without running anything."""
    try:
        from IPython import get_ipython
    except ImportError:  # no IPython: not a notebook kernel
        return True
    if get_ipython() is None:
        return True
    ex = get(key)
    verdict = run_exercise(ex, func, PUBLIC_SEED)
    if not verdict.passed:
        print(f"This cell uses your {ex.entry}, which does not pass its check yet "
              f"({verdict.message.split(': ', 1)[-1]}): fix exercise {key} first.")
    return verdict.passed
