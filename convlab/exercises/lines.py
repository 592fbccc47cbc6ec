"""The loop probe: count the Python lines a solution executes, to fail solutions that loop over
output positions in Python where the exercise asks for a vectorised one."""

from __future__ import annotations

import _imp
import dataclasses
import os
import sys
import sysconfig
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .compare import to_student_value
from .spec import Attempt, Case, Exercise, Outputs, Verdict

#: The tracer functions, held before the forbidden-API guard swaps ``sys.settrace``.
_settrace = sys.settrace
_gettrace = sys.gettrace


def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    dirs.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # convlab itself
    dirs |= {os.path.realpath(d) for d in dirs}
    return tuple(os.path.join(d, "") for d in sorted(dirs))


_LIBRARY_DIRS = _library_dirs()


#: The import system's own frozen modules, frozen under other names than their file names.
_FROZEN_ALIASES = {"importlib._bootstrap": "_frozen_importlib",
                   "importlib._bootstrap_external": "_frozen_importlib_external"}


def _is_frozen_module(filename: str) -> bool:
    """``"<frozen NAME>"`` names code of a module frozen into the interpreter only when NAME
    really is one; any code can be compiled under such a file name, so the name alone is no
    proof."""
    if not (filename.startswith("<frozen ") and filename.endswith(">")):
        return False
    name = filename[len("<frozen "):-1]
    return _imp.is_frozen(_FROZEN_ALIASES.get(name, name))


def _is_library(filename: str) -> bool:
    return filename.startswith(_LIBRARY_DIRS) or _is_frozen_module(filename)


class TracerTampered(RuntimeError):
    """The solution replaced or removed the line tracer while it ran."""


def count_student_lines(func: Callable[..., Any], *args: Any) -> tuple[Any, int]:
    """Call ``func(*args)`` and count the Python line events executed in non-library code.

    Library code (the standard library, site-packages, convlab) is not counted, so the count is
    the number of lines the solution itself executed: it grows with the output size exactly
    when the solution loops over output positions in Python.

    Returns:
        ``(func's result, line count)``.

    Raises:
        TracerTampered: if the tracer was changed while ``func`` ran.
    """
    count = 0
    decided: dict[Any, bool] = {}

    def on_line(frame: Any, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return on_line

    def on_call(frame: Any, event: str, arg: Any) -> Any:
        code = frame.f_code
        mine = decided.get(code)
        if mine is None:
            mine = decided[code] = not _is_library(code.co_filename)
        return on_line if mine else None

    previous = _gettrace()
    _settrace(on_call)
    try:
        result = func(*args)
    finally:
        tampered = _gettrace() is not on_call
        _settrace(previous)
    if tampered:
        raise TracerTampered("the solution changed the Python tracer (sys.settrace)")
    return result, count


@dataclasses.dataclass(frozen=True)
class NoLoopExercise(Exercise):
    """An exercise that must not loop over output positions in Python.

    ``probe(case, side)`` gives a case like ``case`` whose output is ``side × side``
    positions. ``run`` returns the outputs plus the number of Python lines the solution
    executed on the two probes of ``probe_sides``; ``judge`` compares the outputs as usual,
    then fails a solution whose line count grows with the output (a loop over output rows
    alone adds at least one line per extra row; loops over kernel offsets, channels or the
    batch do not change between the probes).
    """

    probe: Callable[[Case, int], Case] | None = None
    probe_sides: tuple[int, int] = (5, 10)
    hint: str = "vectorise over output positions"

    def _lines(self, func: Callable[..., Any], case: Case, side: int) -> int:
        assert self.probe is not None, "a NoLoopExercise needs its probe"
        probe = self.probe(self.named(case), side)
        _, lines = count_student_lines(func, *(to_student_value(a) for a in probe.args))
        return lines

    def run(self, func: Callable[..., Any], case: Case) -> Outputs:
        outputs = super().run(func, case)
        lines = [self._lines(func, case, side) for side in self.probe_sides]
        return (*outputs, np.asarray(lines, dtype=np.int64))

    def judge(self, cases: Sequence[Case], attempts: Sequence[Attempt]) -> Verdict:
        plain: list[Attempt] = []
        counts: list[np.ndarray | None] = []
        for got in attempts:
            if isinstance(got, str):
                plain.append(got)
                counts.append(None)
            elif len(got) < 2 or np.shape(got[-1]) != (2,):
                plain.append("the worker returned no line counts")
                counts.append(None)
            else:
                plain.append(tuple(got[:-1]))
                counts.append(got[-1])
        verdict = super().judge(cases, plain)
        if not verdict.passed:
            return verdict
        small_side, large_side = self.probe_sides
        for i, lines in enumerate(counts):
            assert lines is not None  # every attempt passed, so each carries its counts
            small, large = int(lines[0]), int(lines[1])
            if large - small >= large_side - small_side:
                return Verdict(
                    False,
                    f"case {i + 1}/{len(cases)}: loops over output positions in Python (line "
                    f"count grows with H_out·W_out: {small} lines for a {small_side}×{small_side} "
                    f"output, {large} for {large_side}×{large_side}); {self.hint}",
                    ("python-loop",),
                )
        return Verdict(True, f"{verdict.message}; no Python loop over output positions")
