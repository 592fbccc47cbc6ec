"""Every registered chapter's notebook against its declarations: nbgrader metadata, points,
stable cell ids, balanced markers, answer cells that start with the declared contract, the
student edition nbgrader makes, the static scan, and a run top to bottom (``tests/kit.py``)."""

from __future__ import annotations

import json
import re

import nbformat
import pytest
from kit import (
    HIDDEN,
    answer_cell,
    cells,
    generate_student_edition,
    grade_id,
    meta,
    pair_id,
    registered,
)

from autograder import notebook as program
from autograder import scan
from convlab.exercises.scaffold import graded_cell_source, heading
from convlab.exercises.training import TrainingExercise

CHAPTERS = registered()
CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
#: Verdict flags a plant may expect instead of a mistake's name.
FLAGS = {"forbidden-api", "python-loop", "training-curve", "training-accuracy", "training-error",
         "no-gradient"}


@pytest.fixture(params=CHAPTERS, ids=pair_id)
def kc(request):
    return request.param


def test_the_registry_row_names_an_existing_notebook_and_declarations(kc):
    assert kc.notebook.is_file(), kc.notebook
    exercises = kc.exercises()
    assert exercises and all(ex.chapter == kc.id for ex in exercises)
    assert len({ex.name for ex in exercises}) == len(exercises)
    assert all(ex.summary and "\n" not in ex.summary and ex.title for ex in exercises)


def test_the_chapter_has_planted_mistakes_for_the_suite(kc):
    """A chapter without planted mistakes fails: its feedback would go untested."""
    assert kc.planted_file.is_file(), f"{kc.id} has no planted-mistakes list {kc.planted_file}"
    planted = kc.planted()
    assert planted.PLANTED, f"{kc.planted_file} plants no mistake"
    names = {ex.name: ex for ex in kc.exercises()}
    for exercise, _, _, expected in planted.PLANTED:
        assert exercise in names, (exercise, list(names))
        mistakes = {d.name for d in names[exercise].diagnoses}
        assert expected in mistakes | FLAGS, (exercise, expected, mistakes)
    for ex in names.values():
        if ex.diagnoses:
            planted_names = {e for x, _, _, e in planted.PLANTED if x == ex.name}
            assert planted_names & {d.name for d in ex.diagnoses}, f"{ex.name}: none planted"
    assert set(planted.GRADED) <= set(names)
    assert set(getattr(planted, "KNOCK_ON", {})) <= set(names) - set(planted.GRADED)


def test_nbgrader_metadata_is_well_formed_and_cell_ids_are_stable(kc):
    nb = json.loads(kc.notebook.read_text(encoding="utf-8"))
    assert (nb["nbformat"], nb["nbformat_minor"]) >= (4, 5)
    ids = [c.get("id", "") for c in nb["cells"]]
    assert all(CELL_ID.match(i) for i in ids) and len(set(ids)) == len(ids), ids
    grade_ids = []
    for cell in cells(kc.notebook):
        m = meta(cell)
        if not m:
            continue
        assert m["schema_version"] == 3 and cell["cell_type"] == "code"
        grade_ids.append(m["grade_id"])
        if m["grade_id"].startswith("setup_"):
            assert m == {**m, "grade": False, "solution": False, "locked": True}
    assert len(grade_ids) == len(set(grade_ids))


def test_every_exercise_has_its_test_cell_with_the_declared_points_in_order(kc):
    exercises = kc.exercises()
    tests = [c for c in cells(kc.notebook) if meta(c).get("grade")]
    assert [grade_id(c) for c in tests] == [ex.grade_id for ex in exercises]
    for cell, ex in zip(tests, exercises, strict=True):
        m = meta(cell)
        assert m["points"] == ex.points and m["locked"] and not m["solution"]
        assert cell["source"] == graded_cell_source(ex)


def test_answer_cells_start_with_the_declared_contract_before_their_tests(kc):
    order = {grade_id(c): i for i, c in enumerate(cells(kc.notebook)) if grade_id(c)}
    for ex in kc.exercises():
        answer = answer_cell(kc, ex.entry)
        m = meta(answer)
        assert m["solution"] and not m["grade"] and not m["locked"]
        assert order[f"{ex.entry}_answer"] < order[ex.grade_id]
        src = answer["source"]
        assert src.count("### BEGIN SOLUTION") == src.count("### END SOLUTION") == 1
        if ex.contract is not None:
            assert src.startswith(ex.contract + ex.indent + "### BEGIN SOLUTION\n"), (
                f"{ex.entry}_answer must start with the contract declared in "
                f"{ex.stub.__module__}:\n{ex.contract}")


def test_hidden_tests_sit_inside_balanced_hidden_markers(kc):
    for cell in cells(kc.notebook):
        if cell["cell_type"] != "code":
            continue
        src = cell["source"]
        assert src.count("### BEGIN HIDDEN TESTS") == src.count("### END HIDDEN TESTS") <= 1
        assert "grade(" not in HIDDEN.sub("", src)


def test_the_markdown_states_points_and_training_bars(kc):
    text = " ".join("\n".join(c["source"] for c in cells(kc.notebook)
                              if c["cell_type"] == "markdown").split())
    for ex in kc.exercises():
        assert f"({ex.points:g} points)" in text, ex.name
        if isinstance(ex, TrainingExercise):
            assert ex.spec.passes_text in text, (ex.name, ex.spec.passes_text)
            assert "on a CPU or a GPU alike" in text
    assert heading(1, kc.exercises()[0]).split("\n")[0][3:] in text


def test_no_code_cell_has_outputs_in_the_source(kc):
    for cell in cells(kc.notebook):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


def test_no_cell_above_a_test_cell_names_an_api_that_exercise_forbids(kc):
    """The grader scans every answer cell above an exercise's test cell as the student's."""
    nb = json.loads(kc.notebook.read_text(encoding="utf-8"))
    for ex in kc.exercises():
        program_cells = program.assemble(nb, nb, stop_at=ex.grade_id)
        assert scan.scan(program_cells, ex.forbidden) == [], ex.key


@pytest.mark.slow
def test_the_student_edition_has_the_contracts_and_stubs_only(kc, tmp_path):
    released = cells(generate_student_edition(kc, tmp_path))
    text = "\n".join(c["source"] for c in released)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS", "grade("):
        assert marker not in text
    source = {grade_id(c): c for c in cells(kc.notebook) if grade_id(c)}
    student = {grade_id(c): c for c in released if grade_id(c)}
    assert student.keys() == source.keys()
    for ex in kc.exercises():
        assert student[ex.grade_id]["source"] == graded_cell_source(ex).split("\n### BEGIN")[0]
        if ex.contract is not None:
            assert student[f"{ex.entry}_answer"]["source"] == (
                ex.contract + f"{ex.indent}# YOUR CODE HERE\n"
                f"{ex.indent}raise NotImplementedError()")


@pytest.mark.slow
def test_the_instructor_notebook_runs_top_to_bottom(kc, tmp_path, monkeypatch):
    """Every cell runs and every visible check passes; the training checks' hidden runs are left
    out (they repeat the visible run on another seed, which the grading tests cover)."""
    from nbclient import NotebookClient

    for key, value in kc.env().items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(kc.notebook, as_version=4)
    training = {ex.grade_id for ex in kc.exercises() if isinstance(ex, TrainingExercise)}
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") in training:
            cell.source = HIDDEN.sub("", cell.source)
    NotebookClient(nb, kernel_name="python3", timeout=900,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                        for o in c.outputs)
    for ex in kc.exercises():
        assert f"✓ {ex.entry}: " in printed, ex.name
    assert printed.count("passed the hidden tests") == len(kc.exercises()) - len(training)


@pytest.mark.slow
def test_the_student_edition_runs_with_one_line_messages_and_no_traceback(kc, tmp_path,
                                                                          monkeypatch):
    """Run top to bottom with every answer a stub: each test cell fails with its one ✗ line,
    each cell that uses an answer says which exercise to fix, and no cell shows a traceback."""
    from nbclient import NotebookClient

    for key, value in kc.env().items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(generate_student_edition(kc, tmp_path / "course"), as_version=4)
    NotebookClient(nb, kernel_name="python3", timeout=600, allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", cell.get("id"))
        if gid.startswith("test_"):
            assert len(errors) == 1, (gid, cell.outputs)
            (line,) = errors[0].traceback
            assert line.startswith("✗ ") and "not implemented yet" in line, (gid, line)
        else:
            assert errors == [], (gid, errors)
    printed = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                        for o in c.outputs)
    assert "Traceback" not in printed
