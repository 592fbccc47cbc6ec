"""Mutation testing of the assignments (``convlab.exercises.mutants``): which mutants are made,
that a mutant is graded in a child with a time limit, and (slow) the kit's fixture chapter
mutated and graded end to end, known-bad mutants killed and the report's figures adding up."""

from __future__ import annotations

import json
import time

import pytest
from kit import FIXTURES, by_id

from convlab.exercises import mutants as mt

CELL = '''def f(x, w, stride=1):
    """Docstring: 1 + 2 is not mutated."""
    y = 3 + 1
    ### BEGIN SOLUTION
    k = w.shape[0]
    out = x[0:k] * w + x[1:k + 1].flip(0)
    for i in range(k):
        out += i
    if stride >= 2:
        out = out - torch.stack((x, w), dim=1).sum(1)
    return out.transpose(0, 1)
    ### END SOLUTION
'''


def by_mutation(cell: str) -> dict[str, mt.Mutant]:
    return {m.mutation: m for m in mt.mutants(cell)}


def test_solution_lines_are_those_between_the_markers():
    assert mt.solution_lines(CELL) == [(5, 11)]
    assert mt.solution_lines("x = 1\n") == []


def test_each_rule_makes_the_expected_mutants_inside_the_solution_only():
    found = by_mutation(CELL)
    expected = {
        "w.shape[0] → w.shape[1]": "constant",
        "x[0:k] * w + x[1:k + 1].flip(0) → x[0:k] / w + x[1:k + 1].flip(0)": "operator",
        "x[0:k] * w + x[1:k + 1].flip(0) → x[0:k] * w + x[1:k + 1]": "remove-call",
        "x[0:k] * w + x[1:k + 1].flip(0) → x[0:k] * w + x[1:k + 2].flip(0)": "constant",
        "x[0:k] * w + x[1:k + 1].flip(0) → x[0:k - 1] * w + x[1:k + 1].flip(0)": "slice",
        "range(k) → range(k - 1)": "range",
        "out += i → out = i": "augassign",
        "out += i → out -= i": "operator",
        "stride >= 2 → stride > 2": "compare",
        "if stride >= 2: … → if not stride >= 2: …": "negate",
        "out - torch.stack((x, w), dim=1).sum(1) → torch.stack((x, w), dim=1).sum(1) - out":
            "swap-operands",
        "out - torch.stack((x, w), dim=1).sum(1) → out - torch.stack((w, x), dim=1).sum(1)":
            "swap-elements",
        "out - torch.stack((x, w), dim=1).sum(1) → out - torch.stack((x, w)).sum(1)":
            "drop-keyword",
        "out.transpose(0, 1) → out": "remove-call",
        "return out.transpose(0, 1) → pass": "drop-statement",
    }
    for mutation, rule in expected.items():
        assert mutation in found, mutation
        assert found[mutation].rule == rule, mutation
    # nothing outside the markers: the line before them and the docstring keep their constants
    assert all(5 <= m.line <= 11 for m in found.values())
    assert not any("3 + 1" in m.before or "1 + 2" in m.before for m in found.values())
    # a bound the constant rule already moves by one is not moved again by the slice rule
    assert not any("k + 1 + 1" in mutation for mutation in found)


def test_mutants_compile_differ_from_the_original_and_from_each_other_in_a_fixed_order():
    first, second = mt.mutants(CELL), mt.mutants(CELL)
    assert [m.source for m in first] == [m.source for m in second]
    original = mt.ast.unparse(mt.ast.parse(CELL))
    sources = [m.source for m in first]
    assert original not in sources and len(set(sources)) == len(sources)
    for m in first:
        compile(m.source, "<mutant>", "exec")
    assert [(m.line, m.col) for m in first] == sorted((m.line, m.col) for m in first)


def test_swapping_equal_arguments_makes_no_mutant():
    cell = "def g(x, p):\n    ### BEGIN SOLUTION\n    return pad(x, (p, p, p, p))\n" \
           "    ### END SOLUTION\n"
    assert not any(m.rule == "swap-elements" for m in mt.mutants(cell))


def test_a_mutant_that_never_returns_is_stopped_at_the_time_limit():
    start = time.perf_counter()
    result = mt._in_child(lambda: {"never": [time.sleep(60)]}, timeout_s=1.0)
    assert result == {"timeout": True}
    assert time.perf_counter() - start < 10
    assert mt._in_child(lambda: {"answer": 42}, timeout_s=30.0) == {"answer": 42}
    assert "error" in mt._in_child(lambda: {"x": 1 // 0}, timeout_s=30.0)


def test_judging_counts_a_mutant_killed_only_when_every_seed_fails_it():
    passed, failed = {"passed": True, "message": ""}, {"passed": False, "message": "case 1: no"}
    assert mt._judge({"verdicts": [failed, failed]}, 2)[:2] == ("killed", "fails")
    assert mt._judge({"verdicts": [passed, failed]}, 2)[0] == "partly killed"
    assert mt._judge({"verdicts": [passed, passed]}, 2)[0] == "survived"
    assert mt._judge({"timeout": True}, 2)[:2] == ("killed", "times out")
    assert mt._judge({"cell_error": "NameError: k"}, 2)[:2] == ("killed", "raises")


@pytest.mark.slow
def test_the_fixture_chapter_is_mutated_graded_and_reported(tmp_path):
    kc = by_id("ch98")
    kc.exercises()  # puts the fixture chapter's module on the path
    report = mt.mutate_chapter(kc.chapter, FIXTURES / "source", seeds=2, training=2)
    exercises = {e.key.split(".", 1)[1]: e for e in report.exercises}
    corr, linear, train = exercises["corr1d"], exercises["linear"], exercises["train_linear"]
    # the training check trains two of the slips the linear exercise found computing wrong values
    wrong = {g.mutant.mutation for g in linear.graded if g.how == "fails"}
    assert len(train.graded) == 2 and {g.mutant.mutation for g in train.graded} <= wrong
    assert train.generated == linear.generated

    def status(e: mt.ExerciseReport, mutation: str) -> str:
        (g,) = [g for g in e.graded if g.mutant.mutation == mutation]
        return g.status

    # known-bad mutants: stride ignored, window one short, weight not transposed, bias subtracted
    assert status(corr, "range(0, x.shape[0] - k + 1, stride) → "
                        "range(0, x.shape[0] - k + 1, stride + 1)") == "killed"
    assert status(corr, "[(x[i:i + k] * w).sum() for i in starts] → "
                        "[(x[i:i + k - 1] * w).sum() for i in starts]") == "killed"
    assert status(linear, "x @ w.T + b → x @ w + b") == "killed"
    assert status(linear, "x @ w.T + b → x @ w.T - b") == "killed"
    assert status(linear, "x @ w.T + b → w.T @ x + b") == "killed"
    # an equivalent mutant survives: a 1-D tensor's shape[0] is its shape[-1]
    assert status(corr, "w.shape[0] → w.shape[-1]") == "survived"

    for e in (corr, linear):
        assert e.generated == len(e.graded) > 0
        counts = [sum(g.status == s for g in e.graded)
                  for s in ("killed", "partly killed", "survived")]
        assert sum(counts) == len(e.graded) and counts[0] == e.killed
        assert e.share == e.killed / len(e.graded)
        assert sum(n for n, _ in e.by_rule().values()) == e.killed
        assert sum(n for _, n in e.by_rule().values()) == len(e.graded)
    assert report.graded == len(corr.graded) + len(linear.graded) + len(train.graded)
    assert report.killed == corr.killed + linear.killed + train.killed

    notes = tmp_path / "notes.toml"
    notes.write_text('[[survivor]]\nexercise = "ch98.corr1d"\nmutation = "w.shape[0] → '
                     'w.shape[-1]"\nkind = "equivalent"\nwhy = "w is 1-D"\n\n'
                     '[[survivor]]\nexercise = "ch98.corr1d"\nmutation = "gone → away"\n'
                     'kind = "equivalent"\nwhy = "a mutant no longer made"\n\n'
                     '[[survivor]]\nexercise = "ch98.undeclared"\nmutation = "no → such"\n'
                     'kind = "equivalent"\nwhy = "an exercise the chapter lost"\n\n'
                     '[[survivor]]\nexercise = "ch98.linear"\n'
                     'mutation = "x @ w.T + b → x @ w + b"\nkind = "gap"\nwhy = "was missed"\n'
                     'case = "a square w"\n', encoding="utf-8")
    merged = mt.write_report([report], tmp_path / "out", seeds=2, notes_path=notes)
    saved = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert saved == json.loads(json.dumps(merged))
    ch = saved["chapters"]["ch98"]
    assert ch["graded"] == report.graded and ch["killed"] == report.killed
    assert sum(e["killed"] + e["partly_killed"] + e["survived"] for e in ch["exercises"]) \
        == ch["graded"]
    text = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert f"{report.killed} of {report.graded} mutants killed" in text
    assert "equivalent: w is 1-D" in text
    assert "## Stale notes" in text and "`gone → away`" in text and "`no → such`" in text
    assert "## Notes on mutants now killed" in text and "`x @ w.T + b → x @ w + b`" in text
    n = len(linear.graded)
    assert f"| ch98.linear | {n} | {n} | 0 | 0 | 100.0% | 0 | 100.0% |" in text
    assert mt.table([ch]).count("\n") == len(ch["exercises"]) + 1


def test_the_survivor_notes_are_well_formed():
    notes = mt.load_notes()
    assert notes
    for (key, mutation), note in notes.items():
        # whether the exercise still exists is the report's business (its stale notes)
        assert mt.re.fullmatch(r"ch\d\d\.\w+", key), key
        assert " → " in mutation and note["why"].strip()
        assert note["kind"] == "equivalent" or note["case"].strip()


def test_a_note_without_its_case_is_refused(tmp_path):
    path = tmp_path / "notes.toml"
    path.write_text('[[survivor]]\nexercise = "ch98.corr1d"\nmutation = "a → b"\n'
                    'kind = "gap"\nwhy = "a hidden case is missing"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="case"):
        mt.load_notes(path)


def test_height_and_width_names_are_read_for_each_other_when_both_exist():
    assert mt.partner("kH") == "kW" and mt.partner("H_out") == "W_out"
    assert mt.partner("full_h") == "full_w" and mt.partner("i") == "j"
    cell = "def g(x, kH, kW):\n    ### BEGIN SOLUTION\n    total = 0\n" \
           "    for i in range(kH):\n        total += x[i] * kW\n    return total\n" \
           "    ### END SOLUTION\n"
    found = {m.mutation: m.rule for m in mt.mutants(cell)}
    assert found["range(kH) → range(kW)"] == "swap-name"
    assert found["x[i] * kW → x[i] * kH"] == "swap-name"
    assert "x[i] * kW → x[j] * kW" not in found  # no j in the cell


def test_a_mutant_that_allocates_without_end_is_stopped_by_the_memory_cap():
    import numpy as np

    def hog() -> dict:
        # np.empty maps without touching the pages: harmless even if no cap were set
        blocks = [np.empty(1 << 30, dtype=np.uint8) for _ in range(8)]  # 8 GiB > the 3 GiB cap
        return {"kept": len(blocks)}

    result = mt._in_child(hog, timeout_s=60.0)
    assert "MemoryError" in result.get("error", "") or "allocate" in result.get("error", ""), \
        result


def test_no_mutant_swaps_dims_whose_order_does_not_matter():
    cell = "def g(x, m, a, b):\n    ### BEGIN SOLUTION\n" \
           "    y = torch.where(m, a, b).sum(dim=(0, 2)) + x.flip((1, 2)).permute(0, 2, 1)\n" \
           "    return y.transpose(0, 1) + x.mean((1, 2))\n    ### END SOLUTION\n"
    found = {m.mutation for m in mt.mutants(cell)}
    assert not any("(2, 0)" in f or "(2, 1)" in f or "transpose(1, 0)" in f for f in found)
    assert any("torch.where(m, b, a)" in f for f in found)
    assert any("permute(2, 0, 1)" in f for f in found)
