"""``python -m bench [--device cpu|cuda] [--quick]``: the ops benchmark, then the grading one.

:mod:`bench.ops` always runs; :mod:`bench.grading` runs after it when that module exists. Both
receive the same command-line arguments.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    from . import ops

    ops.main(argv)
    if importlib.util.find_spec("bench.grading") is not None:
        importlib.import_module("bench.grading").main(argv)


if __name__ == "__main__":
    main()
