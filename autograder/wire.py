"""The data-only format between the grader and its sandboxed workers.

A message is one byte string (:func:`pack` / :func:`unpack`)::

    b"CLW1" | u64 length | JSON document | u32 count | count × (u16 name length | name |
                                                             u64 length | .npy bytes)

Values in the JSON document are described by descriptors; arrays travel as ``.npy`` blobs
beside it. Nothing is ever unpickled, nothing read is called or asked for a method, and
``numpy.load`` is not used either: the reader parses the ``.npy`` header itself (a short
Python literal: dtype string, order, shape), refuses anything but a numeric dtype, checks that
the declared shape matches the bytes that are really there, and only then builds a fresh
array from the buffer. JSON is parsed with NaN/Infinity refused and nesting capped.

A value descriptor is one of::

    {"array": "a7.npy"}           a numeric or bool ndarray (no object, void or string dtypes)
    {"scalar": 3} / {"scalar": "same"} / {"scalar": null}    int, float, bool, str or None
    {"tuple": [desc, ...]}  {"list": [desc, ...]}  {"dict": {"key": desc, ...}}

Messages: the job (grader → worker, on the worker's stdin, :func:`pack_job` /
:func:`unpack_job`), the student child's result (child → the worker's trusted parent,
:func:`pack_result` / :func:`unpack_result`) and the report (trusted parent → grader, on a
pipe only the parent holds, :func:`pack_report` / :func:`unpack_report`). Every reader treats
its input as hostile: sizes, counts, depth, types and names are checked, and any deviation is
a :class:`WireError`.

Files read from a place someone else can write (a submitted notebook) go through
:func:`read_regular`: a regular file only, opened without following links and without
blocking (a FIFO or a device is refused before anything is read), size-capped.

Used by both sides: this module imports only ``numpy`` and the standard library.
"""

from __future__ import annotations

import ast
import io
import json
import math
import os
import re
import stat
import struct
from pathlib import Path
from typing import Any

import numpy as np

MAGIC = b"CLW1"
#: Array blobs have names like ``a12.npy``; anything else is refused.
_ARRAY_NAME = re.compile(r"^a[0-9]{1,6}\.npy$")
#: dtype kinds allowed across the boundary: bool, signed/unsigned int, float, complex.
_ARRAY_KINDS = frozenset("biufc")
#: Deepest nesting accepted in a descriptor, and in any JSON document read.
_MAX_DEPTH = 8
MAX_JSON_DEPTH = 32
#: Largest JSON document accepted in a message from a worker.
MAX_JSON_BYTES = 4 << 20
#: Most array blobs in one message; longest ``.npy`` header; most dimensions.
MAX_BLOBS = 20000
MAX_NPY_HEADER = 4096
MAX_NDIM = 32
#: Longest string kept from a worker's message (error texts, cell names).
MAX_TEXT = 2000
#: Most attempts (cases) and cell errors in a report.
MAX_ITEMS = 10000


class WireError(ValueError):
    """Something on the wire is not in the data-only format."""


# -- framing -------------------------------------------------------------------------------
def pack(doc: Any, blobs: dict[str, bytes]) -> bytes:
    """One message: the JSON document ``doc`` and the named ``.npy`` blobs."""
    text = json.dumps(doc, allow_nan=False, separators=(",", ":")).encode("utf-8")
    parts = [MAGIC, struct.pack("<Q", len(text)), text, struct.pack("<I", len(blobs))]
    for name, data in blobs.items():
        raw = name.encode("ascii")
        parts += [struct.pack("<H", len(raw)), raw, struct.pack("<Q", len(data)), data]
    return b"".join(parts)


def _depth_ok(text: bytes, limit: int) -> bool:
    """Whether the JSON text nests at most ``limit`` deep (brackets outside strings)."""
    depth, in_string, escaped = 0, False, False
    for byte in text:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return False
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return True


def parse_json(text: bytes, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH,
               what: str = "the message") -> Any:
    """JSON from bytes written by the other side: size and depth capped, no NaN/Infinity."""
    if len(text) > max_bytes:
        raise WireError(f"{what} is larger than {max_bytes} bytes")
    if not _depth_ok(text, max_depth):
        raise WireError(f"{what} nests deeper than {max_depth} levels")
    try:
        return json.loads(text.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise WireError(f"{what} is not valid JSON: {str(exc)[:200]}") from None


def _refuse_constant(name: str) -> Any:
    raise WireError(f"JSON constant {name} is not allowed")


def unpack(buf: bytes, max_json: int = MAX_JSON_BYTES, what: str = "the message") -> tuple[
        Any, dict[str, bytes]]:
    """``(doc, blobs)`` of a message made by :func:`pack`; every length is checked."""
    view = memoryview(buf)
    pos = 0

    def take(n: int) -> memoryview:
        nonlocal pos
        if n < 0 or pos + n > len(view):
            raise WireError(f"{what} is truncated")
        out = view[pos:pos + n]
        pos += n
        return out

    if bytes(take(4)) != MAGIC:
        raise WireError(f"{what} does not start with the wire format's magic")
    (n,) = struct.unpack("<Q", take(8))
    if n > max_json:
        raise WireError(f"{what}: JSON part of {n} bytes, more than {max_json}")
    doc = parse_json(bytes(take(n)), max_json, what=what)
    (count,) = struct.unpack("<I", take(4))
    if count > MAX_BLOBS:
        raise WireError(f"{what}: {count} arrays, more than {MAX_BLOBS}")
    blobs: dict[str, bytes] = {}
    for _ in range(count):
        (k,) = struct.unpack("<H", take(2))
        try:
            name = bytes(take(k)).decode("ascii")
        except UnicodeDecodeError:
            raise WireError(f"{what}: an array name is not ASCII") from None
        if not _ARRAY_NAME.match(name) or name in blobs:
            raise WireError(f"{what}: bad or repeated array name {name!r:.40}")
        (size,) = struct.unpack("<Q", take(8))
        blobs[name] = bytes(take(size))
    if pos != len(view):
        raise WireError(f"{what}: {len(view) - pos} bytes after the end of the message")
    return doc, blobs


# -- .npy without numpy.load -----------------------------------------------------------------
def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)  # keeps 0-d arrays 0-d
    return buf.getvalue()


def parse_npy(data: bytes, name: str = "array") -> np.ndarray:
    """A fresh array from ``.npy`` bytes, checked before anything is allocated.

    Refused (:class:`WireError`): a bad magic or version, a header longer than
    ``MAX_NPY_HEADER`` bytes or not a plain literal, a dtype that is not bool, int, uint, float
    or complex (object, string, structured, void), more than ``MAX_NDIM`` dimensions, a
    negative size, and a shape whose byte count differs from the bytes present.
    """
    if len(data) < 10 or data[:6] != b"\x93NUMPY":
        raise WireError(f"{name} is not a plain .npy array (bad magic)")
    major = data[6]
    if major == 1:
        (hlen,) = struct.unpack("<H", data[8:10])
        start = 10
    elif major in (2, 3):
        if len(data) < 12:
            raise WireError(f"{name} is truncated")
        (hlen,) = struct.unpack("<I", data[8:12])
        start = 12
    else:
        raise WireError(f"{name}: .npy version {major} is not supported")
    if hlen > MAX_NPY_HEADER or start + hlen > len(data):
        raise WireError(f"{name}: .npy header of {hlen} bytes is too long or truncated")
    try:
        header = data[start:start + hlen].decode("latin1")
        meta = ast.literal_eval(header)
    except (ValueError, SyntaxError, RecursionError, MemoryError, TypeError):
        raise WireError(f"{name}: the .npy header is not a plain literal") from None
    if type(meta) is not dict or set(meta) != {"descr", "fortran_order", "shape"}:
        raise WireError(f"{name}: the .npy header has unexpected keys")
    descr, fortran, shape = meta["descr"], meta["fortran_order"], meta["shape"]
    if type(descr) is not str or len(descr) > 16 or type(fortran) is not bool:
        raise WireError(f"{name}: the .npy header's dtype or order is not plain")
    if (type(shape) is not tuple or len(shape) > MAX_NDIM
            or not all(type(s) is int and s >= 0 for s in shape)):
        raise WireError(f"{name}: the .npy shape is not a tuple of sizes")
    try:
        dtype = np.dtype(descr)
    except (TypeError, ValueError):
        raise WireError(f"{name}: unknown dtype {descr!r}") from None
    if dtype.kind not in _ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise WireError(f"arrays of dtype {descr} cannot be sent; numbers only")
    count = math.prod(shape)
    body = len(data) - start - hlen
    if count * dtype.itemsize != body:
        raise WireError(f"{name}: the header declares shape {shape[:8]} "
                        f"({count * dtype.itemsize} bytes) but {body} bytes follow")
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=start + hlen)
    array = flat.reshape(shape, order="F" if fortran else "C")
    return np.array(array, dtype=dtype.newbyteorder("="), copy=True)


# -- values ----------------------------------------------------------------------------------
class Writer:
    """Describes values; their arrays go into :attr:`blobs` as ``.npy`` bytes."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def value(self, value: Any, depth: int = 0) -> dict:
        """The descriptor of ``value``, its arrays added to :attr:`blobs`."""
        if depth > _MAX_DEPTH:
            raise WireError(f"value nested deeper than {_MAX_DEPTH} levels")
        if type(value) is np.ndarray:
            return {"array": self._array(value)}
        if isinstance(value, np.generic) and type(value).__module__ == "numpy":
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
        if array.dtype.kind not in _ARRAY_KINDS or array.dtype.fields is not None:
            raise WireError(f"arrays of dtype {array.dtype} cannot be sent; numbers only")
        name = f"a{len(self.blobs)}.npy"
        self.blobs[name] = npy_bytes(np.ascontiguousarray(array) if array.ndim else array)
        return name


class Reader:
    """Reads descriptors against the blobs of one message, validating everything.

    ``max_array_bytes`` caps the total size of the arrays read.
    """

    def __init__(self, blobs: dict[str, bytes], max_array_bytes: int = 1 << 30):
        self.blobs = blobs
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
                if type(body) is str and len(body) > MAX_TEXT:
                    raise WireError("a string value is too long")
                return body
            raise WireError(f"a scalar must be a number, bool, string or null, not {body!r:.40}")
        if kind in ("tuple", "list"):
            if type(body) is not list or len(body) > MAX_ITEMS:
                raise WireError(f"a {kind} descriptor holds a JSON list")
            items = [self.value(v, depth + 1) for v in body]
            return tuple(items) if kind == "tuple" else items
        if kind == "dict":
            if type(body) is not dict or len(body) > MAX_ITEMS:
                raise WireError("a dict descriptor holds a JSON object")
            return {str(k): self.value(v, depth + 1) for k, v in body.items()}
        raise WireError(f"unknown descriptor kind {kind!r:.40}")

    def array(self, name: Any) -> np.ndarray:
        if type(name) is not str or not _ARRAY_NAME.match(name) or name not in self.blobs:
            raise WireError(f"bad array name {name!r:.40}")
        data = self.blobs[name]
        if len(data) > self.budget:
            raise WireError(f"{name} is {len(data)} bytes, over the limit on what a worker "
                            "returns")
        self.budget -= len(data)
        return parse_npy(data, name)


# -- plain files written by others -----------------------------------------------------------
def read_regular(path: Path, max_bytes: int) -> bytes:
    """The bytes of ``path``, a regular file of at most ``max_bytes`` bytes.

    Opened with ``O_NOFOLLOW | O_NONBLOCK`` (a link, a FIFO or a device never blocks or
    redirects the read) and checked with ``fstat`` before reading.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as exc:  # ELOOP on a link, and the like
        raise WireError(f"{Path(path).name} cannot be read as a plain file: "
                        f"{exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise WireError(f"{Path(path).name} is not a regular file")
        if st.st_size > max_bytes:
            raise WireError(f"{Path(path).name} is larger than {max_bytes} bytes")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise WireError(f"{Path(path).name} is larger than {max_bytes} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)


# -- the three messages ----------------------------------------------------------------------
def _string(value: Any, what: str, limit: int = MAX_TEXT) -> str:
    if type(value) is not str:
        raise WireError(f"{what} must be a string")
    return value[:limit]


def _strings(value: Any, what: str) -> list[str]:
    if type(value) is not list or len(value) > MAX_ITEMS:
        raise WireError(f"{what} must be a list of strings")
    return [_string(v, what) for v in value]


def _keys(data: Any, expected: set[str], what: str) -> dict:
    if type(data) is not dict or set(data) != expected:
        got = sorted(data) if type(data) is dict else type(data).__name__
        raise WireError(f"{what} has keys {str(got)[:200]}, expected {sorted(expected)}")
    return data


def pack_job(*, cells: list[dict], module: str, exercise: str, cases: list,
             device: str) -> bytes:
    """The job: cells to execute (``{"id", "source", "student"}``), the exercise to run and
    its cases (each ``(args, kwargs)``), the device name."""
    w = Writer()
    doc = {"cells": cells, "module": module, "exercise": exercise, "device": device,
           "cases": [{"args": w.value(tuple(a)), "kwargs": w.value(dict(k))} for a, k in cases]}
    return pack(doc, w.blobs)


def unpack_job(buf: bytes) -> dict:
    """The job made by :func:`pack_job` (read inside the worker)."""
    doc, blobs = unpack(buf, max_json=256 << 20, what="the job")
    job = _keys(doc, {"cells", "module", "exercise", "device", "cases"}, "the job")
    r = Reader(blobs)
    cells = []
    for c in job["cells"]:
        c = _keys(c, {"id", "source", "student"}, "a cell")
        cells.append({"id": _string(c["id"], "cell id"),
                      "source": _string(c["source"], "cell source", 1 << 24),
                      "student": bool(c["student"])})
    cases = []
    for c in job["cases"]:
        c = _keys(c, {"args", "kwargs"}, "a case")
        args, kwargs = r.value(c["args"]), r.value(c["kwargs"])
        if type(args) is not tuple or type(kwargs) is not dict:
            raise WireError("a case is (args tuple, kwargs dict)")
        cases.append((args, kwargs))
    return {"cells": cells, "module": _string(job["module"], "module"),
            "exercise": _string(job["exercise"], "exercise"),
            "device": _string(job["device"], "device"), "cases": cases}


_RESULT_KEYS = {"attempts", "forbidden_used", "cell_errors", "error"}


def pack_result(*, attempts: list, forbidden_used: list[str], cell_errors: list[dict],
                error: str | None) -> bytes:
    """What the student child hands its trusted parent: per case a tuple of arrays or an
    error string, the forbidden APIs the run-time guard saw, cell errors, a top-level error."""
    w = Writer()
    encoded = []
    for a in attempts:
        if isinstance(a, str):
            encoded.append({"error": a[:MAX_TEXT]})
        else:
            encoded.append({"outputs": [w.value(np.asarray(x)) for x in a]})
    return pack({"attempts": encoded, "forbidden_used": list(forbidden_used),
                 "cell_errors": cell_errors, "error": error}, w.blobs)


def _decode_result(doc: Any, blobs: dict[str, bytes], max_array_bytes: int) -> dict:
    data = _keys(doc, _RESULT_KEYS, "the result")
    r = Reader(blobs, max_array_bytes)
    attempts: list = []
    if type(data["attempts"]) is not list or len(data["attempts"]) > MAX_ITEMS:
        raise WireError("attempts must be a list")
    for a in data["attempts"]:
        if type(a) is dict and set(a) == {"error"}:
            attempts.append(_string(a["error"], "an attempt's error"))
        elif (type(a) is dict and set(a) == {"outputs"} and type(a["outputs"]) is list
              and len(a["outputs"]) <= 64):
            outs = tuple(r.value(d) for d in a["outputs"])
            if not all(type(o) is np.ndarray for o in outs):
                raise WireError("outputs must be arrays")
            attempts.append(outs)
        else:
            raise WireError("an attempt is {'error': str} or {'outputs': [arrays]}")
    cell_errors = []
    if type(data["cell_errors"]) is not list or len(data["cell_errors"]) > MAX_ITEMS:
        raise WireError("cell_errors must be a list")
    for c in data["cell_errors"]:
        c = _keys(c, {"cell", "error"}, "a cell error")
        cell_errors.append({"cell": _string(c["cell"], "cell"),
                            "error": _string(c["error"], "error")})
    error = data["error"]
    if error is not None:
        error = _string(error, "error")
    return {"attempts": attempts, "forbidden_used": _strings(data["forbidden_used"], "forbidden"),
            "cell_errors": cell_errors, "error": error}


def unpack_result(buf: bytes, max_array_bytes: int = 1 << 30) -> dict:
    """The child's result, validated field by field (read by the trusted parent)."""
    doc, blobs = unpack(buf, what="the result")
    return _decode_result(doc, blobs, max_array_bytes)


#: How the student's child process ended, as the trusted parent saw it.
STATUSES = ("ok", "crashed", "invalid", "timeout")


# -- streams of messages: the jobs of one notebook, and their reports ---------------------------
JOBS_MAGIC = b"CLJ1"


def frame(message: bytes) -> bytes:
    """``message`` with its length in front, for a stream of messages."""
    return struct.pack("<Q", len(message)) + message


def unframe(stream: bytes) -> list[bytes]:
    """The complete messages at the start of ``stream`` (a cut-off last one is left out)."""
    out, pos = [], 0
    while pos + 8 <= len(stream):
        (n,) = struct.unpack("<Q", stream[pos:pos + 8])
        if n > len(stream) - pos - 8:
            break
        out.append(stream[pos + 8:pos + 8 + n])
        pos += 8 + n
    return out


def pack_jobs(jobs: list[tuple[bytes, float]]) -> bytes:
    """The worker's stdin: packed jobs (:func:`pack_job`), each with its wall-time budget."""
    parts = [JOBS_MAGIC, struct.pack("<I", len(jobs))]
    for job, wall in jobs:
        parts += [struct.pack("<d", float(wall)), frame(job)]
    return b"".join(parts)


def unpack_jobs(raw: bytes) -> list[tuple[bytes, float]]:
    if raw[:4] != JOBS_MAGIC or len(raw) < 8:
        raise WireError("the jobs do not start with their magic")
    (count,) = struct.unpack("<I", raw[4:8])
    out, pos = [], 8
    for _ in range(count):
        if pos + 16 > len(raw):
            raise WireError("the jobs are truncated")
        (wall,) = struct.unpack("<d", raw[pos:pos + 8])
        (n,) = struct.unpack("<Q", raw[pos + 8:pos + 16])
        if n > len(raw) - pos - 16 or not (math.isfinite(wall) and wall > 0):
            raise WireError("a job is truncated or has no budget")
        out.append((raw[pos + 16:pos + 16 + n], wall))
        pos += 16 + n
    return out


def pack_report(*, status: str, detail: str, exit_code: int | None, signal: int | None,
                result: dict | None) -> bytes:
    """The report the trusted parent sends the grader: how the child ended, and its validated
    result re-encoded (``None`` when it sent none or an invalid one)."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    w = Writer()
    encoded = None
    if result is not None:
        encoded = {"attempts": [{"error": a} if isinstance(a, str)
                                else {"outputs": [w.value(x) for x in a]}
                                for a in result["attempts"]],
                   "forbidden_used": result["forbidden_used"],
                   "cell_errors": result["cell_errors"], "error": result["error"]}
    return pack({"status": status, "detail": detail[:MAX_TEXT], "exit_code": exit_code,
                 "signal": signal, "result": encoded}, w.blobs)


def unpack_report(buf: bytes, max_array_bytes: int = 1 << 30) -> dict:
    """The worker's report, validated field by field. Raises :class:`WireError`.

    Returns ``{"status", "detail", "exit_code", "signal", "result"}`` where ``result`` is
    ``None`` or ``{"attempts", "forbidden_used", "cell_errors", "error"}``.
    """
    doc, blobs = unpack(buf, what="the report")
    data = _keys(doc, {"status", "detail", "exit_code", "signal", "result"}, "the report")
    if data["status"] not in STATUSES:
        raise WireError(f"unknown status {data['status']!r:.40}")
    for key in ("exit_code", "signal"):
        if data[key] is not None and type(data[key]) is not int:
            raise WireError(f"{key} must be an int or null")
    result = None
    if data["result"] is not None:
        result = _decode_result(data["result"], blobs, max_array_bytes)
    return {"status": data["status"], "detail": _string(data["detail"], "detail"),
            "exit_code": data["exit_code"], "signal": data["signal"], "result": result}
