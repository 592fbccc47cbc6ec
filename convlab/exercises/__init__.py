"""The exercise scaffold the notebooks use.

In a notebook::

    from convlab.exercises import check
    check("ch01.conv2d_loop", conv2d_loop)   # visible check, public seed

Each exercise is declared once (:class:`~convlab.exercises.spec.Exercise`) in the chapter's
module (``convlab.exercises.ch01`` …); the autograder grades the same declarations in a sandbox.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .inkernel import run_exercise
from .registry import CHAPTERS, chapter, exercises, get
from .seeds import derive_seed, kernel_hidden_seed
from .spec import PUBLIC_SEED, Case, Diagnosis, Exercise, Verdict

__all__ = [
    "CHAPTERS", "PUBLIC_SEED", "Case", "Diagnosis", "Exercise", "Verdict",
    "chapter", "check", "derive_seed", "exercises", "get", "grade",
]


def check(key: str, func: Callable[..., Any]) -> Verdict:
    """Visible check: run exercise ``key`` on the public inputs; print ✓ or raise AssertionError."""
    ex = get(key)
    verdict = run_exercise(ex, func, PUBLIC_SEED)
    if not verdict.passed:
        raise AssertionError(f"{ex.entry}: {verdict.message}")
    print(f"✓ {ex.entry}: {verdict.message} (visible check)")
    return verdict


def grade(key: str, func: Callable[..., Any]) -> Verdict:
    """nbgrader's hidden test: the exercise on hidden inputs; raises AssertionError on failure."""
    ex = get(key)
    verdict = run_exercise(ex, func, kernel_hidden_seed(key))
    if not verdict.passed:
        raise AssertionError(f"{ex.entry}: {verdict.message}")
    print(f"✓ {ex.entry}: passed the hidden tests")
    return verdict
