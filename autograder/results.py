"""Gradescope's results schema, and writing it atomically.

The file::

    {"score": 12.0, "max_score": 15.0, "execution_time": 41, "output": "...",
     "tests": [{"name": "ch01.conv2d_loop: ...", "score": 4.0, "max_score": 4.0,
                "status": "passed", "output": "<one line>", "visibility": "visible",
                "extra_data": {"flags": []}}, ...],
     "extra_data": {"protections": [...], "insecure": false, "chapters": ["ch01"],
                    "student": "...", "device": "cpu", "flags": {"<test name>": [...]}}}

Seeds are never written.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")


@dataclass(frozen=True)
class TestResult:
    name: str
    score: float
    max_score: float
    output: str
    flags: tuple[str, ...] = ()
    visibility: str = "visible"
    key: str = ""  # the exercise's key, "ch01.conv2d_loop"

    def __post_init__(self) -> None:
        if self.visibility not in VISIBILITIES:
            raise ValueError(f"visibility must be one of {VISIBILITIES}, got {self.visibility!r}")
        if not 0 <= self.score <= self.max_score:
            raise ValueError(f"score {self.score} must lie in [0, max_score={self.max_score}]")

    @property
    def status(self) -> str:
        return "passed" if self.score >= self.max_score else "failed"

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "score": float(self.score),
                "max_score": float(self.max_score), "status": self.status,
                "output": self.output, "visibility": self.visibility,
                "extra_data": {"key": self.key, "flags": list(self.flags)}}


@dataclass
class Results:
    tests: list[TestResult]
    execution_time: float
    output: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return float(sum(t.score for t in self.tests))

    @property
    def max_score(self) -> float:
        return float(sum(t.max_score for t in self.tests))

    def as_json(self) -> dict[str, Any]:
        extra = dict(self.extra)
        extra["flags"] = {t.name: list(t.flags) for t in self.tests}
        return {"score": self.score, "max_score": self.max_score,
                "execution_time": int(round(self.execution_time)), "output": self.output,
                "tests": [t.as_json() for t in self.tests], "extra_data": extra}


def write_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` all at once (:func:`write_text_atomic`)."""
    write_text_atomic(path, json.dumps(data, indent=2, allow_nan=False,
                                       ensure_ascii=False) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` all at once: a temporary file in the same folder, flushed to
    disk, then renamed over ``path``. A failure leaves no file behind. The grader's one way of
    writing a file (results, ``scores.csv``; :func:`write_bytes_atomic` for binary files)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` as :func:`write_text_atomic` writes text."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
