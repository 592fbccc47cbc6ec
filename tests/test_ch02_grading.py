"""Does ``python -m autograder grade`` give chapter 2's instructor solution full marks, the
student edition zero with a clean report, and planted mistakes a partial score that names them?"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from test_ch02_exercises import GROUP_BUGS, NOTEBOOK, grade_id
from test_ch02_notebook import generate_student_edition, notebook

from autograder import notebook as program
from autograder import scan
from convlab.exercises.ch02 import EXERCISES

ROOT = Path(__file__).resolve().parents[1]


def grade(tmp_path: Path, submission: Path) -> tuple[int, dict, str]:
    """Run the grader's command line on ``submission``; (exit status, results, stderr)."""
    secret = tmp_path / "secret"
    secret.write_text("ch02-grading-tests")
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", str(submission), "--out", str(out),
         "--secret-file", str(secret), "--student", "s1"],
        cwd=ROOT, capture_output=True, text=True, timeout=1200,
    )
    results = json.loads(out.read_text()) if out.exists() else {}
    return done.returncode, results, done.stderr


def by_exercise(results: dict) -> dict[str, dict]:
    return {t["name"].split(":")[0]: t for t in results["tests"]}


def test_no_answer_above_a_test_cell_names_an_api_that_exercise_forbids():
    """The grader scans every answer cell above an exercise's test cell: the unit, which may
    call F.conv2d, comes after the group convolution, which may not."""
    nb = json.loads(NOTEBOOK.read_text())
    for ex in EXERCISES:
        cells = program.assemble(nb, nb, stop_at=ex.grade_id)
        assert scan.scan(cells, ex.forbidden) == [], ex.key


@pytest.mark.slow
def test_the_instructor_solution_gets_full_marks(tmp_path):
    code, results, err = grade(tmp_path, NOTEBOOK)
    assert code == 0, err
    failed = [(t["name"], t["output"]) for t in results["tests"] if t["status"] != "passed"]
    assert failed == [] and results["score"] == results["max_score"] == 100


@pytest.mark.slow
def test_the_student_edition_gets_zero_with_a_clean_report(tmp_path):
    released = generate_student_edition(tmp_path)
    code, results, err = grade(tmp_path, released)
    assert code == 0, err
    assert results["score"] == 0 and results["max_score"] == 100
    for test in results["tests"]:
        assert test["status"] == "failed"
        assert "not implemented yet" in test["output"], test
        assert "Traceback" not in test["output"] and len(test["output"]) < 400


@pytest.mark.slow
def test_planted_mistakes_cost_only_their_exercises_and_are_named(tmp_path):
    nb = notebook()
    edits = {  # answer cell -> (old, new): a wrong group mapping, a shuffle the wrong way
        "group_conv2d_answer": GROUP_BUGS["group-mapping-reversed"][0],
        "channel_shuffle_answer": ("x.reshape(N, groups, C // groups, H, W)",
                                   "x.reshape(N, C // groups, groups, H, W)"),
    }
    for cell in nb.cells:
        if grade_id(cell) in edits:
            old, new = edits[grade_id(cell)]
            assert old in cell.source
            cell.source = cell.source.replace(old, new)
    submission = tmp_path / NOTEBOOK.name
    nbformat.write(nb, submission)
    code, results, err = grade(tmp_path, submission)
    assert code == 0, err
    tests = by_exercise(results)
    # the unit and its training check call the student's (now wrong) shuffle, so they fail too
    expected = {"ch02.group_conv2d": "output group i reads input group g−1−i",
                "ch02.channel_shuffle": "transposed the wrong way",
                "ch02.shufflenet_unit": "transposed the wrong way"}
    for key, test in tests.items():
        if key in expected:
            assert test["score"] == 0 and expected[key] in test["output"], test
        elif key != "ch02.train_shufflenet":  # trained through a permuted unit: either way
            assert test["score"] == test["max_score"], test
    assert results["score"] in (15, 35)
