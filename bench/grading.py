"""Time the grading of each chapter's instructor source notebook as ``python -m autograder
grade`` grades today: one sandboxed worker per notebook whose trusted parent imports torch and
the chapter once and forks a fresh child per exercise; verdicts in the grader's process.

Per chapter: the seconds per submission and per exercise (the submission's time over its
exercises, start-up included), with the training checks' reference run shared — computed first,
once, as ``grade-batch`` does (:mod:`autograder.reference`) — and that run's own time beside.
Chapter 1 is graded :data:`CH01_REPEATS` times per mode and the median reported; and where
its time goes: the worker's start-up (bubblewrap, the interpreter, torch, the chapter module: a
further worker whose first job is empty), each exercise's child (the time between two reports
of that worker), the grader's own work (static analysis and packing, the judges), and the
reference run.

The table is printed with the machine and written to ``_build/bench/grading.json``.

Usage: ``python -m bench.grading [--device cpu|cuda] [--quick] [--chapters ch01,ch02]``
(``--quick``: chapter 1 only, in the sandbox only).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from autograder import reference, sandbox, wire
from autograder.engine import Grader, default_source_dir
from convlab.exercises import training
from convlab.exercises.registry import CHAPTERS, chapter

DEFAULT_OUT = Path("_build/bench/grading.json")
#: A fixed secret, so every run draws the same hidden inputs.
BENCH_SECRET = b"convlab-bench-grading"
#: Issue 12's figures for today's grading of chapter 1 (2 cores): per student, in the sandbox
#: and with ``--insecure``, and per exercise (five of its six exercises, start-up included).
TODAY = {("ch01", "sandbox"): "19.7 s", ("ch01", "insecure"): "12.8 s",
         ("ch01", "exercise"): "~2 s (5 of 6)"}
#: Issue 12's target: a chapter 1 submission in a third of today's time, sandbox on.
TARGET_CH01_S = 19.7 / 3
#: Gradings of chapter 1 per mode, whose median is reported (a shared machine is noisy).
CH01_REPEATS = 3


@dataclasses.dataclass
class TimedGrader(Grader):
    """A :class:`Grader` that records where its time goes: the static analysis and packing
    (``prepare_s``) and the judge (``judge_s``) of each exercise, and the sandbox's outcomes
    (their ``report_times``)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.prepare_s: dict[str, float] = {}
        self.judge_s: dict[str, float] = {}
        self.outcomes: list[sandbox.Outcome] = []
        run_many = self.sandbox.run_many

        def timed_run_many(*args: Any, **kwargs: Any) -> sandbox.Outcome:
            outcome = run_many(*args, **kwargs)
            self.outcomes.append(outcome)
            return outcome

        self.sandbox.run_many = timed_run_many  # type: ignore[method-assign]

    def _prepare(self, ex: Any, *args: Any) -> Any:
        start = time.perf_counter()
        try:
            return super()._prepare(ex, *args)
        finally:
            self.prepare_s[ex.key] = time.perf_counter() - start

    def _verdict(self, ex: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return super()._verdict(ex, *args, **kwargs)
        finally:
            self.judge_s[ex.key] = time.perf_counter() - start


def chapters_with_notebooks() -> list[str]:
    """The chapters whose instructor source notebook exists."""
    src = default_source_dir()
    return [cid for cid, ch in sorted(CHAPTERS.items()) if (src / cid / ch.notebook).is_file()]


def worker_times(grader: Grader, ch: Any, exercises: tuple, path: Path) -> dict[str, Any]:
    """One more sandboxed worker on the notebook's jobs, led by an empty job (no cells, no
    cases): the arrival of its report is the worker's start-up (bubblewrap, the interpreter,
    torch, the chapter module, one fork), and the gap between two later reports one exercise's
    child (its cells and its cases)."""
    (_, nb, _, _), = grader.submissions(path)
    source = grader.source_notebook(ch)
    jobs, keys = [], []
    for ex in exercises:
        prepared = grader._prepare(ex, ch, source, nb)
        if isinstance(prepared, tuple):
            jobs.append((prepared[1], prepared[2]))
            keys.append(ex.key)
    empty = wire.pack_job(cells=[], module=ch.module, exercise=exercises[0].name, cases=[],
                          device=grader.device)
    total = grader.limits.total_for([wall for _, wall in jobs])
    with tempfile.TemporaryDirectory(prefix="convlab-bench-") as tmp:
        outcome = grader.sandbox.run_many([(empty, 60.0), *jobs], total, Path(tmp))
    marks = outcome.report_times
    return {"startup_s": marks[0] if marks else outcome.wall_s,
            "child_s": {k: marks[i + 1] - marks[i] for i, k in enumerate(keys)
                        if i + 1 < len(marks)},
            "worker_s": outcome.wall_s}


def time_chapter(cid: str, *, insecure: bool = False, device: str = "cpu",
                 breakdown: bool = False, repeats: int = 1) -> dict[str, Any]:
    """Grade ``cid``'s instructor notebook ``repeats`` times (the reference runs computed
    first, once, as a batch does); the median grading's seconds, its score and, with
    ``breakdown``, where the time went."""
    ch = chapter(cid)
    path = default_source_dir() / ch.id / ch.notebook
    grader = TimedGrader(source_dir=default_source_dir(), secret=BENCH_SECRET,
                         student="bench", insecure=insecure, device=device)
    (_, _, _, exercises), = grader.submissions(path)
    training.reference_run.cache_clear()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="convlab-bench-ref-") as tmp:
        status = grader.prepare_reference(Path(tmp), ch, exercises)
        ref_s = time.perf_counter() - start
        grader.shared_reference = Path(tmp)
        runs = []
        for _ in range(max(repeats, 1)):
            start = time.perf_counter()
            results = grader.grade(path)
            seconds = time.perf_counter() - start
            outcome = grader.outcomes[-1] if grader.outcomes else None
            runs.append((seconds, results, dict(grader.prepare_s), dict(grader.judge_s),
                         outcome.wall_s if outcome is not None else 0.0))
    runs.sort(key=lambda run: run[0])
    seconds, results, prepare_s, judge_s, sandbox_s = runs[len(runs) // 2]  # the median
    row: dict[str, Any] = {
        "chapter": cid, "mode": "insecure" if insecure else "sandbox",
        "exercises": len(exercises), "seconds": seconds, "repeats": len(runs),
        "all_seconds": [run[0] for run in runs],
        "s_per_exercise": seconds / max(len(exercises), 1),
        "reference_s": ref_s if status == "computed" else 0.0,
        "training_checks": sum(reference.shares_reference(e) for e in exercises),
        "score": results.score, "max_score": results.max_score,
        "prepare_s": prepare_s, "judge_s": judge_s, "sandbox_s": sandbox_s,
    }
    if breakdown:
        row.update(worker_times(grader, ch, exercises, path))
    return row


def _machine(device: str) -> dict:
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch": torch.__version__, "device": device,
            "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None,
            "bwrap": sandbox.bwrap_path()}


def table_rows(*, device: str = "cpu", quick: bool = False,
               chapters: list[str] | None = None) -> list[dict[str, Any]]:
    """The grading rows of ``python -m bench``'s table (see the module's docstring)."""
    chapters = chapters or (["ch01"] if quick else chapters_with_notebooks())
    insecure = sandbox.bwrap_path() is None
    mode = "--insecure: no bubblewrap here" if insecure else "sandbox"
    section = "grading one submission (today's path: fork per exercise)"
    rows: list[dict[str, Any]] = []
    breakdown: list[dict[str, Any]] = []  # after the chapters' rows: a section of its own
    for cid in chapters:
        try:
            r = time_chapter(cid, insecure=insecure, device=device, breakdown=cid == "ch01",
                             repeats=1 if quick or cid != "ch01" else CH01_REPEATS)
        except Exception as exc:  # a chapter being rewritten: say so, time the others
            rows.append({"section": section, "measure": f"{cid}: s per submission ({mode})",
                         "value": f"error: {type(exc).__name__}: {str(exc)[:60]}",
                         "today": "—", "target": "—"})
            continue
        score = f"{r['score']:g}/{r['max_score']:g} points" + (
            f"; median of {r['repeats']}" if r["repeats"] > 1 else "")
        rows.append({"section": section,
                     "measure": f"{cid}: s per submission ({mode}; {r['exercises']} exercises, "
                                f"{score}; reference shared)",
                     "value": f"{r['seconds']:.1f} s", "raw": r["seconds"],
                     "today": TODAY.get((cid, "sandbox"), "—") if not insecure else "—",
                     "target": f"≤ {TARGET_CH01_S:.1f} s" if cid == "ch01" else "—"})
        rows.append({"section": section, "measure": f"{cid}: s per exercise (mean, start-up "
                                                    f"included)",
                     "value": f"{r['s_per_exercise']:.2f} s", "raw": r["s_per_exercise"],
                     "today": TODAY.get((cid, "exercise"), "—"), "target": "—"})
        if r["training_checks"]:
            rows.append({"section": section,
                         "measure": f"{cid}: reference run of the training check (once per "
                                    "batch, not per submission)",
                         "value": f"{r['reference_s']:.1f} s", "raw": r["reference_s"],
                         "today": "—", "target": "—"})
        if "startup_s" in r:
            breakdown += _breakdown_rows(r)
    if not quick and not insecure and "ch01" in chapters:
        try:
            r = time_chapter("ch01", insecure=True, device=device, repeats=CH01_REPEATS)
            rows.append({"section": section, "measure": "ch01: s per submission (--insecure; "
                                                        f"reference shared; median of "
                                                        f"{r['repeats']})",
                         "value": f"{r['seconds']:.1f} s", "raw": r["seconds"],
                         "today": TODAY[("ch01", "insecure")], "target": "—"})
        except Exception as exc:
            rows.append({"section": section, "measure": "ch01: s per submission (--insecure)",
                         "value": f"error: {type(exc).__name__}", "today": "—", "target": "—"})
    return rows + breakdown


def _breakdown_rows(r: dict[str, Any]) -> list[dict[str, Any]]:
    section = f"where the time of one {r['chapter']} submission goes"
    rows = [{"section": section, "measure": "worker start-up (bubblewrap, Python, torch, "
                                            "chapter module; once per notebook; a second "
                                            "worker, led by an empty job)",
             "value": f"{r['startup_s']:.2f} s", "raw": r["startup_s"], "today": "—",
             "target": "—"}]
    for key, s in r["child_s"].items():
        rows.append({"section": section, "measure": f"{key}: its child (cells + cases)",
                     "value": f"{s:.2f} s", "raw": s, "today": "—", "target": "—"})
    judge, prep = sum(r["judge_s"].values()), sum(r["prepare_s"].values())
    heavy = max(r["judge_s"], key=r["judge_s"].get) if r["judge_s"] else "-"
    rows.append({"section": section, "measure": f"judges in the grader's process (all; "
                                                f"largest {heavy})",
                 "value": f"{judge:.2f} s", "raw": judge, "today": "—", "target": "—"})
    rows.append({"section": section, "measure": "static analysis and packing (all exercises)",
                 "value": f"{prep:.2f} s", "raw": prep, "today": "—", "target": "—"})
    rest = r["seconds"] - r["sandbox_s"] - judge - prep
    rows.append({"section": section, "measure": "the rest (reading notebooks, loading the "
                                                "shared reference, results)",
                 "value": f"{rest:.2f} s", "raw": rest, "today": "—", "target": "—"})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.grading", description=__doc__)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--quick", action="store_true", help="chapter 1, sandbox only")
    parser.add_argument("--chapters", default=None, help="comma-separated chapter ids")
    parser.add_argument("--grading-out", type=Path, default=DEFAULT_OUT)
    args, _ = parser.parse_known_args(argv)  # python -m bench passes the others' options
    chapters = args.chapters.split(",") if args.chapters else None
    rows = table_rows(device=args.device, quick=args.quick, chapters=chapters)
    print(f"grading (fork per exercise), {_machine(args.device)}")
    for r in rows:
        print(f"{r['measure']:<90} {r['value']:>12}  today {r['today']}")
    args.grading_out.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        args.grading_out.write_text(json.dumps(
            {"machine": _machine(args.device), "rows": rows}, indent=2) + "\n")
    print(f"written to {args.grading_out}")


if __name__ == "__main__":
    main()
