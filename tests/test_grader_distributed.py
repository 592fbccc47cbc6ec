"""grade-batch on a Dask cluster of two worker processes on 127.0.0.1: the same results as the
local executor, a worker killed mid-batch loses nothing, and the command line drives it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from autograder import batch
from autograder.distributed import dask_executor
from autograder.sandbox import Limits, bwrap_path

distributed = pytest.importorskip("distributed")

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "grader"
sys.path.insert(0, str(FIXTURES))
import gradertools as gt  # noqa: E402

pytestmark = pytest.mark.slow

INSECURE = bwrap_path() is None
LIMITS = Limits(startup_s=60.0, wall_s=60.0, memory_mb=4096)
FLIPPED = ("def corr1d(x, w):\n    k = w.shape[0]\n    w = w.flip(0)\n"
           "    return torch.stack([(x[i:i + k] * w).sum() for i in range(x.shape[0] - k + 1)])\n")
#: Fields that differ between two gradings of the same submission: the clock.
TIMING = {"execution_time", "seconds", "elapsed_s", "wall_s"}


def make_grader(student: str):
    return gt.grader(student=student, limits=LIMITS, insecure=INSECURE)


@pytest.fixture(autouse=True)
def _workers_import_the_fixtures(monkeypatch: pytest.MonkeyPatch) -> None:
    """Worker processes start from a fresh interpreter: they find the fixture chapter on
    PYTHONPATH, as a real cluster's workers find convlab in their environment."""
    path = os.pathsep.join(filter(None, [str(FIXTURES), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)


def make_class(root: Path) -> dict[str, float]:
    root.mkdir()
    expected = {}
    for i in range(3):
        gt.submission(root, name=f"honest{i}.ipynb")
        expected[f"honest{i}"] = 3.0
    gt.submission(root, {"corr1d_answer": FLIPPED}, name="flipped.ipynb")
    expected["flipped"] = 1.0
    return expected


def _without_timing(value):
    if isinstance(value, dict):
        return {k: _without_timing(v) for k, v in value.items() if k not in TIMING}
    if isinstance(value, list):
        return [_without_timing(v) for v in value]
    return value


def _results(out: Path) -> dict[str, dict]:
    return {p.stem: _without_timing(json.loads(p.read_text())) for p in sorted(out.glob("*.json"))}


def test_same_results_as_the_local_executor(tmp_path: Path) -> None:
    expected = make_class(tmp_path / "class")
    local, dask = tmp_path / "local", tmp_path / "dask"
    local.mkdir()
    dask.mkdir()
    batch.grade_batch(tmp_path / "class", local, make_grader, workers=2, progress=False)
    with dask_executor("local", workers=2) as executor:
        report = batch.grade_batch(tmp_path / "class", dask, make_grader, progress=False,
                                   executor=executor)
    assert sorted(report.graded) == sorted(expected) and report.failed == []
    assert _results(dask) == _results(local)
    assert {s: r["score"] for s, r in _results(dask).items()} == expected
    assert (dask / "scores.csv").read_text() == (local / "scores.csv").read_text()


def test_a_worker_killed_mid_batch_loses_nothing(tmp_path: Path) -> None:
    expected = make_class(tmp_path / "class")
    out = tmp_path / "out"
    out.mkdir()
    killed = threading.Event()
    with dask_executor("local", workers=2) as executor:
        pids = executor._client.run(os.getpid)  # worker address -> its process id

        def kill_one_worker(student: str, results: dict) -> None:
            if not killed.is_set():  # after the first result: the others are in flight
                killed.set()
                os.kill(pids[sorted(pids)[0]], signal.SIGKILL)

        report = batch.grade_batch(tmp_path / "class", out, make_grader, progress=False,
                                   executor=executor, on_done=kill_one_worker)
    assert killed.is_set()
    assert sorted(report.graded) == sorted(expected) and report.failed == []
    assert {s: r["score"] for s, r in _results(out).items()} == expected
    # resumable: a second run over the same folder grades nobody again
    again = batch.grade_batch(tmp_path / "class", out, make_grader, progress=False)
    assert again.graded == [] and sorted(again.skipped) == sorted(expected)


def test_command_line_scheduler_local(tmp_path: Path) -> None:
    root = tmp_path / "class"
    root.mkdir()
    gt.submission(root, name="solo.ipynb")
    secret = tmp_path / "secret"
    secret.write_bytes(gt.SECRET)
    out = tmp_path / "out"
    out.mkdir()
    cmd = [sys.executable, "-m", "autograder", "grade-batch", str(root), "--out", str(out),
           "--scheduler", "local", "--workers", "1", "--source", str(gt.SOURCE),
           "--secret-file", str(secret)]
    if INSECURE:
        cmd.append("--insecure")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    # the fixture chapter is not one of the course's chapters: the CLI grades it as a
    # submission of no known chapter, which is a graded zero, not a crash of the batch
    assert proc.returncode == 0, proc.stderr
    assert (out / "solo.json").is_file() and (out / "scores.csv").is_file()


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="workers must be at least 1"):
        with dask_executor("local", workers=0):
            pass
    with pytest.raises(ValueError, match="scheduler must be"):
        with dask_executor("", workers=1):
            pass
