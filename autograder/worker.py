"""The worker: runs inside the sandbox, one process per exercise.

``python -m autograder.worker SCRATCH`` reads ``SCRATCH/in/job.json`` (:func:`wire.read_job`),
executes the assembled cells in one namespace (each cell in its own ``try``; a failing cell is
reported and execution goes on), looks up the exercise's entry point, calls
:meth:`Exercise.run` on every case under the exercise's forbidden-API guard
(:func:`convlab.exercises.inkernel.attempt_all`), and writes plain arrays plus a small JSON
report to ``SCRATCH/out`` (:func:`wire.write_report`). It never judges: the grader does, in its
own process.

The student's cells also run under the forbidden-API guard, so a forbidden function cannot be
captured under another name before the cases run; the instructor's setup cells run without it.

Imports: the standard library, ``numpy``, ``torch`` and ``convlab`` only.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from autograder import wire


class _Shell:
    """Stands in for IPython in the worker: magics and shell escapes do nothing; the body of
    a ``%%time``/``%%timeit``/``%%capture`` cell runs as plain code."""

    def __init__(self, namespace: dict):
        self._ns = namespace

    def run_line_magic(self, name: str, line: str, *args: Any) -> None:
        return None

    def run_cell_magic(self, name: str, line: str, cell: str) -> None:
        if name in ("time", "timeit", "capture"):
            exec(compile(cell, f"<%%{name}>", "exec"), self._ns)

    def system(self, cmd: str) -> None:
        return None

    def getoutput(self, cmd: str) -> list:
        return []


def _describe(exc: BaseException) -> str:
    from convlab.exercises.inkernel import describe_exception

    return describe_exception(exc)


def _find_exercise(module: str, name: str) -> Any:
    mod = importlib.import_module(module)
    for ex in mod.EXERCISES:
        if ex.name == name:
            return ex
    raise LookupError(f"no exercise {name!r} in {module}")


def _torch_guard(forbidden: tuple[str, ...]) -> Any:
    """A torch-function mode that refuses the forbidden torch functions however they are
    reached: the same function object under another name (``torch._C._VariableFunctions.conv2d``
    is ``torch.conv2d``), an unbound method of ``torch._C.TensorBase`` (which cannot be
    replaced), or a dispatcher operator of the same family (``torch.ops.aten.convolution``,
    ``convolution_backward`` when a convolution is forbidden; ``im2col`` for ``unfold``,
    ``col2im`` for ``fold``). Records the forbidden name in ``.used``."""
    import re

    from torch.overrides import TorchFunctionMode

    from convlab.exercises.forbid import ForbiddenAPIError, _resolve

    by_id: dict[int, str] = {}
    families: list[tuple[re.Pattern, str]] = []
    for name in forbidden:
        try:
            owner, attr = _resolve(name)
            target = getattr(owner, attr)
        except (ValueError, AttributeError, ImportError):
            continue
        by_id[id(target)] = name
        if "conv" in attr:
            families.append((re.compile(r"conv(?!ert)"), name))
        elif attr in ("unfold", "fold"):
            op = {"unfold": "im2col", "fold": "col2im"}[attr]
            families.append((re.compile(rf"^_?({attr}|{op})(_backward)?$"), name))
        elif not attr.startswith("_") and attr not in ("forward", "backward", "grad"):
            families.append((re.compile(rf"^_?{re.escape(attr)}$"), name))

    class Guard(TorchFunctionMode):
        used: list[str] = []

        def __torch_function__(self, func: Any, types: Any, args: Any = (),
                               kwargs: Any = None) -> Any:
            hit = by_id.get(id(func)) or by_id.get(id(getattr(func, "__func__", None)))
            schema = getattr(func, "_schema", None)
            qualified = schema.name if schema is not None else getattr(
                func, "_qualified_op_name", None)  # an operator, or its overload packet
            if hit is None and isinstance(qualified, str):
                op = qualified.split("::", 1)[-1]
                hit = next((n for pattern, n in families if pattern.search(op)), None)
            if hit is not None:
                if hit not in self.used:
                    self.used.append(hit)
                raise ForbiddenAPIError(f"{hit} is not allowed in this exercise")
            return func(*args, **(kwargs or {}))

        def verify(self) -> None:
            """Record a removed guard (``torch.overrides._pop_mode`` and the like)."""
            from torch.overrides import _get_current_function_mode_stack

            if not any(m is self for m in _get_current_function_mode_stack()):
                name = "the forbidden-API guard (removed by the code)"
                if name not in self.used:
                    self.used.append(name)

    guard = Guard()
    guard.used = []
    return guard


#: Turns every torch-function mode off, the guard above included; torch's eager code never
#: uses it, so it is forbidden wherever anything is.
_GUARD_SWITCH = "torch._C.DisableTorchFunction"


def _exec_cells(cells: list[dict], namespace: dict, forbidden: tuple[str, ...]) -> tuple[
        list[dict], list[str]]:
    from convlab.exercises.forbid import Forbidden

    errors: list[dict] = []
    used: list[str] = []
    for cell in cells:
        guard = Forbidden(forbidden) if cell["student"] else contextlib.nullcontext()
        torch_guard = _torch_guard(forbidden) if cell["student"] and forbidden else None
        try:
            with (torch_guard or contextlib.nullcontext()), guard:
                try:
                    exec(compile(cell["source"], f"<cell {cell['id']}>", "exec"), namespace)
                finally:
                    if torch_guard is not None:
                        torch_guard.verify()
        except BaseException as exc:  # SystemExit and KeyboardInterrupt too: report, go on
            errors.append({"cell": cell["id"], "error": _describe(exc)})
        if isinstance(guard, Forbidden):
            used += [u for u in guard.used if u not in used]
        if torch_guard is not None:
            used += [u for u in torch_guard.used if u not in used]
    return errors, used


def main(scratch: str) -> int:
    root = Path(scratch)
    out = root / "out"
    job = wire.read_job(root / "in")
    shutil.rmtree(root / "in", ignore_errors=True)  # nothing left on disk for the student
    os.environ["CONVLAB_DEVICE"] = job["device"]

    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    from convlab.exercises.inkernel import attempt_all
    from convlab.exercises.spec import Case

    ex = _find_exercise(job["module"], job["exercise"])
    if ex.forbidden:
        ex = ex.replace(forbidden=tuple(dict.fromkeys(ex.forbidden + (_GUARD_SWITCH,))))
    cases = [Case(args=a, kwargs=k) for a, k in job["cases"]]
    namespace: dict = {"__name__": "__main__", "__builtins__": builtins}
    shell = _Shell(namespace)
    namespace["get_ipython"] = lambda: shell

    cell_errors, used = _exec_cells(job["cells"], namespace, ex.forbidden)
    error = None
    attempts: list = []
    func = namespace.get(ex.entry)
    if func is None:
        error = f"your notebook does not define {ex.entry}"
    else:
        torch_guard = _torch_guard(ex.forbidden) if ex.forbidden else None
        try:
            with torch_guard or contextlib.nullcontext():
                try:
                    attempts, run_used = attempt_all(ex, func, cases)
                finally:
                    if torch_guard is not None:
                        torch_guard.verify()
            used += [u for u in run_used if u not in used]
        except BaseException as exc:  # SystemExit/KeyboardInterrupt escaping attempt_all
            attempts = []
            error = f"{ex.entry} {_describe(exc)}"
        if torch_guard is not None:
            used += [u for u in torch_guard.used if u not in used]
    for stream in (sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(Exception):  # the student's code may have closed them
            stream.flush()
    out.mkdir(parents=True, exist_ok=True)
    wire.write_report(out, attempts=attempts, forbidden_used=used, cell_errors=cell_errors,
                      error=error)
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1])
    with contextlib.suppress(Exception):
        sys.__stdout__.flush()
    os._exit(code)  # do not wait for threads the student's code may have left running
