"""The instructors' page (book/instructors.md): its commands run, in order, and do what it says.

Every command in the page's ``bash`` blocks is either run here — in a scratch copy of the
repository (its Makefile, nbgrader configuration, pyproject and instructor notebooks, with the
project's ``.venv``), one student submitting the student edition — or, where it needs what this
machine lacks (a JupyterHub exchange, a GPU), checked against its tool's own command line. A
command added to the page without a place in this test fails ``test_every_command_is_covered``.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import sandbox
from autograder.cli import build_parser
from convlab.exercises.registry import chapter, exercises

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "instructors.md"
BIN = Path(sys.executable).parent
CH = chapter("ch01")
STUDENT = "alice"

#: Commands of the page that this machine cannot run, and why; each is checked against its
#: tool's command line instead (make: the target exists; nbgrader: the subcommand exists;
#: python -m autograder: the arguments parse).
NOT_RUN = {
    "make setup": "the tests run in the project's .venv, which make setup made",
    ". .venv/bin/activate": "the test puts .venv/bin first on the PATH",
    "nbgrader release_assignment ch01": "needs a JupyterHub exchange",
    "nbgrader collect ch01": "needs a JupyterHub exchange; the test puts the submission where "
                             "collect does",
    "make gpu-check": "needs CUDA",
}
#: Commands run only when CUDA is there (matched by this pattern).
NEEDS_CUDA = re.compile(r"--device cuda")


def page_commands(text: str) -> list[str]:
    """The commands of the page's ```bash blocks, in order: continuation lines joined,
    comments and blank lines dropped."""
    commands: list[str] = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def check_syntax(command: str, cwd: Path) -> None:
    """Does ``command``'s tool accept it (without running it)?"""
    words = shlex.split(command)
    if words[0] == "make":
        done = subprocess.run(["make", "-n", *words[1:]], cwd=cwd, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, f"{command}: {done.stderr}"
    elif words[0] == "nbgrader":
        done = subprocess.run([str(BIN / "nbgrader"), words[1], "--help"], capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, f"{command}: {done.stderr[-2000:]}"
    elif words[:3] == ["python", "-m", "autograder"]:
        build_parser().parse_args(words[3:])  # SystemExit on an unknown option
    elif words[0] == ".":
        assert (cwd / words[1]).is_file(), command
    else:
        raise AssertionError(f"no syntax check for {command!r}")


def test_every_command_is_covered() -> None:
    """Each command of the page is run by the workflow test or has a reason not to be, and
    every reason names a command still on the page."""
    commands = page_commands(PAGE.read_text(encoding="utf-8"))
    assert len(commands) >= 15
    assert set(NOT_RUN) <= set(commands), set(NOT_RUN) - set(commands)
    for command in commands:
        if command in NOT_RUN or NEEDS_CUDA.search(command):
            check_syntax(command, ROOT)
    for needed in ("make release", "grade-batch", "nbgrader-import", "gradescope-bundle",
                   "--secret-file", "--device cuda", "nbgrader generate_assignment"):
        assert any(needed in c for c in commands), f"the page no longer shows {needed!r}"


def _scratch_checkout(work: Path) -> None:
    """The parts of the repository the page's commands use, with the project's environment."""
    for name in ("Makefile", "nbgrader_config.py", "pyproject.toml"):
        shutil.copy2(ROOT / name, work / name)
    for chapter_dir in sorted((ROOT / "notebooks").iterdir()):
        if list(chapter_dir.glob("*.ipynb")):  # chapters that have their notebook
            shutil.copytree(chapter_dir, work / "notebooks" / chapter_dir.name)
    # The project's environment, entry by entry, with a set-up stamp of its own that is newer
    # than the copied pyproject.toml: make's targets use it and never set it up again.
    venv = work / ".venv"
    venv.mkdir()
    for entry in (ROOT / ".venv").iterdir():
        if entry.name != ".stamp-installed":
            (venv / entry.name).symlink_to(entry)
    (venv / ".stamp-installed").touch()
    (work / "book" / "_static").mkdir(parents=True)
    (work / "book" / "_static" / "mathjax").symlink_to(ROOT / "book" / "_static" / "mathjax")


@pytest.mark.slow
@pytest.mark.book
@pytest.mark.timeout(3600)
@pytest.mark.skipif(sandbox.bwrap_path() is None, reason="needs bubblewrap (bwrap)")
def test_instructor_workflow_runs(tmp_path: Path) -> None:
    """The page's commands, in order, on one student who hands in the student edition:
    release, grade, grade in a batch, nbgrader import/feedback/export, the Gradescope bundle
    run as Gradescope would. Every step's result is checked."""
    import torch

    if not (ROOT / ".venv" / ".stamp-installed").is_file():
        pytest.skip("the project's .venv is not set up (make setup)")
    work = tmp_path / "course"
    work.mkdir()
    _scratch_checkout(work)
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
           "HOME": str(tmp_path / "home")}
    env.pop("CONVLAB_COURSE_SECRET", None)
    env.pop("MPLBACKEND", None)
    ran: list[str] = []
    for command in page_commands(PAGE.read_text(encoding="utf-8")):
        if command in NOT_RUN or (NEEDS_CUDA.search(command) and not torch.cuda.is_available()):
            check_syntax(command, work)
            if command == "nbgrader collect ch01":  # what collect does, for one student
                dest = work / "submitted" / STUDENT / CH.id
                dest.mkdir(parents=True)
                shutil.copy(work / "release" / CH.id / CH.notebook, dest / CH.notebook)
            continue
        done = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True,
                              text=True, timeout=1800)
        assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        ran.append(command)
    assert len(ran) >= 12, ran

    # make release: every chapter's student edition, without solutions or hidden tests.
    for ch_dir in (work / "notebooks").iterdir():
        released = list((work / "release" / ch_dir.name).glob("*.ipynb"))
        assert released, f"make release wrote nothing for {ch_dir.name}"
        for nb in released:
            text = nb.read_text(encoding="utf-8")
            assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    secret = work / "course-secret"
    assert len(secret.read_text().strip()) == 64 and secret.stat().st_mode & 0o077 == 0

    # grade: the student edition scores 0, every exercise "not implemented yet".
    one = json.loads((work / f"{STUDENT}-{CH.id}.json").read_text())
    total = sum(e.points for e in exercises(CH.id))
    assert one["score"] == 0 and one["max_score"] == total
    assert len(one["tests"]) == len(exercises(CH.id))
    assert all("not implemented yet" in t["output"] for t in one["tests"]), one["tests"]

    # grade-batch: the same verdict for the same student and secret, and the CSV.
    batch = json.loads((work / "grades" / CH.id / f"{STUDENT}.json").read_text())
    assert [(t["name"], t["score"]) for t in batch["tests"]] == \
        [(t["name"], t["score"]) for t in one["tests"]]
    with open(work / "grades" / CH.id / "scores.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r.get("student") for r in rows] == [STUDENT], rows

    # nbgrader: the scores are in the gradebook, feedback written, grades exported.
    from autograder.gradebook import read_scores

    scores = read_scores(work, CH.id, STUDENT)
    assert scores and all(v == 0 for v in scores.values()), scores
    assert (work / "feedback" / STUDENT / CH.id).is_dir()
    assert (work / "grades.csv").is_file()

    # Gradescope: the bundle, run as Gradescope runs it, grades the submission the same way.
    gs = json.loads((work / "gradescope" / "results" / "results.json").read_text())
    assert gs["max_score"] == total and gs["score"] == 0
    assert len(gs["tests"]) == len(exercises(CH.id))
