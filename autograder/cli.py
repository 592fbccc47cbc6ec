"""The command line.

``python -m autograder grade PATH --out results.json [--source notebooks/]
[--secret-file F] [--student ID] [--insecure] [--device cpu|cuda] [limits...]``

``grade-batch SUBMISSIONS --out DIR [--workers N] [--scheduler local|ADDRESS]`` (:mod:`.batch`,
:mod:`.distributed`), ``gradescope-bundle
--out autograder.zip`` and ``gradescope-run`` (:mod:`.gradescope`), ``nbgrader-import
RESULTS... --course DIR --assignment ch01`` (:mod:`.gradebook`).

Exit status: 0 when grading completed (whatever the score); 2 when the submission cannot be
graded (missing, not a notebook, no known chapter) or an argument is wrong; 3 when no sandbox
is available and ``--insecure`` was not given. On any error no results file is written.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from .engine import ChapterError, Grader, default_source_dir, load_secret
from .notebook import SubmissionError
from .results import VISIBILITIES, write_atomic
from .sandbox import Limits, SandboxUnavailable

EXIT_OK, EXIT_INPUT, EXIT_NO_SANDBOX = 0, 2, 3


def _positive(kind: type) -> object:
    def parse(text: str) -> object:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autograder",
                                     description="ConvLab's grading engine.")
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade one notebook or a folder of notebooks")
    g.add_argument("path", type=Path, help="a submitted notebook, or a folder of them")
    g.add_argument("--out", type=Path, required=True, help="results file (Gradescope schema)")
    g.add_argument("--student", default="anonymous", help="student id; seeds the hidden inputs")
    _grading_options(g)
    b = sub.add_parser("grade-batch", help="grade a folder of submissions, one per student")
    b.add_argument("path", type=Path, help="notebooks or zips named after the students, a "
                   "folder per student, or an nbgrader course's submitted/ folder")
    b.add_argument("--out", type=Path, required=True,
                   help="folder for <student>.json and scores.csv")
    b.add_argument("--workers", type=_positive(int), default=1,
                   help="students graded at once (default 1); with --scheduler local, the "
                   "local cluster's worker processes")
    b.add_argument("--scheduler", default=None,
                   help="grade on a Dask cluster: 'local' (a cluster of --workers processes "
                   "on 127.0.0.1) or a scheduler address such as tcp://host:8786")
    _grading_options(b)
    z = sub.add_parser("gradescope-bundle", help="write Gradescope's autograder zip")
    z.add_argument("--out", type=Path, required=True, help="the zip to write")
    z.add_argument("--source", type=Path, default=None, help="instructor source notebooks")
    z.add_argument("--secret-file", type=Path, default=None, help="course secret")
    z.add_argument("--chapters", default=None,
                   help="comma-separated chapter ids (default: all with a source notebook)")
    z.add_argument("--insecure", action="store_true",
                   help="grade without bubblewrap inside Gradescope's container")
    z.add_argument("--visibility", choices=VISIBILITIES, default="visible")
    r = sub.add_parser("gradescope-run", help="grade inside Gradescope (run_autograder)")
    r.add_argument("--root", type=Path, default=None,
                   help="Gradescope's folder (default: $GRADESCOPE_ROOT, else /autograder)")
    n = sub.add_parser("nbgrader-import",
                       help="write results files into an nbgrader course's gradebook")
    n.add_argument("results", type=Path, nargs="+", help="results files (grade, grade-batch)")
    n.add_argument("--course", type=Path, default=Path("."),
                   help="nbgrader course folder holding gradebook.db (default: .)")
    n.add_argument("--assignment", required=True, help="nbgrader assignment name")
    return parser


def _grading_options(g: argparse.ArgumentParser) -> None:
    g.add_argument("--source", type=Path, default=None,
                   help="instructor source notebooks (default: $CONVLAB_SOURCE, else the "
                        "repository's notebooks/)")
    g.add_argument("--secret-file", type=Path, default=None,
                   help="course secret (default: $CONVLAB_COURSE_SECRET, else "
                        "~/.config/convlab/course-secret, created once)")
    g.add_argument("--insecure", action="store_true",
                   help="run workers without bubblewrap (resource limits only)")
    g.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    g.add_argument("--visibility", choices=VISIBILITIES, default="visible",
                   help="Gradescope visibility of each test")
    d = Limits()
    lim = g.add_argument_group("limits (per exercise unless said)")
    lim.add_argument("--wall", type=_positive(float), default=d.wall_s,
                     help="wall-clock seconds (default: the exercise's budget + --startup)")
    lim.add_argument("--total", type=_positive(float), default=d.total_s,
                     help="wall-clock seconds for a whole notebook (default: --startup plus "
                          "the sum of its exercises' limits)")
    lim.add_argument("--startup", type=_positive(float), default=d.startup_s,
                     help=f"seconds allowed for start-up and setup cells (default {d.startup_s:g})")
    lim.add_argument("--memory-mb", type=_positive(int), default=d.memory_mb,
                     help=f"address-space limit in MiB, CPU only (default {d.memory_mb})")
    lim.add_argument("--cpu-s", type=_positive(int), default=d.cpu_s,
                     help=f"CPU seconds (default {d.cpu_s})")
    lim.add_argument("--file-size-mb", type=_positive(int), default=d.file_size_mb,
                     help=f"largest file written, MiB (default {d.file_size_mb})")
    lim.add_argument("--output-bytes", type=_positive(int), default=d.output_bytes,
                     help=f"stdout/stderr bytes kept (default {d.output_bytes})")
    lim.add_argument("--threads", type=_positive(int), default=d.threads,
                     help=f"threads per worker (default {d.threads})")


def _error(message: str, code: int) -> int:
    print(f"autograder: error: {message}", file=sys.stderr)
    return code


def _limits(args: argparse.Namespace) -> Limits:
    return Limits(wall_s=args.wall, total_s=args.total, startup_s=args.startup,
                  memory_mb=args.memory_mb,
                  cpu_s=args.cpu_s, file_size_mb=args.file_size_mb,
                  output_bytes=args.output_bytes, threads=args.threads)


def grade(args: argparse.Namespace) -> int:
    limits = _limits(args)
    if not args.out.parent.resolve().is_dir():
        return _error(f"--out: folder {args.out.parent} does not exist", EXIT_INPUT)
    try:
        secret = load_secret(args.secret_file)
        grader = Grader(source_dir=args.source or default_source_dir(), secret=secret,
                        student=args.student, limits=limits, insecure=args.insecure,
                        device=args.device, visibility=args.visibility)
        results = grader.grade(args.path)
    except SandboxUnavailable as exc:
        return _error(str(exc), EXIT_NO_SANDBOX)
    except (SubmissionError, ValueError, OSError, ChapterError) as exc:
        return _error(str(exc), EXIT_INPUT)
    write_atomic(args.out, results.as_json())
    print(f"{results.output} -> {args.out}")
    return EXIT_OK


def grade_batch(args: argparse.Namespace) -> int:
    from .batch import grade_batch as run_batch

    limits = _limits(args)
    try:
        secret = load_secret(args.secret_file)
        source = args.source or default_source_dir()

        def make_grader(student: str) -> Grader:
            return Grader(source_dir=source, secret=secret, student=student, limits=limits,
                          insecure=args.insecure, device=args.device,
                          visibility=args.visibility)

        make_grader("anonymous")  # a missing sandbox stops the batch before it starts
        with contextlib.ExitStack() as stack:
            executor = None
            if args.scheduler is not None:
                from .distributed import dask_executor

                executor = stack.enter_context(dask_executor(args.scheduler,
                                                             workers=args.workers))
            report = run_batch(args.path, args.out, make_grader, workers=args.workers,
                               progress=sys.stderr.isatty(), executor=executor)
    except SandboxUnavailable as exc:
        return _error(str(exc), EXIT_NO_SANDBOX)
    except (ValueError, OSError) as exc:
        return _error(str(exc), EXIT_INPUT)
    refs = ", ".join(f"{ch} {how}" for ch, how in report.reference.items() if how != "none")
    print(f"graded {len(report.graded)}, could not grade {len(report.failed)}, unchanged "
          f"{len(report.skipped)} -> {args.out / 'scores.csv'}"
          + (f"; reference runs: {refs}" if refs else ""))
    return EXIT_OK


def gradescope_bundle(args: argparse.Namespace) -> int:
    from .gradescope import build_bundle

    try:
        chapters = args.chapters.split(",") if args.chapters else None
        out = build_bundle(args.out, source_dir=args.source or default_source_dir(),
                           secret=load_secret(args.secret_file), chapters=chapters,
                           insecure=args.insecure, visibility=args.visibility)
    except (ValueError, OSError) as exc:
        return _error(str(exc), EXIT_INPUT)
    print(f"-> {out}")
    return EXIT_OK


def gradescope_run(args: argparse.Namespace) -> int:
    import os

    from .gradescope import run

    root = args.root or Path(os.environ.get("GRADESCOPE_ROOT", "/autograder"))
    data = run(root)
    print(data["output"])
    return EXIT_OK


def nbgrader_import(args: argparse.Namespace) -> int:
    import json

    from .gradebook import GradebookError, import_results

    for path in args.results:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            written = import_results(args.course, args.assignment, data)
        except (GradebookError, ValueError, OSError) as exc:
            return _error(f"{path}: {exc}", EXIT_INPUT)
        print(f"{path}: {sum(written.values()):g} points in {len(written)} grade cells")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = {"grade": grade, "grade-batch": grade_batch,
                "gradescope-bundle": gradescope_bundle, "gradescope-run": gradescope_run,
                "nbgrader-import": nbgrader_import}
    if args.command in commands:
        return commands[args.command](args)
    return _error(f"unknown command {args.command!r}", EXIT_INPUT)
