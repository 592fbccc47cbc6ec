"""Static scan of the student's cells for the APIs an exercise forbids.

The runtime guard (:class:`convlab.exercises.forbid.Forbidden`) catches forbidden calls that
happen; this scan catches forbidden APIs that are named, under any alias the program set up:
``F.conv2d`` after ``import torch.nn.functional as F``, ``torch.conv2d`` (the same function
object as ``torch.nn.functional.conv2d``), ``from torch.nn.functional import conv2d``,
``x.unfold(...)`` when ``torch.Tensor.unfold`` is forbidden, ``getattr(x, "unfold")``.

Names are resolved against the grader's own, trusted modules (``torch``, ``numpy``,
``convlab``, ``scipy``), never against anything the student produced.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from convlab.exercises.forbid import _resolve

from .notebook import ProgramCell

#: Top-level packages whose attributes the scan may look up to compare objects.
TRUSTED = ("torch", "numpy", "convlab", "scipy")


@dataclass(frozen=True)
class Finding:
    api: str  # the forbidden dotted name
    cell: str  # the cell's label
    line: int

    def message(self) -> str:
        return f"{self.cell} uses {self.api} (line {self.line}), which this exercise forbids"


def _lookup(dotted: str) -> Any:
    """The object a dotted name of a trusted package denotes, or ``None``."""
    parts = dotted.split(".")
    if parts[0] not in TRUSTED:
        return None
    for cut in range(len(parts), 0, -1):
        name = ".".join(parts[:cut])
        try:
            obj: Any = sys.modules.get(name) or importlib.import_module(name)
        except Exception:  # not a module at this depth
            continue
        try:
            for attr in parts[cut:]:
                obj = inspect.getattr_static(obj, attr) if inspect.isclass(obj) else getattr(
                    obj, attr)
        except Exception:  # no such attribute
            return None
        return obj
    return None


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` → ``"a.b.c"``; ``None`` when the chain does not start with a name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


class _Aliases(ast.NodeVisitor):
    """Names bound to modules or objects by ``import``, ``from … import`` and ``x = a.b``."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.star: list[str] = []

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            if a.asname:
                self.names[a.asname] = a.name
            else:
                head = a.name.split(".")[0]
                self.names[head] = head

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or not node.module:
            return
        for a in node.names:
            if a.name == "*":
                self.star.append(node.module)
            else:
                self.names[a.asname or a.name] = f"{node.module}.{a.name}"

    def visit_Assign(self, node: ast.Assign) -> None:
        dotted = _dotted(node.value)
        if dotted is not None:
            full = self.expand(dotted)
            for t in node.targets:
                if isinstance(t, ast.Name) and full is not None:
                    self.names[t.id] = full
        self.generic_visit(node)

    def expand(self, dotted: str) -> str | None:
        head, _, rest = dotted.partition(".")
        if head not in self.names:
            return None
        return self.names[head] + (f".{rest}" if rest else "")


def _parse(cell: ProgramCell) -> ast.AST | None:
    try:
        return ast.parse(cell.source)
    except (SyntaxError, ValueError):  # the worker reports it when the cell runs
        return None


def scan(cells: Iterable[ProgramCell], forbidden: tuple[str, ...]) -> list[Finding]:
    """Forbidden APIs the student's cells among ``cells`` name, in program order."""
    if not forbidden:
        return []
    cells = list(cells)
    targets: list[tuple[str, Any]] = []
    methods: dict[str, str] = {}
    finals: dict[str, str] = {}
    for name in forbidden:
        owner, attr = _resolve(name)
        targets.append((name, getattr(owner, attr, None)))
        finals.setdefault(attr, name)
        if inspect.isclass(owner):
            methods[attr] = name
    aliases = _Aliases()
    trees = [(_parse(c), c) for c in cells]
    for tree, _ in trees:
        if tree is not None:
            aliases.visit(tree)
    star_owned = {attr: name for name in forbidden for attr in [name.rsplit(".", 1)[1]]
                  if any(name.startswith(m + ".") for m in aliases.star)}

    def match(full: str) -> str | None:
        if full in forbidden:
            return full
        obj = _lookup(full)
        if obj is None:
            return None
        for name, target in targets:
            if target is not None and obj is target:
                return name
        return None

    findings: list[Finding] = []
    for tree, cell in trees:
        if tree is None or not cell.student:
            continue
        for node in ast.walk(tree):
            hit: str | None = None
            if isinstance(node, (ast.Attribute, ast.Name)):
                dotted = _dotted(node)
                full = aliases.expand(dotted) if dotted else None
                if full is not None:
                    hit = match(full)
                if hit is None and isinstance(node, ast.Attribute) and node.attr in methods:
                    base = _dotted(node.value)
                    base_full = aliases.expand(base) if base else None
                    if base_full is None or not _is_module(base_full):
                        hit = methods[node.attr]
                if hit is None and isinstance(node, ast.Name) and node.id in star_owned:
                    hit = star_owned[node.id]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for a in node.names:
                    hit = hit or match(f"{node.module}.{a.name}")
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id in ("getattr", "hasattr") and len(node.args) >= 2
                  and isinstance(node.args[1], ast.Constant)
                  and node.args[1].value in finals):
                hit = finals[node.args[1].value]
            if hit is not None:
                findings.append(Finding(hit, cell.label, getattr(node, "lineno", 0)))
    return findings


def _is_module(dotted: str) -> bool:
    return inspect.ismodule(_lookup(dotted))
