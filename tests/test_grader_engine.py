"""Does the engine find the right notebooks, and keep one course secret across runs?"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "grader"))
import gradertools as gt  # noqa: E402

from autograder import engine  # noqa: E402
from autograder.notebook import SubmissionError  # noqa: E402


def test_a_folder_yields_the_notebooks_of_known_chapters(tmp_path):
    folder = tmp_path / "sub"
    folder.mkdir()
    gt.submission(folder, name="renamed.ipynb")
    (folder / "notes.txt").write_text("not a notebook")
    (folder / "broken.ipynb").write_text("{")
    (folder / "other.ipynb").write_text(json.dumps({"cells": []}))
    (folder / ".ipynb_checkpoints").mkdir()
    gt.submission(folder / ".ipynb_checkpoints", name="fixture_chapter-checkpoint.ipynb")
    found = gt.grader(insecure=True).submissions(folder)
    assert [(p.name, ch.id) for p, _, ch, _ in found] == [("renamed.ipynb", "ch90")]
    assert [ex.name for ex in found[0][3]] == ["corr1d", "double"]


def test_two_notebooks_of_one_chapter_are_refused(tmp_path):
    gt.submission(tmp_path, name="a.ipynb")
    gt.submission(tmp_path, name="b.ipynb")
    with pytest.raises(SubmissionError, match="two notebooks of chapter ch90"):
        gt.grader(insecure=True).submissions(tmp_path)


def test_a_missing_source_notebook_is_an_error(tmp_path):
    g = gt.grader(insecure=True, source_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="no instructor source notebook for ch90"):
        g.grade(gt.SOURCE_NB)


def test_the_course_secret(tmp_path, monkeypatch):
    monkeypatch.delenv("CONVLAB_COURSE_SECRET", raising=False)
    monkeypatch.setattr(engine, "DEFAULT_SECRET_FILE", tmp_path / "conf" / "course-secret")
    first = engine.load_secret()
    assert len(first) == 64 and engine.load_secret() == first  # created once, then reused
    assert stat.S_IMODE((tmp_path / "conf" / "course-secret").stat().st_mode) == 0o600
    monkeypatch.setenv("CONVLAB_COURSE_SECRET", "from-env")
    assert engine.load_secret() == b"from-env"
    given = tmp_path / "given"
    given.write_text("from-file\n")
    assert engine.load_secret(given) == b"from-file"
    given.write_text("  \n")
    with pytest.raises(ValueError, match="empty"):
        engine.load_secret(given)


@pytest.mark.parametrize("student", ["", "a/b"])
def test_bad_student_ids(student):
    with pytest.raises(ValueError, match="student"):
        gt.grader(insecure=True, student=student)
