"""Write a chapter's assignment notebook skeleton from its declarations.

``python -m convlab.exercises.scaffold ch04 notebooks/ch04/pointwise_convolution.ipynb`` writes
a notebook with the setup cell, and for each exercise a heading that states its points, its
answer cell (the declared contract, then ``### BEGIN SOLUTION`` … ``### END SOLUTION`` around a
placeholder) and its test cell, with nbgrader's metadata and stable cell ids. The author then
writes the prose and the solutions; ``tests/test_kit_notebooks.py`` keeps the two in step.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .registry import exercises
from .spec import Exercise
from .training import TrainingExercise

SETUP = """import numpy as np
import torch
import torch.nn.functional as F

torch.manual_seed(0)
np.random.seed(0)
# Full float32 precision on GPUs too, so that comparisons are exact to float32 rounding.
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
"""


def graded_cell_source(ex: Exercise) -> str:
    """The exact text of an exercise's test cell: the visible check, then the hidden one."""
    return ("from convlab.exercises import check, grade\n"
            f'check("{ex.key}", {ex.entry})\n'
            "### BEGIN HIDDEN TESTS\n"
            f'grade("{ex.key}", {ex.entry})\n'
            "### END HIDDEN TESTS")


def heading(i: int, ex: Exercise) -> str:
    """The markdown that introduces exercise ``i``: its title, points and summary (and, for a
    training check, its pass bar, the same on any hardware)."""
    title, summary = (t[:1].upper() + t[1:] for t in (ex.title, ex.summary))
    text = f"## {i}. {title} ({ex.points:g} points)\n\n{summary}."
    if isinstance(ex, TrainingExercise):
        text += f"\n\nIt passes with {ex.spec.passes_text}, on a CPU or a GPU alike."
    return text


def _cell(kind: str, cell_id: str, source: str, nbgrader: dict[str, Any] | None = None) -> dict:
    cell: dict[str, Any] = {"cell_type": kind, "id": cell_id, "metadata": {},
                            "source": source.splitlines(keepends=True)}
    if nbgrader is not None:
        cell["metadata"]["nbgrader"] = {"schema_version": 3, **nbgrader}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def skeleton(chapter_id: str,
             declared: tuple[Exercise, ...] | None = None) -> dict[str, Any]:
    """The notebook (as nbformat JSON) for the chapter's declarations (the registry's, unless
    ``declared`` gives them)."""
    cells = [_cell("markdown", "intro", f"# Assignment — {chapter_id}\n"),
             _cell("code", "setup-imports", SETUP, {"grade": False, "grade_id": "setup_imports",
                                                    "locked": True, "solution": False})]
    for i, ex in enumerate(declared or exercises(chapter_id), start=1):
        cells.append(_cell("markdown", f"about-{ex.name}".replace("_", "-"), heading(i, ex)))
        if ex.contract is not None:
            body = (f"{ex.indent}### BEGIN SOLUTION\n{ex.indent}raise NotImplementedError()\n"
                    f"{ex.indent}### END SOLUTION")
            cells.append(_cell("code", f"{ex.entry}-answer".replace("_", "-"),
                               ex.contract + body,
                               {"grade": False, "grade_id": f"{ex.entry}_answer",
                                "locked": False, "solution": True}))
        cells.append(_cell("code", ex.grade_id.replace("_", "-"), graded_cell_source(ex),
                           {"grade": True, "grade_id": ex.grade_id, "locked": True,
                            "points": ex.points, "solution": False}))
    return {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)",
                                                        "language": "python", "name": "python3"},
                                         "language_info": {"name": "python", "version": "3.11"}},
            "nbformat": 4, "nbformat_minor": 5}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapter", help="a registered chapter id, e.g. ch04")
    parser.add_argument("out", type=Path, help="the notebook to write (must not exist)")
    args = parser.parse_args(argv)
    if args.out.exists():
        parser.error(f"{args.out} exists; the skeleton never overwrites a notebook")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(skeleton(args.chapter), indent=1, ensure_ascii=False) + "\n"
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}: {len(exercises(args.chapter))} exercises")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
