"""``python -m bench [--quick] [--sections ops,grading,batch,dask] [--device cpu|cuda]``: ONE
table of everything issue 12 measures, in one run on one machine.

Sections, in this order (``--sections`` picks some):

* ``ops`` — convlab's operators against PyTorch's, forward and forward + backward, as ratios
  of time (:func:`bench.ops.table_rows`: the three dense 3×3 layers at N=8, grouped g=32,
  depthwise, the transposed convolution);
* ``grading`` — the seconds per submission and per exercise of each chapter with a notebook,
  sandbox on, as ``python -m autograder grade`` grades today (one worker per notebook, a fork
  per exercise), the training checks' reference run beside, and for chapter 1 where the time
  goes (:func:`bench.grading.table_rows`);
* ``batch`` — ``grade-batch``'s students per minute with 1 and 2 workers
  (:func:`bench.batch.table_rows`);
* ``dask`` — the same on a local Dask cluster of 2 worker processes.

Each row stands beside today's figure as issue 12 states it ("—" where it states none) and the
target. The table is printed as Markdown and written to ``_build/bench/table.md`` (and
``table.json``), headed by the machine and its load average before and after the run (the
machine may be shared: the load says how much). ``--quick``: a smoke run — 2 repeats per
operator, chapter 1 only, 2 students without the training check — for checking the table's
shape, not for its numbers.

``python -m bench.ops``, ``bench.grading`` and ``bench.batch`` still run one section alone with
its own, more detailed table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

SECTIONS = ("ops", "grading", "batch", "dask")
DEFAULT_DIR = Path("_build/bench")
COLUMNS = ("measure", "measured", "today (issue 12)", "target")


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def collect(sections: tuple[str, ...], *, quick: bool = False, device: str = "cpu",
            students: int | None = None) -> list[dict[str, Any]]:
    """The table's rows, section by section."""
    rows: list[dict[str, Any]] = []
    if "ops" in sections:
        from bench import ops

        rows += ops.table_rows(device=device, quick=quick)
    if "grading" in sections:
        from bench import grading

        rows += grading.table_rows(device=device, quick=quick)
    if "batch" in sections or "dask" in sections:
        from bench import batch

        workers = (1, 2) if "batch" in sections else ()
        rows += batch.table_rows(device=device, quick=quick, students=students,
                                 workers=workers, dask="dask" in sections)
    return rows


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def format_table(rows: list[dict[str, Any]], header: list[str]) -> str:
    """Markdown: the header lines, then one table whose rows are grouped by section (a bold
    row names each section)."""
    lines = [*header, "", "| " + " | ".join(COLUMNS) + " |",
             "|" + "|".join(["---"] + ["---:"] + ["---"] * (len(COLUMNS) - 2)) + "|"]
    section = None
    for r in rows:
        if r["section"] != section:
            section = r["section"]
            lines.append(f"| **{_cell(section)}** |  |  |  |")
        lines.append("| " + " | ".join(_cell(r[k]) for k in ("measure", "value", "today",
                                                               "target")) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(prog="python -m bench",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (see above)")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated, of {', '.join(SECTIONS)} (default: all)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--students", type=int, default=None,
                        help="students per batch (default 8; 2 with --quick)")
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_DIR,
                        help="where table.md and table.json go (default _build/bench)")
    args = parser.parse_args(argv)
    sections = tuple(s.strip() for s in args.sections.split(",") if s.strip())
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown or not sections:
        parser.error(f"--sections: unknown {', '.join(unknown) or '(none given)'}; "
                     f"choose from {', '.join(SECTIONS)}")
    if args.students is not None and args.students < 1:
        parser.error("--students must be at least 1")
    import torch

    load_before, start = _load(), time.perf_counter()
    rows = collect(sections, quick=args.quick, device=args.device, students=args.students)
    minutes = (time.perf_counter() - start) / 60
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = [
        f"# ConvLab bench{' (--quick: a smoke run, not for its numbers)' if args.quick else ''}",
        "",
        f"{when}; {_cpu()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, device {args.device}; load average "
        f"{load_before} before and {_load()} after ({minutes:.1f} min); sections "
        f"{', '.join(sections)}.",
        "",
        "Today's figures are issue 12's (2 cores, before this work); it gives one range per "
        "kind of operator layer without saying which pass, and \"—\" marks a figure it does "
        "not give.",
    ]
    text = format_table(rows, header)
    print(text, end="")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "table.md").write_text(text, encoding="utf-8")
    (args.out_dir / "table.json").write_text(json.dumps(
        {"when": when, "sections": list(sections), "quick": args.quick, "rows": rows},
        indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwritten to {args.out_dir / 'table.md'}")
    return text


if __name__ == "__main__":
    main()
