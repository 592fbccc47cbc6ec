"""The reference side of a batch, computed once: the training checks' reference runs.

A training check (:class:`convlab.exercises.training.TrainingExercise`) trains the student's
network and convlab's reference network from the same seed and compares the two runs. The
student's run is per student; the reference run is not: its seed is drawn from the course
secret and the exercise's key alone (:func:`shared_seed`, never written anywhere), so one run
serves every student of the course. ``grade-batch`` computes it once per chapter, in its own
process (outside any sandbox), before grading starts (:func:`prepare`), and stores it in the
batch's output folder, ``OUT/reference/<chapter>-<device>.ref``; every grading process — a
thread of the batch or a Dask worker on another node — loads it read-only (:func:`install`)
into :data:`convlab.exercises.training.SHARED_RUNS`, where the judge looks first.

Why it can be trusted:

* the student's code never sees it: the file is written and read by the grader's processes
  only; the sandbox binds no host folder but the Python installation, and the judge that uses
  the arrays runs in the grader's process (the arrays are installed read-only);
* the file carries an HMAC-SHA256 tag keyed by the course secret over all its bytes, checked
  before anything in it is parsed: a file changed by anyone without the secret is rejected;
* its header names what it was computed for — the chapter, each exercise's declaration hash
  (the :class:`~convlab.exercises.training.Training`'s fields, the callables by qualified name,
  and the hash of every source file of ``convlab``), the torch and numpy versions and the
  device — and a file for anything else is stale: :func:`prepare` recomputes it, and
  :func:`install` leaves it out (the judge then computes its own run, as a single ``grade``
  does);
* no pickle: a JSON header (size-capped) and raw little-endian arrays of numeric dtypes.

Results are identical with and without the file: the judge gets the same arrays either way
(computed by the same :func:`~convlab.exercises.training.reference_run`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import hmac
import json
import struct
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from convlab.exercises.seeds import derive_seed
from convlab.exercises.spec import Case, Exercise

#: The file format's version; part of every key, so a new format makes old files stale.
FORMAT = 1
MAGIC = b"CONVLAB-REFERENCE\n"
#: The folder, inside a batch's ``--out``, that holds the files.
FOLDER = "reference"
MAX_HEADER_BYTES = 1 << 20
MAX_FILE_BYTES = 1 << 30
_TAG = hashlib.sha256().digest_size
_DTYPES = frozenset({"<f2", "<f4", "<f8", "<i1", "<i2", "<i4", "<i8", "|u1", "|i1", "|b1",
                     "<u2", "<u4", "<u8"})

Run = tuple[np.ndarray, tuple[tuple[str, np.ndarray], ...]]


class ReferenceFileError(ValueError):
    """A reference file that cannot be used: unreadable, tampered with, or stale."""


def shares_reference(ex: Exercise) -> bool:
    """Whether ``ex`` is a training check, whose reference run one batch shares."""
    return getattr(ex, "training", None) is not None


def shared_seed(secret: bytes, ex: Exercise) -> int:
    """The seed of a training check's training runs: the course secret and the exercise's key
    only (the same for every student, so one reference run serves all)."""
    return derive_seed(secret, "shared-reference", ex.key)


def _is_run(case: Case) -> bool:
    """A training run's case, by the judge's own rule (a module's hidden probe has
    ``build``)."""
    return "build" not in case.kwargs and "seed" in case.kwargs


def run_cases(secret: bytes, ex: Exercise) -> list[Case]:
    """The training-run cases of a training check, drawn from :func:`shared_seed`."""
    return [c for c in ex.make_cases(np.random.default_rng(shared_seed(secret, ex)))
            if _is_run(c)]


def cases(ex: Exercise, seed: int, secret: bytes) -> list[Case]:
    """The cases of ``ex`` for a student's ``seed``; a training check's training runs are
    drawn from the course's :func:`shared_seed` instead (its other cases, such as the hidden
    probes of the module the student writes, stay the student's)."""
    drawn = ex.cases(seed)
    if not shares_reference(ex):
        return drawn
    shared = iter(run_cases(secret, ex))
    return [next(shared, c) if _is_run(c) else c for c in drawn]


def _named(value: Any) -> Any:
    """A declaration field as stable JSON: callables by qualified name, recursively."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (tuple, list)):
        return [_named(v) for v in value]
    if isinstance(value, functools.partial):
        return {"partial": _named(value.func), "args": _named(value.args),
                "keywords": _named(sorted(value.keywords.items()))}
    if callable(value):
        return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', '?')}"
    return repr(value)


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """SHA-256 of every ``*.py`` file of the ``convlab`` package (relative path and bytes):
    the reference network, its data, its training loop and the reference ops all live there."""
    import convlab

    root = Path(convlab.__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def declaration_digest(ex: Exercise) -> str:
    """SHA-256 of a training check's declaration: its key, its Training's type and fields,
    and :func:`code_digest`."""
    t = ex.training  # type: ignore[attr-defined]
    fields = {f.name: _named(getattr(t, f.name)) for f in dataclasses.fields(t)}
    doc = {"key": ex.key, "type": f"{type(t).__module__}.{type(t).__qualname__}",
           "fields": fields, "code": code_digest()}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def file_key(chapter: str, exercises: Iterable[Exercise], device: str) -> dict[str, Any]:
    """What a chapter's file must have been computed for."""
    import torch

    return {"format": FORMAT, "chapter": chapter, "device": device,
            "torch": torch.__version__, "numpy": np.__version__,
            "exercises": {ex.key: declaration_digest(ex) for ex in exercises
                          if shares_reference(ex)}}


def path_for(folder: Path, chapter: str, device: str) -> Path:
    """The file of ``chapter`` on ``device`` in ``folder``."""
    return Path(folder) / f"{chapter}-{device.replace(':', '_')}.ref"


def _mac_key(secret: bytes) -> bytes:
    return hmac.new(secret, b"convlab shared reference file", hashlib.sha256).digest()


def _seed_check(secret: bytes, seed: int) -> str:
    """Ties a run to its seed without writing the seed."""
    return hmac.new(_mac_key(secret), f"seed {seed}".encode(), hashlib.sha256).hexdigest()[:32]


def _seeds(secret: bytes, ex: Exercise) -> dict[str, int]:
    """Entry name → seed of each training run of ``ex``."""
    return {f"{ex.key}#{i}": int(c.kwargs["seed"])
            for i, c in enumerate(run_cases(secret, ex))}


def encode(key: Mapping[str, Any], runs: Mapping[str, tuple[int, Run]], secret: bytes) -> bytes:
    """The file's bytes: magic, header length, JSON header, arrays, HMAC tag.

    ``runs``: entry (``<exercise key>#<run>``) → ``(seed, (losses, ((name, weight), ...)))``.
    """
    arrays: list[np.ndarray] = []
    entries = {}
    offset = 0

    def add(a: np.ndarray) -> list:
        nonlocal offset
        a = np.ascontiguousarray(a)
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        spec = [a.dtype.str, list(a.shape), offset, a.nbytes]
        offset += a.nbytes
        arrays.append(a)
        return spec

    for ex_key, (seed, (losses, weights)) in runs.items():
        entries[ex_key] = {"seed_check": _seed_check(secret, seed), "losses": add(losses),
                           "weights": [[name, *add(w)] for name, w in weights]}
    header = json.dumps({"key": dict(key), "runs": entries}, sort_keys=True).encode()
    body = MAGIC + struct.pack("<Q", len(header)) + header + b"".join(a.tobytes() for a in arrays)
    return body + hmac.new(_mac_key(secret), body, hashlib.sha256).digest()


def _array(payload: bytes, spec: Any) -> np.ndarray:
    if not (isinstance(spec, list) and len(spec) == 4 and spec[0] in _DTYPES
            and isinstance(spec[1], list) and all(isinstance(n, int) and n >= 0
                                                  for n in spec[1])
            and all(isinstance(n, int) and n >= 0 for n in spec[2:])):
        raise ReferenceFileError(f"an array entry is malformed: {str(spec)[:80]}")
    dtype, shape, offset, nbytes = spec
    dt = np.dtype(dtype)
    if int(np.prod(shape, dtype=np.int64)) * dt.itemsize != nbytes \
            or offset + nbytes > len(payload):
        raise ReferenceFileError("an array's size does not match its shape or the file")
    a = np.frombuffer(payload, dtype=dt, count=nbytes // dt.itemsize, offset=offset)
    a = a.reshape(shape).astype(dt.newbyteorder("="), copy=True)
    a.setflags(write=False)
    return a


def decode(data: bytes, key: Mapping[str, Any], secret: bytes,
           seeds: Mapping[str, int]) -> dict[str, Run]:
    """The runs of a file's bytes, after checking its tag, then its key (stale otherwise),
    then every entry. ``seeds``: exercise key → the seed its run must have been drawn from.

    Raises:
        ReferenceFileError: naming what is wrong (tag, key, an entry).
    """
    if len(data) < len(MAGIC) + 8 + _TAG or not data.startswith(MAGIC):
        raise ReferenceFileError("not a reference file")
    body, tag = data[:-_TAG], data[-_TAG:]
    if not hmac.compare_digest(hmac.new(_mac_key(secret), body, hashlib.sha256).digest(), tag):
        raise ReferenceFileError("its tag does not match: changed since it was written, or "
                                 "written with another course secret")
    (n,) = struct.unpack("<Q", body[len(MAGIC):len(MAGIC) + 8])
    start = len(MAGIC) + 8
    if n > MAX_HEADER_BYTES or start + n > len(body):
        raise ReferenceFileError("its header is too large")
    try:
        header = json.loads(body[start:start + n])
    except ValueError as exc:
        raise ReferenceFileError(f"its header is not JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("key") != dict(key):
        raise ReferenceFileError("stale: computed for other declarations, versions or device")
    payload = body[start + n:]
    runs_in = header.get("runs")
    if not isinstance(runs_in, dict) or set(runs_in) != set(seeds):
        raise ReferenceFileError("its runs are not those of the chapter's training checks")
    runs: dict[str, Run] = {}
    for ex_key, entry in runs_in.items():
        if not isinstance(entry, dict) or entry.get("seed_check") != _seed_check(
                secret, seeds[ex_key]):
            raise ReferenceFileError(f"{ex_key}: drawn from another seed")
        weights = entry.get("weights")
        if not isinstance(weights, list) or not all(
                isinstance(w, list) and len(w) == 5 and isinstance(w[0], str) for w in weights):
            raise ReferenceFileError(f"{ex_key}: malformed weights")
        runs[ex_key] = (_array(payload, entry.get("losses")),
                        tuple((w[0], _array(payload, w[1:])) for w in weights))
    return runs


def compute(exercises: Iterable[Exercise], secret: bytes,
            device: str) -> dict[str, tuple[int, Run]]:
    """The reference runs of the training checks in ``exercises`` (entry
    ``<exercise key>#<run>`` → ``(seed, run)``), by
    :func:`~convlab.exercises.training.reference_run`."""
    from convlab.exercises.training import reference_run

    runs = {}
    for ex in exercises:
        if shares_reference(ex):
            for entry, seed in _seeds(secret, ex).items():
                runs[entry] = (seed, reference_run(ex.training, seed, device))  # type: ignore
    return runs


def read(folder: Path, chapter: str, exercises: tuple[Exercise, ...], secret: bytes,
         device: str) -> dict[str, Run]:
    """The verified runs of ``chapter``'s file in ``folder`` (:func:`decode`).

    Raises:
        ReferenceFileError: missing, too large, tampered with or stale.
    """
    path = path_for(folder, chapter, device)
    try:
        if path.is_symlink() or not path.is_file():
            raise ReferenceFileError("no such file")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ReferenceFileError("too large")
        data = path.read_bytes()
    except OSError as exc:
        raise ReferenceFileError(f"cannot be read ({exc})") from None
    seeds = {entry: seed for ex in exercises if shares_reference(ex)
             for entry, seed in _seeds(secret, ex).items()}
    return decode(data, file_key(chapter, exercises, device), secret, seeds)


def prepare(folder: Path, chapter: str, exercises: tuple[Exercise, ...], secret: bytes,
            device: str) -> str:
    """Make sure ``folder`` holds ``chapter``'s verified, current file: ``"reused"`` when the
    file there is, else it is computed here and written atomically (``"computed"``);
    ``"none"`` when the chapter has no training check."""
    from .results import write_bytes_atomic

    if not any(shares_reference(ex) for ex in exercises):
        return "none"
    with contextlib.suppress(ReferenceFileError):
        read(folder, chapter, exercises, secret, device)
        return "reused"
    runs = compute(exercises, secret, device)
    Path(folder).mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path_for(folder, chapter, device),
                       encode(file_key(chapter, exercises, device), runs, secret))
    return "computed"


_installed_lock = threading.Lock()


def install(folder: Path, chapter: str, exercises: tuple[Exercise, ...], secret: bytes,
            device: str) -> str | None:
    """Load ``chapter``'s file from ``folder`` into the judges' shared runs
    (:data:`~convlab.exercises.training.SHARED_RUNS`): ``None`` when done, else why nothing
    was installed (the file is missing, tampered with or stale), in which case the judge
    computes its own run."""
    from convlab.exercises import training

    try:
        runs = read(folder, chapter, exercises, secret, device)
    except ReferenceFileError as exc:
        return str(exc)
    with _installed_lock:
        for ex in exercises:
            if shares_reference(ex):
                for entry, seed in _seeds(secret, ex).items():
                    training.SHARED_RUNS[(ex.training, seed, device)] = runs[entry]  # type: ignore
    return None
