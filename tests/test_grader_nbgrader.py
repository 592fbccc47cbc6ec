"""Chapter 1 end to end: does ``python -m autograder grade`` give the instructor source full
marks and the student edition zero, and does ``nbgrader autograde`` agree exercise by exercise?

One temporary nbgrader course is built: ``generate_assignment`` writes the
student edition; ``alice`` submits the source (every answer), ``bob`` the student edition (the
stubs); ``autograde``, ``generate_feedback`` and ``export`` run on both, and the engine grades
the same two notebooks through its command line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import sandbox
from convlab.exercises.registry import chapter, exercises

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sandbox.bwrap_path() is None, reason="needs bubblewrap (bwrap)"),
]

ROOT = Path(__file__).resolve().parents[1]
CH = chapter("ch01")
SOURCE = ROOT / "notebooks" / CH.id / CH.notebook
BIN = Path(sys.executable).parent
#: nbgrader runs every test cell in the student's kernel; the training check trains twice.
CELL_TIMEOUT_S = 900


def _run(args: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def build_course(root: Path) -> dict:
    db = f"sqlite:///{root / 'gradebook.db'}"
    conf = [f"--CourseDirectory.root={root}", f"--CourseDirectory.db_url={db}"]
    (root / "source" / CH.id).mkdir(parents=True)
    shutil.copy(SOURCE, root / "source" / CH.id / CH.notebook)
    nbgrader = [str(BIN / "nbgrader")]
    done = _run([*nbgrader, "generate_assignment", CH.id, "--force", *conf], root)
    assert done.returncode == 0, done.stderr[-3000:]
    release = root / "release" / CH.id / CH.notebook
    submitted = {"alice": SOURCE, "bob": release}
    for student, nb in submitted.items():
        (root / "submitted" / student / CH.id).mkdir(parents=True)
        shutil.copy(nb, root / "submitted" / student / CH.id / CH.notebook)
        done = _run([*nbgrader, "db", "student", "add", student, *conf], root)
        assert done.returncode == 0, done.stderr[-3000:]
    # The engine grades the same two notebooks, started alongside nbgrader.
    secret = root / "secret"
    secret.write_text("course secret of the end-to-end test")
    engine = {}
    for student, nb in submitted.items():
        out = root / f"results-{student}.json"
        engine[student] = (out, subprocess.Popen(
            [sys.executable, "-m", "autograder", "grade", str(nb), "--out", str(out),
             "--secret-file", str(secret), "--student", student],
            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    steps = [["autograde", CH.id, "--force", f"--ExecutePreprocessor.timeout={CELL_TIMEOUT_S}"],
             ["generate_feedback", CH.id, "--force"], ["export"]]
    for step in steps:
        done = _run([*nbgrader, *step, *conf], root, timeout=1800)
        assert done.returncode == 0, (step, done.stderr[-3000:])
    from nbgrader.api import Gradebook

    nbgrader_scores = {}
    with Gradebook(db) as gb:
        for student in submitted:
            sub = gb.find_submission_notebook(Path(CH.notebook).stem, CH.id, student)
            nbgrader_scores[student] = {g.name: (g.score, g.max_score) for g in sub.grades
                                        if g.name.startswith("test_")}
    results = {}
    for student, (out, proc) in engine.items():
        stdout, stderr = proc.communicate(timeout=1800)
        results[student] = {"rc": proc.returncode, "stderr": stderr,
                            "data": json.loads(out.read_text()) if out.exists() else None}
    return {"root": root, "release": release, "nbgrader": nbgrader_scores, "engine": results}


def _by_exercise(data: dict) -> dict[str, dict]:
    return {t["name"].split(":")[0].split(".", 1)[1]: t for t in data["tests"]}


def check_source_full_marks(course: dict) -> None:
    res = course["engine"]["alice"]
    assert res["rc"] == 0, res["stderr"][-2000:]
    data = res["data"]
    assert data["score"] == data["max_score"] == sum(ex.points for ex in exercises("ch01"))
    for t in data["tests"]:
        assert t["status"] == "passed", t
        assert t["extra_data"]["flags"] == []
    assert "bubblewrap" in data["extra_data"]["protections"]
    assert data["extra_data"]["chapters"] == ["ch01"]


def check_student_edition_zero(course: dict) -> None:
    res = course["engine"]["bob"]
    assert res["rc"] == 0, res["stderr"][-2000:]
    data = res["data"]
    assert data["score"] == 0 and data["max_score"] > 0
    assert len(data["tests"]) == len(exercises("ch01"))
    for t in data["tests"]:
        assert t["status"] == "failed" and "\n" not in t["output"]
        assert "not implemented yet" in t["output"], t["output"]
        assert not {"timeout", "crashed", "memory", "forbidden-api"} & set(
            t["extra_data"]["flags"])


def check_student_edition_clean(course: dict) -> None:
    text = course["release"].read_text()
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    assert "grade(" not in text


def check_nbgrader_agrees(course: dict) -> None:
    for student in ("alice", "bob"):
        engine = _by_exercise(course["engine"][student]["data"])
        theirs = course["nbgrader"][student]
        assert set(theirs) == {f"test_{name}" for name in engine}
        for name, t in engine.items():
            score, max_score = theirs[f"test_{name}"]
            assert (score, max_score) == (t["score"], t["max_score"]), (student, name)
    assert (course["root"] / "grades.csv").exists()
    assert (course["root"] / "feedback" / "alice" / CH.id).is_dir()


def test_chapter1_end_to_end(tmp_path):
    """One test, so that parallel test workers never build the course twice."""
    if not SOURCE.exists():
        pytest.skip(f"{SOURCE} is not written yet")
    course = build_course(tmp_path)
    check_source_full_marks(course)
    check_student_edition_zero(course)
    check_student_edition_clean(course)
    check_nbgrader_agrees(course)
