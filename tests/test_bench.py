"""``python -m bench``: one table of every measure, beside today's figure and the target. The
structure is checked, never the timings (the machine is shared and its numbers are noise)."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench import __main__ as bench_main
from bench import ops

ROOT = Path(__file__).resolve().parent.parent
HEADER = "| measure | measured | today (issue 12) | target |"


def _table(text: str) -> list[list[str]]:
    """The Markdown table's rows (header and rule left out), as lists of cells."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    assert lines[0] == HEADER
    assert re.fullmatch(r"\|---\|---:\|---\|---\|", lines[1])
    return [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines[2:]]


def test_format_table_groups_rows_by_section():
    rows = [{"section": "a", "measure": "x", "value": "1.00×", "today": "—", "target": "≤ 2×"},
            {"section": "a", "measure": "y | z", "value": "2 s", "today": "3 s",
             "target": "—"},
            {"section": "b", "measure": "w", "value": "4/min", "today": "—", "target": "—"}]
    cells = _table(bench_main.format_table(rows, ["# title"]))
    assert cells == [["**a**", "", "", ""], ["x", "1.00×", "—", "≤ 2×"],
                     ["y \\| z", "2 s", "3 s", "—"], ["**b**", "", "", ""],
                     ["w", "4/min", "—", "—"]]


def test_unknown_sections_are_named(capsys):
    with pytest.raises(SystemExit):
        bench_main.main(["--sections", "ops,nope"])
    assert "nope" in capsys.readouterr().err


def test_the_operator_rows_are_the_issue_s():
    names = {c.name for c in ops.CASES}
    assert set(ops.TABLE_CASES) <= names
    shapes = {c.name: (c.x_shape, c.w_shape, c.kwargs) for c in ops.CASES}
    assert shapes["3x3 64->64 @56"][0] == (8, 64, 56, 56)
    assert shapes["3x3 128->128 @28"][0] == (8, 128, 28, 28)
    assert shapes["3x3 256->256 @14"][0] == (8, 256, 14, 14)
    assert shapes["grouped 3x3 128->128 g32 @28"][2]["groups"] == 32
    assert shapes["depthwise 3x3 128 @28"][2]["groups"] == 128


@pytest.mark.slow
def test_quick_bench_prints_one_table_with_every_section(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out-dir",
                           str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = (tmp_path / "table.md").read_text(encoding="utf-8")
    assert text in proc.stdout  # printed as written
    assert text.count(HEADER) == 1  # one table
    cells = _table(text)
    assert all(len(row) == 4 for row in cells)
    sections = [row[0][2:-2] for row in cells if row[0].startswith("**")]
    assert [s.split(" (")[0] for s in sections] == [
        "operators", "grading one submission", "where the time of one ch01 submission goes",
        "batch grading"]
    body = [row for row in cells if not row[0].startswith("**")]
    by_measure = {row[0]: row[1:] for row in body}

    ratios = [row for row in body if row[0].startswith(("conv2d", "conv_transpose2d"))]
    assert len(ratios) == 2 * len(ops.TABLE_CASES)
    assert all(re.fullmatch(r"\d+\.\d\d×", row[1]) for row in ratios)
    dense = [row for row in ratios if "3x3 64→64 @56" in row[0]]
    assert [row[0].rsplit(", ", 1)[1] for row in dense] == ["forward", "forward+backward"]
    assert all(row[2] == "1.65–2.65×" for row in dense)
    assert [row[3] for row in dense] == ["≤ 1.2×", "≤ 1.3×"]
    assert all(row[2] == "—" for row in ratios if "transposed" in row[0])

    ch01 = next(v for k, v in by_measure.items() if k.startswith("ch01: s per submission"))
    assert re.fullmatch(r"\d+\.\d s", ch01[0]) and ch01[1] in ("19.7 s", "—")
    assert ch01[2] == "≤ 6.6 s"
    assert any(k.startswith("ch01: s per exercise") for k in by_measure)
    assert any(k.startswith("ch01: reference run") for k in by_measure)
    assert any(k.startswith("worker start-up") for k in by_measure)
    assert any(k.startswith("ch01.train_digits_cnn: its child") for k in by_measure)

    batch = [row for row in body if "students per minute" in row[0]]
    assert [row[0].split(":")[0] for row in batch] == (
        ["1 worker (threads)", "2 workers (threads)"]
        + (["Dask local cluster, 2 worker processes"]
           if importlib.util.find_spec("distributed") else []))
    assert all(re.fullmatch(r"\d+\.\d\d/min \(\d+\.\d s/student\)", row[1]) for row in batch)
    assert "3× today's" in batch[1][3]

    data = json.loads((tmp_path / "table.json").read_text(encoding="utf-8"))
    assert data["quick"] is True and len(data["rows"]) == len(body)
