"""The TeX in the book's pages and the notebooks' markdown renders as written.

Two slips that no build warns about, each seen on a page:

* a control character where a backslash sequence was meant (``\\text`` written through a Python
  string becomes a TAB and ``ext``; ``\\rho`` becomes a carriage return and ``ho``);
* ``\\_`` inside ``\\text{...}``: MathJax does not read macros in text mode, so the reader sees
  the backslash (``output\\_padding``). ``\\text{output_padding}`` shows the underscore.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "book").rglob("*.md"))
NOTEBOOKS = sorted((ROOT / "notebooks").rglob("*.ipynb"))

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
ESCAPED_UNDERSCORE_IN_TEXT = re.compile(r"\\text\{[^{}]*\\_[^{}]*\}")


def _markdown(path: Path) -> str:
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return path.read_text(encoding="utf-8")


def problems(text: str) -> list[str]:
    """The TeX slips in one page's markdown, as ``line N: what`` strings."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if CONTROL.search(line.replace("\t", "")) or "\t" in line:
            found.append(f"line {number}: a control character (an escape written through a "
                         f"Python string?): {line.strip()[:60]!r}")
        for match in ESCAPED_UNDERSCORE_IN_TEXT.finditer(line):
            found.append(f"line {number}: {match.group(0)} shows its backslash in MathJax; "
                         "write the underscore bare inside \\text{}")
    return found


def test_the_checks_catch_both_slips() -> None:
    assert problems("$\\max(\text{output_padding}, p)$")  # a TAB where \t was meant
    assert problems("$\\text{output\\_padding} + 1$")
    assert not problems("$\\text{output_padding} + 1$, $a\\_b$ outside text is fine")


@pytest.mark.parametrize("path", PAGES + NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_tex_renders_as_written(path: Path) -> None:
    assert not problems(_markdown(path)), "\n".join(problems(_markdown(path)))
