"""The output-size formulas a notebook states agree with the output-size relations the
declarations grade against (:func:`convlab.analysis.conv_output_size` and
:func:`~convlab.analysis.conv_transpose_output_size`).

Every ``H_out = …`` in a registered chapter's markdown (LaTeX) and in the contract part of its
answer cells (the docstring before the solution markers) is read as an expression and
evaluated over a grid of sizes, kernels, strides, paddings, dilations and output paddings. A
variable the formula does not name takes its neutral value (stride 1, padding 0, dilation 1,
output padding 0, kernel 1: the formula then speaks of that special case). The formula passes
when it equals one of the two relations on every valid setting.
"""

from __future__ import annotations

import itertools
import math
import re

import pytest
from kit import SOLUTION, answer_cell, cells, registered

from convlab.analysis import conv_output_size, conv_transpose_output_size

#: Names a formula may use, and the variable each stands for.
ALIASES = {"padding": "p", "stride": "s", "dilation": "d", "output_padding": "op", "kH": "k",
           "k_H": "k", "kW": "k", "k_W": "k", "W": "H"}
NEUTRAL = {"s": 1, "p": 0, "d": 1, "op": 0, "k": 1}
GRID = {"H": range(4, 11), "k": range(1, 5), "s": range(1, 4), "p": range(0, 3),
        "d": range(1, 3), "op": range(0, 2)}

LATEX_OUT = re.compile(r"H_(?:\\text\{out\}|\{\\text\{out\}\})\s*=\s*(.+?)(?:,?\s*\\qquad|\$)")
PLAIN_OUT = re.compile(r"\bH_out\s*=\s*([^,\n]+?)(?=\s*(?:\(likewise|,|\n|  |$| by | with ))")


def latex_to_python(text: str) -> str:
    text = text.replace(r"\text{output\_padding}", "op").replace(r"\text{output_padding}", "op")
    text = re.sub(r"\\lfloor(.*?)\\rfloor", r"floor(\1)", text)
    text = text.replace(r"\left", "").replace(r"\right", "").replace(r"\cdot", "*")
    text = re.sub(r"k_\{?([HW])\}?", r"k\1", text)
    return text


def plain_to_python(text: str) -> str:
    text = re.sub(r"(\d)\s*([A-Za-z(])", r"\1*\2", text)  # 2p -> 2*p, 2(…) -> 2*(…)
    text = re.sub(r"\b([dsk])\(", r"\1*(", text)  # d(k-1) -> d*(k-1)
    return text


def evaluate(expr: str) -> tuple[set[str], object]:
    """The variables ``expr`` names (after aliases) and a function of them."""
    names = set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", expr)) - {"floor"}
    unknown = names - set(ALIASES) - set(GRID)
    if unknown:
        raise ValueError(f"unknown names {sorted(unknown)} in {expr!r}")
    code = compile(expr, "<formula>", "eval")

    def f(values: dict[str, int]) -> float:
        scope = {name: values[ALIASES.get(name, name)] for name in names}
        return eval(code, {"floor": math.floor, "__builtins__": {}}, scope)

    return {ALIASES.get(n, n) for n in names}, f


def matches_a_relation(expr: str) -> bool:
    used, f = evaluate(expr)
    free = [v for v in GRID if v in used]
    ok = {"conv": True, "transposed": True}
    for combo in itertools.product(*(GRID[v] for v in free)):
        values = {**NEUTRAL, **dict(zip(free, combo, strict=True))}
        H, k, s, p, d, op = (values[v] for v in ("H", "k", "s", "p", "d", "op"))
        if H + 2 * p >= d * (k - 1) + 1 and op == 0:
            ok["conv"] &= f(values) == conv_output_size(H, k, s, p, d)
        if op < max(s, d) and s * (H - 1) - 2 * p + d * (k - 1) + op + 1 >= 1:
            ok["transposed"] &= f(values) == conv_transpose_output_size(H, k, s, p, op, d)
    return any(ok.values())


def stated_formulas() -> list[tuple[str, str, str]]:
    """(chapter, where, python expression) for every H_out formula the notebooks state."""
    found = []
    for kc in registered():
        for i, cell in enumerate(cells(kc.notebook)):
            text = "".join(cell["source"])
            if cell["cell_type"] == "markdown":
                for m in LATEX_OUT.finditer(text):
                    found.append((kc.id, f"markdown cell {i}",
                                  plain_to_python(latex_to_python(m.group(1)))))
        for ex in kc.exercises():
            try:
                cell = answer_cell(kc, ex.entry)
            except (LookupError, ValueError):
                continue
            contract = SOLUTION.split("".join(cell["source"]))[0]
            for m in PLAIN_OUT.finditer(contract):
                found.append((kc.id, f"{ex.entry} contract", plain_to_python(m.group(1))))
    return found


FORMULAS = stated_formulas()


def test_the_notebooks_state_output_size_formulas():
    chapters = {c for c, _, _ in FORMULAS}
    assert {"ch01", "ch03"} <= chapters, FORMULAS


@pytest.mark.parametrize("chapter, where, expr", FORMULAS,
                         ids=[f"{c}-{w}-{e}" for c, w, e in FORMULAS])
def test_a_stated_formula_is_the_relation_the_grader_uses(chapter, where, expr):
    assert matches_a_relation(expr), f"{chapter}, {where}: H_out = {expr} is neither relation"


@pytest.mark.parametrize("wrong", ["(H + 2*p - k) // s", "(H + p - k) // s + 1",
                                   "s*H + k", "(H + 2*p - d*k) // s + 1"])
def test_a_wrong_formula_is_caught(wrong):
    assert not matches_a_relation(wrong)


@pytest.mark.parametrize("right", ["floor((H + 2*p - d*(k-1) - 1)/s) + 1",
                                   "s*(H-1) - 2*p + (k-1) + op + 1", "(H - 1) // s + 1"])
def test_a_right_formula_passes(right):
    assert matches_a_relation(right)
