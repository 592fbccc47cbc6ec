"""Grading a whole class: one results file per student and a ``scores.csv``.

``python -m autograder grade-batch SUBMISSIONS/ --out DIR [--workers N]`` finds the students
under ``SUBMISSIONS`` (:func:`discover`), grades each with its own :class:`~.engine.Grader`
(the student id seeds the hidden inputs), writes ``DIR/<student>.json`` atomically, and
rebuilds ``DIR/scores.csv`` from every results file in ``DIR`` (:func:`write_scores`).

Layouts understood (student id in angle brackets):

* a folder of notebooks or zips: ``<student>.ipynb``, ``<student>.zip``;
* a folder per student: ``<student>/**/*.ipynb`` (Gradescope's export:
  ``submission_<id>/...``);
* nbgrader's: ``submitted/<student>/<assignment>/*.ipynb`` (``SUBMISSIONS`` may be the course
  folder or its ``submitted/`` folder).

Resumable: a student whose results file exists and records the same submission hash
(``extra_data.submission_sha256``) is skipped; a changed submission is graded again. A
submission that cannot be graded (unreadable, no known chapter, a crash of the grader) gets a
results file with score 0 and the reason, and the batch goes on.

The reference side once per batch: before grading, this process finds the chapters of the
students to grade and computes each chapter's training-check reference runs into
``DIR/reference/`` (:mod:`.reference`; a verified, current file there from an earlier run is
reused, a tampered or stale one recomputed); every grader, in a thread here or on a Dask
worker, loads them read-only instead of training the reference network again.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from . import reference
from .results import write_atomic, write_text_atomic

#: Largest zip accepted: total uncompressed bytes and number of members.
MAX_ZIP_BYTES = 256 << 20
MAX_ZIP_MEMBERS = 1000
SCORES = "scores.csv"


class UnsafeArchive(ValueError):
    """A zip with absolute or ``..`` paths, links, or too large to unpack."""


@dataclass(frozen=True)
class Submission:
    """One student's submission: a notebook, a zip, or a folder."""

    student: str
    path: Path

    def files(self) -> list[Path]:
        """The submission's files: regular files only (no FIFO, device or link is ever
        opened), checkpoints left out."""
        if self.path.is_dir() and not self.path.is_symlink():
            return sorted(p for p in self.path.rglob("*")
                          if _regular(p) and ".ipynb_checkpoints" not in p.parts)
        return [self.path]

    def sha256(self) -> str:
        """Hash of the submission: relative paths and contents of its files (a file that is
        not a regular one counts by its name only, and is never opened)."""
        h = hashlib.sha256()
        base = self.path if self.path.is_dir() else self.path.parent
        for p in self.files():
            h.update(str(p.relative_to(base)).encode() + b"\0")
            if _regular(p):
                with p.open("rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
            h.update(b"\0")
        return h.hexdigest()


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


# -- safe extraction ---------------------------------------------------------------------------
def _member_path(name: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise UnsafeArchive(f"zip member {name!r} points outside the folder it unpacks into")
    return path


def extract_zip(archive: Path, dest: Path, *, max_bytes: int = MAX_ZIP_BYTES,
                max_members: int = MAX_ZIP_MEMBERS) -> list[Path]:
    """Unpack ``archive`` into ``dest`` after checking every member.

    Refused (:class:`UnsafeArchive`, nothing written): absolute paths, ``..`` components,
    drive letters, symbolic links or other non-regular members, more than ``max_members``
    members or more than ``max_bytes`` uncompressed bytes. Returns the files written.
    """
    dest = Path(dest)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnsafeArchive(f"{archive}: not a readable zip ({exc})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > max_members:
            raise UnsafeArchive(f"{archive}: {len(infos)} members, more than {max_members}")
        total = 0
        plan: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
        for info in infos:
            path = _member_path(info.filename)
            kind = stat.S_IFMT(info.external_attr >> 16)  # 0: no type recorded, a plain file
            if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise UnsafeArchive(f"zip member {info.filename!r} is a link or a special file")
            total += info.file_size
            if total > max_bytes:
                raise UnsafeArchive(f"{archive}: unpacks to more than {max_bytes} bytes")
            plan.append((info, path))
        written = []
        for info, path in plan:
            target = dest.joinpath(*path.parts)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "xb") as out:
                copied = shutil.copyfileobj(src, out, 1 << 20) or out.tell()
            if copied > info.file_size:  # a lying header
                raise UnsafeArchive(f"zip member {info.filename!r} is larger than it says")
            written.append(target)
    return written


# -- finding the students ----------------------------------------------------------------------
def _student_id(name: str) -> str:
    sid = name.strip()
    if not sid or sid.startswith(".") or "/" in sid or "\\" in sid:
        raise ValueError(f"cannot use {name!r} as a student id")
    return sid


def discover(root: Path) -> list[Submission]:
    """The submissions under ``root`` (see the module's docstring), sorted by student id."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"submissions: {root} is not a folder")
    if (root / "submitted").is_dir() and not any(root.glob("*.ipynb")):
        root = root / "submitted"  # an nbgrader course folder
    found: dict[str, Submission] = {}
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or entry.is_symlink():
            continue
        if entry.is_dir():
            sub = Submission(_student_id(entry.name), entry)
        elif entry.suffix in (".ipynb", ".zip"):
            sub = Submission(_student_id(entry.stem), entry)
        else:
            continue  # metadata files beside the submissions (submission_metadata.yml ...)
        if sub.student in found:
            raise ValueError(f"student {sub.student!r} has two submissions: "
                             f"{found[sub.student].path.name} and {entry.name}")
        found[sub.student] = sub
    return [found[k] for k in sorted(found)]


# -- grading -----------------------------------------------------------------------------------
GraderFactory = Callable[[str], Any]  # student id -> an object with .grade(path) -> Results


def error_results(student: str, reason: str) -> dict[str, Any]:
    """The results file of a submission that could not be graded: score 0 and the reason."""
    return {"score": 0.0, "max_score": 0.0, "execution_time": 0,
            "output": f"This submission could not be graded: {reason}", "tests": [],
            "extra_data": {"student": student, "error": reason, "chapters": []}}


def _unpacked(sub: Submission, stack: contextlib.ExitStack) -> Path:
    """The path to grade: the submission's, or the folder its zip unpacks into (removed when
    ``stack`` closes)."""
    path = sub.path
    if path.suffix == ".zip" and path.is_file():
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="convlab-zip-")))
        extract_zip(path, tmp)
        path = tmp
    return path


def prepare_references(subs: Iterable[Submission], folder: Path,
                       make_grader: GraderFactory) -> dict[str, str]:
    """Compute, here, the reference runs of every chapter the submissions hold into ``folder``
    (:meth:`~.engine.Grader.prepare_reference`): chapter → ``"computed"``, ``"reused"``,
    ``"none"`` (no training check) or ``"failed: <reason>"`` (the judges then compute their
    own). Submissions are only read, as the graders read them; a factory whose graders cannot
    prepare references gives ``{}``."""
    grader = make_grader("anonymous")
    if not hasattr(grader, "prepare_reference"):
        return {}
    chapters: dict[str, tuple[Any, tuple]] = {}
    for sub in subs:
        with contextlib.ExitStack() as stack:
            try:
                found = grader.submissions(_unpacked(sub, stack))
            except Exception:  # its grading reports what is wrong with it
                continue
            for _, _, ch, exercises in found:
                chapters.setdefault(ch.id, (ch, exercises))
    statuses = {}
    for cid, (ch, exercises) in sorted(chapters.items()):
        try:
            statuses[cid] = grader.prepare_reference(folder, ch, exercises)
        except Exception as exc:  # the judges compute (and report) their own
            statuses[cid] = f"failed: {type(exc).__name__}: {exc}"
    return statuses


def grade_one(sub: Submission, make_grader: GraderFactory,
              shared_reference: Path | None = None) -> dict[str, Any]:
    """Grade one submission; never raises for the submission's faults. ``shared_reference``:
    the batch's reference folder (:func:`prepare_references`), handed to the grader."""
    with contextlib.ExitStack() as stack:
        path = sub.path
        try:
            path = _unpacked(sub, stack)
            grader = make_grader(sub.student)
            if shared_reference is not None and hasattr(grader, "shared_reference"):
                grader.shared_reference = shared_reference
            data = grader.grade(path).as_json()
        except Exception as exc:  # one bad submission never stops the batch
            reason = str(exc).replace(str(path), sub.path.name) or type(exc).__name__
            data = error_results(sub.student, reason)
    data["extra_data"]["student"] = sub.student
    data["extra_data"]["submission"] = sub.path.name
    return data


def _recorded_hash(path: Path) -> str | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data["extra_data"]["submission_sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclass
class BatchReport:
    graded: list[str]
    skipped: list[str]
    failed: list[str]
    #: chapter → how its reference runs were had (:func:`prepare_references`)
    reference: dict[str, str] = field(default_factory=dict)


def grade_batch(root: Path, out: Path, make_grader: GraderFactory, *, workers: int = 1,
                progress: bool = True,
                on_done: Callable[[str, dict], None] | None = None,
                executor: Executor | None = None,
                shared_reference: bool = True) -> BatchReport:
    """Grade every submission under ``root`` into ``out`` (see the module's docstring).

    ``make_grader(student)`` builds the grader of one student; ``workers`` students are graded
    at once. ``on_done(student, results)`` is called after each results file is written.
    ``executor`` runs ``grade_one`` elsewhere (a Dask cluster: :mod:`.distributed`) instead of
    a pool of ``workers`` threads here; results files are written here either way. A student
    whose grading was lost by the executor (a worker killed every time it was tried) gets no
    results file, is listed in ``failed``, and is graded by the next run.
    ``shared_reference``: compute the training checks' reference runs once, here, into
    ``out/reference/`` and have every grader load them (:func:`prepare_references`); without
    it each grading process computes its own.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    out = Path(out)
    if not out.is_dir():
        raise ValueError(f"--out: folder {out} does not exist")
    subs = discover(root)
    todo, skipped = [], []
    for sub in subs:
        digest = sub.sha256()
        if _recorded_hash(out / f"{sub.student}.json") == digest:
            skipped.append(sub.student)
        else:
            todo.append((sub, digest))
    report = BatchReport([], skipped, [])
    folder = None
    if shared_reference and todo:
        folder = out / reference.FOLDER
        report.reference = prepare_references([sub for sub, _ in todo], folder, make_grader)

    from tqdm.auto import tqdm

    bar = tqdm(total=len(subs), initial=len(skipped), desc="grading", unit="student",
               disable=not progress)
    try:
        with contextlib.ExitStack() as stack:
            pool = executor or stack.enter_context(ThreadPoolExecutor(max_workers=workers))
            futures = {pool.submit(grade_one, sub, make_grader, folder): (sub, digest)
                       for sub, digest in todo}
            for fut in as_completed(futures):
                sub, digest = futures[fut]
                try:
                    data = fut.result()
                except Exception:  # lost by the executor, never the submission's fault
                    report.failed.append(sub.student)
                    bar.update(1)
                    continue
                data["extra_data"]["submission_sha256"] = digest
                write_atomic(out / f"{sub.student}.json", data)
                (report.failed if "error" in data["extra_data"] else report.graded).append(
                    sub.student)
                bar.update(1)
                bar.set_postfix_str(sub.student)
                if on_done is not None:
                    on_done(sub.student, data)
    finally:
        bar.close()
        write_scores(out)
    return report


# -- scores.csv --------------------------------------------------------------------------------
def _exercise_key(test: Any) -> str | None:
    """The exercise key a test entry records in ``extra_data.key`` (never parsed from its
    display name); ``None`` when it records none."""
    extra = test.get("extra_data") if isinstance(test, dict) else None
    key = extra.get("key") if isinstance(extra, dict) else None
    return key if isinstance(key, str) and "." in key else None


def score_rows(results: Iterable[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """``(columns, rows)`` of the scores table: one row per student and chapter."""
    keys: list[str] = []
    rows: list[dict[str, Any]] = []
    for data in results:
        extra = data.get("extra_data", {})
        student = extra.get("student", "")
        by_chapter: dict[str, dict[str, Any]] = {}
        unkeyed = False
        for t in data.get("tests", []):
            key = _exercise_key(t)
            if key is None:
                unkeyed = True
                continue
            chapter = key.split(".", 1)[0]
            row = by_chapter.setdefault(chapter, {"student": student, "chapter": chapter,
                                                  "total": 0.0, "max_total": 0.0, "error": ""})
            row[key] = float(t["score"])
            row["total"] += float(t["score"])
            row["max_total"] += float(t["max_score"])
            if key not in keys:
                keys.append(key)
        if not by_chapter:
            error = extra.get("error") or (
                "a test records no exercise key (extra_data.key)" if unkeyed else "no tests")
            by_chapter[""] = {"student": student, "chapter": "", "total": 0.0,
                              "max_total": 0.0 if unkeyed else float(data.get("max_score", 0.0)),
                              "error": error}
        rows += list(by_chapter.values())
    rows.sort(key=lambda r: (r["student"], r["chapter"]))
    return ["student", "chapter", *keys, "total", "max_total", "error"], rows


def write_scores(out: Path) -> Path:
    """Rebuild ``out/scores.csv`` from the results files ``out/*.json`` (atomically)."""
    out = Path(out)
    results = []
    for p in sorted(out.glob("*.json")):
        try:
            results.append(json.loads(p.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    columns, rows = score_rows(results)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:g}" if isinstance(v, float) else v) for k, v in row.items()})
    target = out / SCORES
    write_text_atomic(target, buf.getvalue())
    return target
