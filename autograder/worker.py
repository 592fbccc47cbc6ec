"""The worker: runs inside the sandbox, one per notebook, as a trusted parent and one student
child per exercise.

``python -m autograder.worker --report-fd N [--seccomp] [--no-threads] [--wipe DIR]...``

The **trusted parent** reads the jobs (one per exercise, each with its wall-time budget) from
its stdin (:func:`wire.unpack_jobs`), imports torch and the chapter modules once, makes itself
non-dumpable (no process without ``CAP_SYS_PTRACE`` may trace it or open its ``/proc``
files), and for each job forks a fresh **student child**. No student code ever runs in the
parent, and only the parent holds file descriptor ``N``, the pipe the grader reads the reports
from. A child that overruns its budget is killed and reported as a timeout; the cell it was in
(it tells the parent each cell it starts) is then charged at once to any later exercise that
would run it again. After each child the ``--wipe`` folders (``/tmp``, ``/scratch``) are
emptied, so nothing one exercise leaves reaches the next.

The child closes that descriptor and its stdin, starts its own session, installs the seccomp
filter (:mod:`autograder.seccomp`: no processes, no programs, no tracing, no signals but to
itself, no memfd or System V shared memory; no threads with ``--no-threads``), executes the
assembled cells in one namespace (each in its own ``try``; student cells under the
forbidden-API guard), calls
:meth:`Exercise.run` on every case under the guard, and writes its result (plain arrays and
a small JSON document, :func:`wire.pack_result`) into a pipe to the parent, then exits.

The parent reads that pipe with a size cap and a deadline, kills and reaps the child, decodes
and validates the result as hostile data, and only then, with no student code left running,
writes the exercise's report (:func:`wire.pack_report`, framed by :func:`wire.frame`): how the
child ended and the validated result, re-encoded by the parent. It never judges: the grader
does, in its own process.

Imports: the standard library, ``numpy``, ``torch`` and ``convlab`` only.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import os
import select
import shutil
import signal
import sys
import time
from typing import Any

from autograder import seccomp, wire

#: Largest job read from stdin, and largest result accepted from the child.
MAX_JOB_BYTES = 512 << 20
MAX_RESULT_BYTES = 600 << 20


class _Shell:
    """Stands in for IPython in the worker: magics and shell escapes do nothing (the body of
    a ``%%time`` cell already is the cell's code, see :func:`autograder.notebook.assemble`)."""

    def run_line_magic(self, name: str, line: str, *args: Any) -> None:
        return None

    def run_cell_magic(self, name: str, line: str, cell: str) -> None:
        return None

    def system(self, cmd: str) -> None:
        return None

    def getoutput(self, cmd: str) -> list:
        return []


def _describe(exc: BaseException) -> str:
    from convlab.exercises.inkernel import describe_exception

    try:
        return describe_exception(exc)[:wire.MAX_TEXT]
    except BaseException:  # an exception whose str() raises
        return f"raised {type(exc).__name__}"


def _find_exercise(module: str, name: str) -> Any:
    mod = importlib.import_module(module)
    for ex in mod.EXERCISES:
        if ex.name == name:
            return ex
    raise LookupError(f"no exercise {name!r} in {module}")


def resolve(name: str) -> tuple[Any, str]:
    """``(owner, attribute)`` of a forbidden API's dotted name, through the exercises' own
    resolver (:func:`convlab.exercises.apis.resolve`)."""
    from convlab.exercises.apis import resolve as resolver

    owner, attr = resolver(name)
    return owner, attr


def _torch_guard(forbidden: tuple[str, ...]) -> Any:
    """A torch-function mode that refuses the forbidden torch functions however they are
    reached: the same function object under another name (``torch._C._VariableFunctions.conv2d``
    is ``torch.conv2d``), an unbound method of ``torch._C.TensorBase`` (which cannot be
    replaced), or a dispatcher operator of the same family (``torch.ops.aten.convolution``,
    ``convolution_backward`` when a convolution is forbidden; ``im2col`` for ``unfold``,
    ``col2im`` for ``fold``). Records the forbidden name in ``.used``."""
    import re

    from torch.overrides import TorchFunctionMode

    from convlab.exercises.forbid import ForbiddenAPIError

    by_id: dict[int, str] = {}
    families: list[tuple[re.Pattern, str]] = []
    #: exact-name families, also matched against a function's ``__name__`` (``unfold_copy``)
    named: list[tuple[re.Pattern, str]] = []
    for name in forbidden:
        try:
            owner, attr = resolve(name)
            target = getattr(owner, attr)
        except (ValueError, AttributeError, ImportError):
            continue
        by_id[id(target)] = name
        if "conv" in attr:
            families.append((re.compile(r"conv(?!ert)"), name))
        elif attr in ("unfold", "fold"):
            op = {"unfold": "im2col", "fold": "col2im"}[attr]
            named.append((re.compile(rf"^_?({attr}|{op})(_copy)?(_backward)?$"), name))
        elif not attr.startswith("_") and attr not in ("forward", "backward", "grad"):
            named.append((re.compile(rf"^_?{re.escape(attr)}(_copy)?$"), name))

    class Guard(TorchFunctionMode):
        used: list[str] = []

        def __torch_function__(self, func: Any, types: Any, args: Any = (),
                               kwargs: Any = None) -> Any:
            hit = by_id.get(id(func)) or by_id.get(id(getattr(func, "__func__", None)))
            schema = getattr(func, "_schema", None)
            qualified = schema.name if schema is not None else getattr(
                func, "_qualified_op_name", None)  # an operator, or its overload packet
            if hit is None and isinstance(qualified, str):
                op = qualified.split("::", 1)[-1].split(".", 1)[0]
                hit = next((n for pattern, n in families + named if pattern.search(op)), None)
            if hit is None:
                fname = getattr(func, "__name__", None)
                if isinstance(fname, str):
                    hit = next((n for pattern, n in named if pattern.search(fname)), None)
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


def _tell(fd: int | None, what: str) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.write(fd, f"{what}\n".encode())


def _exec_cells(cells: list[dict], namespace: dict, forbidden: tuple[str, ...],
                progress: int | None = None) -> tuple[list[dict], list[str]]:
    """Run the cells; errors of the student's cells are returned (an instructor cell that
    fails, say one that calls a function the grader did not run, is only noted on stderr)."""
    from convlab.exercises.forbid import Forbidden

    errors: list[dict] = []
    used: list[str] = []
    for index, cell in enumerate(cells):
        _tell(progress, str(index))
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
            if cell["student"]:
                errors.append({"cell": cell["id"], "error": _describe(exc)})
            else:
                with contextlib.suppress(Exception):
                    print(f"[grader] {cell['id']}: {type(exc).__name__}", file=sys.__stderr__)
        if isinstance(guard, Forbidden):
            used += [u for u in guard.used if u not in used]
        if torch_guard is not None:
            used += [u for u in torch_guard.used if u not in used]
    return errors, used


#: Built-ins left out of the namespace the cells run in.
_NO_BUILTINS = frozenset({"exec", "eval", "compile", "breakpoint", "input"})


def _run_student(job: dict, ex: Any, progress: int | None = None) -> bytes:
    """The child's work: cells, then the cases; returns the packed result. ``progress``: a
    descriptor told the index of each cell as it starts, then ``c`` when the cases start."""
    from convlab.exercises.inkernel import attempt_all
    from convlab.exercises.spec import Case

    if ex.forbidden:
        ex = ex.replace(forbidden=tuple(dict.fromkeys(ex.forbidden + (_GUARD_SWITCH,))))
    cases = [Case(args=a, kwargs=k) for a, k in job["cases"]]
    # the student's namespace has no code generation among its built-ins (a second line
    # behind the static policy, which refuses them by name)
    restricted = {k: v for k, v in vars(builtins).items() if k not in _NO_BUILTINS}
    namespace: dict = {"__name__": "__main__", "__builtins__": restricted}
    shell = _Shell()
    namespace["get_ipython"] = lambda: shell

    cell_errors, used = _exec_cells(job["cells"], namespace, ex.forbidden, progress)
    _tell(progress, "c")
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
    try:
        return wire.pack_result(attempts=attempts, forbidden_used=used,
                                cell_errors=cell_errors, error=error)
    except (wire.WireError, TypeError, ValueError) as exc:
        return wire.pack_result(attempts=[], forbidden_used=used, cell_errors=cell_errors,
                                error=f"{ex.entry} returned something that is not plain "
                                      f"arrays ({str(exc)[:200]})")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _read_all(fd: int, limit: int) -> tuple[bytes, bool]:
    """Everything from ``fd`` until EOF, keeping at most ``limit`` bytes; ``(data, too_big)``."""
    chunks, total = [], 0
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks), False
        total += len(chunk)
        if total > limit:
            return b"", True
        chunks.append(chunk)


def _child(job: dict, result_w: int, progress_w: int, closes: tuple[int, ...],
           use_seccomp: bool, no_threads: bool) -> None:
    """Runs in the forked child; never returns."""
    code = 70
    try:
        ex = _find_exercise(job["module"], job["exercise"])  # imported by the parent on the CPU
        for fd in closes:
            os.close(fd)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.setsid()  # its own session and process group: kill(0, ...) reaches only itself
        if use_seccomp:
            seccomp.install(no_threads, os.getpid())
        payload = _run_student(job, ex, progress_w)
        for stream in (sys.__stdout__, sys.__stderr__):
            with contextlib.suppress(Exception):  # the student's code may have closed them
                stream.flush()
        _write_all(result_w, payload)
        code = 0
    except BaseException as exc:  # the grader sees a crash; say what it was on stderr
        with contextlib.suppress(BaseException):
            os.write(2, f"[grader] worker child: {type(exc).__name__}: {exc}\n".encode()[:500])
    os._exit(code)  # do not wait for threads the student's code may have left running


def _collect(result_r: int, progress_r: int, deadline: float, limit: int) -> tuple[
        bytes, bool, bool, str]:
    """Read the child's result and progress until the result pipe ends or ``deadline``.
    Returns ``(data, too_big, timed_out, last progress mark)``."""
    chunks: list[bytes] = []
    total, mark, pending = 0, "", b""
    open_fds = {result_r, progress_r}
    while result_r in open_fds:
        left = deadline - time.monotonic()
        if left <= 0:
            return b"", False, True, mark
        ready, _, _ = select.select(list(open_fds), [], [], min(left, 1.0))
        for fd in ready:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                open_fds.discard(fd)
            elif fd == progress_r:
                pending = (pending + chunk)[-4096:]
                lines = pending.split(b"\n")
                pending = lines[-1]
                if len(lines) > 1:
                    mark = lines[-2].decode("ascii", "replace")[:16]
            else:
                total += len(chunk)
                if total > limit:
                    return b"", True, False, mark
                chunks.append(chunk)
    return b"".join(chunks), False, False, mark


def _wipe(folder: str) -> None:
    """Empty ``folder`` (links are removed, never followed), so that the next exercise starts
    with nothing a previous one left."""
    def unlock(func: Any, path: str, exc: Any) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(path), 0o700)
            if os.path.isdir(path) and not os.path.islink(path):
                os.chmod(path, 0o700)
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)

    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False):
                os.chmod(entry.path, 0o700)
                shutil.rmtree(entry.path, onerror=unlock)
            else:
                os.unlink(entry.path)


def _grade_one(job: dict, wall: float, hung: dict[str, str], use_seccomp: bool,
               no_threads: bool, report_fd: int) -> bytes:
    """Fork a child for one job, watch it, and return its report."""
    for cell in job["cells"]:  # a cell that ran out of time in an earlier exercise
        if cell["source"] in hung:
            return wire.pack_report(
                status="timeout", detail=f"{cell['id']} did not finish in time in "
                f"{hung[cell['source']]}, and would not here either", exit_code=None,
                signal=None, result=None)
    deadline = time.monotonic() + wall
    result_r, result_w = os.pipe()
    progress_r, progress_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _child(job, result_w, progress_w, (result_r, progress_r, report_fd), use_seccomp,
               no_threads)
    os.close(result_w)
    os.close(progress_w)
    try:
        data, too_big, timed_out, mark = _collect(result_r, progress_r, deadline,
                                                  MAX_RESULT_BYTES)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # done or not, nothing of it may run on
        os.close(result_r)
        os.close(progress_r)
        _, status = os.waitpid(pid, 0)
    exit_code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    if timed_out:
        if mark.isdigit() and int(mark) < len(job["cells"]):
            cell = job["cells"][int(mark)]
            hung.setdefault(cell["source"], f"exercise {job['exercise']}")
            detail = f"stopped in {cell['id']}"
        else:
            detail = "stopped while running the cases"
        return wire.pack_report(status="timeout", detail=detail, exit_code=None, signal=sig,
                                result=None)
    result, detail, state = None, "", "ok"
    if too_big:
        state, detail = "invalid", f"your code's results are larger than {MAX_RESULT_BYTES} bytes"
    elif exit_code != 0 or not data:
        state = "crashed"
        detail = (f"was killed by signal {sig}" if sig is not None and sig != signal.SIGKILL
                  else "was killed" if sig is not None
                  else f"exited with status {exit_code}")
    else:
        try:
            result = wire.unpack_result(data, MAX_RESULT_BYTES)
        except wire.WireError as exc:
            state, detail = "invalid", str(exc)[:500]
    return wire.pack_report(status=state, detail=detail, exit_code=exit_code, signal=sig,
                            result=result)


def main(argv: list[str]) -> int:
    report_fd = int(argv[argv.index("--report-fd") + 1])
    use_seccomp = "--seccomp" in argv
    no_threads = "--no-threads" in argv
    wipe = [argv[i + 1] for i, a in enumerate(argv) if a == "--wipe" and i + 1 < len(argv)]
    raw, too_big = _read_all(0, MAX_JOB_BYTES)
    if too_big:
        raise SystemExit("the jobs are too large")
    jobs = [(wire.unpack_job(frame), wall) for frame, wall in wire.unpack_jobs(raw)]
    del raw
    os.environ["CONVLAB_DEVICE"] = jobs[0][0]["device"] if jobs else "cpu"

    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if no_threads:
        torch.set_num_threads(1)
    if os.environ["CONVLAB_DEVICE"] == "cpu":  # import the chapter modules once, here (CUDA
        for job, _ in jobs:  # must first be touched in the child that uses it: not here)
            _find_exercise(job["module"], job["exercise"])
    if use_seccomp:
        seccomp.not_dumpable()
    os.set_inheritable(report_fd, False)
    hung: dict[str, str] = {}
    for job, wall in jobs:
        report = _grade_one(job, wall, hung, use_seccomp, no_threads, report_fd)
        _write_all(report_fd, wire.frame(report))
        for folder in wipe:
            _wipe(folder)
    os.close(report_fd)
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    os._exit(code)
