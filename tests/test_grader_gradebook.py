"""nbgrader gradebook: the engine's scores go in through nbgrader's API, agree with
``nbgrader autograde`` on the same notebooks, and ``generate_feedback``/``export`` work."""

from __future__ import annotations

import copy
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import cli, gradebook
from autograder.sandbox import bwrap_path

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "grader"))
import gradertools as gt  # noqa: E402

NBGRADER = Path(sys.executable).parent / "nbgrader"
WRONG_DOUBLE = "def double(x):\n    return 3 * x\n"

pytestmark = pytest.mark.skipif(not NBGRADER.exists(), reason="nbgrader is not installed")


def _nbgrader(course: Path, env: dict, *args: str) -> None:
    proc = subprocess.run([str(NBGRADER), *args], cwd=course, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]


def _course(tmp_path: Path) -> tuple[Path, dict]:
    """A course folder with the fixture chapter as assignment ``ch90``, released; kernels
    know the fixture chapter through an IPython start-up file."""
    course = tmp_path / "course"
    (course / "source" / "ch90").mkdir(parents=True)
    (course / "source" / "ch90" / "fixture_chapter.ipynb").write_text(gt.SOURCE_NB.read_text())
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        "c.ExecutePreprocessor.timeout = 300\n")
    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-fixture-chapter.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(gt.HERE)!r})\n"
        "from convlab.exercises.registry import CHAPTERS, Chapter\n"
        "CHAPTERS['ch90'] = Chapter('ch90', 'Fixture chapter', 'grader_fixture_ch', "
        "'fixture_chapter.ipynb')\n")
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = dict(os.environ, PATH=path, IPYTHONDIR=str(tmp_path / "ipython"), JUPYTER_CONFIG_DIR=str(
        tmp_path / "jupyter"), CONVLAB_COURSE_SECRET="gradebook-test")
    _nbgrader(course, env, "generate_assignment", "ch90", "--force")
    return course, env


def _submit(course: Path, student: str, answers: dict[str, str] | None = None) -> Path:
    """The released notebook with the answer cells filled from the source (or ``answers``),
    as ``submitted/<student>/ch90/``."""
    release = json.loads((course / "release" / "ch90" / "fixture_chapter.ipynb").read_text())
    source = {c["metadata"]["nbgrader"]["grade_id"]: c["source"]
              for c in gt.source()["cells"] if c.get("metadata", {}).get("nbgrader")}
    nb = copy.deepcopy(release)
    for cell in nb["cells"]:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            cell["source"] = (answers or {}).get(gid, source[gid])
    folder = course / "submitted" / student / "ch90"
    folder.mkdir(parents=True)
    path = folder / "fixture_chapter.ipynb"
    path.write_text(json.dumps(nb))
    return path


@pytest.mark.slow
def test_engine_scores_match_nbgrader_autograde(tmp_path):
    course, env = _course(tmp_path)
    for student, answers in (("alice", None), ("carol", {"double_answer": WRONG_DOUBLE})):
        _submit(course, student, answers)
    _nbgrader(course, env, "autograde", "ch90")
    by_nbgrader = {s: gradebook.read_scores(course, "ch90", s) for s in ("alice", "carol")}
    assert by_nbgrader["alice"] == {"test_corr1d": 2.0, "test_double": 1.0}
    assert by_nbgrader["carol"] == {"test_corr1d": 2.0, "test_double": 0.0}

    # the same notebooks under other names, graded by the engine, written by nbgrader-import
    paths = []
    for student, twin in (("bob", "alice"), ("dave", "carol")):
        sub = _submit(course, student, {"double_answer": WRONG_DOUBLE} if twin == "carol"
                      else None)
        results = gt.grader(student=student, insecure=bwrap_path() is None).grade(sub)
        path = tmp_path / f"{student}.json"
        path.write_text(json.dumps(results.as_json()))
        paths.append(path)
    assert cli.main(["nbgrader-import", *map(str, paths), "--course", str(course),
                     "--assignment", "ch90"]) == 0
    assert gradebook.read_scores(course, "ch90", "bob") == by_nbgrader["alice"]
    assert gradebook.read_scores(course, "ch90", "dave") == by_nbgrader["carol"]

    _nbgrader(course, env, "generate_feedback", "ch90", "--student", "dave")
    feedback = (course / "feedback" / "dave" / "ch90" / "fixture_chapter.html").read_text()
    assert "Score: 2.0 / 3.0" in feedback or "2.0 / 3.0" in feedback
    _nbgrader(course, env, "export", "--to", str(tmp_path / "grades.csv"))
    rows = {r["student_id"]: r for r in csv.DictReader((tmp_path / "grades.csv").open())}
    assert float(rows["bob"]["score"]) == 3.0 and float(rows["dave"]["score"]) == 2.0


def test_import_refuses_what_does_not_fit(tmp_path):
    course = tmp_path
    with gradebook._gradebook(course) as gb:
        gb.add_assignment("ch90")
    good = {"tests": [{"name": "ch90.double: doubling", "score": 1.0, "max_score": 1.0,
                       "output": "ok", "extra_data": {"key": "ch90.double", "flags": []}}],
            "extra_data": {"student": "eve"}}
    with pytest.raises(gradebook.GradebookError, match="not in the gradebook"):
        gradebook.import_results(course, "ch99", good)
    with pytest.raises(gradebook.GradebookError, match="grade cell 'test_double'"):
        gradebook.import_results(course, "ch90", good)
    with pytest.raises(gradebook.GradebookError, match="student"):
        gradebook.import_results(course, "ch90", {"tests": [], "extra_data": {}})
    unkeyed = {"tests": [{**good["tests"][0], "extra_data": {"flags": []}}],
               "extra_data": {"student": "eve"}}
    with pytest.raises(gradebook.GradebookError, match="records no exercise key"):
        gradebook.import_results(course, "ch90", unkeyed)
    with pytest.raises(gradebook.GradebookError, match="not graded"):
        gradebook.import_results(course, "ch90", {"tests": [], "extra_data": {
            "student": "eve", "error": "unreadable"}})
