"""Is chapter 2's instructor notebook in step with its exercise declarations, does nbgrader
make a clean student edition of it, and does it run top to bottom?"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from test_ch02_exercises import NOTEBOOK, grade_id

from convlab.exercises import chapter
from convlab.exercises.ch02 import EXERCISES, TRAIN_SHUFFLENET

VENV_BIN = Path(sys.executable).parent


def notebook() -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK, as_version=4)


def nbgrader_meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def test_the_registry_names_this_notebook():
    assert NOTEBOOK.name == chapter("ch02").notebook
    assert [ex.chapter for ex in EXERCISES] == ["ch02"] * len(EXERCISES)


def test_nbgrader_metadata_is_well_formed_and_unique():
    ids = []
    for cell in notebook().cells:
        meta = nbgrader_meta(cell)
        if not meta:
            continue
        assert meta["schema_version"] == 3
        ids.append(meta["grade_id"])
        if meta["grade_id"].startswith("setup_"):
            assert meta == {**meta, "grade": False, "solution": False, "locked": True}
    assert len(ids) == len(set(ids))


def test_every_exercise_has_its_test_cell_with_the_declared_points_in_order():
    tests = [c for c in notebook().cells if nbgrader_meta(c).get("grade")]
    assert [nbgrader_meta(c)["grade_id"] for c in tests] == [ex.grade_id for ex in EXERCISES]
    for cell, ex in zip(tests, EXERCISES, strict=True):
        meta = nbgrader_meta(cell)
        assert meta["points"] == ex.points and meta["locked"] and not meta["solution"]
        assert cell.source == (
            "from convlab.exercises import check, grade\n"
            f'check("{ex.key}", {ex.entry})\n'
            "### BEGIN HIDDEN TESTS\n"
            f'grade("{ex.key}", {ex.entry})\n'
            "### END HIDDEN TESTS"
        )
    assert sum(ex.points for ex in EXERCISES) == 100


def test_answer_cells_come_before_their_tests_with_a_contract_and_solution_markers():
    cells = notebook().cells
    position = {grade_id(c): i for i, c in enumerate(cells) if grade_id(c)}
    for ex in EXERCISES:
        answer = cells[position[f"{ex.entry}_answer"]]
        meta = nbgrader_meta(answer)
        assert meta["solution"] and not meta["grade"] and not meta["locked"]
        assert position[f"{ex.entry}_answer"] < position[ex.grade_id]
        src = answer.source
        assert src.startswith(f"def {ex.entry}(")
        assert src.count("### BEGIN SOLUTION") == src.count("### END SOLUTION") == 1
        assert src.index('"""') < src.index("### BEGIN SOLUTION") < src.index("### END SOLUTION")
        docstring = src.split('"""')[1]
        assert "Returns" in docstring and "Ours is" in docstring
        assert re.search(r"\(N, C(_in)?, H, W\)|\(C, d, C_in, 1, 1\)", docstring)


def test_hidden_tests_sit_inside_the_hidden_markers():
    for cell in notebook().cells:
        if cell.cell_type != "code":
            continue
        visible = re.sub(r"### BEGIN HIDDEN TESTS\n.*?### END HIDDEN TESTS", "", cell.source,
                         flags=re.S)
        assert "grade(" not in visible


def test_the_markdown_states_points_rules_and_training_bars():
    text = "\n".join(c.source for c in notebook().cells if c.cell_type == "markdown")
    for ex in EXERCISES:
        assert f"({ex.points:g} points)" in text
    for name in ("torch.nn.functional.conv2d", "torch.nn.functional.channel_shuffle",
                 "convlab.functional.channel_shuffle"):
        assert f"`{name}`" in text
    t = TRAIN_SHUFFLENET
    assert f"{t.accuracy_bar_cpu:.0%} after the CPU run, {t.accuracy_bar_gpu:.0%}" in text
    assert f"smoothed over {t.window} steps, within {t.curve_atol}" in text
    assert f"{t.steps_cpu} on a CPU" in text
    assert "../../book/ch02/index.md" in text


def test_no_cell_has_outputs_in_the_source():
    for cell in notebook().cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def generate_student_edition(tmp_path: Path) -> Path:
    """``nbgrader generate_assignment`` in a throwaway course folder; the release notebook."""
    course = tmp_path / "course"
    source = course / "source" / "ch02"
    source.mkdir(parents=True)
    (source / NOTEBOOK.name).write_bytes(NOTEBOOK.read_bytes())
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run(
        [str(VENV_BIN / "nbgrader"), "generate_assignment", "ch02",
         f"--CourseDirectory.root={course}", "--force"],
        cwd=course, env=env, check=True, capture_output=True, timeout=300,
    )
    return course / "release" / "ch02" / NOTEBOOK.name


@pytest.mark.slow
def test_the_student_edition_has_no_solution_and_no_hidden_test(tmp_path):
    released = nbformat.read(generate_student_edition(tmp_path), as_version=4)
    text = "\n".join(c.source for c in released.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS", "grade("):
        assert marker not in text
    source = {grade_id(c): c for c in notebook().cells if grade_id(c)}
    student = {grade_id(c): c for c in released.cells if grade_id(c)}
    assert student.keys() == source.keys()
    for gid, cell in source.items():
        if not nbgrader_meta(cell).get("solution"):
            continue
        body = cell.source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
        for line in body.splitlines():
            if line.strip():
                assert line not in student[gid].source, (gid, line)
        contract, _, rest = student[gid].source.partition("    # YOUR CODE HERE\n")
        assert rest.strip() == "raise NotImplementedError()"
        assert cell.source.startswith(contract + "    ### BEGIN SOLUTION")
    for ex in EXERCISES:
        assert f'check("{ex.key}", {ex.entry})' in student[ex.grade_id].source


@pytest.mark.slow
def test_the_instructor_notebook_runs_top_to_bottom(tmp_path):
    from nbclient import NotebookClient

    nb = notebook()
    NotebookClient(nb, kernel_name="python3", timeout=900,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                        for o in c.outputs)
    for ex in EXERCISES:
        assert f"✓ {ex.entry}: " in printed
    assert printed.count("passed the hidden tests") == len(EXERCISES)
    assert "g separate convolutions: True" in printed
    assert "block-diagonal dense weight: True" in printed
    assert "then shuffle(g=C/g=4):  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]" in printed
