"""Batch grading: layouts, one bad submission never stops the batch, resuming after a kill,
scores.csv rebuilt from the results files, safe zip extraction, determinism."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from autograder import batch
from autograder.sandbox import Limits, bwrap_path

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "grader"))
import gradertools as gt  # noqa: E402

INSECURE = bwrap_path() is None
LIMITS = Limits(startup_s=60.0, wall_s=60.0, memory_mb=4096)

FLIPPED = ("def corr1d(x, w):\n    k = w.shape[0]\n    w = w.flip(0)\n"
           "    return torch.stack([(x[i:i + k] * w).sum() for i in range(x.shape[0] - k + 1)])\n")
EXIT = "import os\n\ndef corr1d(x, w):\n    os._exit(0)\n"
FORBIDDEN = ("def corr1d(x, w):\n    return torch.nn.functional.conv1d(x[None, None], "
             "w[None, None])[0, 0]\n")
WRONG_DOUBLE = "def double(x):\n    return 3 * x\n"


def make_grader(student: str):
    return gt.grader(student=student, limits=LIMITS, insecure=INSECURE)


def _notebook_text(answers: dict | None = None) -> str:
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    path = gt.submission(tmp, answers, name=f".batch-{os.getpid()}.ipynb")
    text = path.read_text()
    path.unlink()
    return text


def make_class(root: Path) -> dict[str, float]:
    """20 submissions in mixed layouts; returns the expected score of each student."""
    root.mkdir()
    honest = _notebook_text()
    expected = {}

    def flat(student: str, text: str, score: float) -> None:
        (root / f"{student}.ipynb").write_text(text)
        expected[student] = score

    for i in range(4):
        flat(f"honest{i}", honest, 3.0)
    flat("flipped", _notebook_text({"corr1d_answer": FLIPPED}), 1.0)
    flat("exits", _notebook_text({"corr1d_answer": EXIT}), 1.0)
    flat("forbidden", _notebook_text({"corr1d_answer": FORBIDDEN}), 1.0)
    flat("wrongdouble", _notebook_text({"double_answer": WRONG_DOUBLE}), 2.0)
    stub = {"corr1d_answer": gt.stub("corr1d", "x, w"), "double_answer": gt.stub("double", "x")}
    flat("stub", _notebook_text(stub), 0.0)
    flat("garbage", "{not json", 0.0)
    flat("empty", json.dumps({"cells": []}), 0.0)
    # a folder per student (Gradescope's export), with a checkpoint to ignore
    for name in ("folder1", "folder2"):
        d = root / name / "sub"
        d.mkdir(parents=True)
        (d / "fixture_chapter.ipynb").write_text(honest)
        (root / name / ".ipynb_checkpoints").mkdir()
        expected[name] = 3.0
    (root / "nofolder").mkdir()  # a student folder without a notebook
    expected["nofolder"] = 0.0
    # zips: a good one, an unsafe one, a broken one
    with zipfile.ZipFile(root / "zipped.zip", "w") as zf:
        zf.writestr("work/fixture_chapter.ipynb", honest)
    expected["zipped"] = 3.0
    with zipfile.ZipFile(root / "escape.zip", "w") as zf:
        zf.writestr("../../escaped.ipynb", honest)
    expected["escape"] = 0.0
    (root / "broken.zip").write_bytes(b"PK\x03\x04 not really a zip")
    expected["broken"] = 0.0
    flat("honest4", honest, 3.0)
    flat("flipped2", _notebook_text({"corr1d_answer": FLIPPED}), 1.0)
    flat("stub2", _notebook_text(stub), 0.0)
    (root / "submission_metadata.yml").write_text("ignored: true\n")
    assert len(expected) == 20
    return expected


@pytest.fixture(scope="module")
def klass(tmp_path_factory) -> tuple[Path, dict[str, float]]:
    root = tmp_path_factory.mktemp("class") / "submissions"
    return root, make_class(root)


DRIVER = textwrap.dedent("""
    import sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    import test_grader_batch as t
    from autograder import batch
    batch.grade_batch(Path(sys.argv[1]), Path(sys.argv[2]), t.make_grader, workers=1,
                      progress=False)
""")


@pytest.mark.slow
def test_batch_killed_halfway_resumes_and_builds_the_csv(klass, tmp_path):
    root, expected = klass
    out = tmp_path / "out"
    out.mkdir()
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER.format(tests=str(Path(__file__).resolve().parent)))
    proc = subprocess.Popen([sys.executable, str(driver), str(root), str(out)],
                            start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while len(list(out.glob("*.json"))) < 4 and time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the batch ended early: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {p.stem: p.stat().st_mtime_ns for p in out.glob("*.json")}
    assert 4 <= len(finished) < 20

    graded: list[str] = []
    report = batch.grade_batch(root, out, make_grader, workers=2, progress=False,
                               on_done=lambda s, d: graded.append(s))
    assert set(report.skipped) == set(finished)  # nothing finished is graded again
    assert not set(graded) & set(finished)
    assert set(graded) | set(finished) == set(expected)
    for student, mtime in finished.items():
        assert (out / f"{student}.json").stat().st_mtime_ns == mtime

    results = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    assert {s: r["score"] for s, r in results.items()} == expected, {
        s: r["output"] for s, r in results.items() if r["score"] != expected[s]}
    for bad in ("garbage", "empty", "nofolder", "escape", "broken"):
        assert results[bad]["extra_data"]["error"], bad
        assert results[bad]["output"].startswith("This submission could not be graded")
    assert "outside" in results["escape"]["extra_data"]["error"]
    assert not (root.parent / "escaped.ipynb").exists()
    corr = next(t for t in results["exits"]["tests"] if t["name"].startswith("ch90.corr1d"))
    assert "policy" in corr["extra_data"]["flags"] and "import os" in corr["output"]

    with (out / "scores.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["student"] for r in rows] == sorted(expected)
    for row in rows:
        res = results[row["student"]]
        assert float(row["total"]) == res["score"]
        for t in res["tests"]:
            assert float(row[t["name"].split(":")[0]]) == t["score"]
        assert row["chapter"] == ("ch90" if res["tests"] else "")
        assert bool(row["error"]) == bool(res["extra_data"].get("error"))

    # a changed submission is graded again, the others are not
    (root / "honest0.ipynb").write_text(_notebook_text({"double_answer": WRONG_DOUBLE}))
    graded.clear()
    report = batch.grade_batch(root, out, make_grader, workers=2, progress=False,
                               on_done=lambda s, d: graded.append(s))
    assert graded == ["honest0"] and len(report.skipped) == 19
    assert json.loads((out / "honest0.json").read_text())["score"] == 2.0


@pytest.mark.slow
def test_grading_twice_gives_identical_results(tmp_path):
    sub = gt.submission(tmp_path, {"corr1d_answer": FLIPPED})
    first, second = (make_grader("alice").grade(sub).as_json() for _ in range(2))
    for r in (first, second):
        r.pop("execution_time")
    assert first == second
    assert first["score"] == 1.0  # the flipped kernel fails, doubling passes


def test_discover_layouts(tmp_path):
    (tmp_path / "a.ipynb").write_text("{}")
    (tmp_path / "b").mkdir()
    (tmp_path / "c.zip").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / ".hidden").mkdir()
    subs = batch.discover(tmp_path)
    assert [(s.student, s.path.name) for s in subs] == [("a", "a.ipynb"), ("b", "b"),
                                                        ("c", "c.zip")]
    course = tmp_path / "course"
    (course / "submitted" / "dana" / "ch01").mkdir(parents=True)
    (course / "submitted" / "dana" / "ch01" / "x.ipynb").write_text("{}")
    assert [s.student for s in batch.discover(course)] == ["dana"]
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError, match="two submissions"):
        batch.discover(tmp_path)
    with pytest.raises(ValueError, match="not a folder"):
        batch.discover(tmp_path / "missing")


def test_submission_hash_follows_content(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "n.ipynb").write_text("one")
    sub = batch.Submission("s", tmp_path / "s")
    h1 = sub.sha256()
    (tmp_path / "s" / "n.ipynb").write_text("two")
    assert sub.sha256() != h1
    (tmp_path / "s" / "n.ipynb").write_text("one")
    assert sub.sha256() == h1


def _zip(path: Path, members: list[tuple[str, bytes, int]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            zf.writestr(info, data)
    return path


@pytest.mark.parametrize("name, mode, message", [
    ("../evil.ipynb", 0o100644, "outside"),
    ("a/../../evil.ipynb", 0o100644, "outside"),
    ("/etc/evil.ipynb", 0o100644, "outside"),
    ("C:/evil.ipynb", 0o100644, "outside"),
    ("link.ipynb", 0o120777, "link"),
])
def test_unsafe_zips_are_refused_and_nothing_is_written(tmp_path, name, mode, message):
    archive = _zip(tmp_path / "s.zip", [("ok.ipynb", b"{}", 0o100644), (name, b"x", mode)])
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(batch.UnsafeArchive, match=message):
        batch.extract_zip(archive, dest)
    assert list(dest.iterdir()) == []
    assert not (tmp_path / "evil.ipynb").exists()


def test_zip_size_limits(tmp_path):
    archive = _zip(tmp_path / "big.zip", [("a.ipynb", b"0" * 5000, 0o100644)])
    with pytest.raises(batch.UnsafeArchive, match="more than 1000 bytes"):
        batch.extract_zip(archive, tmp_path, max_bytes=1000)
    archive = _zip(tmp_path / "many.zip", [(f"{i}.ipynb", b"", 0o100644) for i in range(5)])
    with pytest.raises(batch.UnsafeArchive, match="members"):
        batch.extract_zip(archive, tmp_path, max_members=4)
    good = _zip(tmp_path / "good.zip", [("d/n.ipynb", b"{}", 0o100644), ("m.ipynb", b"", 0o600)])
    (tmp_path / "out").mkdir()
    assert batch.extract_zip(good, tmp_path / "out") == [tmp_path / "out" / "d" / "n.ipynb",
                                                         tmp_path / "out" / "m.ipynb"]


def test_scores_csv_from_results_files(tmp_path):
    def res(student, scores, error=None):
        tests = [{"name": f"Exercise {k}: a title: with colons", "score": v, "max_score": 2.0,
                  "extra_data": {"key": f"ch90.{k}", "flags": []}} for k, v in scores]
        extra = {"student": student} | ({"error": error} if error else {})
        return {"score": sum(v for _, v in scores), "tests": tests, "extra_data": extra}

    (tmp_path / "b.json").write_text(json.dumps(res("b", [("x", 1.0), ("y", 2.0)])))
    (tmp_path / "a.json").write_text(json.dumps(res("a", [("x", 2.0)])))
    (tmp_path / "c.json").write_text(json.dumps(res("c", [], error="unreadable")))
    (tmp_path / "torn.json").write_text("{")
    unkeyed = res("d", [("x", 1.0)])
    del unkeyed["tests"][0]["extra_data"]["key"]
    (tmp_path / "d.json").write_text(json.dumps(unkeyed))
    batch.write_scores(tmp_path)
    rows = list(csv.DictReader((tmp_path / "scores.csv").open()))
    assert list(rows[0]) == ["student", "chapter", "ch90.x", "ch90.y", "total", "max_total",
                             "error"]
    assert [(r["student"], r["ch90.x"], r["ch90.y"], r["total"], r["error"]) for r in rows] == [
        ("a", "2", "", "2", ""), ("b", "1", "2", "3", ""), ("c", "", "", "0", "unreadable"),
        ("d", "", "", "0", "a test records no exercise key (extra_data.key)")]


def test_workers_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="workers"):
        batch.grade_batch(tmp_path, tmp_path, make_grader, workers=0)
