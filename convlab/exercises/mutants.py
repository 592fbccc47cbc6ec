"""Mutation testing of the assignments: how many single-point mutants of each instructor
solution the hidden tests kill.

For each registered chapter (:mod:`convlab.exercises.registry`) and each exercise, the answer
cell that defines the exercise's ``entry`` is parsed, and every node between nbgrader's
``### BEGIN SOLUTION`` and ``### END SOLUTION`` markers is mutated, one mutation per mutant
(:func:`mutants`): arithmetic and comparison operators swapped, integer constants ±1 (0 ↔ 1
among them), operands of ``-``, ``/``, ``@`` … swapped, slice bounds and ``range`` arguments
off by one, slice steps dropped, adjacent positional arguments and tuple elements swapped
(axes, dims, paddings, unpacked shapes; not the two dims of a transpose or the dims of a sum,
mean or flip, whose order is moot), height and width names read for each other (``kH`` for
``kW``, ``i`` for ``j``), keyword arguments dropped, ``.flip``, ``.transpose``, ``.T`` and
``.abs`` removed, ``+=`` turned into ``=``, conditions negated, einsum subscripts swapped,
statements dropped. Mutants are written back with :func:`ast.unparse`, in a
deterministic order (line, column, rule); those that do not compile, equal the original or
repeat an earlier mutant are skipped.

Each mutant is graded the way nbgrader's hidden test cell grades a student's kernel
(:func:`convlab.exercises.inkernel.run_exercise`), in process but in a forked child with a
time limit (a mutant may loop forever): the notebook's setup and answer cells up to the
exercise run once in the parent, the child executes the mutated answer cell and runs the
exercise with ``seeds`` hidden seeds (nbgrader's own and ``seeds - 1`` more derived ones). A
mutant is *killed* when every seed's hidden tests fail (wrong output, an exception, or the time
limit), *partly killed* when only some do (a student with that slip passes on some seeds: a gap
in the hidden cases), and *survives* otherwise. This is the course authors' tool running the
authors' own code: there is no sandbox. POSIX only (it forks).

Training checks train a network per mutant (seconds to minutes each): they are skipped unless
``training`` asks for a few mutants, spread evenly over those the array exercise of the same
answer found computing wrong values (the slips a training run could miss).

Survivors can be explained in :data:`NOTES_FILE` (a TOML file beside this module): each entry
names the exercise (``"ch01.conv2d_loop"``), the mutation as the report prints it (or a list,
``mutations``, sharing one explanation) and a kind,
``equivalent`` (the mutant computes the same function on every valid input; ``why`` says why)
or ``gap`` (the hidden cases miss it; ``case`` names the input that would kill it). The report
shows each survivor's explanation and flags the unexplained ones.

Run ``python -m convlab.exercises.mutants [ch01 ch02 ...]`` (``make mutants``); it prints a
table and writes ``_build/mutants/report.md`` and ``report.json``.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import datetime
import hashlib
import importlib
import io
import json
import os
import re
import select
import signal
import sys
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .registry import CHAPTERS, Chapter
from .seeds import derive_seed, kernel_hidden_seed
from .spec import Exercise

#: Where survivors are explained: ``[[survivor]]`` tables with ``exercise``, ``mutation``,
#: ``kind`` (``equivalent`` or ``gap``) and ``why`` (and, for a gap, ``case``).
NOTES_FILE = Path(__file__).with_name("mutants_notes.toml")
#: Secret of the extra hidden seeds (any fixed bytes: the seeds only need to differ from the
#: visible check's and from each other).
SEED_SECRET = b"convlab-mutants"
_BEGIN = re.compile(r"^[ \t]*### BEGIN SOLUTION[ \t]*$")
_END = re.compile(r"^[ \t]*### END SOLUTION[ \t]*$")

# -- the mutation operators ---------------------------------------------------------------------
_BINOP: dict[type, type] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div, ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult, ast.MatMult: ast.Mult,
    ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd, ast.BitXor: ast.BitOr,
    ast.LShift: ast.RShift, ast.RShift: ast.LShift,
}
#: Operators whose operands' order matters: ``a - b``, ``a @ b`` …
_ORDERED = (ast.Sub, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.MatMult, ast.LShift,
            ast.RShift)
_CMPOP: dict[type, type] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
#: Methods (``x.flip(...)``), attributes (``x.T``) and functions (``torch.flip(x, ...)``) whose
#: removal leaves their first operand: the forgotten flip, transpose or absolute value.
_REMOVABLE_METHODS = frozenset({"flip", "fliplr", "flipud", "transpose", "t", "abs", "neg",
                                "swapaxes", "movedim"})
_REMOVABLE_ATTRS = frozenset({"T", "mT", "H", "mH"})
_REMOVABLE_FUNCS = frozenset({"flip", "fliplr", "flipud", "transpose", "t", "abs", "swapaxes",
                              "movedim"})
_EINSUM = re.compile(r"^[a-zA-Z.]+(,[a-zA-Z.]+)*->[a-zA-Z.]*$")

#: Rule names in the order a node's mutants are listed.
RULES = ("operator", "swap-operands", "compare", "boolean", "negate", "unary", "constant",
         "einsum", "slice", "range", "swap-args", "swap-elements", "swap-name", "drop-keyword",
         "remove-call", "augassign", "drop-statement")

Transform = Callable[[ast.AST], ast.AST]


@dataclass(frozen=True)
class Mutant:
    """One single-point mutation of an answer cell.

    ``line`` is 1-based in the cell's text; ``before``/``after`` are the mutated node's source
    before and after (statements shown by their first line); ``source`` is the whole mutated
    cell as :func:`ast.unparse` writes it.
    """

    rule: str
    line: int
    col: int
    before: str
    after: str
    source: str = field(repr=False)

    @property
    def mutation(self) -> str:
        return f"{self.before} → {self.after}"


def solution_lines(text: str) -> list[tuple[int, int]]:
    """The 1-based line ranges ``(first, last)`` strictly between the solution markers."""
    regions, start = [], None
    for n, line in enumerate(text.splitlines(), 1):
        if _BEGIN.match(line):
            start = n + 1
        elif _END.match(line) and start is not None:
            regions.append((start, n - 1))
            start = None
    return regions


def _short(node: ast.AST) -> str:
    text = ast.unparse(node).strip().splitlines()
    first = text[0] if text else ""
    return first + (" …" if len(text) > 1 else "")


def _plus(node: ast.expr, k: int) -> ast.expr:
    op = ast.Add() if k > 0 else ast.Sub()
    return ast.BinOp(left=node, op=op, right=ast.Constant(abs(k)))


def _set(obj: ast.AST, attr: str, value: Any) -> ast.AST:
    setattr(obj, attr, value)
    return obj


def _swap_letters(term: str) -> Iterator[str]:
    for i in range(len(term) - 1):
        if term[i] != term[i + 1] and "." not in term[i:i + 2]:
            yield term[:i] + term[i + 1] + term[i] + term[i + 2:]


def _offset(node: ast.AST) -> bool:
    """Whether the constant rule already moves ``node`` by ±1: ``3``, ``k + 1``, ``n - 2``."""
    if isinstance(node, ast.Constant):
        return True
    return isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub) \
        and isinstance(node.right, ast.Constant) and type(node.right.value) is int


#: Calls whose result does not depend on the order of the dims they are given: swapping two
#: of those dims (``x.sum(dim=(2, 3))`` → ``(3, 2)``) makes an equivalent mutant, not made.
_ORDERLESS_DIMS = frozenset({"sum", "mean", "nansum", "nanmean", "amax", "amin", "std", "var",
                             "std_mean", "var_mean", "logsumexp", "count_nonzero", "all", "any",
                             "flip"})


def _dims_of_orderless(located: list[tuple[ast.AST, tuple[int, str, int | None] | None]],
                       i: int) -> bool:
    """Whether node ``i`` is a tuple of dims given to one of :data:`_ORDERLESS_DIMS`."""
    node, where = located[i]
    if not isinstance(node, ast.Tuple | ast.List) or where is None:
        return False
    parent, parent_where = located[where[0]]
    if isinstance(parent, ast.keyword):
        if parent.arg not in ("dim", "dims", "axis") or parent_where is None:
            return False
        parent = located[parent_where[0]][0]
    if not isinstance(parent, ast.Call):
        return False
    func = parent.func
    name = func.attr if isinstance(func, ast.Attribute) else \
        func.id if isinstance(func, ast.Name) else ""
    return name in _ORDERLESS_DIMS


#: Calls whose last two arguments are two dims to swap, in either order.
_SWAPS = frozenset({"transpose", "swapaxes", "swapdims"})
_HW = str.maketrans("HWhw", "WHwh")
_LOOP_PAIRS = {"i": "j", "j": "i", "u": "v", "v": "u"}


def partner(name: str) -> str:
    """The name a height/width slip reads instead of ``name``: ``kH`` ↔ ``kW``, ``H_out`` ↔
    ``W_out``, ``full_h`` ↔ ``full_w``, and the loop indices ``i`` ↔ ``j``, ``u`` ↔ ``v``."""
    return _LOOP_PAIRS.get(name) or name.translate(_HW)


def _rules(node: ast.AST, names: frozenset[str] = frozenset(),
           orderless: bool = False) -> Iterator[tuple[str, Transform]]:
    """``(rule, transform)`` for each mutation of ``node``; ``transform`` receives the node's
    copy in a copied tree and returns what replaces it (itself when changed in place).
    ``names``: the names the cell binds, which a height/width slip can read instead;
    ``orderless``: ``node`` lists the dims of a reduction or flip, whose order is moot."""
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
        other = partner(node.id)
        if other != node.id and other in names:
            yield "swap-name", lambda n, other=other: _set(n, "id", other)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOP:
        new = _BINOP[type(node.op)]
        yield "operator", lambda n, new=new: _set(n, "op", new())
        if isinstance(node.op, _ORDERED) and ast.dump(node.left) != ast.dump(node.right):
            def swap_operands(n: ast.AST) -> ast.AST:
                n.left, n.right = n.right, n.left
                return n
            yield "swap-operands", swap_operands
    if isinstance(node, ast.AugAssign):
        if type(node.op) in _BINOP:
            new = _BINOP[type(node.op)]
            yield "operator", lambda n, new=new: _set(n, "op", new())
        yield "augassign", lambda n: ast.Assign(targets=[n.target], value=n.value, lineno=0)
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            if type(op) in _CMPOP:
                def swap_cmp(n: ast.AST, i: int = i) -> ast.AST:
                    n.ops[i] = _CMPOP[type(n.ops[i])]()
                    return n
                yield "compare", swap_cmp
    if isinstance(node, ast.BoolOp):
        other = ast.Or if isinstance(node.op, ast.And) else ast.And
        yield "boolean", lambda n, other=other: _set(n, "op", other())
    if isinstance(node, ast.If | ast.While | ast.IfExp):
        yield "negate", lambda n: _set(n, "test", ast.UnaryOp(op=ast.Not(), operand=n.test))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.Not | ast.Invert):
        yield "unary", lambda n: n.operand
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool):
            yield "constant", lambda n: _set(n, "value", not n.value)
        elif isinstance(value, int):
            for k in (1, -1):
                yield "constant", lambda n, k=k: _set(n, "value", n.value + k)
        elif isinstance(value, float) and value in (0.0, 1.0):
            yield "constant", lambda n: _set(n, "value", 1.0 - n.value)
        elif isinstance(value, str) and _EINSUM.match(value.replace(" ", "")):
            spec = value.replace(" ", "")
            inputs, out = spec.split("->")
            terms = inputs.split(",")
            for t, term in enumerate(terms):
                for swapped in _swap_letters(term):
                    new_spec = ",".join(terms[:t] + [swapped] + terms[t + 1:]) + "->" + out
                    yield "einsum", lambda n, s=new_spec: _set(n, "value", s)
            for swapped in _swap_letters(out):
                yield "einsum", lambda n, s=inputs + "->" + swapped: _set(n, "value", s)
    if isinstance(node, ast.Slice):
        for part in ("lower", "upper"):
            bound = getattr(node, part)
            if bound is not None and not _offset(bound):
                for k in (1, -1):
                    yield "slice", lambda n, part=part, k=k: _set(n, part,
                                                                  _plus(getattr(n, part), k))
        if node.step is not None:
            yield "slice", lambda n: _set(n, "step", None)
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name) and func.id == "range":
            for i, arg in enumerate(node.args):
                if not isinstance(arg, ast.Starred) and not _offset(arg):
                    for k in (1, -1):
                        def off(n: ast.AST, i: int = i, k: int = k) -> ast.AST:
                            n.args[i] = _plus(n.args[i], k)
                            return n
                        yield "range", off
        name = func.attr if isinstance(func, ast.Attribute) else \
            func.id if isinstance(func, ast.Name) else ""
        for i in range(len(node.args) - 1):
            a, b = node.args[i], node.args[i + 1]
            if name in _SWAPS and i == len(node.args) - 2:
                continue  # transpose(0, 1) is transpose(1, 0)
            if not isinstance(a, ast.Starred) and not isinstance(b, ast.Starred) \
                    and ast.dump(a) != ast.dump(b):
                def swap(n: ast.AST, i: int = i) -> ast.AST:
                    n.args[i], n.args[i + 1] = n.args[i + 1], n.args[i]
                    return n
                yield "swap-args", swap
        for i, kw in enumerate(node.keywords):
            if kw.arg is not None:
                def drop_kw(n: ast.AST, i: int = i) -> ast.AST:
                    del n.keywords[i]
                    return n
                yield "drop-keyword", drop_kw
        if isinstance(func, ast.Attribute) and name in _REMOVABLE_METHODS \
                and not (isinstance(func.value, ast.Name) and func.value.id in {"torch", "F"}):
            yield "remove-call", lambda n: n.func.value
        elif name in _REMOVABLE_FUNCS and node.args \
                and not isinstance(node.args[0], ast.Starred):
            yield "remove-call", lambda n: n.args[0]
    if isinstance(node, ast.Attribute) and node.attr in _REMOVABLE_ATTRS:
        yield "remove-call", lambda n: n.value
    if isinstance(node, ast.Tuple | ast.List) and not orderless:
        for i in range(len(node.elts) - 1):
            a, b = node.elts[i], node.elts[i + 1]
            if not isinstance(a, ast.Starred) and not isinstance(b, ast.Starred) \
                    and ast.dump(a) != ast.dump(b):
                def swap_elts(n: ast.AST, i: int = i) -> ast.AST:
                    n.elts[i], n.elts[i + 1] = n.elts[i + 1], n.elts[i]
                    return n
                yield "swap-elements", swap_elts
    if isinstance(node, ast.stmt) and not isinstance(node, ast.Pass):
        yield "drop-statement", lambda n: ast.Pass()


def _locations(tree: ast.AST) -> list[tuple[ast.AST, tuple[int, str, int | None] | None]]:
    """Every node in :func:`ast.walk` order, with ``(parent index, field, list index)``."""
    nodes = list(ast.walk(tree))
    index = {id(n): i for i, n in enumerate(nodes)}
    where: list[tuple[int, str, int | None] | None] = [None] * len(nodes)
    for i, parent in enumerate(nodes):
        for name, value in ast.iter_fields(parent):
            if isinstance(value, list):
                for j, item in enumerate(value):
                    if isinstance(item, ast.AST):
                        where[index[id(item)]] = (i, name, j)
            elif isinstance(value, ast.AST):
                where[index[id(value)]] = (i, name, None)
    return list(zip(nodes, where, strict=True))


#: Longest context (characters) a mutation is shown in.
CONTEXT_CHARS = 50


def _context(located: list[tuple[ast.AST, tuple[int, str, int | None] | None]], i: int) -> int:
    """The index of the largest expression around node ``i`` (itself included) that is at most
    :data:`CONTEXT_CHARS` long: where a mutation is shown, ``b.view(1, -1)`` rather than ``1``."""
    node, where = located[i]
    if isinstance(node, ast.stmt):
        return i
    while where is not None:
        parent, parent_where = located[where[0]]
        if not isinstance(parent, ast.expr | ast.keyword) or \
                len(ast.unparse(parent)) > CONTEXT_CHARS:
            break
        i, where = where[0], parent_where
    return i


def mutants(text: str) -> list[Mutant]:
    """Every single-point mutant of the solution regions of an answer cell ``text``, sorted by
    line, column and rule; those that do not compile, equal the original or repeat an earlier
    mutant are left out."""
    tree = ast.parse(text)
    original = ast.unparse(tree)
    regions = solution_lines(text)
    located = _locations(tree)
    names = frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name)) | frozenset(
        a.arg for a in ast.walk(tree) if isinstance(a, ast.arg))
    found: list[tuple[tuple[int, int, int, int], Mutant]] = []
    seen = {original}
    for i, (node, where) in enumerate(located):
        line, end = getattr(node, "lineno", None), getattr(node, "end_lineno", None)
        if line is None or end is None or where is None:
            continue
        if not any(a <= line and end <= b for a, b in regions):
            continue
        ctx = _context(located, i)
        before = _short(located[ctx][0])
        orderless = _dims_of_orderless(located, i)
        for k, (rule, transform) in enumerate(_rules(node, names, orderless)):
            copied = copy.deepcopy(tree)
            copied_nodes = list(ast.walk(copied))
            target = copied_nodes[i]
            replacement = transform(target)
            if replacement is not target:
                parent_i, name, j = where
                parent = copied_nodes[parent_i]
                if j is None:
                    setattr(parent, name, replacement)
                else:
                    getattr(parent, name)[j] = replacement
            ast.fix_missing_locations(copied)
            try:
                source = ast.unparse(copied)
                compile(source, "<mutant>", "exec")
            except (SyntaxError, ValueError, TypeError, RecursionError):
                continue
            if source in seen:
                continue
            seen.add(source)
            shown = replacement if ctx == i else copied_nodes[ctx]
            after = "pass" if isinstance(replacement, ast.Pass) else _short(shown)
            found.append(((line, node.col_offset, RULES.index(rule), k),
                          Mutant(rule, line, node.col_offset, before, after, source)))
    return [m for _, m in sorted(found, key=lambda pair: pair[0])]


# -- reading the notebook -----------------------------------------------------------------------
def _cells(path: Path) -> list[dict[str, Any]]:
    out = []
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        text = cell.get("source", "")
        out.append({**cell, "source": "".join(text) if isinstance(text, list) else text})
    return out


def _nbgrader(cell: dict[str, Any]) -> dict[str, Any]:
    return cell.get("metadata", {}).get("nbgrader", {})


def answer_cells(notebook: Path) -> tuple[list[str], dict[str, tuple[int, str]]]:
    """The cells a kernel needs for the answers (setup cells ``setup_*`` and solution cells,
    in order) and, for each answer cell ``<entry>_answer``, ``entry → (position, text)``."""
    program: list[str] = []
    answers: dict[str, tuple[int, str]] = {}
    for cell in _cells(notebook):
        meta = _nbgrader(cell)
        gid = meta.get("grade_id", "")
        if cell.get("cell_type") != "code":
            continue
        if gid.startswith("setup_") or meta.get("solution"):
            if meta.get("solution") and gid.endswith("_answer"):
                answers[gid[: -len("_answer")]] = (len(program), cell["source"])
            program.append(cell["source"])
    return program, answers


# -- grading in a forked child ------------------------------------------------------------------
#: Memory a child may add to what the parent has mapped (a mutant can allocate without end).
CHILD_MEMORY_BYTES = 3 << 30


def _limit_memory(extra: int) -> None:
    """Cap this process's address space at its current size plus ``extra`` bytes (Linux)."""
    try:
        import resource

        with open("/proc/self/statm", encoding="ascii") as f:
            size = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (size + extra, size + extra))
    except (OSError, ValueError, ImportError):
        pass


def _in_child(job: Callable[[], dict[str, Any]], timeout_s: float) -> dict[str, Any]:
    """``job()`` in a forked child, its JSON result back on a pipe; ``{"timeout": True}`` when
    it runs past ``timeout_s`` (the child is killed), ``{"crash": ...}`` when it dies. The
    child's address space grows by :data:`CHILD_MEMORY_BYTES` at most."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        code = 0
        try:
            os.close(read)
            _limit_memory(CHILD_MEMORY_BYTES)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            try:
                result = job()
            except BaseException as exc:  # noqa: BLE001 - anything the mutant raises
                result = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
            data = json.dumps(result).encode()
            while data:
                data = data[os.write(write, data):]
        except BaseException:  # noqa: BLE001
            code = 1
        finally:
            os._exit(code)
    os.close(write)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    timed_out = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([read], [], [], left)
            if ready:
                chunk = os.read(read, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.close(read)
        if timed_out:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    if timed_out:
        return {"timeout": True}
    try:
        return json.loads(b"".join(chunks))
    except json.JSONDecodeError:
        return {"crash": f"the child exited with status {status} and no result"}


def hidden_seeds(ex: Exercise, n: int) -> list[int]:
    """nbgrader's hidden seed of ``ex``, then ``n - 1`` more derived ones."""
    return [kernel_hidden_seed(ex.key)] + [derive_seed(SEED_SECRET, ex.key, str(i))
                                           for i in range(1, n)]


def _grade_job(ex: Exercise, source: str, namespace: dict[str, Any],
               seeds: Sequence[int]) -> Callable[[], dict[str, Any]]:
    def job() -> dict[str, Any]:
        from .inkernel import run_exercise

        try:
            exec(compile(source, f"<{ex.entry}_answer>", "exec"), namespace)
            func = namespace[ex.entry]
        except Exception as exc:  # noqa: BLE001 - the mutated cell itself fails
            return {"cell_error": f"{type(exc).__name__}: {str(exc)[:200]}"}
        verdicts = []
        for seed in seeds:
            v = run_exercise(ex, func, seed)
            verdicts.append({"passed": v.passed, "message": v.message[:300]})
        return {"verdicts": verdicts}

    return job


@dataclass
class Graded:
    """A mutant and what the hidden tests made of it."""

    mutant: Mutant
    status: str  # "killed", "partly killed" or "survived"
    how: str  # "fails", "raises", "times out", "" (survived)
    detail: str
    seeds_killed: int
    seconds: float

    def as_json(self) -> dict[str, Any]:
        m = self.mutant
        return {"rule": m.rule, "line": m.line, "col": m.col, "mutation": m.mutation,
                "status": self.status, "how": self.how, "detail": self.detail,
                "seeds_killed": self.seeds_killed, "seconds": round(self.seconds, 3)}


def _judge(result: dict[str, Any], n_seeds: int) -> tuple[str, str, str, int]:
    if result.get("timeout"):
        return "killed", "times out", "ran past the time limit", n_seeds
    if "cell_error" in result or "error" in result or "crash" in result:
        text = result.get("cell_error") or result.get("error") or result.get("crash")
        return "killed", "raises", str(text), n_seeds
    verdicts = result["verdicts"]
    failed = [v for v in verdicts if not v["passed"]]
    if not failed:
        return "survived", "", "", 0
    message = failed[0]["message"]
    how = "raises" if " raised " in f" {message}" else "fails"
    status = "killed" if len(failed) == len(verdicts) else "partly killed"
    return status, how, message, len(failed)


@dataclass
class ExerciseReport:
    """The mutants of one exercise and their fate (``skipped`` says why none ran)."""

    key: str
    entry: str
    kind: str  # "array" or "training"
    seeds: int
    graded: list[Graded] = field(default_factory=list)
    generated: int = 0
    skipped: str = ""
    baseline_seconds: float = 0.0
    timeout_s: float = 0.0

    @property
    def killed(self) -> int:
        return sum(g.status == "killed" for g in self.graded)

    @property
    def survivors(self) -> list[Graded]:
        return [g for g in self.graded if g.status != "killed"]

    @property
    def share(self) -> float | None:
        return self.killed / len(self.graded) if self.graded else None

    def by_rule(self) -> dict[str, list[int]]:
        """``rule → [killed, graded]``."""
        out: dict[str, list[int]] = {}
        for g in self.graded:
            counts = out.setdefault(g.mutant.rule, [0, 0])
            counts[0] += g.status == "killed"
            counts[1] += 1
        return {r: out[r] for r in RULES if r in out}

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "entry": self.entry, "kind": self.kind, "seeds": self.seeds,
                "generated": self.generated, "graded": len(self.graded), "killed": self.killed,
                "partly_killed": sum(g.status == "partly killed" for g in self.graded),
                "survived": sum(g.status == "survived" for g in self.graded),
                "share_killed": self.share, "skipped": self.skipped,
                "baseline_seconds": round(self.baseline_seconds, 3),
                "timeout_s": round(self.timeout_s, 1),
                "by_rule": self.by_rule(),
                "mutants": [g.as_json() for g in self.graded]}


def _spread(items: Sequence[Any], n: int) -> list[Any]:
    """``n`` items spread evenly over ``items`` (all when ``n >= len``), in order."""
    if n >= len(items):
        return list(items)
    if n <= 0:
        return []
    return [items[round(i * (len(items) - 1) / max(n - 1, 1))] for i in range(n)]


def mutate_exercise(ex: Exercise, program: list[str], answers: dict[str, tuple[int, str]], *,
                    seeds: int = 8, timeout_s: float | None = None, training: int = 0,
                    prefer: frozenset[str] = frozenset(),
                    progress: Callable[[str], None] | None = None) -> ExerciseReport:
    """Grade every mutant of ``ex``'s answer cell against its hidden tests.

    ``program`` and ``answers`` come from :func:`answer_cells`. ``timeout_s`` bounds one
    mutant (all its seeds); by default ten times the original's time, at least 10 s and at most
    the exercise's own budget per seed. ``training``: how many mutants a training check
    grades (0 skips it), spread evenly over those whose source is in ``prefer`` when any is
    (the slips that run and compute a wrong value), else over all.
    """
    from .training import TrainingExercise

    is_training = isinstance(ex, TrainingExercise)
    report = ExerciseReport(ex.key, ex.entry, "training" if is_training else "array",
                            1 if is_training else seeds)
    if ex.entry not in answers:
        report.skipped = f"the notebook has no answer cell {ex.entry}_answer"
        return report
    position, text = answers[ex.entry]
    found = mutants(text)
    report.generated = len(found)
    if is_training:
        if training <= 0:
            report.skipped = "training check: each mutant trains a network (skipped)"
            return report
        found = _spread([m for m in found if m.source in prefer] or found, training)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in program[:position]:
            exec(compile(cell, "<setup>", "exec"), namespace)
    chosen = hidden_seeds(ex, report.seeds)
    if is_training:
        from convlab.train import pick_device

        from .training import reference_run

        for seed_case in ex.cases(chosen[0]):  # the reference run, cached for the children
            reference_run(ex.spec, seed_case.kwargs["seed"], str(pick_device()))
    original = ast.unparse(ast.parse(text))
    if not is_training:  # once in this process, so that the children start warm (the first
        # call of some torch paths costs seconds)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            with contextlib.suppress(Exception):
                _grade_job(ex, original, dict(namespace), chosen)()
    start = time.perf_counter()
    baseline = _in_child(_grade_job(ex, original, dict(namespace), chosen),
                         ex.timeout_s * len(chosen))
    report.baseline_seconds = time.perf_counter() - start
    status, _, detail, _ = _judge(baseline, len(chosen))
    if status != "survived":
        report.skipped = f"the instructor solution does not pass its hidden tests: {detail}"
        return report
    report.timeout_s = timeout_s if timeout_s is not None else \
        min(ex.timeout_s * len(chosen), max(10.0, 10 * report.baseline_seconds))
    for n, mutant in enumerate(found, 1):
        start = time.perf_counter()
        result = _in_child(_grade_job(ex, mutant.source, namespace, chosen), report.timeout_s)
        status, how, detail, k = _judge(result, len(chosen))
        report.graded.append(Graded(mutant, status, how, detail, k,
                                    time.perf_counter() - start))
        if progress is not None:
            progress(f"{ex.key} {n}/{len(found)} line {mutant.line} {mutant.mutation}: "
                     f"{status}")
    return report


# -- chapters and the report --------------------------------------------------------------------
@dataclass
class ChapterReport:
    """One chapter's exercise reports, with what they were computed from: the SHA-256 (first
    12 hex digits) of the notebook and of the declarations' module source."""

    id: str
    title: str
    notebook: str
    exercises: list[ExerciseReport]
    seconds: float
    when: str
    notebook_sha: str = ""
    declarations_sha: str = ""

    @property
    def graded(self) -> int:
        return sum(len(e.graded) for e in self.exercises)

    @property
    def killed(self) -> int:
        return sum(e.killed for e in self.exercises)

    @property
    def share(self) -> float | None:
        return self.killed / self.graded if self.graded else None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "notebook": self.notebook,
                "seconds": round(self.seconds, 1), "when": self.when,
                "notebook_sha": self.notebook_sha, "declarations_sha": self.declarations_sha,
                "graded": self.graded,
                "killed": self.killed, "share_killed": self.share,
                "exercises": [e.as_json() for e in self.exercises]}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def chapter_exercises(ch: Chapter) -> tuple[Exercise, ...]:
    return tuple(importlib.import_module(ch.module).EXERCISES)


def mutate_chapter(ch: Chapter, source_dir: Path, *, only: Sequence[str] = (), seeds: int = 8,
                   timeout_s: float | None = None, training: int = 0,
                   progress: Callable[[str], None] | None = None) -> ChapterReport:
    """:func:`mutate_exercise` for each exercise of chapter ``ch`` (those named in ``only``,
    when given), its notebook read from ``source_dir/<id>/<notebook>``. A training check
    grades mutants that the array exercise of the same entry found computing wrong values
    (when that exercise ran first)."""
    import torch

    torch.set_num_threads(1)  # before any fork: children inherit a single-threaded pool
    start = time.perf_counter()
    notebook = source_dir / ch.id / ch.notebook
    program, answers = answer_cells(notebook)
    declared = chapter_exercises(ch)
    module_file = getattr(sys.modules[ch.module], "__file__", None)
    reports = []
    wrong_values: dict[str, set[str]] = {}  # entry -> mutants the array tests found wrong
    for ex in declared:
        if only and ex.name not in only:
            continue
        prefer = frozenset(wrong_values.get(ex.entry, ()))
        report = mutate_exercise(ex, program, answers, seeds=seeds, timeout_s=timeout_s,
                                 training=training, prefer=prefer, progress=progress)
        wrong_values.setdefault(ex.entry, set()).update(
            g.mutant.source for g in report.graded if g.how == "fails")
        reports.append(report)
    return ChapterReport(ch.id, ch.title, ch.notebook, reports, time.perf_counter() - start,
                         datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                         _sha(notebook), _sha(Path(module_file)) if module_file else "")


def load_notes(path: Path = NOTES_FILE) -> dict[tuple[str, str], dict[str, str]]:
    """``(exercise key, mutation) → {"kind", "why", "case"}`` from the notes file."""
    if not path.exists():
        return {}
    rows = tomllib.loads(path.read_text(encoding="utf-8")).get("survivor", [])
    notes = {}
    for row in rows:
        missing = {"exercise", "kind", "why"} - set(row)
        if missing or ("mutation" in row) == ("mutations" in row):
            raise ValueError(f"{path}: a survivor note needs exercise, kind, why and one of "
                             f"mutation or mutations: {row!r}")
        if row["kind"] not in ("equivalent", "gap"):
            raise ValueError(f"{path}: kind must be 'equivalent' or 'gap', got {row!r}")
        if row["kind"] == "gap" and not row.get("case"):
            raise ValueError(f"{path}: a gap note must name the case that kills it: {row!r}")
        for mutation in row.get("mutations", [row.get("mutation")]):
            key = (row["exercise"], mutation)
            if key in notes:
                raise ValueError(f"{path}: two notes for {key}")
            notes[key] = row
    return notes


def _pct(share: float | None) -> str:
    return "—" if share is None else f"{100 * share:.1f}%"


def table(chapters: Sequence[dict[str, Any]]) -> str:
    """The per-exercise table (plain text) of chapter reports in their JSON form."""
    rows = [("exercise", "mutants", "killed", "partly", "survived", "killed %", "time")]
    for ch in chapters:
        for e in ch["exercises"]:
            if e["skipped"]:
                rows.append((e["key"], str(e["generated"]), "", "", "", "skipped", ""))
                continue
            secs = sum(m["seconds"] for m in e["mutants"])
            rows.append((e["key"], str(e["graded"]), str(e["killed"]), str(e["partly_killed"]),
                         str(e["survived"]), _pct(e["share_killed"]), f"{secs:.0f}s"))
        rows.append((f"{ch['id']} (all)", str(ch["graded"]), str(ch["killed"]), "", "",
                     _pct(ch["share_killed"]), f"{ch['seconds']:.0f}s"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths, strict=True)))
                     for r in rows)


def _explained(report: dict[str, Any], notes: dict[tuple[str, str], dict[str, str]]) -> None:
    """Give each survivor its ``explanation`` (the note, or ``None``) and each exercise and
    chapter its count of ``equivalent`` survivors and its ``share_killable``: killed over the
    mutants that are not equivalent."""
    for ch in report["chapters"].values():
        for e in ch["exercises"]:
            for m in e["mutants"]:
                if m["status"] != "killed":
                    m["explanation"] = notes.get((e["key"], m["mutation"]))
            e["equivalent"] = sum(m["status"] != "killed" and m["explanation"] is not None
                                  and m["explanation"]["kind"] == "equivalent"
                                  for m in e["mutants"])
            killable = e["graded"] - e["equivalent"]
            e["share_killable"] = e["killed"] / killable if killable else None
        ch["equivalent"] = sum(e["equivalent"] for e in ch["exercises"])
        killable = ch["graded"] - ch["equivalent"]
        ch["share_killable"] = ch["killed"] / killable if killable else None


def markdown(report: dict[str, Any], notes: dict[tuple[str, str], dict[str, str]]) -> str:
    """The Markdown report of a report explained by :func:`_explained`: a summary per
    chapter, then per chapter the exercise table and every survivor with its line, mutation
    and explanation (from the notes file) or "unexplained"; notes that match no mutant of an
    exercise graded here are listed as stale, and notes on mutants now killed as closed."""
    chapters = list(report["chapters"].values())
    out = ["# Mutation testing of the assignments", "",
           f"Each mutant changes one point of an instructor solution (`{NOTES_FILE.name}` "
           "explains the survivors) and is graded by the exercise's hidden tests on "
           f"{report['seeds']} hidden seeds: *killed* means every seed fails it (a wrong "
           "output, an exception, or the time limit), *partly killed* that some seeds pass "
           "it. *Killable* leaves out the survivors explained as equivalent mutants. Training "
           "checks are skipped unless asked for (`--training N`). Generated by `make mutants` "
           "(`python -m convlab.exercises.mutants`).", "",
           "| chapter | mutants | killed | killed % | equivalent | killed of killable | "
           "gaps | unexplained | time |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for ch in chapters:
        survivors = [m for e in ch["exercises"] for m in e["mutants"] if m["status"] != "killed"]
        gaps = sum(m["explanation"] is not None and m["explanation"]["kind"] == "gap"
                   for m in survivors)
        unexplained = sum(m["explanation"] is None for m in survivors)
        out.append(f"| {ch['id']} {ch['title']} | {ch['graded']} | {ch['killed']} | "
                   f"{_pct(ch['share_killed'])} | {ch['equivalent']} | "
                   f"{_pct(ch['share_killable'])} | {gaps} | {unexplained} | "
                   f"{ch['seconds']:.0f} s |")
    out.append("")
    for ch in chapters:
        out += [f"## {ch['id']}: {ch['title']}", "",
                f"{ch['killed']} of {ch['graded']} mutants killed ({_pct(ch['share_killed'])}); "
                f"{ch['equivalent']} survivors are equivalent mutants, so the hidden tests kill "
                f"{_pct(ch['share_killable'])} of the mutants that can be killed. Run "
                f"{ch['when']} in {ch['seconds']:.0f} s, on notebook "
                f"{ch.get('notebook_sha', '?')} and declarations "
                f"{ch.get('declarations_sha', '?')} (SHA-256).", "",
                "| exercise | mutants | killed | partly killed | survived | killed % | "
                "equivalent | killed of killable |",
                "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for e in ch["exercises"]:
            if e["skipped"]:
                out.append(f"| {e['key']} | {e['generated']} generated | | | | | | "
                           f"skipped: {e['skipped']} |")
            else:
                out.append(f"| {e['key']} | {e['graded']} | {e['killed']} | "
                           f"{e['partly_killed']} | {e['survived']} | "
                           f"{_pct(e['share_killed'])} | {e['equivalent']} | "
                           f"{_pct(e['share_killable'])} |")
        graded = [m for e in ch["exercises"] for m in e["mutants"]]
        how = {h: sum(m["status"] == "killed" and m["how"] == h for m in graded)
               for h in ("fails", "raises", "times out")}
        rules = {r: (sum(m["status"] == "killed" for m in graded if m["rule"] == r),
                     sum(m["rule"] == r for m in graded)) for r in RULES}
        if graded:
            out += ["", f"Killed by a wrong output: {how['fails']}, by an exception: "
                    f"{how['raises']}, by the time limit: {how['times out']}. By rule (killed/"
                    "mutants): " + ", ".join(f"{r} {k}/{n}" for r, (k, n) in rules.items()
                                             if n) + "."]
        survivors = [(e, m) for e in ch["exercises"] for m in e["mutants"]
                     if m["status"] != "killed"]
        if survivors:
            out += ["", "### Survivors", "",
                    "| exercise | line | rule | mutation | seeds killing it | explanation |",
                    "|---|---:|---|---|---:|---|"]
            for e, m in survivors:
                note = m["explanation"]
                if note is None:
                    why = "**unexplained**"
                elif note["kind"] == "equivalent":
                    why = f"equivalent: {note['why']}"
                else:
                    why = f"gap: {note['why']}; killed by {note.get('case', '?')}"
                mutation = m["mutation"].replace("|", "\\|")
                out.append(f"| {e['key'].split('.', 1)[1]} | {m['line']} | {m['rule']} | "
                           f"`{mutation}` | {m['seeds_killed']}/{e['seeds']} | "
                           f"{why.replace('|', chr(92) + '|')} |")
        out.append("")
    used = {(e["key"], m["mutation"]) for ch in chapters for e in ch["exercises"]
            for m in e["mutants"]}
    surviving = {(e["key"], m["mutation"]) for ch in chapters for e in ch["exercises"]
                 for m in e["mutants"] if m["status"] != "killed"}
    graded = {e["key"] for ch in chapters for e in ch["exercises"] if e["mutants"]}
    declared = {e["key"] for ch in chapters for e in ch["exercises"]}
    reported = {ch["id"] for ch in chapters}
    stale = [key for key in notes if key[0] in graded and key not in used
             or key[0].split(".")[0] in reported and key[0] not in declared]
    closed = [key for key in notes if key in used and key not in surviving]
    if stale:
        out += ["## Stale notes", "", "These notes name an exercise the chapter no longer "
                "declares, or no mutant of an exercise graded here (the solution changed): "
                "update or remove them.", ""]
        out += [f"- {key}: `{mutation}`" for key, mutation in stale]
        out.append("")
    if closed:
        out += ["## Notes on mutants now killed", "", "The hidden tests now kill these mutants "
                "(a gap was closed): remove their notes.", ""]
        out += [f"- {key}: `{mutation}`" for key, mutation in closed]
        out.append("")
    return "\n".join(out)


def write_report(chapters: Sequence[ChapterReport], out_dir: Path, seeds: int,
                 notes_path: Path = NOTES_FILE) -> dict[str, Any]:
    """Merge ``chapters`` into ``out_dir/report.json`` (other chapters' entries are kept when
    they used as many seeds), explain the survivors from ``notes_path`` and rewrite
    ``report.md``. Returns the merged report."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "report.json"
    report: dict[str, Any] = {"seeds": seeds, "chapters": {}}
    if path.exists():
        previous = json.loads(path.read_text(encoding="utf-8"))
        if previous.get("seeds") == seeds:
            report["chapters"] = previous.get("chapters", {})
    for ch in chapters:
        report["chapters"][ch.id] = ch.as_json()
    report["chapters"] = dict(sorted(report["chapters"].items()))
    notes = load_notes(notes_path)
    _explained(report, notes)
    path.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out_dir / "report.md").write_text(markdown(report, notes), encoding="utf-8")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m convlab.exercises.mutants",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", help="chapter ids (default: every registered "
                        "chapter whose notebook exists)")
    parser.add_argument("--source", type=Path,
                        default=Path(__file__).resolve().parents[2] / "notebooks",
                        help="the nbgrader source folder holding <id>/<notebook>")
    parser.add_argument("--out", type=Path, default=Path("_build/mutants"))
    parser.add_argument("--only", nargs="*", default=(), help="exercise names")
    parser.add_argument("--seeds", type=int, default=8, help="hidden seeds per mutant")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per mutant")
    parser.add_argument("--training", type=int, default=0,
                        help="mutants per training check (0 skips them)")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per mutant")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    ids = args.chapters or [c for c, ch in CHAPTERS.items()
                            if (args.source / c / ch.notebook).exists()]
    done = []
    for cid in ids:
        if cid not in CHAPTERS:
            parser.error(f"unknown chapter {cid!r}; known: {', '.join(CHAPTERS)}")
        ch = CHAPTERS[cid]
        if not (args.source / cid / ch.notebook).exists():
            print(f"{cid}: no notebook {args.source / cid / ch.notebook}, skipped", flush=True)
            continue
        print(f"{cid}: mutating {ch.notebook} …", flush=True)
        report = mutate_chapter(ch, args.source, only=args.only, seeds=args.seeds,
                                timeout_s=args.timeout, training=args.training,
                                progress=(lambda s: print("  " + s, flush=True))
                                if args.verbose else None)
        done.append(report)
        merged = write_report(done, args.out, args.seeds)
        print(table([merged["chapters"][cid]]), flush=True)
    print(f"report: {args.out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
