"""Measured tables for the book's pages, as Markdown (rendered by MyST when the page builds).

Example:
    >>> print(markdown_table(["k", "params"], [[3, 448], [5, 1216]]))
    | k | params |
    |---:|---:|
    | 3 | 448 |
    | 5 | 1216 |
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence


def _cell(value: object, fmt: str | None) -> str:
    if fmt is not None and isinstance(value, numbers.Number) and not isinstance(value, bool):
        return format(value, fmt)
    return str(value).replace("|", "\\|")


def markdown_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    formats: Sequence[str | None] | None = None,
) -> str:
    """A Markdown table: numbers right-aligned, text left-aligned (judged from the first row).

    Args:
        headers: column titles.
        rows: one sequence of cells per row, each as long as ``headers``.
        formats: optional format spec per column (``".2e"``, ``","``...); ``None`` keeps ``str``.
    """
    n = len(headers)
    formats = list(formats) if formats is not None else [None] * n
    if len(formats) != n:
        raise ValueError(f"formats must have one entry per column ({n}), got {len(formats)}")
    for i, row in enumerate(rows):
        if len(row) != n:
            raise ValueError(f"row {i} has {len(row)} cells, expected {n} (one per header)")
    numeric = [
        bool(rows) and isinstance(rows[0][j], numbers.Number) and not isinstance(rows[0][j], bool)
        for j in range(n)
    ]
    lines = [
        "| " + " | ".join(_cell(h, None) for h in headers) + " |",
        "|" + "|".join("---:" if num else ":---" for num in numeric) + "|",
    ]
    lines += ["| " + " | ".join(_cell(v, f) for v, f in zip(r, formats, strict=True)) + " |"
              for r in rows]
    return "\n".join(lines)
