"""Writing the engine's scores into an nbgrader gradebook, through nbgrader's own API.

``python -m autograder nbgrader-import RESULTS.json... --course DIR --assignment ch01`` reads
results files written by ``grade`` or ``grade-batch`` and, for each, adds the student and the
submission to ``DIR/gradebook.db`` (:class:`nbgrader.api.Gradebook`), sets ``auto_score`` of
every grade cell ``test_<exercise>`` and puts the test's feedback line in the auto comment of
the exercise's answer cell ``<exercise>_answer``. The submitted notebook is copied to
``autograded/<student>/<assignment>/`` when nothing is there yet, so ``nbgrader
generate_feedback`` and ``nbgrader export`` work on the result as after ``nbgrader autograde``.

The assignment must already be in the gradebook (``nbgrader generate_assignment`` puts it
there); points are checked against the gradebook's grade cells.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class GradebookError(ValueError):
    """The results do not fit the gradebook (unknown assignment, cell or points)."""


def _exercise(test: Mapping[str, Any]) -> str:
    """The exercise name of a test entry, from the key it records in ``extra_data.key``
    (``"ch01.conv2d_loop"`` → ``"conv2d_loop"``)."""
    extra = test.get("extra_data")
    key = extra.get("key") if isinstance(extra, Mapping) else None
    if not isinstance(key, str) or "." not in key:
        raise GradebookError(f"test {test.get('name')!r} records no exercise key")
    return key.split(".", 1)[1]


def gradebook_url(course: Path) -> str:
    return f"sqlite:///{Path(course).resolve() / 'gradebook.db'}"


def _gradebook(course: Path) -> Any:
    """nbgrader's :class:`~nbgrader.api.Gradebook` of ``course``. nbgrader runs ``alembic``
    from ``PATH`` to create or upgrade the database; this interpreter's scripts folder is put
    on ``PATH`` so that it is found without an activated environment."""
    import os
    import sys

    from nbgrader.api import Gradebook

    scripts = str(Path(sys.executable).parent)
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = scripts + os.pathsep + os.environ.get("PATH", "")
    return Gradebook(gradebook_url(course))


def import_results(course: Path, assignment: str, results: Mapping[str, Any],
                   student: str | None = None) -> dict[str, float]:
    """Write one results file's scores into the gradebook of nbgrader course ``course``.

    Returns ``{grade cell id: score}`` as written. Raises :class:`GradebookError` when the
    assignment or a grade cell is missing from the gradebook, or the points disagree.
    """
    from nbgrader.api import MissingEntry

    extra = results.get("extra_data", {})
    student = student or extra.get("student")
    if not student or "/" in student:
        raise GradebookError(f"results: no usable student id (got {student!r})")
    if extra.get("error"):
        raise GradebookError(f"{student}: the submission was not graded: {extra['error']}")
    written: dict[str, float] = {}
    with _gradebook(course) as gb:
        try:
            notebooks = [nb.name for nb in gb.find_assignment(assignment).notebooks]
        except MissingEntry:
            raise GradebookError(f"assignment {assignment!r} is not in the gradebook of "
                                 f"{course}; run nbgrader generate_assignment first") from None
        gb.update_or_create_student(student)
        gb.update_or_create_submission(assignment, student)
        for test in results.get("tests", []):
            name = _exercise(test)
            cell = f"test_{name}"
            grade = None
            for nb in notebooks:
                try:
                    grade = gb.find_grade(cell, nb, assignment, student)
                except MissingEntry:
                    continue
                try:
                    comment = gb.find_comment(f"{name}_answer", nb, assignment, student)
                    comment.auto_comment = test["output"]
                except MissingEntry:
                    pass
                break
            if grade is None:
                raise GradebookError(f"grade cell {cell!r} is not in assignment {assignment!r}")
            if float(grade.max_score) != float(test["max_score"]):
                raise GradebookError(f"{cell}: the gradebook gives {grade.max_score:g} points, "
                                     f"the results {test['max_score']:g}")
            grade.auto_score = float(test["score"])
            written[cell] = float(test["score"])
        gb.db.commit()
    _copy_autograded(Path(course), assignment, student)
    return written


def _copy_autograded(course: Path, assignment: str, student: str) -> None:
    """``submitted/<student>/<assignment>`` → ``autograded/...`` when not there yet."""
    src = course / "submitted" / student / assignment
    dst = course / "autograded" / student / assignment
    if src.is_dir() and not dst.exists():
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))


def read_scores(course: Path, assignment: str, student: str) -> dict[str, float | None]:
    """``{grade cell id: auto_score}`` of a student's submission, as the gradebook holds it."""
    with _gradebook(course) as gb:
        sub = gb.find_submission(assignment, student)
        return {g.name: g.auto_score for nb in sub.notebooks for g in nb.grades}
