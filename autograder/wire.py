"""The data-only format between the grader and its sandboxed workers.

Values are described in JSON; arrays travel as ``.npy`` files written with
``allow_pickle=False`` and read back with ``np.load(allow_pickle=False)``. Nothing is ever
unpickled, and nothing read from a worker is called or asked for a method: the reader builds
fresh ``numpy`` arrays and Python scalars, tuples, lists, dicts and strings, and checks every
JSON type on the way.

A value descriptor is one of::

    {"array": "a7.npy"}           a numeric or bool ndarray (no object, void or string dtypes)
    {"scalar": 3} / {"scalar": "same"} / {"scalar": null}    int, float, bool, str or None
    {"tuple": [desc, ...]}  {"list": [desc, ...]}  {"dict": {"key": desc, ...}}

Used by both sides: this module imports only ``numpy`` and the standard library.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any

import numpy as np

#: Array files have names like ``a12.npy``; anything else is refused.
_ARRAY_NAME = re.compile(r"^a[0-9]{1,6}\.npy$")
#: dtype kinds allowed across the boundary: bool, signed/unsigned int, float, complex.
_ARRAY_KINDS = frozenset("biufc")
#: Deepest nesting accepted in a descriptor.
_MAX_DEPTH = 8
#: Largest JSON file read back from a worker.
MAX_JSON_BYTES = 4 << 20


class WireError(ValueError):
    """Something on the wire is not in the data-only format."""


class Writer:
    """Writes values into ``folder``: arrays as numbered ``.npy`` files, the rest as JSON."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._count = 0

    def value(self, value: Any, depth: int = 0) -> dict:
        """The descriptor of ``value``, writing its arrays to ``folder``."""
        if depth > _MAX_DEPTH:
            raise WireError(f"value nested deeper than {_MAX_DEPTH} levels")
        if isinstance(value, np.ndarray):
            return {"array": self._array(value)}
        if isinstance(value, np.generic):
            return {"array": self._array(np.asarray(value))}
        if value is None or type(value) in (bool, int, str):
            return {"scalar": value}
        if type(value) is float:
            if not math.isfinite(value):  # JSON has no NaN/inf: send it as an array
                return {"array": self._array(np.asarray(value))}
            return {"scalar": value}
        if type(value) is tuple:
            return {"tuple": [self.value(v, depth + 1) for v in value]}
        if type(value) is list:
            return {"list": [self.value(v, depth + 1) for v in value]}
        if type(value) is dict:
            for k in value:
                if type(k) is not str:
                    raise WireError(f"dict keys must be str, got {type(k).__name__}")
            return {"dict": {k: self.value(v, depth + 1) for k, v in value.items()}}
        raise WireError(f"cannot send a {type(value).__name__}; only arrays and plain data")

    def _array(self, array: np.ndarray) -> str:
        if array.dtype.kind not in _ARRAY_KINDS:
            raise WireError(f"arrays of dtype {array.dtype} cannot be sent; numbers only")
        name = f"a{self._count}.npy"
        self._count += 1
        np.save(self.folder / name, array, allow_pickle=False)  # keeps 0-d arrays 0-d
        return name


def _open_regular(path: Path) -> int:
    """Open ``path`` for reading, refusing links and anything but a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:  # ELOOP on a link, and the like
        raise WireError(f"{path.name} cannot be read as a plain file: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise WireError(f"{path.name} is not a regular file")
    return fd


class Reader:
    """Reads descriptors written by :class:`Writer` in ``folder``, validating everything.

    ``max_array_bytes`` caps the total size of the arrays read.
    """

    def __init__(self, folder: Path, max_array_bytes: int = 1 << 30):
        self.folder = Path(folder)
        self.budget = max_array_bytes

    def value(self, desc: Any, depth: int = 0) -> Any:
        if depth > _MAX_DEPTH:
            raise WireError(f"value nested deeper than {_MAX_DEPTH} levels")
        if type(desc) is not dict or len(desc) != 1:
            raise WireError("a value descriptor is a JSON object with exactly one key")
        ((kind, body),) = desc.items()
        if kind == "array":
            return self.array(body)
        if kind == "scalar":
            if body is None or type(body) in (bool, int, float, str):
                return body
            raise WireError(f"a scalar must be a number, bool, string or null, not {body!r:.40}")
        if kind in ("tuple", "list"):
            if type(body) is not list:
                raise WireError(f"a {kind} descriptor holds a JSON list")
            items = [self.value(v, depth + 1) for v in body]
            return tuple(items) if kind == "tuple" else items
        if kind == "dict":
            if type(body) is not dict:
                raise WireError("a dict descriptor holds a JSON object")
            return {str(k): self.value(v, depth + 1) for k, v in body.items()}
        raise WireError(f"unknown descriptor kind {kind!r:.40}")

    def array(self, name: Any) -> np.ndarray:
        if type(name) is not str or not _ARRAY_NAME.match(name):
            raise WireError(f"bad array file name {name!r:.40}")
        fd = _open_regular(self.folder / name)
        with os.fdopen(fd, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > self.budget:
                raise WireError(f"{name} is {size} bytes, over the limit on what a worker returns")
            self.budget -= size
            try:
                array = np.load(f, allow_pickle=False)
            except (ValueError, OSError, EOFError) as exc:  # pickled, truncated or not .npy
                raise WireError(f"{name} is not a plain .npy array: {exc}") from None
        if type(array) is not np.ndarray or array.dtype.kind not in _ARRAY_KINDS:
            raise WireError(f"{name} does not hold a numeric array")
        return np.array(array, copy=True)


def dump_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON (no NaN/inf) to ``path``."""
    Path(path).write_text(json.dumps(data, allow_nan=False), encoding="utf-8")


def load_json(path: Path, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """Read a JSON file written on the other side: a regular file, at most ``max_bytes``."""
    fd = _open_regular(Path(path))
    with os.fdopen(fd, "rb") as f:
        raw = f.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise WireError(f"{Path(path).name} is larger than {max_bytes} bytes")
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"{Path(path).name} is not valid JSON: {exc}") from None


def _refuse_constant(name: str) -> Any:
    raise WireError(f"JSON constant {name} is not allowed")


# -- the two messages: a job (grader -> worker) and a report (worker -> grader) -------------


def write_job(folder: Path, *, cells: list[dict], module: str, exercise: str,
              cases: list, device: str) -> None:
    """The job: cells to execute (``{"id", "source", "student"}``), the exercise to run and
    its cases (each ``(args, kwargs)``), the device name."""
    w = Writer(folder)
    dump_json(folder / "job.json", {
        "cells": cells,
        "module": module,
        "exercise": exercise,
        "device": device,
        "cases": [{"args": w.value(tuple(a)), "kwargs": w.value(dict(k))} for a, k in cases],
    })


def _string(value: Any, what: str, limit: int = 2000) -> str:
    if type(value) is not str:
        raise WireError(f"{what} must be a string")
    return value[:limit]


def _strings(value: Any, what: str) -> list[str]:
    if type(value) is not list:
        raise WireError(f"{what} must be a list of strings")
    return [_string(v, what) for v in value]


def read_job(folder: Path) -> dict:
    """The job written by :func:`write_job` (read inside the worker)."""
    job = load_json(folder / "job.json", max_bytes=256 << 20)
    r = Reader(folder)
    cells = []
    for c in job["cells"]:
        cells.append({"id": _string(c["id"], "cell id"), "source": str(c["source"]),
                      "student": bool(c["student"])})
    cases = []
    for c in job["cases"]:
        args, kwargs = r.value(c["args"]), r.value(c["kwargs"])
        if type(args) is not tuple or type(kwargs) is not dict:
            raise WireError("a case is (args tuple, kwargs dict)")
        cases.append((args, kwargs))
    return {"cells": cells, "module": _string(job["module"], "module"),
            "exercise": _string(job["exercise"], "exercise"),
            "device": _string(job["device"], "device"), "cases": cases}


def write_report(folder: Path, *, attempts: list, forbidden_used: list[str],
                 cell_errors: list[dict], error: str | None) -> None:
    """The worker's report: per case either a tuple of arrays or an error string."""
    w = Writer(folder)
    encoded = []
    for a in attempts:
        if isinstance(a, str):
            encoded.append({"error": a[:2000]})
        else:
            encoded.append({"outputs": [w.value(np.asarray(x)) for x in a]})
    dump_json(folder / "report.json", {
        "attempts": encoded, "forbidden_used": list(forbidden_used),
        "cell_errors": cell_errors, "error": error,
    })


def read_report(folder: Path, max_array_bytes: int = 1 << 30) -> dict:
    """The report of a worker, validated field by field. Raises :class:`WireError`."""
    data = load_json(Path(folder) / "report.json")
    if type(data) is not dict:
        raise WireError("the report is not a JSON object")
    expected = {"attempts", "forbidden_used", "cell_errors", "error"}
    if set(data) != expected:
        raise WireError(f"the report has keys {sorted(data)}, expected {sorted(expected)}")
    r = Reader(Path(folder), max_array_bytes)
    attempts: list = []
    if type(data["attempts"]) is not list:
        raise WireError("attempts must be a list")
    for a in data["attempts"]:
        if type(a) is dict and set(a) == {"error"}:
            attempts.append(_string(a["error"], "an attempt's error"))
        elif type(a) is dict and set(a) == {"outputs"} and type(a["outputs"]) is list:
            outs = tuple(r.value(d) for d in a["outputs"])
            if not all(type(o) is np.ndarray for o in outs):
                raise WireError("outputs must be arrays")
            attempts.append(outs)
        else:
            raise WireError("an attempt is {'error': str} or {'outputs': [arrays]}")
    cell_errors = []
    if type(data["cell_errors"]) is not list:
        raise WireError("cell_errors must be a list")
    for c in data["cell_errors"]:
        if type(c) is not dict or set(c) != {"cell", "error"}:
            raise WireError("a cell error is {'cell': str, 'error': str}")
        cell_errors.append({"cell": _string(c["cell"], "cell"),
                            "error": _string(c["error"], "error")})
    error = data["error"]
    if error is not None:
        error = _string(error, "error")
    return {"attempts": attempts, "forbidden_used": _strings(data["forbidden_used"], "forbidden"),
            "cell_errors": cell_errors, "error": error}
