"""Does the engine find the right notebooks, and keep one course secret across runs?"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "grader"))
import gradertools as gt  # noqa: E402

from autograder import engine, wire  # noqa: E402
from autograder.notebook import SubmissionError  # noqa: E402
from autograder.sandbox import Outcome  # noqa: E402
from convlab.exercises.registry import Chapter  # noqa: E402


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


# -- failures are loud, and stay on the exercise they belong to ------------------------------
class _FakeSandbox:
    """Stands in for the sandbox: records each job, answers with a fixed outcome."""

    protections: list[str] = []

    def __init__(self, outcome=None):
        self.jobs: list[dict] = []
        self.outcome = outcome or Outcome(0, False, 0.1, "", "", b"")

    def run_many(self, jobs, total, workdir=None):
        self.jobs += [wire.unpack_job(job) for job, _ in jobs]
        return self.outcome


def _report(attempts) -> bytes:
    result = wire.unpack_result(wire.pack_result(attempts=attempts, forbidden_used=[],
                                                 cell_errors=[], error=None))
    return wire.pack_report(status="ok", detail="", exit_code=0, signal=None, result=result)


def _cases_of(grader, path) -> list:
    fake = _FakeSandbox()
    grader.sandbox = fake
    grader.grade(path)
    return [[a for a, _ in job["cases"]] for job in fake.jobs]


def _same(a, b) -> bool:
    return all(np.array_equal(x, y) for ca, cb in zip(a, b, strict=True)
               for xa, xb in zip(ca, cb, strict=True) for x, y in zip(xa, xb, strict=True))


def test_hidden_inputs_depend_on_the_submissions_code(tmp_path):
    g = gt.grader(insecure=True)
    base = _cases_of(g, gt.submission(tmp_path, name="a.ipynb"))
    again = _cases_of(g, gt.submission(tmp_path, name="b.ipynb"))
    assert _same(base, again)  # the same submission: the same inputs (regrading is stable)

    def outputs(nb):
        for c in nb["cells"]:
            if c["cell_type"] == "code":
                c["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "run"}]
                c["execution_count"] = 7
    rerun = _cases_of(g, gt.submission(tmp_path, name="c.ipynb", edit=outputs))
    assert _same(base, rerun)  # outputs and counters do not count
    changed = _cases_of(g, gt.submission(tmp_path, {"double_answer": (
        "def double(x):\n    return SCALE * x  # now with a comment\n")}, name="d.ipynb"))
    assert not any(_same([a], [b]) for a, b in zip(base, changed, strict=True))
    other = _cases_of(gt.grader(insecure=True, student="s2"), gt.submission(tmp_path,
                                                                           name="e.ipynb"))
    assert not any(_same([a], [b]) for a, b in zip(base, other, strict=True))


def test_an_error_of_the_grader_stays_on_its_exercise(tmp_path, monkeypatch):
    g = gt.grader(insecure=True)
    g.sandbox = _FakeSandbox()
    original = g.analyse

    def broken(program, ex):
        if ex.name == "corr1d":
            raise RuntimeError("analysis exploded")
        return original(program, ex)

    monkeypatch.setattr(g, "analyse", broken)
    results = g.grade(gt.SOURCE_NB)
    by_key = {t.key: t for t in results.tests}
    assert set(by_key) == {"ch90.corr1d", "ch90.double"}
    assert by_key["ch90.corr1d"].flags == ("grader-error",)
    assert "analysis exploded" in by_key["ch90.corr1d"].output
    assert "grader-error" not in by_key["ch90.double"].flags


def test_output_the_judge_cannot_take_is_invalid_output():
    g = gt.grader(insecure=True)
    ex = gt.EXERCISES_BY_NAME["double"]
    cases = ex.cases(1)
    bad = ex.replace(reference=lambda case: 1 / 0)  # a comparison that raises
    good = [(2 * cases[0].args[0],)]
    outcome = Outcome(0, False, 0.1, "", "", _report(good))
    verdict, _ = g._verdict(bad, cases, outcome, 10.0)
    assert not verdict.passed and verdict.flags == ("invalid-output",)
    assert "ZeroDivisionError" in verdict.message
    for report, flag in ((b"junk", "invalid-output"), (b"", "crashed"),
                         (wire.pack_report(status="crashed", detail="exited with status 3",
                                           exit_code=3, signal=None, result=None), "crashed"),
                         (wire.pack_report(status="invalid", detail="deep", exit_code=0,
                                           signal=None, result=None), "invalid-output")):
        verdict, _ = g._verdict(ex, cases, Outcome(0, False, 0.1, "", "", report), 10.0)
        assert not verdict.passed and flag in verdict.flags, (report[:20], verdict)
    verdict, _ = g._verdict(ex, cases, Outcome(0, False, 0.1, "", "", b"", True), 10.0)
    assert verdict.flags == ("invalid-output",)


def test_student_text_is_quoted_short():
    g = gt.grader(insecure=True)
    ex = gt.EXERCISES_BY_NAME["double"]
    secret = "QUJD" * 500  # base64 of a hidden input, say
    outcome = Outcome(0, False, 0.1, "", "", _report([f"raised ValueError: {secret}"]))
    verdict, _ = g._verdict(ex, ex.cases(1), outcome, 10.0)
    assert not verdict.passed and len(verdict.message) < 200
    assert "QUJD" * 21 not in verdict.message  # at most 80 characters of it


def test_a_chapter_module_that_fails_to_import_is_named(tmp_path):
    sys.modules.pop("convlab_missing_chapter", None)
    (tmp_path / "convlab_broken_chapter.py").write_text("import no_such_module_here\n")
    sys.path.insert(0, str(tmp_path))
    try:
        for module in ("convlab_broken_chapter", "convlab_missing_chapter"):
            ch = Chapter("ch90", "Fixture chapter", module, "fixture_chapter.ipynb")
            g = gt.grader(insecure=True, chapters={"ch90": ch})
            with pytest.raises(engine.ChapterError, match=module):
                g.grade(gt.SOURCE_NB)
    finally:
        sys.path.remove(str(tmp_path))


def test_a_forbidden_name_that_does_not_resolve_is_an_error(monkeypatch):
    module = sys.modules[gt.CHAPTER.module]
    broken = tuple(ex.replace(forbidden=("torch.no_such_function",)) if ex.name == "corr1d"
                   else ex for ex in module.EXERCISES)
    monkeypatch.setattr(module, "EXERCISES", broken)
    with pytest.raises(engine.ChapterError, match="torch.no_such_function"):
        gt.grader(insecure=True).grade(gt.SOURCE_NB)
