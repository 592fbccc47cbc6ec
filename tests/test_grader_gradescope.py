"""The Gradescope bundle: its contents, and run_autograder in a folder laid out like
Gradescope's ``/autograder`` (``GRADESCOPE_ROOT``), with this machine's Python."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder import cli, gradescope
from autograder.batch import extract_zip
from autograder.sandbox import bwrap_path

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "grader"))
import gradertools as gt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _bundle(tmp_path: Path, **kw) -> Path:
    return gradescope.build_bundle(
        tmp_path / "autograder.zip", source_dir=gt.SOURCE, secret=b"gs-secret",
        insecure=bwrap_path() is None, extra_chapters=[(gt.CHAPTER, gt.HERE)], **kw)


def test_bundle_contents(tmp_path):
    path = _bundle(tmp_path)
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
        config = json.loads(zf.read("convlab-bundle.json"))
        requirements = zf.read("requirements.txt").decode().split()
        setup = zf.read("setup.sh").decode()
    for required in ("setup.sh", "run_autograder", "requirements.txt", "pyproject.toml",
                     "course-secret", "autograder/engine.py", "autograder/worker.py",
                     "convlab/exercises/spec.py", "notebooks/ch90/fixture_chapter.ipynb",
                     "extra/0/grader_fixture_ch.py"):
        assert required in names, required
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert modes["run_autograder"] & stat.S_IXUSR and modes["setup.sh"] & stat.S_IXUSR
    assert config["chapters"] == ["ch90"]
    assert any(r.startswith("torch==") for r in requirements)
    assert all("==" in r for r in requirements)
    assert "bubblewrap" in setup and "requirements.txt" in setup


def test_bundle_refuses_unknown_chapters_and_empty_secrets(tmp_path):
    with pytest.raises(ValueError, match="unknown chapter"):
        _bundle(tmp_path, chapters=["ch77"])
    with pytest.raises(ValueError, match="secret"):
        gradescope.build_bundle(tmp_path / "a.zip", source_dir=gt.SOURCE, secret=b"")


def test_bundle_from_the_command_line(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s")
    out = tmp_path / "autograder.zip"
    code = cli.main(["gradescope-bundle", "--out", str(out), "--secret-file", str(secret),
                     "--source", str(ROOT / "notebooks"), "--chapters", "ch01"])
    assert code == 0
    with zipfile.ZipFile(out) as zf:
        assert "notebooks/ch01/vanilla_convolution.ipynb" in zf.namelist()
        assert zf.read("course-secret") == b"s"


def _gradescope_root(tmp_path: Path) -> Path:
    """``/autograder`` imitated: source/ (the unpacked bundle), submission/, results/."""
    root = tmp_path / "autograder"
    extract_zip(_bundle(tmp_path), root / "source")
    for name in ("run_autograder", "setup.sh"):
        (root / "source" / name).chmod(0o755)
    (root / "submission").mkdir()
    (root / "submission_metadata.json").write_text(json.dumps(
        {"id": 123, "users": [{"email": "ada@example.edu", "id": 4242, "name": "Ada"}]}))
    return root


def _run_autograder(root: Path) -> dict:
    env = dict(os.environ, GRADESCOPE_ROOT=str(root), CONVLAB_PYTHON=sys.executable)
    proc = subprocess.run([str(root / "source" / "run_autograder")], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((root / "results" / "results.json").read_text())


@pytest.mark.slow
def test_run_autograder_grades_the_submission(tmp_path):
    root = _gradescope_root(tmp_path)
    gt.submission(root / "submission", {"double_answer": "def double(x):\n    return 3 * x\n"},
                  name="my_work.ipynb")
    results = _run_autograder(root)
    assert results["score"] == 2.0 and results["max_score"] == 3.0
    assert [t["status"] for t in results["tests"]] == ["passed", "failed"]
    assert results["extra_data"]["student"] == "4242"
    # the bundled copy of the packages did the grading
    assert (root / "source" / "autograder" / "engine.py").is_file()

    # a zip with an escaping path: a results file with score 0 and the reason
    shutil.rmtree(root / "submission")
    (root / "submission").mkdir()
    with zipfile.ZipFile(root / "submission" / "work.zip", "w") as zf:
        zf.writestr("../../outside.ipynb", "{}")
    results = _run_autograder(root)
    assert results["score"] == 0.0 and "outside" in results["output"]
    assert not (tmp_path / "outside.ipynb").exists()


def test_student_id_from_metadata(tmp_path):
    assert gradescope._student(tmp_path) == "anonymous"
    (tmp_path / "submission_metadata.json").write_text(json.dumps(
        {"id": 9, "users": [{"email": "x/../y@z", "id": None}]}))
    assert gradescope._student(tmp_path) == "x_.._y@z"
