"""Is the program assembled from the instructor source, with only the student's answers?"""

from __future__ import annotations

import sys

import pytest

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent / "fixtures" / "grader"))
import gradertools as gt  # noqa: E402

from autograder import notebook  # noqa: E402


def _texts(program):
    return [(c.label, c.source, c.student) for c in program]


def test_answers_replace_solution_cells_and_tests_never_reach_the_worker(tmp_path):
    def tamper(nb):
        for c in nb["cells"]:
            gid = c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if gid == "setup_imports":
                c["source"] = "SCALE = 3"
            if gid == "test_corr1d":
                c["source"] = "print('replaced test')"
    path = gt.submission(tmp_path, {"corr1d_answer": "def corr1d(x, w):\n    return 1\n"},
                         edit=tamper)
    program = notebook.assemble(gt.source(), notebook.read_notebook(path))
    labels = [c.label for c in program]
    assert labels == ["setup cell 'setup_imports'", "your cell 'corr1d_answer'",
                      "your cell 'double_answer'"]
    assert "SCALE = 2" in program[0].source and not program[0].student  # the source's text
    assert program[1].source == "def corr1d(x, w):\n    return 1\n" and program[1].student
    assert all("grade(" not in c.source and "HIDDEN" not in c.source for c in program)


def test_the_walk_stops_at_the_exercise_test_cell_and_keeps_added_cells(tmp_path):
    path = gt.submission(tmp_path, added=[("corr1d_answer", "helper = 1"),
                                          ("test_corr1d", "%timeit corr1d(1, 2)"),
                                          ("double_answer", "after_double = 1")])
    nb = notebook.read_notebook(path)
    first = notebook.assemble(gt.source(), nb, stop_at="test_corr1d")
    assert [c.label for c in first] == ["setup cell 'setup_imports'", "your cell 'corr1d_answer'",
                                        "your added cell 1 after 'corr1d_answer'"]
    second = notebook.assemble(gt.source(), nb, stop_at="test_double")
    assert [c.label for c in second][-3:] == ["your added cell 1 after 'test_corr1d'",
                                             "your cell 'double_answer'",
                                             "your added cell 1 after 'double_answer'"]
    assert "get_ipython()" in second[-3].source  # magics become plain calls
    with pytest.raises(ValueError, match="no test cell"):
        notebook.assemble(gt.source(), nb, stop_at="test_nothing")


def test_the_instructors_untagged_cells_run_once_as_instructor_code(tmp_path):
    demo = "print(F.conv2d)"

    def add_demo(nb):
        nb["cells"].insert(3, {"cell_type": "code", "metadata": {}, "source": demo,
                               "outputs": [], "execution_count": None})
    source = gt.source()
    add_demo(source)
    unchanged = notebook.read_notebook(gt.submission(tmp_path, edit=add_demo))
    program = notebook.assemble(source, unchanged)
    assert [(c.source.strip(), c.student) for c in program if "F.conv2d" in c.source] == [
        (demo, False)]

    def edit_demo(nb):
        add_demo(nb)
        nb["cells"][3]["source"] = demo + "  # edited"
    edited = notebook.read_notebook(gt.submission(tmp_path, edit=edit_demo, name="e.ipynb"))
    program = notebook.assemble(source, edited)
    assert sorted(c.student for c in program if "F.conv2d" in c.source) == [False, True]


def test_a_missing_answer_cell_runs_as_empty(tmp_path):
    def drop(nb):
        nb["cells"] = [c for c in nb["cells"]
                       if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                       != "corr1d_answer"]
    nb = notebook.read_notebook(gt.submission(tmp_path, edit=drop))
    program = notebook.assemble(gt.source(), nb, stop_at="test_corr1d")
    assert program[1].label == "your cell 'corr1d_answer'" and program[1].source.strip() == ""


def test_student_metadata_cannot_turn_setup_into_an_answer(tmp_path):
    def forge(nb):
        for c in nb["cells"]:
            meta = c.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade_id") == "setup_imports":
                meta["solution"] = True
                c["source"] = "SCALE = 3"
    nb = notebook.read_notebook(gt.submission(tmp_path, edit=forge))
    program = notebook.assemble(gt.source(), nb)
    assert "SCALE = 2" in program[0].source and not program[0].student


def test_identify_by_name_and_by_grade_ids(tmp_path):
    chapters = {"ch90": gt.CHAPTER}
    ids = {"ch90": ["test_corr1d", "test_double"]}
    nb = gt.source()
    assert notebook.identify(gt.SOURCE_NB, nb, chapters, ids) is gt.CHAPTER
    renamed = gt.submission(tmp_path, name="my_work.ipynb")
    assert notebook.identify(renamed, nb, chapters, ids) is gt.CHAPTER
    assert notebook.identify(renamed, {"cells": []}, chapters, ids) is None


@pytest.mark.parametrize("content, message", [
    (None, "no such file"), ("{not json", "invalid JSON"), ('{"cells": 3}', "no list of cells"),
    ("[1, 2]", "no list of cells"),
])
def test_unreadable_submissions(tmp_path, content, message):
    path = tmp_path / "x.ipynb"
    if content is not None:
        path.write_text(content)
    with pytest.raises(notebook.SubmissionError, match=message):
        notebook.read_notebook(path)
