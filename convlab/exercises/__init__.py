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
    "CHAPTERS", "PUBLIC_SEED", "Case", "Diagnosis", "Exercise", "Mistake", "Verdict",
    "chapter", "changed", "check", "declare", "derive_seed", "exercise", "exercises", "get",
    "grade", "run_exercise",
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
