"""Grading a submission: one sandboxed worker per notebook, a fresh child of its trusted parent
per exercise, verdicts in this process.

For each notebook found: identify its chapter, load the instructor source, and for each
exercise of the chapter

1. assemble the program up to the exercise's test cell (:func:`notebook.assemble`);
2. analyse what the exercise's entry can reach (:func:`scan.analyse`): the answer policy and
   the forbidden APIs, without importing or running anything — a finding scores 0 (flag
   ``policy`` or ``forbidden-api``) and names the construct and the line; student cells the
   entry does not reach are left out of the program;
3. draw the cases from ``derive_seed(course secret, student id, exercise key, hash of the
   submission's code)``: regrading the same submission gives the same inputs, any change to
   its code gives new ones; a training check's training run is seeded by the course secret and
   its key alone (:func:`reference.shared_seed`), so its reference run is computed once for a
   whole batch (:mod:`.reference`; with ``shared_reference``, loaded from the batch's file);
4. run the worker in the sandbox (:class:`sandbox.Sandbox`) and decode its report, which
   comes from the worker's trusted parent on a pipe (:func:`wire.unpack_report`: plain arrays
   and checked JSON only, every field validated; anything else is "invalid output");
5. judge here (:meth:`Exercise.judge`), add flags (timeout, memory, crashed, forbidden-api,
   invalid-output) and a one-line feedback that quotes student-raised exception text only up
   to :data:`QUOTE_CHARS` characters.

An error of the grader itself on one exercise is reported for that exercise (flag
``grader-error``); the other exercises are graded as usual.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import secrets
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from convlab.exercises.registry import CHAPTERS, Chapter
from convlab.exercises.seeds import derive_seed
from convlab.exercises.spec import Exercise, Verdict

from . import notebook, reference, scan, wire
from .results import Results, TestResult
from .sandbox import Limits, Outcome, Sandbox

#: Created once per machine when no secret is given, so regrading gives the same results.
DEFAULT_SECRET_FILE = Path("~/.config/convlab/course-secret")
_MEMORY_SIGNS = ("MemoryError", "can't allocate memory", "bad_alloc", "out of memory")
#: Longest student-raised exception text quoted in feedback on a hidden case.
QUOTE_CHARS = 80


class ChapterError(RuntimeError):
    """A chapter's exercise module cannot be loaded (names the module)."""


def quote(text: str, limit: int = QUOTE_CHARS) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def submission_digest(nb: dict) -> str:
    """SHA-256 of the code a notebook holds (every code cell's text, in order); outputs and
    metadata do not count, so re-running a notebook does not change it."""
    h = hashlib.sha256()
    for cell in nb.get("cells", []):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            src = cell.get("source", "")
            text = "".join(s for s in src if isinstance(s, str)) if isinstance(src, list) \
                else (src if isinstance(src, str) else "")
            h.update(json.dumps(text).encode() + b"\n")
    return h.hexdigest()


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


def _chapter_exercises(ch: Chapter) -> tuple[Exercise, ...]:
    """The chapter's declarations; :class:`ChapterError` naming the module if they cannot be
    loaded (an import error inside it, no ``EXERCISES``, a forbidden name that does not
    resolve)."""
    from .worker import resolve

    try:
        exercises = tuple(importlib.import_module(ch.module).EXERCISES)
    except Exception as exc:
        raise ChapterError(f"chapter {ch.id}: its exercise module {ch.module} cannot be "
                           f"loaded: {type(exc).__name__}: {exc}") from exc
    for ex in exercises:
        for name in ex.forbidden:
            try:
                resolve(name)
            except (ValueError, AttributeError, ImportError) as exc:
                raise ChapterError(f"chapter {ch.id}: {ex.key} forbids {name}, which does not "
                                   f"resolve in this installation ({exc})") from exc
    return exercises


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
    #: A folder of reference files a batch computed once (:mod:`.reference`); the training
    #: checks' judges load their reference runs from it instead of computing them.
    shared_reference: Path | None = None

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
        cache: dict[str, tuple[Exercise, ...]] = {}

        def exercises_of(cid: str) -> tuple[Exercise, ...]:
            if cid not in cache:
                cache[cid] = _chapter_exercises(self.chapters[cid])
            return cache[cid]

        known = dict(self.chapters)
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
            ch = next((c for c in known.values() if Path(p).name == c.notebook), None)
            if ch is None:  # not by its file name: by its test cells' grade ids
                ids = {cid: [ex.grade_id for ex in exercises_of(cid)] for cid in known}
                ch = notebook.identify(p, nb, known, ids)
            if ch is None:
                continue
            if ch.id in seen:
                raise notebook.SubmissionError(
                    f"{path}: two notebooks of chapter {ch.id}: {seen[ch.id]} and {p}")
            seen[ch.id] = p
            found.append((p, nb, ch, exercises_of(ch.id)))
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
        """Grade the notebook or folder at ``path``: per notebook, one sandboxed worker whose
        trusted parent forks a fresh child per exercise."""
        start = time.monotonic()
        tests: list[TestResult] = []
        chapters = []
        shared, rejected = [], {}
        for _, nb, ch, exercises in self.submissions(path):
            source = self.source_notebook(ch)
            chapters.append(ch.id)
            why = self.use_shared_reference(ch, exercises)
            if why is None:
                shared.append(ch.id)
            elif why:
                rejected[ch.id] = why
            tests += self.grade_notebook(exercises, ch, source, nb)
        elapsed = time.monotonic() - start
        got = sum(t.score for t in tests)
        total = sum(t.max_score for t in tests)
        mode = "WITHOUT a sandbox (--insecure)" if self.insecure else "in a bubblewrap sandbox"
        output = (f"{', '.join(chapters)}: {got:g}/{total:g} points; each exercise ran {mode} "
                  f"on inputs drawn for you alone.")
        extra = {"protections": self.sandbox.protections, "insecure": self.insecure,
                 "chapters": chapters, "student": self.student, "device": self.device}
        if shared:
            extra["shared_reference"] = shared
        if rejected:  # the judges computed their own runs
            extra["shared_reference_rejected"] = rejected
        return Results(tests, elapsed, output, extra)

    # -- the reference side, once per batch ----------------------------------------------
    def _run_device(self) -> str:
        """The device name the judges key their reference runs by (``str(torch.device)``)."""
        import torch

        return str(torch.device(self.device))

    def prepare_reference(self, folder: Path, chapter: Chapter,
                          exercises: tuple[Exercise, ...]) -> str:
        """Compute ``chapter``'s reference runs into ``folder`` unless a verified, current
        file is there (:func:`reference.prepare`): ``"computed"``, ``"reused"`` or
        ``"none"``."""
        return reference.prepare(folder, chapter.id, exercises, self.secret, self._run_device())

    def use_shared_reference(self, chapter: Chapter,
                             exercises: tuple[Exercise, ...]) -> str | None:
        """Install ``chapter``'s reference runs from :attr:`shared_reference` for the judges:
        ``None`` when installed; ``""`` when there is no folder or no training check; else
        why the file was refused (the judges then compute their own runs)."""
        if self.shared_reference is None or not any(
                reference.shares_reference(ex) for ex in exercises):
            return ""
        return reference.install(self.shared_reference, chapter.id, exercises, self.secret,
                                 self._run_device())

    def grade_exercise(self, ex: Exercise, ch: Chapter, source: dict, nb: dict) -> TestResult:
        """One exercise of one notebook → its test entry (a worker of its own)."""
        return self.grade_notebook((ex,), ch, source, nb)[0]

    def grade_notebook(self, exercises: tuple[Exercise, ...] | list[Exercise], ch: Chapter,
                       source: dict, nb: dict) -> list[TestResult]:
        """The exercises of one notebook → their test entries, in order. The static analysis
        runs here for each; the exercises it lets through run in one worker, each in a fresh
        child within its own budget, all within the notebook's total budget
        (``Limits.total_for``). An error of the grader stays on its exercise."""
        done: dict[int, TestResult] = {}
        pending: list[tuple[int, Exercise, list, bytes, float]] = []
        for i, ex in enumerate(exercises):
            try:
                prepared = self._prepare(ex, ch, source, nb)
            except Exception as exc:  # the grader's fault: this exercise only
                done[i] = self._grader_error(ex, exc)
                continue
            if isinstance(prepared, TestResult):
                done[i] = prepared
            else:
                pending.append((i, ex, *prepared))
        if pending:
            total = self.limits.total_for([wall for *_, wall in pending])
            try:
                with tempfile.TemporaryDirectory(prefix="convlab-grade-") as workdir:
                    outcome = self.sandbox.run_many([(job, wall) for *_, job, wall in pending],
                                                    total, Path(workdir))
            except Exception as exc:
                for i, ex, *_ in pending:
                    done[i] = self._grader_error(ex, exc)
            else:
                for k, (i, ex, cases, _, wall) in enumerate(pending):
                    report = outcome.reports[k] if k < len(outcome.reports) else b""
                    try:
                        done[i] = self._result(ex, *self._verdict(ex, cases, outcome, wall,
                                                                  report, total))
                    except Exception as exc:
                        done[i] = self._grader_error(ex, exc)
        return [done[i] for i in range(len(exercises))]

    def _result(self, ex: Exercise, verdict: Verdict,
                extra_flags: tuple[str, ...] = ()) -> TestResult:
        flags = tuple(dict.fromkeys(verdict.flags + extra_flags))
        score = float(ex.points) if verdict.passed else 0.0
        return TestResult(f"{ex.key}: {ex.title or ex.name}", score, float(ex.points),
                          verdict.message, flags, self.visibility, key=ex.key)

    def _grader_error(self, ex: Exercise, exc: Exception) -> TestResult:
        return TestResult(f"{ex.key}: {ex.title or ex.name}", 0.0, float(ex.points),
                          f"the grader failed on this exercise ({type(exc).__name__}: "
                          f"{quote(str(exc), 200)}); please tell the course staff",
                          ("grader-error",), self.visibility, key=ex.key)

    def _prepare(self, ex: Exercise, ch: Chapter, source: dict,
                 nb: dict) -> TestResult | tuple[list, bytes, float]:
        """The verdict of the static analysis, or ``(cases, packed job, wall budget)``."""
        program = notebook.assemble(source, nb, stop_at=ex.grade_id)
        analysis = self.analyse(program, ex)
        finding = analysis.first
        if finding is not None:
            flag = "forbidden-api" if finding.kind == "forbidden" else "policy"
            return self._result(ex, Verdict(False, finding.message(), (flag,)))
        cases = reference.cases(  # a training run's seed is the course's (one reference run)
            ex, derive_seed(self.secret, self.student, ex.key, submission_digest(nb)),
            self.secret)
        job = wire.pack_job(cells=[c.wire() for c in analysis.program], module=ch.module,
                            exercise=ex.name, cases=[(c.args, dict(c.kwargs)) for c in cases],
                            device=self.device)
        return cases, job, self.limits.wall_for(ex.timeout_s)

    def analyse(self, program: list[notebook.ProgramCell], ex: Exercise) -> scan.Analysis:
        """The static analysis of one exercise's program (:func:`scan.analyse`)."""
        return scan.analyse(program, ex.entry, ex.forbidden)

    def _verdict(self, ex: Exercise, cases: list, outcome: Outcome, wall: float,
                 report_bytes: bytes | None = None,
                 total: float | None = None) -> tuple[Verdict, tuple[str, ...]]:
        report_bytes = outcome.report if report_bytes is None else report_bytes
        memory = ("memory",) if any(s in outcome.stderr for s in _MEMORY_SIGNS) else ()
        if outcome.report_overflow:
            return Verdict(False, "your code's results are larger than the grader accepts",
                           ("invalid-output",)), memory
        if not report_bytes and outcome.timed_out:
            return Verdict(False, f"not graded: the notebook's total time budget "
                                  f"({total or wall:.0f} s) ran out; look for an endless loop "
                                  "or a far too slow method", ("timeout",)), ()
        if not report_bytes:
            how = (f"was killed by signal {-outcome.returncode}" if outcome.returncode < 0
                   else f"exited with status {outcome.returncode}")
            return Verdict(False, f"the grading process {how} before the grader got its "
                                  "results; does your code exhaust the memory or stop the "
                                  "interpreter?", ("crashed",)), memory
        try:
            report = wire.unpack_report(report_bytes, self.limits.report_mb << 20)
        except wire.WireError as exc:
            return Verdict(False, f"invalid output from the grading process ({quote(str(exc))})",
                           ("invalid-output",)), memory
        if report["status"] == "timeout":
            return Verdict(False, f"stopped after {wall:.0f} s, the time limit of this exercise "
                                  f"({quote(report['detail'])}); look for an endless loop or a "
                                  "far too slow method", ("timeout",)), ()
        if report["status"] == "crashed":
            return Verdict(False, f"your code {report['detail']} before the grader got its "
                                  "results; does it call exit() or crash the interpreter?",
                           ("crashed",)), memory
        if report["status"] != "ok" or report["result"] is None:
            return Verdict(False, f"your code's results are not plain arrays and numbers "
                                  f"({quote(report['detail'])})", ("invalid-output",)), memory
        res = report["result"]
        attempts = [quote(a) if isinstance(a, str) else a for a in res["attempts"]]
        texts = [a for a in res["attempts"] if isinstance(a, str)]
        texts += [res["error"] or ""] + [c["error"] for c in res["cell_errors"]]
        if any(s in t for t in texts for s in _MEMORY_SIGNS):
            memory = ("memory",)
        if res["forbidden_used"]:
            api = quote(res["forbidden_used"][0])
            return Verdict(False, f"calls {api}, which this exercise forbids",
                           ("forbidden-api",)), memory
        if res["error"] is not None:
            verdict = Verdict(False, quote(res["error"]))
        else:
            try:
                verdict = ex.judge(cases, attempts)
            except Exception as exc:  # a value the comparison cannot take (NaN counts...)
                return Verdict(False, "the grader could not judge what your code returned "
                                      f"({type(exc).__name__}: {quote(str(exc))})",
                               ("invalid-output",)), memory
        if not verdict.passed and res["cell_errors"]:
            first = res["cell_errors"][0]
            more = len(res["cell_errors"]) - 1
            note = f"{quote(first['cell'])}: {quote(first['error'])}"
            verdict = Verdict(False, f"{verdict.message}; {note}"
                              + (f" (and {more} more cell error(s))" if more else ""),
                              verdict.flags + ("cell-error",))
        return verdict, memory
