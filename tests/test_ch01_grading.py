"""Does ``python -m autograder grade`` give planted mistakes in chapter 1 a partial score that
names them, and does the notebook's order keep the scan quiet on the instructor solution?

Full marks for the instructor notebook and zero with a clean report for the student edition are
graded once, through the same command line, in ``test_grader_nbgrader.py``, where nbgrader grades
the same two notebooks for comparison."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from test_ch01_exercises import LOOP_BUGS, NOTEBOOK, grade_id
from test_ch01_notebook import notebook

from autograder import notebook as program
from autograder import scan
from convlab.exercises.ch01 import EXERCISES

ROOT = Path(__file__).resolve().parents[1]


def grade(tmp_path: Path, submission: Path) -> tuple[int, dict, str]:
    """Run the grader's command line on ``submission``; (exit status, results, stderr)."""
    secret = tmp_path / "secret"
    secret.write_text("ch01-grading-tests")
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", str(submission), "--out", str(out),
         "--secret-file", str(secret), "--student", "s1"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    results = json.loads(out.read_text()) if out.exists() else {}
    return done.returncode, results, done.stderr


def by_exercise(results: dict) -> dict[str, dict]:
    return {t["name"].split(":")[0]: t for t in results["tests"]}


def test_no_answer_above_a_test_cell_names_an_api_that_exercise_forbids():
    """The grader scans every answer cell above an exercise's test cell, so an exercise that
    allows F.conv2d must come after those that forbid it."""
    nb = json.loads(NOTEBOOK.read_text())
    for ex in EXERCISES:
        cells = program.assemble(nb, nb, stop_at=ex.grade_id)
        assert scan.scan(cells, ex.forbidden) == [], ex.key


@pytest.mark.slow
def test_planted_mistakes_cost_only_their_exercises_and_are_named(tmp_path):
    nb = notebook()
    edits = {  # answer cell -> (old, new): one mistake in each of three exercises
        "conv2d_loop_answer": LOOP_BUGS["flipped-kernel"][0],
        "conv_output_size_answer": ("// stride + 1", "// stride"),
        "conv2d_backward_answer": ("dout.sum(dim=(0, 2, 3))", "dout.sum(dim=(2, 3))"),
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
    assert results["score"] == 100 - 20 - 10 - 20
    expected = {"ch01.conv2d_loop": "the kernel is flipped",
                "ch01.conv_output_size": "forgot the + 1",
                "ch01.conv2d_backward": "db is not summed over the batch"}
    for key, test in tests.items():
        if key in expected:
            assert test["score"] == 0 and expected[key] in test["output"], test
        else:
            assert test["score"] == test["max_score"], test
