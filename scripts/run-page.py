"""Execute one book page (a MyST markdown notebook) by itself, as the book build would.

Usage: ``.venv/bin/python scripts/run-page.py book/ch01/01-sliding-window.md [more pages...]``

Each page runs in a fresh ``python3`` kernel with the page's folder as working directory; the
script prints each page's time and the first failing cell's error, and exits non-zero when any
page fails. Useful while writing a page: the full strict build (``make book``) takes minutes.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from myst_nb.core.read import read_myst_markdown_notebook
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def run_page(path: Path, timeout: int = 300) -> tuple[bool, float, str]:
    """Execute ``path``; return (ok, seconds, error text)."""
    nb = read_myst_markdown_notebook(path.read_text(encoding="utf-8"), path=str(path))
    nb = nbformat.from_dict(nb)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as err:
        return False, time.perf_counter() - start, str(err)
    return True, time.perf_counter() - start, ""


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    failed = 0
    for name in argv:
        ok, seconds, error = run_page(Path(name))
        print(f"{'ok  ' if ok else 'FAIL'} {seconds:7.1f} s  {name}")
        if not ok:
            failed += 1
            print(error[-4000:])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
