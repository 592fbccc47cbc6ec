"""Static analysis of the student's code: the answer policy and the forbidden APIs.

Nothing here imports or runs anything the student wrote or named: the source is parsed with
:func:`ast.parse` and walked iteratively; dotted names are compared with the grader's own
objects only through modules already imported in this process (``sys.modules``) and
:func:`inspect.getattr_static` (no module ``__getattr__``, no descriptor runs).

**What an answer may use** (the policy, stated in every notebook's introduction): Python
itself; the modules ``math``, ``cmath``, ``numbers``, ``fractions``, ``statistics``,
``random``, ``itertools``, ``functools``, ``operator``, ``collections``, ``dataclasses``,
``typing``, ``enum``, ``abc``, ``copy``, ``string``, ``time``, ``warnings``; ``numpy`` and
``torch`` (tensor operations, ``torch.nn``, ``torch.linalg`` …), minus each exercise's
forbidden APIs. Refused, with feedback naming the construct and the line (the exercise
scores 0, flag ``policy``):

* threads and processes: ``threading``, ``_thread``, ``multiprocessing``, ``concurrent``,
  ``subprocess``, ``asyncio``, ``signal``, ``torch.multiprocessing``, ``torch.distributed``,
  ``torch.futures``;
* code generation: ``exec``, ``eval``, ``compile``, ``__import__``, ``torch.jit``
  (TorchScript), ``torch.compile``, ``torch.fx``, ``torch.library``, ``torch.export``,
  ``torch.load``, ``numpy.load``, ``pickle`` and the like;
* interpreter and framework internals: ``sys``, ``gc``, ``ctypes``, ``inspect``,
  ``importlib``, ``os``, ``builtins``, ``globals``/``locals``/``vars``, ``torch._C``,
  ``torch.ops``, ``torch.overrides``, ``torch.backends``, ``torch.utils``, ``torch.func``;
  private (``_x``) and dunder (``__x__``) attributes except those of the student's own
  classes and objects; changing an attribute of a module or of a library object
  (``torch.matmul = …``);
* attribute names computed at run time: ``getattr``/``setattr``/``delattr``/``hasattr``
  and ``operator.attrgetter``/``methodcaller`` with anything but a string literal;
* any other module.

**What is analysed.** Everything the exercise's entry can reach: the student cells that bind
a name the entry (transitively) uses are run by the worker and analysed whole (their
top-level statements, the bodies of the functions and classes reached); a student cell that
binds nothing reached (a scratch cell) is not run at all, so it costs nothing; an instructor
cell that would call a student function the analysis did not cover is not run either.
"""

from __future__ import annotations

import ast
import inspect
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .notebook import ProgramCell

#: Top-level packages whose attributes may be looked up to compare objects.
TRUSTED = ("torch", "numpy", "convlab", "scipy")

#: Modules an answer may import (and their submodules, minus :data:`DENIED`).
ALLOWED_MODULES = frozenset({
    "math", "cmath", "numbers", "fractions", "statistics", "random", "itertools",
    "functools", "operator", "collections", "dataclasses", "typing", "enum", "abc", "copy",
    "string", "time", "warnings", "__future__", "numpy", "torch",
})
_THREADS = "threads and processes"
_CODEGEN = "code generated or loaded at run time"
_INTERNALS = "interpreter or framework internals"
_COMPUTED = "attribute names computed at run time"
_LIBRARY = "changing a library"
_OTHER = "a module answers may not use"
#: Dotted prefixes refused inside allowed packages, and modules refused with a reason.
DENIED: dict[str, str] = {
    "torch.multiprocessing": _THREADS, "torch.distributed": _THREADS, "torch.futures": _THREADS,
    "torch.jit": _CODEGEN, "torch.compile": _CODEGEN, "torch.fx": _CODEGEN,
    "torch.library": _CODEGEN, "torch.export": _CODEGEN, "torch.load": _CODEGEN,
    "torch.package": _CODEGEN, "torch.onnx": _CODEGEN, "torch.serialization": _CODEGEN,
    "torch.ops": _INTERNALS, "torch.overrides": _INTERNALS, "torch.backends": _INTERNALS,
    "torch.utils": _INTERNALS, "torch.func": _INTERNALS, "torch.autograd.functional":
    _INTERNALS, "torch.hub": _INTERNALS, "torch.classes": _INTERNALS,
    "numpy.load": _CODEGEN, "numpy.f2py": _CODEGEN, "numpy.distutils": _CODEGEN,
    "numpy.ctypeslib": _INTERNALS, "operator.attrgetter": "", "operator.methodcaller": "",
}
_MODULE_REASONS: dict[str, str] = {
    **{m: _THREADS for m in ("threading", "_thread", "multiprocessing", "concurrent",
                             "subprocess", "asyncio", "signal", "sched", "selectors")},
    **{m: _CODEGEN for m in ("pickle", "marshal", "types", "code", "codeop", "runpy", "dis",
                             "ast", "dill", "cloudpickle", "shelve", "copyreg")},
    **{m: _INTERNALS for m in ("sys", "gc", "ctypes", "inspect", "importlib", "builtins", "os",
                               "io", "weakref", "traceback", "faulthandler", "resource",
                               "tracemalloc", "atexit", "site", "sysconfig", "pathlib",
                               "shutil", "tempfile", "socket", "mmap", "_io")},
}
#: Built-in names refused wherever they are not the student's own variable.
BANNED_BUILTINS: dict[str, str] = {
    "exec": _CODEGEN, "eval": _CODEGEN, "compile": _CODEGEN, "__import__": _CODEGEN,
    "globals": _INTERNALS, "locals": _INTERNALS, "vars": _INTERNALS, "breakpoint": _INTERNALS,
    "open": _INTERNALS, "input": _INTERNALS, "__build_class__": _INTERNALS,
    "__builtins__": _INTERNALS, "__loader__": _INTERNALS, "__spec__": _INTERNALS,
}
#: getattr and friends: allowed only as a direct call with a string literal for the name.
ATTR_BUILTINS = ("getattr", "setattr", "delattr", "hasattr")
#: Attribute names never allowed, even on the student's own objects.
NEVER = frozenset({
    "__globals__", "__code__", "__closure__", "__builtins__", "__subclasses__", "__dict__",
    "__class__", "__bases__", "__base__", "__mro__", "__func__", "__self__", "__wrapped__",
    "__loader__", "__spec__", "__import__", "__getattribute__", "__torch_function__",
    "__torch_dispatch__", "__reduce__", "__reduce_ex__", "__traceback__", "__frame__",
    "f_globals", "f_locals", "f_back", "f_builtins", "tb_frame", "gi_frame", "cr_frame",
    "co_code", "__set_name__", "__init_subclass__", "__class_getitem__", "__getattr__",
})
#: Dunder names that are plain reads.
HARMLESS_DUNDERS = frozenset({"__name__", "__doc__", "__qualname__"})


@dataclass(frozen=True)
class Finding:
    """A forbidden API named (``kind="forbidden"``, ``api`` its dotted name) or a policy
    violation (``kind="policy"``, ``api`` the construct, ``detail`` why)."""

    api: str
    cell: str  # the cell's label
    line: int
    kind: str = "forbidden"
    detail: str = ""

    def message(self) -> str:
        if self.kind == "forbidden":
            return f"{self.cell} uses {self.api} (line {self.line}), which this exercise forbids"
        return (f"{self.cell}, line {self.line}: {self.api} ({self.detail}) is not allowed in "
                "an answer, which may use Python, math, numpy and torch tensor operations "
                "(see the notebook's introduction)")


# -- looking up dotted names without importing -----------------------------------------------
def _lookup(dotted: str) -> Any:
    """The object a dotted name of a trusted package denotes, or ``None``; only modules this
    process has already imported are consulted, attributes through ``getattr_static``."""
    parts = dotted.split(".")
    if parts[0] not in TRUSTED:
        return None
    for cut in range(len(parts), 0, -1):
        obj = sys.modules.get(".".join(parts[:cut]))
        if obj is None:
            continue
        try:
            for attr in parts[cut:]:
                obj = inspect.getattr_static(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _is_module(dotted: str) -> bool:
    return dotted in sys.modules or inspect.ismodule(_lookup(dotted))


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


def _head(node: ast.AST) -> ast.Name | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node if isinstance(node, ast.Name) else None


def _private(name: str) -> bool:
    return name.startswith("_") and name not in HARMLESS_DUNDERS


def _module_reason(module: str) -> str | None:
    """Why an answer may not import ``module`` (``None``: it may)."""
    for prefix, why in DENIED.items():
        if module == prefix or module.startswith(prefix + "."):
            return why or _CODEGEN
    top = module.split(".")[0]
    if top in ALLOWED_MODULES:
        if any(_private(p) for p in module.split(".")[1:]):
            return _INTERNALS
        return None
    return _MODULE_REASONS.get(top, _OTHER)


# -- scopes ------------------------------------------------------------------------------------
_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)
_COMPS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


def _target_names(target: ast.AST) -> Iterator[str]:
    stack = [target]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name):
            yield node.id
        elif isinstance(node, (ast.Tuple, ast.List)):
            stack.extend(node.elts)
        elif isinstance(node, ast.Starred):
            stack.append(node.value)


def _own_bindings(body: list[ast.stmt], params: Iterable[str] = ()) -> set[str]:
    """Names a scope binds itself: its parameters, and what its statements store, import,
    define or catch (not looking into nested functions, classes or comprehensions)."""
    names = set(params)
    declared: set[str] = set()
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, (*_FUNCS, ast.ClassDef)):
            names.add(node.name)
            stack.extend(node.decorator_list)
            if isinstance(node, _FUNCS):
                stack.extend(node.args.defaults + [d for d in node.args.kw_defaults if d])
            else:
                stack.extend(node.bases + [k.value for k in node.keywords])
            continue
        if isinstance(node, (ast.Lambda, *_COMPS)):
            if isinstance(node, _COMPS):
                stack.append(node.generators[0].iter)
            continue
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            declared.update(node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                if a.name != "*":
                    names.add(a.asname or a.name.split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.NamedExpr):
            names.update(_target_names(node.target))
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
        stack.extend(ast.iter_child_nodes(node))
    return names - declared


def _params(args: ast.arguments) -> list[str]:
    out = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    out += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
    return out


@dataclass
class _Scope:
    kind: str  # "module", "function", "class" or "comprehension"
    names: set[str]
    parent: _Scope | None = None
    aliases: dict[str, str] = field(default_factory=dict)  # imports made in this scope
    in_class: bool = False  # a method of a class (or code nested in one)

    def resolve(self, name: str) -> tuple[str, _Scope | None]:
        """``("local", scope)`` for a name some enclosing function binds, else
        ``("module", None)``; class scopes are skipped from inside their methods."""
        scope: _Scope | None = self
        first = True
        while scope is not None and scope.kind != "module":
            if (scope.kind != "class" or first) and name in scope.names:
                return "local", scope
            first = False
            scope = scope.parent
        return "module", None


# -- the program's cells -----------------------------------------------------------------------
@dataclass
class _Cell:
    index: int
    cell: ProgramCell
    tree: ast.Module | None
    error: str | None  # why it could not be parsed ("syntax" or "depth")
    binds: set[str] = field(default_factory=set)
    defs: dict[str, list[ast.AST]] = field(default_factory=dict)  # top-level def/class nodes
    #: names bound only by the cell's top-level import statements: name -> the statement
    #: that binds just that name (``import torch``, ``import numpy as np``, ``from m import n``)
    imports: dict[str, str] = field(default_factory=dict)


def _parse(index: int, cell: ProgramCell) -> _Cell:
    try:
        tree = ast.parse(cell.source)
    except (SyntaxError, ValueError):
        return _Cell(index, cell, None, "syntax")
    except (RecursionError, MemoryError):
        return _Cell(index, cell, None, "depth")
    c = _Cell(index, cell, tree, None)
    c.binds = _own_bindings(tree.body)
    for node in _top_level(tree.body):
        if isinstance(node, (*_FUNCS, ast.ClassDef)):
            c.defs.setdefault(node.name, []).append(node)
    # names a function of this cell declares global and assigns
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            c.binds.update(node.names)
    others = _own_bindings([n for n in tree.body if not isinstance(n, (ast.Import,
                                                                        ast.ImportFrom))])
    for node in tree.body:
        if isinstance(node, ast.Import):
            for a in node.names:
                name = a.asname or a.name.split(".")[0]
                c.imports[name] = (f"import {a.name} as {a.asname}" if a.asname
                                   else f"import {name}")
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                if a.name != "*":
                    name = a.asname or a.name
                    c.imports[name] = f"from {node.module} import {a.name}" + (
                        f" as {a.asname}" if a.asname else "")
    c.imports = {n: stmt for n, stmt in c.imports.items() if n not in others
                 and n in c.binds}
    return c


def _top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements that run at module level, compound statements opened (not functions or
    classes)."""
    stack = list(reversed(body))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (*_FUNCS, ast.ClassDef)):
            continue
        for name in ("body", "orelse", "finalbody"):
            stack.extend(reversed(getattr(node, name, []) or []))
        for handler in getattr(node, "handlers", []) or []:
            stack.extend(reversed(handler.body))
        for case in getattr(node, "cases", []) or []:
            stack.extend(reversed(case.body))


def _imports(tree: ast.Module) -> dict[str, str]:
    """Module-level names bound to modules or their attributes (``import``, ``from …
    import``, ``x = a.b`` of an alias)."""
    names: dict[str, str] = {}
    for node in _top_level(tree.body):
        if isinstance(node, ast.Import):
            for a in node.names:
                names[a.asname or a.name.split(".")[0]] = a.name if a.asname else \
                    a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                if a.name != "*":
                    names[a.asname or a.name] = f"{node.module}.{a.name}"
        elif isinstance(node, ast.Assign):
            dotted = _dotted(node.value)
            head, _, rest = (dotted or "").partition(".")
            if dotted and head in names:
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        names[t.id] = names[head] + (f".{rest}" if rest else "")
    return names


# -- the analysis ------------------------------------------------------------------------------
@dataclass
class Analysis:
    """What the engine needs: the cells the worker runs, and the findings (forbidden APIs
    first, then policy violations, each in program order)."""

    program: list[ProgramCell]
    findings: list[Finding]
    analysed: list[str]  # labels of the student cells that run

    @property
    def first(self) -> Finding | None:
        forbidden = [f for f in self.findings if f.kind == "forbidden"]
        return (forbidden or self.findings or [None])[0]


class _Forbidden:
    """Matching of dotted names against an exercise's forbidden APIs."""

    def __init__(self, forbidden: tuple[str, ...]):
        from .worker import resolve

        self.names = tuple(forbidden)
        self.targets: list[tuple[str, Any]] = []
        self.methods: dict[str, str] = {}
        self.finals: dict[str, str] = {}
        for name in forbidden:
            owner, attr = resolve(name)
            self.targets.append((name, inspect.getattr_static(owner, attr, None)))
            self.finals.setdefault(attr, name)
            if inspect.isclass(owner):
                self.methods[attr] = name
                if attr == "forward":  # a forbidden module's forward: the class itself
                    self.targets.append((name, owner))

    def match(self, full: str) -> str | None:
        if full in self.names:
            return full
        obj = _lookup(full)
        if obj is None:
            return None
        for name, target in self.targets:
            if target is not None and obj is target:
                return name
        return None


def _traverse(roots: list[ast.AST], scope: _Scope, skip: set[int]) -> Iterator[
        tuple[ast.AST, _Scope]]:
    """Every node under ``roots`` that runs, in source order, with its scope; the bodies of
    the functions whose id is in ``skip`` are not entered (their decorators and defaults are,
    as they run when the ``def`` does)."""
    stack: list[tuple[ast.AST, _Scope]] = [(r, scope) for r in reversed(roots)]

    def push(nodes: Iterable[ast.AST], sc: _Scope) -> None:
        stack.extend((n, sc) for n in reversed(list(nodes)))

    while stack:
        node, sc = stack.pop()
        yield node, sc
        if isinstance(node, _FUNCS):
            in_class = sc.in_class or sc.kind == "class"
            inner = None
            if id(node) not in skip:
                inner = _Scope("function", _own_bindings(node.body, _params(node.args)), sc,
                               in_class=in_class)
                push(node.body, inner)
            push(node.decorator_list + node.args.defaults
                 + [d for d in node.args.kw_defaults if d], sc)
            continue
        if isinstance(node, ast.ClassDef):
            inner = _Scope("class", _own_bindings(node.body), sc, in_class=True)
            push(node.body, inner)
            push(node.decorator_list + node.bases + [k.value for k in node.keywords], sc)
            continue
        if isinstance(node, ast.Lambda):
            push([node.body], _Scope("function", set(_params(node.args)), sc,
                                     in_class=sc.in_class))
            push(node.args.defaults + [d for d in node.args.kw_defaults if d], sc)
            continue
        if isinstance(node, _COMPS):
            names = {n for g in node.generators for n in _target_names(g.target)}
            inner = _Scope("comprehension", names, sc, in_class=sc.in_class)
            elts = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
            later: list[ast.AST] = []
            for k, g in enumerate(node.generators):
                later += [g.target] + ([g.iter] if k else []) + list(g.ifs)
            push(later + elts, inner)
            push([node.generators[0].iter], sc)
            continue
        push(ast.iter_child_nodes(node), sc)


def _loads(cell: _Cell, skip: set[int]) -> set[str]:
    """Module-level names loaded by the code of ``cell`` that runs."""
    assert cell.tree is not None
    return {n.id for n, sc in _traverse(list(cell.tree.body), _Scope("module", set()), skip)
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
            and sc.resolve(n.id)[0] == "module"}


def _unreached_bodies(cell: _Cell, analysed: set[int]) -> set[int]:
    """Ids of the functions of ``cell`` whose bodies do not run: top-level functions, and
    methods of top-level classes, that the analysis did not reach."""
    skip: set[int] = set()
    for nodes in cell.defs.values():
        for node in nodes:
            if id(node) in analysed:
                continue
            if isinstance(node, _FUNCS):
                skip.add(id(node))
            else:
                skip |= {id(m) for m in node.body if isinstance(m, _FUNCS)}
    return skip


class _Analyser:
    def __init__(self, cells: list[_Cell], forbidden: tuple[str, ...]):
        self.forbid = _Forbidden(forbidden) if forbidden else None
        self.aliases: dict[str, str] = {}
        self.star: list[str] = []
        self.module_names: set[str] = set()
        for c in cells:
            if c.tree is not None:
                self.aliases.update(_imports(c.tree))
                self.star += [n.module for n in _top_level(c.tree.body)
                              if isinstance(n, ast.ImportFrom) and n.module and not n.level
                              and any(a.name == "*" for a in n.names)]
            self.module_names |= c.binds
        self.student_attrs: set[str] = set()
        self.findings: list[tuple[int, int, Finding]] = []
        self.policy = True  # False: forbidden APIs only

    def collect_student_attrs(self, trees: Iterable[ast.AST]) -> None:
        """Attribute names the student's own classes define, or the student assigns on
        ``self``/``cls``: private and dunder names among them are the student's to use."""
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef):
                    for item in node.body:
                        if isinstance(item, (*_FUNCS, ast.ClassDef)):
                            self.student_attrs.add(item.name)
                        elif isinstance(item, (ast.Assign, ast.AnnAssign)):
                            targets = item.targets if isinstance(item, ast.Assign) else [
                                item.target]
                            for t in targets:
                                self.student_attrs.update(_target_names(t))
                elif (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
                      and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                    self.student_attrs.add(node.attr)
        self.student_attrs -= NEVER

    def add(self, cell: _Cell, node: ast.AST, api: str, detail: str = "",
            kind: str = "policy") -> None:
        if kind == "policy" and not self.policy:
            return
        line = getattr(node, "lineno", 0)
        self.findings.append((cell.index, line, Finding(api, cell.cell.label, line, kind,
                                                        detail)))

    def walk(self, cell: _Cell, skip: set[int]) -> None:
        assert cell.tree is not None
        for node, sc in _traverse(list(cell.tree.body), _Scope("module", set()), skip):
            self.check(cell, node, sc)

    # -- name resolution ---------------------------------------------------------------------
    def _alias(self, name: str, sc: _Scope) -> str | None:
        where, local = sc.resolve(name)
        if where == "local":
            return local.aliases.get(name) if local is not None else None
        return self.aliases.get(name)

    def _expand(self, node: ast.AST, sc: _Scope) -> str | None:
        """The dotted path ``node`` denotes through imports, or ``None``."""
        dotted = _dotted(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        base = self._alias(head, sc)
        if base is None:
            return None
        return base + (f".{rest}" if rest else "")

    def _builtin(self, name: str, sc: _Scope) -> bool:
        """Whether ``name`` here means the built-in (no scope or cell binds it)."""
        return sc.resolve(name)[0] == "module" and name not in self.module_names

    # -- the checks ----------------------------------------------------------------------------
    def _attribute(self, cell: _Cell, node: ast.AST, base: ast.AST, attr: str, sc: _Scope,
                   store: bool, literal: bool = False) -> None:
        """Checks for ``base.attr`` (also ``getattr(base, "attr")``)."""
        if self.policy and (attr in NEVER or (_private(attr)
                                              and attr not in self.student_attrs)):
            what = ("dunder " if attr.startswith("__") and attr.endswith("__") else
                    "private " if attr.startswith("_") else "")
            self.add(cell, node, f"the {what}attribute .{attr}", _INTERNALS)
            return
        base_full = self._expand(base, sc)
        full = f"{base_full}.{attr}" if base_full is not None else None
        if full is not None and self.policy:
            why = _module_reason(full)
            if why is not None:
                self.add(cell, node, full, why)
                return
            if store:
                self.add(cell, node, f"assigning {full}", _LIBRARY)
                return
        if self.forbid is None:
            return
        hit = self.forbid.match(full) if full is not None else None
        if hit is None and attr in self.forbid.methods and (
                base_full is None or not _is_module(base_full)):
            hit = self.forbid.methods[attr]
        if hit is None and literal and base_full is None:
            hit = self.forbid.finals.get(attr)
        if hit is not None:
            self.add(cell, node, hit, kind="forbidden")

    def check(self, cell: _Cell, node: ast.AST, sc: _Scope) -> None:
        if isinstance(node, ast.Import):
            for a in node.names:
                why = _module_reason(a.name)
                if why is not None:
                    self.add(cell, node, f"import {a.name}", why)
                elif self.forbid is not None and (hit := self.forbid.match(a.name)):
                    self.add(cell, node, hit, kind="forbidden")
                if sc.kind != "module":
                    sc.aliases[a.asname or a.name.split(".")[0]] = (
                        a.name if a.asname else a.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level or not node.module:
                self.add(cell, node, "a relative import", _INTERNALS)
                return
            for a in node.names:
                full = f"{node.module}.{a.name}"
                why = _module_reason(node.module) or (
                    None if a.name == "*" else _module_reason(full))
                if why is None and a.name != "*" and _private(a.name):
                    why = _INTERNALS
                if why is not None:
                    self.add(cell, node, f"from {node.module} import {a.name}", why)
                elif self.forbid is not None and a.name != "*" and (
                        hit := self.forbid.match(full)):
                    self.add(cell, node, hit, kind="forbidden")
                if sc.kind != "module" and a.name != "*":
                    sc.aliases[a.asname or a.name] = full
        elif isinstance(node, ast.Assign) and sc.kind != "module":
            full = self._expand(node.value, sc)
            if full is not None:
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        owner = sc.resolve(t.id)[1]
                        if owner is not None:
                            owner.aliases[t.id] = full
        elif isinstance(node, ast.Name):
            self._name(cell, node, sc)
        elif isinstance(node, ast.Attribute):
            self._attribute(cell, node, node.value, node.attr, sc,
                            isinstance(node.ctx, (ast.Store, ast.Del)))
        elif isinstance(node, ast.Call):
            self._call(cell, node, sc)
        elif isinstance(node, _FUNCS) and sc.kind == "class" and node.name in NEVER:
            self.add(cell, node, f"a method named {node.name}", _INTERNALS)

    def _name(self, cell: _Cell, node: ast.Name, sc: _Scope) -> None:
        if self._builtin(node.id, sc):
            if node.id in BANNED_BUILTINS:
                self.add(cell, node, node.id, BANNED_BUILTINS[node.id])
                return
            if node.id in ATTR_BUILTINS and not getattr(node, "_direct_call", False):
                self.add(cell, node, f"{node.id} used as a value", _COMPUTED)
                return
            if (node.id.startswith("__") and node.id.endswith("__")
                    and node.id not in HARMLESS_DUNDERS):
                self.add(cell, node, f"the name {node.id}", _INTERNALS)
                return
            if self.forbid is not None:
                for m in self.star:
                    if hit := self.forbid.match(f"{m}.{node.id}"):
                        self.add(cell, node, hit, kind="forbidden")
                        return
        if not isinstance(node.ctx, ast.Load):
            return
        full = self._expand(node, sc)
        if full is None:
            return
        why = _module_reason(full)
        if why is not None:
            self.add(cell, node, full, why)
        elif self.forbid is not None and (hit := self.forbid.match(full)):
            self.add(cell, node, hit, kind="forbidden")

    def _call(self, cell: _Cell, node: ast.Call, sc: _Scope) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in ATTR_BUILTINS and self._builtin(func.id,
                                                                                       sc):
            func._direct_call = True  # type: ignore[attr-defined]
            name = node.args[1] if len(node.args) >= 2 else None
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                self.add(cell, node, f"{func.id}() with a name computed at run time", _COMPUTED)
                return
            self._attribute(cell, node, node.args[0], name.value, sc,
                            func.id in ("setattr", "delattr"), literal=True)
            return
        full = self._expand(func, sc)
        if full in ("operator.attrgetter", "operator.methodcaller"):
            args = node.args[:1] if full.endswith("methodcaller") else node.args
            if not args or not all(isinstance(a, ast.Constant) and isinstance(a.value, str)
                                   for a in args):
                self.add(cell, node, f"{full}() with a name computed at run time", _COMPUTED)
                return
            for a in args:
                for part in a.value.split("."):
                    if part in NEVER or (_private(part) and part not in self.student_attrs):
                        self.add(cell, node, f"the attribute .{part}", _INTERNALS)


def _reachable(cells: list[_Cell], entry: str) -> tuple[set[int], set[int], dict[str, _Cell]]:
    """``(indexes of the student cells that run, ids of the def/class nodes reached, names
    reached that a student cell binds by an import statement only -> the last such cell)``,
    starting from the name ``entry``. A cell that binds a reached name only by importing it
    does not run for that: its import statement alone is needed (see :func:`analyse`)."""
    student = [c for c in cells if c.cell.student and c.tree is not None]
    reached: set[str] = {entry}
    done: set[str] = set()
    executed: set[int] = set()
    analysed: set[int] = set()
    imported: dict[str, _Cell] = {}
    while reached - done:
        for name in sorted(reached - done):
            done.add(name)
            for c in student:
                if name in c.imports:
                    imported[name] = c
                elif name in c.binds:
                    executed.add(c.index)
                analysed |= {id(n) for n in c.defs.get(name, [])}
        for c in student:
            if c.index in executed:
                reached |= _loads(c, _unreached_bodies(c, analysed))
    return executed, analysed, imported


def analyse(cells: Iterable[ProgramCell], entry: str,
            forbidden: tuple[str, ...] = ()) -> Analysis:
    """Apply the answer policy and the forbidden-API scan to what exercise entry ``entry``
    can reach in the program ``cells``; return the program the worker should run."""
    parsed = [_parse(i, c) for i, c in enumerate(cells)]
    executed, analysed, imported = _reachable(parsed, entry)
    # a reached name a cell of the student's binds only by an import: that statement alone
    # joins the program (not the rest of the cell), unless the instructor's cells or a cell
    # that runs anyway bind the name to the same thing
    instructor_imports: dict[str, str] = {}
    for c in parsed:
        if not c.cell.student and c.tree is not None:
            instructor_imports.update(_imports(c.tree))
    extra: dict[int, list[str]] = {}
    for name, c in imported.items():
        if c.index in executed:
            continue
        stmt = c.imports[name]
        same = _imports(ast.parse(stmt)).get(name) == instructor_imports.get(name)
        if not same:
            extra.setdefault(c.index, []).append(stmt)
    synthetic = {i: _parse(i, ProgramCell(f"{parsed[i].cell.label} (its imports only)",
                                          "\n".join(stmts) + "\n", True))
                 for i, stmts in extra.items()}
    runs = [c for c in parsed if c.cell.student and c.index in executed]
    runs += list(synthetic.values())
    an = _Analyser([c for c in parsed if not c.cell.student] + runs, forbidden)
    an.collect_student_attrs(c.tree for c in runs if c.tree is not None)
    for c in runs:
        an.walk(c, _unreached_bodies(c, analysed))
    deep = [c for c in parsed if c.cell.student and c.error == "depth"]
    if deep and not runs:
        an.add(deep[0], ast.Module(), "code nested this deeply", "cannot be analysed")
    # student names no analysis covered: an instructor cell loading one does not run
    instructor_names = set().union(*[c.binds for c in parsed if not c.cell.student])
    unsafe: set[str] = set()
    for c in parsed:
        if not c.cell.student or c.tree is None:
            continue
        if c.index not in executed:
            unsafe |= c.binds - instructor_names
        else:
            unsafe |= {n for n, nodes in c.defs.items()
                       if any(id(x) not in analysed for x in nodes)}
    program: list[ProgramCell] = []
    for c in parsed:
        if c.index in synthetic:
            program.append(synthetic[c.index].cell)
        if c.cell.student:
            if c.index in executed or c.error == "syntax":
                program.append(c.cell)
        elif c.tree is None or not (_loads(c, set()) & unsafe):
            program.append(c.cell)
    findings = [f for _, _, f in sorted(an.findings, key=lambda t: (t[0], t[1]))]
    ordered = [f for f in findings if f.kind == "forbidden"] + [
        f for f in findings if f.kind != "forbidden"]
    return Analysis(program, list(dict.fromkeys(ordered)), [c.cell.label for c in runs])


def scan(cells: Iterable[ProgramCell], forbidden: tuple[str, ...]) -> list[Finding]:
    """Forbidden APIs the student's cells among ``cells`` name anywhere (every student cell,
    reached or not), in program order."""
    if not forbidden:
        return []
    parsed = [_parse(i, c) for i, c in enumerate(cells)]
    an = _Analyser(parsed, forbidden)
    an.policy = False
    for c in parsed:
        if c.cell.student and c.tree is not None:
            an.walk(c, set())
    found = [f for _, _, f in sorted(an.findings, key=lambda t: (t[0], t[1]))
             if f.kind == "forbidden"]
    return list(dict.fromkeys(found))
