"""Every registered chapter through the grading engine (sandboxed workers, secret seeds): the
instructor source gets full marks, nbgrader's student edition zero with a clean report, and a
submission with planted mistakes loses exactly the planted exercises' points (and those of the
exercises that call them), each with its named feedback (``tests/kit.py``).

Grading a chapter trains its training check twice (the student's run and the reference), so
these tests are slow; run one chapter at a time: ``-k ch02``."""

from __future__ import annotations

import json

import pytest
from kit import by_id, generate_student_edition, grade, grade_id, pair_id, planting, registered

from autograder import sandbox

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sandbox.bwrap_path() is None, reason="needs bubblewrap (bwrap)"),
]


@pytest.fixture(params=registered(), ids=pair_id)
def kc(request):
    return request.param


def test_the_instructor_source_gets_full_marks(kc):
    tests = grade(kc, kc.notebook)
    assert set(tests) == {ex.name for ex in kc.exercises()}
    failed = {name: t["output"] for name, t in tests.items() if t["status"] != "passed"}
    assert failed == {}


def test_the_student_edition_gets_zero_with_a_clean_report(kc, tmp_path):
    tests = grade(kc, generate_student_edition(kc, tmp_path))
    for name, test in tests.items():
        assert test["score"] == 0 and test["status"] == "failed", name
        assert "not implemented yet" in test["output"], test
        assert "Traceback" not in test["output"] and len(test["output"]) < 400


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
