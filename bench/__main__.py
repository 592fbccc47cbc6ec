"""``python -m bench [--device cpu|cuda] [--quick]``: the ops benchmark, then grading's.

:mod:`bench.ops` (convlab against PyTorch), :mod:`bench.grading` (chapter 1 graded with the
sandbox and without it) and :mod:`bench.batch` (batch throughput with 1 and 2 workers) run in
that order; each receives the same command-line arguments and ignores those it does not know.
"""

from __future__ import annotations

import importlib
import sys

SECTIONS = ("bench.ops", "bench.grading", "bench.batch")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    for name in SECTIONS:
        importlib.import_module(name).main(argv)


if __name__ == "__main__":
    main()
