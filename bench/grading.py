"""Time the grading of chapter 1's instructor source notebook, in the sandbox and without it.

Each exercise is graded once per mode (one worker process each, as ``python -m autograder
grade`` does), and its wall time is recorded: the worker's start-up (interpreter, torch,
convlab, the notebook's setup cells), the student's code on the cases, and the grader's judge
(for the training check: the reference re-trained in the grader's process). The sandbox's
cost is the difference between the two columns.

The table is printed with the machine and written to ``_build/bench/grading.json``.

Usage: ``python -m bench.grading [--device cpu|cuda] [--quick]`` (``--quick`` grades in the
sandbox only).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from autograder import sandbox
from autograder.engine import Grader, default_source_dir
from convlab.exercises.registry import chapter

DEFAULT_OUT = Path("_build/bench/grading.json")
#: A fixed secret, so every run draws the same hidden inputs.
BENCH_SECRET = b"convlab-bench-grading"


def grade_timed(notebook: Path, *, insecure: bool, device: str) -> list[dict]:
    """Grade ``notebook`` exercise by exercise; each row: name, score, max_score, seconds."""
    grader = Grader(source_dir=default_source_dir(), secret=BENCH_SECRET, student="bench",
                    insecure=insecure, device=device)
    rows = []
    for _, nb, ch, exercises in grader.submissions(notebook):
        source = grader.source_notebook(ch)
        for ex in exercises:
            start = time.perf_counter()
            result = grader.grade_exercise(ex, ch, source, nb)
            rows.append({"exercise": ex.key, "score": result.score,
                         "max_score": result.max_score, "seconds": time.perf_counter() - start,
                         "flags": list(result.flags)})
    return rows


def _machine(device: str) -> dict:
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch": torch.__version__, "device": device,
            "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None,
            "bwrap": sandbox.bwrap_path()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.grading", description=__doc__)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--quick", action="store_true", help="sandbox only")
    parser.add_argument("--grading-out", type=Path, default=DEFAULT_OUT)
    args, _ = parser.parse_known_args(argv)  # python -m bench passes the ops' options too
    ch = chapter("ch01")
    notebook = default_source_dir() / ch.id / ch.notebook
    modes = ["sandbox"] + ([] if args.quick else ["insecure"])
    if sandbox.bwrap_path() is None:
        print("bench.grading: bubblewrap is not installed; timing --insecure only")
        modes = ["insecure"]
    runs = {mode: grade_timed(notebook, insecure=mode == "insecure", device=args.device)
            for mode in modes}
    names = [r["exercise"] for r in runs[modes[0]]]
    header = f"{'exercise':<24}" + "".join(f"{m + ' (s)':>15}" for m in modes) + f"{'score':>10}"
    print(f"grading {notebook} ({args.device}) — one worker per exercise")
    print(header)
    print("-" * len(header))
    for i, name in enumerate(names):
        first = runs[modes[0]][i]
        cells = "".join(f"{runs[m][i]['seconds']:>15.1f}" for m in modes)
        print(f"{name:<24}{cells}{first['score']:>6g}/{first['max_score']:g}")
    totals = {m: sum(r["seconds"] for r in runs[m]) for m in modes}
    print(f"{'total':<24}" + "".join(f"{totals[m]:>15.1f}" for m in modes))
    if "insecure" in totals and "sandbox" in totals:
        print(f"sandbox overhead: {totals['sandbox'] - totals['insecure']:+.1f} s "
              f"({totals['sandbox'] / totals['insecure']:.2f}×)")
    args.grading_out.parent.mkdir(parents=True, exist_ok=True)
    args.grading_out.write_text(json.dumps(
        {"notebook": str(notebook), "machine": _machine(args.device), "runs": runs,
         "totals_s": totals}, indent=2) + "\n")
    print(f"written to {args.grading_out}")


if __name__ == "__main__":
    main()
