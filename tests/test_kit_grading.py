"""Every registered chapter through the grading engine (sandboxed workers, secret seeds): the
instructor source gets full marks, nbgrader's student edition zero with a clean report, nbgrader
agrees on both, and a submission with planted mistakes loses exactly the planted exercises'
points (and those of the exercises that call them), each with its named feedback
(``tests/kit.py``).

Grading a chapter trains its training check twice (the student's run and the reference), so
these tests are slow; run one chapter at a time: ``-k ch02``."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from kit import (
    VENV_BIN,
    by_id,
    generate_student_edition,
    grade,
    grade_id,
    pair_id,
    planting,
    registered,
)

from autograder import sandbox

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sandbox.bwrap_path() is None, reason="needs bubblewrap (bwrap)"),
]


@pytest.fixture(params=registered(), ids=pair_id)
def kc(request):
    return request.param


def _nbgrader(kc, course: Path, *args: str) -> None:
    done = subprocess.run([str(VENV_BIN / "nbgrader"), *args, f"--CourseDirectory.root={course}"],
                          cwd=course, env=kc.env(), capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, (args, done.stderr[-3000:])


def test_source_full_marks_student_edition_zero_and_nbgrader_agrees(kc, tmp_path):
    """The engine gives the instructor source full marks and nbgrader's student edition zero
    with a clean report; ``nbgrader autograde`` gives both the same score, exercise by
    exercise."""
    course = tmp_path / "course"
    release = generate_student_edition(kc, course)
    engine = {"alice": grade(kc, kc.notebook), "bob": grade(kc, release)}
    assert set(engine["alice"]) == {ex.name for ex in kc.exercises()}
    failed = {name: t["output"] for name, t in engine["alice"].items() if t["status"] != "passed"}
    assert failed == {}
    for name, test in engine["bob"].items():
        assert test["score"] == 0 and test["status"] == "failed", name
        assert "not implemented yet" in test["output"], test
        assert "Traceback" not in test["output"] and len(test["output"]) < 400

    for student, notebook in (("alice", kc.notebook), ("bob", release)):
        folder = course / "submitted" / student / kc.id
        folder.mkdir(parents=True)
        shutil.copy(notebook, folder / kc.chapter.notebook)
        _nbgrader(kc, course, "db", "student", "add", student)
    _nbgrader(kc, course, "autograde", kc.id, "--force", "--ExecutePreprocessor.timeout=900")
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student, tests in engine.items():
            sub = gb.find_submission_notebook(Path(kc.chapter.notebook).stem, kc.id, student)
            theirs = {g.name: (g.score, g.max_score) for g in sub.grades}
            for name, test in tests.items():
                assert theirs[f"test_{name}"] == (test["score"], test["max_score"]), (student,
                                                                                     name)


def test_planted_mistakes_cost_only_their_exercises_and_are_named(kc, tmp_path):
    planted = kc.planted()
    plants = {}
    for exercise, old, new, expected in planted.PLANTED:
        if exercise in planted.GRADED and exercise not in plants:
            plants[exercise] = (old, new, expected)
    nb = json.loads(kc.notebook.read_text(encoding="utf-8"))
    entries = {ex.name: ex.entry for ex in kc.exercises()}
    for cell in nb["cells"]:
        for exercise, (old, new, _) in plants.items():
            if grade_id({**cell, "source": ""}) == f"{entries[exercise]}_answer":
                text = "".join(cell["source"])
                cell["source"] = planting(old, new)(text)
    submission = tmp_path / kc.chapter.notebook
    submission.write_text(json.dumps(nb), encoding="utf-8")
    tests = grade(kc, submission)
    knock_on = getattr(planted, "KNOCK_ON", {})
    for ex in kc.exercises():
        test = tests[ex.name]
        if ex.name in plants:
            expected = plants[ex.name][2]
            named = [d.message for d in ex.diagnoses if d.name == expected]
            assert test["score"] == 0, test
            assert (any(m in test["output"] for m in named) if named
                    else expected in test["flags"]), test
        elif ex.name in knock_on:
            assert test["score"] == 0 and knock_on[ex.name] in test["output"], test
        else:
            assert test["score"] == test["max_score"], test


def test_the_fixture_chapter_is_registered_by_data_alone():
    """The kit's test chapter is one registry row, one module, one notebook and one planted
    list; every parametrised test above picks it up."""
    kc = by_id("ch98")
    assert kc.paths and kc.notebook.is_file() and kc.planted_file.is_file()
