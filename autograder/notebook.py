"""Reading submissions, identifying their chapter, and assembling the program a worker runs.

The program comes from the INSTRUCTOR source notebook, walked in order:

* answer cells (nbgrader ``solution: true``) are replaced by the student's cell with the same
  ``grade_id`` (missing → empty);
* test cells (``grade: true``, not a solution) never reach the worker; the walk stops at the
  test cell of the exercise being graded, as nbgrader's kernel would;
* every other cell runs with the SOURCE's text, so editing a locked cell changes nothing;
* code cells the student added (no nbgrader ``grade_id``) are student code and keep their
  place: after the nbgrader cell that precedes them in the submission. A cell without
  ``grade_id`` whose text is that of one of the source's own untagged cells is the
  instructor's (the student edition carries it unchanged) and runs once, from the source.

The submission's metadata is used for one thing only: finding its answer cells by ``grade_id``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convlab.exercises.registry import Chapter

from .wire import WireError, read_regular

#: Largest notebook read.
MAX_NOTEBOOK_BYTES = 64 << 20


class SubmissionError(ValueError):
    """The submission cannot be graded (missing, not a notebook, no known chapter)."""


@dataclass(frozen=True)
class ProgramCell:
    """One cell of an assembled program. ``label`` names it in feedback."""

    label: str
    source: str
    student: bool

    def wire(self) -> dict:
        return {"id": self.label, "source": self.source, "student": self.student}


def _source_text(cell: Mapping[str, Any]) -> str:
    src = cell.get("source", "")
    if isinstance(src, list):
        src = "".join(s for s in src if isinstance(s, str))
    return src if isinstance(src, str) else ""


def _nbgrader(cell: Mapping[str, Any]) -> dict:
    meta = cell.get("metadata")
    nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
    return nbg if isinstance(nbg, dict) else {}


def _grade_id(cell: Mapping[str, Any]) -> str | None:
    gid = _nbgrader(cell).get("grade_id")
    return gid if isinstance(gid, str) and gid else None


def _code_cells(nb: Mapping[str, Any]) -> list[dict]:
    return [c for c in nb["cells"] if isinstance(c, dict) and c.get("cell_type") == "code"]


def read_notebook(path: Path) -> dict:
    """The notebook at ``path`` as JSON; :class:`SubmissionError` if it is not one."""
    path = Path(path)
    if not path.exists():
        raise SubmissionError(f"{path}: no such file or folder")
    if not path.is_file():
        raise SubmissionError(f"{path}: not a regular file")
    try:
        raw = read_regular(path, MAX_NOTEBOOK_BYTES)
    except (OSError, WireError) as exc:
        raise SubmissionError(f"{path}: cannot be read ({exc})") from None
    try:
        nb = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise SubmissionError(f"{path}: not a notebook (invalid JSON: {str(exc)[:200]})") \
            from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise SubmissionError(f"{path}: not a notebook (no list of cells)")
    return nb


def find_notebooks(path: Path) -> list[Path]:
    """``path`` itself, or the notebooks in folder ``path`` (checkpoints skipped)."""
    path = Path(path)
    if not path.exists():
        raise SubmissionError(f"{path}: no such file or folder")
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise SubmissionError(f"{path}: not a regular file or a folder")
    found = sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if not found:
        raise SubmissionError(f"{path}: no notebook (*.ipynb) in this folder")
    return found


def identify(path: Path, nb: Mapping[str, Any], chapters: Mapping[str, Chapter],
             exercise_ids: Mapping[str, Iterable[str]]) -> Chapter | None:
    """The chapter of notebook ``nb``: by file name, else by its test cells' ``grade_id``s.

    ``exercise_ids`` maps a chapter id to the grade ids of its test cells.
    """
    for ch in chapters.values():
        if Path(path).name == ch.notebook:
            return ch
    ids = {_grade_id(c) for c in nb["cells"] if isinstance(c, dict)}
    best, overlap = None, 0
    for ch in chapters.values():
        n = len(ids & set(exercise_ids.get(ch.id, ())))
        if n > overlap:
            best, overlap = ch, n
    return best


#: Cell magics whose body is plain Python that runs as it stands; any other cell magic's
#: body (``%%bash``, ``%%writefile`` ...) is dropped.
_BODY_MAGICS = ("time", "timeit", "capture", "prun")


def _ipython_to_python(source: str) -> str:
    """Magics and shell escapes become ``get_ipython()`` calls, as in a kernel, except cell
    magics: the body of ``%%time``/``%%timeit``/``%%capture`` stays as the cell's code (so the
    static analysis sees it and the worker never executes a string), any other's is dropped."""
    lines = source.lstrip("\n").split("\n", 1)
    if lines[0].startswith("%%"):
        name = lines[0][2:].split(maxsplit=1)[0] if lines[0][2:].strip() else ""
        source = lines[1] if len(lines) > 1 and name in _BODY_MAGICS else ""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # no IPython: leave the text as is
        return source
    try:
        return TransformerManager().transform_cell(source)
    except Exception:  # malformed input: the worker reports the SyntaxError
        return source


def assemble(source_nb: Mapping[str, Any], student_nb: Mapping[str, Any],
             stop_at: str | None = None) -> list[ProgramCell]:
    """The program for one exercise: cells before the source's test cell ``stop_at``."""
    source_ids = {g for c in _code_cells(source_nb) if (g := _grade_id(c))}
    instructor_texts = {_source_text(c).strip() for c in _code_cells(source_nb)
                        if _grade_id(c) is None}
    answers: dict[str, str] = {}
    added: dict[str | None, list[str]] = {}
    anchor: str | None = None
    for cell in _code_cells(student_nb):
        gid = _grade_id(cell)
        if gid is None:
            if _source_text(cell).strip() not in instructor_texts:
                added.setdefault(anchor, []).append(_source_text(cell))
        elif gid in source_ids:
            anchor = gid
            answers.setdefault(gid, _source_text(cell))

    program: list[ProgramCell] = []

    def add_student_cells(after: str | None) -> None:
        for i, text in enumerate(added.pop(after, [])):
            where = f"after '{after}'" if after else "at the top"
            program.append(ProgramCell(f"your added cell {i + 1} {where}",
                                       _ipython_to_python(text), True))

    add_student_cells(None)
    for n, cell in enumerate(_code_cells(source_nb)):
        meta, gid = _nbgrader(cell), _grade_id(cell)
        if meta.get("solution"):
            program.append(ProgramCell(f"your cell '{gid}'",
                                       _ipython_to_python(answers.get(gid or "", "")), True))
        elif meta.get("grade"):
            if gid == stop_at:
                return program
        else:
            program.append(ProgramCell(f"setup cell '{gid or n + 1}'",
                                       _ipython_to_python(_source_text(cell)), False))
        if gid is not None:
            add_student_cells(gid)
    if stop_at is not None:
        raise ValueError(f"the source notebook has no test cell {stop_at!r}")
    return program
