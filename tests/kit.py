"""The chapter kit's test helpers: every registered chapter, its notebook, its planted mistakes.

A chapter is covered by the parametrised tests (``test_kit_*.py``) as soon as it has a registry
row (``convlab/exercises/registry.py``), its declarations, its notebook and a planted-mistakes
list (``tests/planted/<id>.py``). Test chapters (fixtures) add their row to
``tests/fixtures/kit/chapters.json`` and keep their module, notebook and list beside it.

A planted-mistakes list is a module holding

* ``PLANTED``: ``(exercise, old text, new text, expected)`` tuples: the edit turns the instructor
  solution of the exercise's answer cell into a typical mistake, and ``expected`` is the name of
  the exercise's :class:`~convlab.exercises.spec.Mistake` the feedback must give, or a verdict
  flag (``forbidden-api``, ``python-loop``, ``training-curve`` …);
* ``GRADED``: the exercises whose first plant goes into one submission the grader grades;
* ``KNOCK_ON`` (optional): exercises that submission also fails, through cells they call →
  text their feedback must contain.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from convlab.exercises.registry import CHAPTERS, Chapter
from convlab.exercises.spec import Exercise
from convlab.exercises.training import TrainingExercise

ROOT = Path(__file__).resolve().parents[1]
PLANTED_DIR = ROOT / "tests" / "planted"
FIXTURES = ROOT / "tests" / "fixtures" / "kit"
FIXTURE_ROWS = FIXTURES / "chapters.json"
VENV_BIN = Path(sys.executable).parent
SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION[ \t]*$",
                      re.S | re.M)
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n.*?### END HIDDEN TESTS", re.S)


@dataclass(frozen=True)
class KitChapter:
    """A registered chapter as the tests see it."""

    chapter: Chapter
    source: Path  # the nbgrader source folder holding <id>/<notebook>
    planted_file: Path
    paths: tuple[Path, ...] = ()  # import paths its declarations need (test chapters)

    @property
    def id(self) -> str:
        return self.chapter.id

    @property
    def notebook(self) -> Path:
        return self.source / self.id / self.chapter.notebook

    def exercises(self) -> tuple[Exercise, ...]:
        for path in self.paths:
            if str(path) not in sys.path:
                sys.path.insert(0, str(path))
        return tuple(importlib.import_module(self.chapter.module).EXERCISES)

    def exercise(self, name: str) -> Exercise:
        (ex,) = [ex for ex in self.exercises() if ex.name == name]
        return ex

    def planted(self) -> ModuleType:
        spec = importlib.util.spec_from_file_location(f"planted_{self.id}", self.planted_file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    def env(self) -> dict[str, str]:
        """Environment for processes (kernels, nbgrader) that must know this chapter."""
        env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        if self.paths:
            env["CONVLAB_EXTRA_CHAPTERS"] = str(FIXTURE_ROWS)
            env["PYTHONPATH"] = os.pathsep.join([*map(str, self.paths),
                                                 env.get("PYTHONPATH", "")])
        return env


def _fixture_rows() -> list[Chapter]:
    rows = json.loads(FIXTURE_ROWS.read_text(encoding="utf-8"))
    return [Chapter(r["id"], r["title"], r["module"], r["notebook"]) for r in rows]


@cache
def registered() -> tuple[KitChapter, ...]:
    """Every chapter of the registry, then the test chapters."""
    real = [KitChapter(c, ROOT / "notebooks", PLANTED_DIR / f"{c.id}.py")
            for c in CHAPTERS.values() if c.id not in {r.id for r in _fixture_rows()}]
    fixtures = [KitChapter(c, FIXTURES / "source", FIXTURES / f"planted_{c.id}.py", (FIXTURES,))
                for c in _fixture_rows()]
    return tuple(real + fixtures)


def by_id(chapter_id: str) -> KitChapter:
    (kc,) = [kc for kc in registered() if kc.id == chapter_id]
    return kc


def each_exercise(quick: bool = False) -> list[tuple[KitChapter, Exercise]]:
    """``(chapter, exercise)`` pairs; ``quick`` leaves the training checks out."""
    return [(kc, ex) for kc in registered() for ex in kc.exercises()
            if not (quick and isinstance(ex, TrainingExercise))]


def pair_id(pair: Any) -> str:
    if isinstance(pair, KitChapter):
        return pair.id
    return pair.name if isinstance(pair, Exercise) else str(pair)


# -- reading notebooks (plain JSON) --------------------------------------------------------------
def cells(path: Path) -> list[dict[str, Any]]:
    out = []
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        text = cell["source"]
        out.append({**cell, "source": "".join(text) if isinstance(text, list) else text})
    return out


def meta(cell: dict[str, Any]) -> dict[str, Any]:
    return cell.get("metadata", {}).get("nbgrader", {})


def grade_id(cell: dict[str, Any]) -> str:
    return meta(cell).get("grade_id", "")


def answer_cell(kc: KitChapter, entry: str) -> dict[str, Any]:
    (cell,) = [c for c in cells(kc.notebook) if grade_id(c) == f"{entry}_answer"]
    return cell


def stub(text: str) -> str:
    """What nbgrader's student edition holds: each solution region replaced by its stub."""
    return SOLUTION.sub(lambda m: f"{m.group(1)}# YOUR CODE HERE\n{m.group(1)}"
                        "raise NotImplementedError()", text)


def build(kc: KitChapter, entry: str, edit: Callable[[str], str] | None = None,
          *, student_edition: bool = False) -> Callable[..., Any]:
    """The function ``entry`` as a kernel has it after running the setup cells and every answer
    cell up to ``entry``'s own (``edit`` applied to that one; every answer stubbed out when
    ``student_edition``)."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    for cell in cells(kc.notebook):
        gid = grade_id(cell)
        if cell["cell_type"] != "code" or not (gid.startswith("setup_") or
                                               meta(cell).get("solution")):
            continue
        text = stub(cell["source"]) if student_edition else cell["source"]
        if gid == f"{entry}_answer" and edit is not None:
            text = edit(text)
        exec(compile(text, f"<{gid}>", "exec"), namespace)
        if gid == f"{entry}_answer":
            return namespace[entry]
    raise AssertionError(f"{kc.notebook.name} has no answer cell {entry}_answer")


#: The first line of every solution body.
START = "    ### BEGIN SOLUTION\n"


def first(line: str) -> tuple[str, str]:
    """A plant's ``(old, new)`` that runs ``line`` first in the solution body."""
    return START, f"{START}    {line}\n"


def planting(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, f"{old!r} is not in the solution"
        return text.replace(old, new)

    return edit


def generate_student_edition(kc: KitChapter, course: Path) -> Path:
    """``nbgrader generate_assignment`` in a throwaway course folder; the release notebook."""
    source = course / "source" / kc.id
    source.mkdir(parents=True)
    (source / kc.chapter.notebook).write_bytes(kc.notebook.read_bytes())
    subprocess.run(
        [str(VENV_BIN / "nbgrader"), "generate_assignment", kc.id,
         f"--CourseDirectory.root={course}", "--force"],
        cwd=course, env=kc.env(), check=True, capture_output=True, timeout=300,
    )
    return course / "release" / kc.id / kc.chapter.notebook


def grader(kc: KitChapter, secret: bytes = b"kit tests") -> Any:
    """The grading engine, knowing this chapter."""
    from autograder.engine import Grader

    kc.exercises()  # puts a test chapter's module on the path, as the engine imports it here
    return Grader(source_dir=kc.source, secret=secret, student="s1",
                  chapters={kc.id: kc.chapter}, extra_paths=kc.paths)


def grade(kc: KitChapter, submission: Path) -> dict[str, dict[str, Any]]:
    """Grade ``submission`` with the engine: exercise name → its results entry (``flags`` at
    the top of each)."""
    tests = grader(kc).grade(submission).as_json()["tests"]
    return {t["name"].split(":")[0].split(".", 1)[1]: {**t, "flags": t["extra_data"]["flags"]}
            for t in tests}
