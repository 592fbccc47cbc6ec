"""Grading a submission: one sandboxed worker per exercise, verdicts in this process.

For each notebook found: identify its chapter, load the instructor source, and for each
exercise of the chapter

1. draw the cases from ``derive_seed(course secret, student id, exercise key)``;
2. assemble the program up to the exercise's test cell (:func:`notebook.assemble`);
3. scan the student's cells for forbidden APIs (:func:`scan.scan`) — a hit scores 0;
4. run the worker in the sandbox (:class:`sandbox.Sandbox`) and read back its report
   (:func:`wire.read_report`: plain arrays and checked JSON only);
5. judge here (:meth:`Exercise.judge`), add flags (timeout, memory, crashed, forbidden-api)
   and a one-line feedback.
"""

from __future__ import annotations

import importlib
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from convlab.exercises.registry import CHAPTERS, Chapter
from convlab.exercises.seeds import derive_seed
from convlab.exercises.spec import Exercise, Verdict

from . import notebook, scan, wire
from .results import Results, TestResult
from .sandbox import Limits, Outcome, Sandbox

#: Created once per machine when no secret is given, so regrading gives the same results.
DEFAULT_SECRET_FILE = Path("~/.config/convlab/course-secret")
_MEMORY_SIGNS = ("MemoryError", "can't allocate memory", "bad_alloc", "out of memory")


def default_source_dir() -> Path:
    """``$CONVLAB_SOURCE``, else the repository's ``notebooks/`` beside this package."""
    env = os.environ.get("CONVLAB_SOURCE")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "notebooks"


def load_secret(secret_file: Path | None = None) -> bytes:
    """The course secret: ``secret_file``, else ``$CONVLAB_COURSE_SECRET``, else the per-course
    file ``~/.config/convlab/course-secret`` (created once, mode 0600)."""
    if secret_file is not None:
        data = Path(secret_file).read_bytes().strip()
        if not data:
            raise ValueError(f"secret file {secret_file} is empty")
        return data
    env = os.environ.get("CONVLAB_COURSE_SECRET", "")
    if env:
        return env.encode()
    path = DEFAULT_SECRET_FILE.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))
    return path.read_bytes().strip()


def _chapter_exercises(ch: Chapter) -> tuple[Exercise, ...] | None:
    try:
        return tuple(importlib.import_module(ch.module).EXERCISES)
    except (ImportError, AttributeError):  # a chapter not written yet
        return None


@dataclass
class Grader:
    """Grades notebooks. ``chapters`` and ``extra_paths`` let tests register their own chapter
    (its module must be importable here and is bound into the sandbox from ``extra_paths``)."""

    source_dir: Path
    secret: bytes
    student: str = "anonymous"
    limits: Limits = field(default_factory=Limits)
    insecure: bool = False
    device: str = "cpu"
    chapters: Mapping[str, Chapter] = field(default_factory=lambda: dict(CHAPTERS))
    extra_paths: tuple[Path, ...] = ()
    visibility: str = "visible"

    def __post_init__(self) -> None:
        if not self.student or "/" in self.student:
            raise ValueError(f"student must be a non-empty id without '/', got {self.student!r}")
        # The grader's own training runs (judge) use the same device as the workers.
        os.environ["CONVLAB_DEVICE"] = self.device
        if self.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise ValueError("device 'cuda' was asked for, but CUDA is not available")
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        self.sandbox = Sandbox(self.limits, insecure=self.insecure, device=self.device,
                               extra_paths=self.extra_paths)

    # -- finding what to grade -------------------------------------------------------------
    def submissions(self, path: Path) -> list[tuple[Path, dict, Chapter, tuple[Exercise, ...]]]:
        """``(path, notebook, chapter, exercises)`` for each gradable notebook under ``path``."""
        declared = {cid: exs for cid, ch in self.chapters.items()
                    if (exs := _chapter_exercises(ch)) is not None}
        ids = {cid: [ex.grade_id for ex in exs] for cid, exs in declared.items()}
        known = {cid: ch for cid, ch in self.chapters.items() if cid in declared}
        found, seen = [], {}
        paths = notebook.find_notebooks(path)
        for p in paths:
            if len(paths) > 1:
                try:
                    nb = notebook.read_notebook(p)
                except notebook.SubmissionError:
                    continue  # in a folder, other files may sit beside the notebooks
            else:
                nb = notebook.read_notebook(p)
            ch = notebook.identify(p, nb, known, ids)
            if ch is None:
                continue
            if ch.id in seen:
                raise notebook.SubmissionError(
                    f"{path}: two notebooks of chapter {ch.id}: {seen[ch.id]} and {p}")
            seen[ch.id] = p
            found.append((p, nb, ch, declared[ch.id]))
        if not found:
            raise notebook.SubmissionError(
                f"{path}: not a notebook of any known chapter ({', '.join(sorted(known))})")
        return found

    def source_notebook(self, ch: Chapter) -> dict:
        path = Path(self.source_dir) / ch.id / ch.notebook
        if not path.is_file():
            raise FileNotFoundError(f"no instructor source notebook for {ch.id} at {path}")
        return notebook.read_notebook(path)

    # -- grading ---------------------------------------------------------------------------
    def grade(self, path: Path) -> Results:
        """Grade the notebook or folder at ``path``."""
        start = time.monotonic()
        tests: list[TestResult] = []
        chapters = []
        for _, nb, ch, exercises in self.submissions(path):
            source = self.source_notebook(ch)
            chapters.append(ch.id)
            for ex in exercises:
                tests.append(self.grade_exercise(ex, ch, source, nb))
        elapsed = time.monotonic() - start
        got = sum(t.score for t in tests)
        total = sum(t.max_score for t in tests)
        mode = "WITHOUT a sandbox (--insecure)" if self.insecure else "in a bubblewrap sandbox"
        output = (f"{', '.join(chapters)}: {got:g}/{total:g} points; each exercise ran {mode} "
                  f"on inputs drawn for you alone.")
        extra = {"protections": self.sandbox.protections, "insecure": self.insecure,
                 "chapters": chapters, "student": self.student, "device": self.device}
        return Results(tests, elapsed, output, extra)

    def grade_exercise(self, ex: Exercise, ch: Chapter, source: dict, nb: dict) -> TestResult:
        """One exercise of one notebook → its test entry."""
        name = f"{ex.key}: {ex.title or ex.name}"

        def result(verdict: Verdict, extra_flags: tuple[str, ...] = ()) -> TestResult:
            flags = tuple(dict.fromkeys(verdict.flags + extra_flags))
            score = float(ex.points) if verdict.passed else 0.0
            return TestResult(name, score, float(ex.points), verdict.message, flags,
                              self.visibility)

        program = notebook.assemble(source, nb, stop_at=ex.grade_id)
        findings = scan.scan(program, ex.forbidden)
        if findings:
            return result(Verdict(False, findings[0].message(), ("forbidden-api",)))
        cases = ex.cases(derive_seed(self.secret, self.student, ex.key))
        scratch = Path(tempfile.mkdtemp(prefix="convlab-grade-"))
        try:
            wire.write_job(scratch / "in", cells=[c.wire() for c in program], module=ch.module,
                           exercise=ex.name, cases=[(c.args, dict(c.kwargs)) for c in cases],
                           device=self.device)
            wall = self.limits.wall_for(ex.timeout_s)
            outcome = self.sandbox.run(scratch, wall)
            return result(*self._verdict(ex, cases, scratch / "out", outcome, wall))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _verdict(self, ex: Exercise, cases: list, out: Path, outcome: Outcome,
                 wall: float) -> tuple[Verdict, tuple[str, ...]]:
        if outcome.timed_out:
            return Verdict(False, f"stopped after {wall:.0f} s, the time limit of this exercise; "
                                  "look for an endless loop or a far too slow method",
                           ("timeout",)), ()
        try:
            report = wire.read_report(out, self.limits.report_mb << 20)
        except (OSError, wire.WireError) as exc:
            how = (f"was killed by signal {-outcome.returncode}" if outcome.returncode < 0
                   else f"exited with status {outcome.returncode}")
            flags = ("crashed",)
            if any(s in outcome.stderr for s in _MEMORY_SIGNS):
                flags += ("memory",)
            detail = "" if isinstance(exc, FileNotFoundError) else f" ({exc})"
            return Verdict(False, f"your code {how} before the grader got its results{detail}; "
                                  "does it call exit() or crash the interpreter?", flags), ()
        texts = [a for a in report["attempts"] if isinstance(a, str)]
        texts += [report["error"] or ""] + [c["error"] for c in report["cell_errors"]]
        flags = ("memory",) if any(s in t for t in texts for s in _MEMORY_SIGNS) else ()
        if report["forbidden_used"]:
            api = report["forbidden_used"][0]
            return Verdict(False, f"calls {api}, which this exercise forbids",
                           ("forbidden-api",)), flags
        if report["error"] is not None:
            verdict = Verdict(False, report["error"])
        else:
            verdict = ex.judge(cases, report["attempts"])
        if not verdict.passed and report["cell_errors"]:
            first = report["cell_errors"][0]
            more = len(report["cell_errors"]) - 1
            note = f"{first['cell']}: {first['error']}"
            verdict = Verdict(False, f"{verdict.message}; {note}"
                              + (f" (and {more} more cell error(s))" if more else ""),
                              verdict.flags + ("cell-error",))
        return verdict, flags
