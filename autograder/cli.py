"""The command line.

``python -m autograder grade PATH --out results.json [--source notebooks/]
[--secret-file F] [--student ID] [--insecure] [--device cpu|cuda] [limits...]``

Exit status: 0 when grading completed (whatever the score); 2 when the submission cannot be
graded (missing, not a notebook, no known chapter) or an argument is wrong; 3 when no sandbox
is available and ``--insecure`` was not given. On any error no results file is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .engine import Grader, default_source_dir, load_secret
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
    g.add_argument("--source", type=Path, default=None,
                   help="instructor source notebooks (default: $CONVLAB_SOURCE, else the "
                        "repository's notebooks/)")
    g.add_argument("--secret-file", type=Path, default=None,
                   help="course secret (default: $CONVLAB_COURSE_SECRET, else "
                        "~/.config/convlab/course-secret, created once)")
    g.add_argument("--student", default="anonymous", help="student id; seeds the hidden inputs")
    g.add_argument("--insecure", action="store_true",
                   help="run workers without bubblewrap (resource limits only)")
    g.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    g.add_argument("--visibility", choices=VISIBILITIES, default="visible",
                   help="Gradescope visibility of each test")
    d = Limits()
    lim = g.add_argument_group("limits (per exercise)")
    lim.add_argument("--wall", type=_positive(float), default=d.wall_s,
                     help="wall-clock seconds (default: the exercise's budget + --startup)")
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
    return parser


def _error(message: str, code: int) -> int:
    print(f"autograder: error: {message}", file=sys.stderr)
    return code


def grade(args: argparse.Namespace) -> int:
    limits = Limits(wall_s=args.wall, startup_s=args.startup, memory_mb=args.memory_mb,
                    cpu_s=args.cpu_s, file_size_mb=args.file_size_mb,
                    output_bytes=args.output_bytes, threads=args.threads)
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
    except (SubmissionError, ValueError, OSError) as exc:
        return _error(str(exc), EXIT_INPUT)
    write_atomic(args.out, results.as_json())
    print(f"{results.output} -> {args.out}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "grade":
        return grade(args)
    return _error(f"unknown command {args.command!r}", EXIT_INPUT)
