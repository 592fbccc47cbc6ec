"""Is the results file in Gradescope's schema, and is it written all at once or not at all?"""

from __future__ import annotations

import json
import os

import pytest

from autograder import results as R


def _results() -> R.Results:
    tests = [R.TestResult("ch01.a: A", 2.0, 2.0, "all 3 cases match the reference"),
             R.TestResult("ch01.b: B", 0.0, 3.0, "case 1/2: the kernel is flipped",
                          ("mistake:flipped",), "after_published")]
    return R.Results(tests, 12.4, "ch01: 2/5 points", {"protections": ["bubblewrap"]})


def test_schema():
    data = _results().as_json()
    assert data["score"] == 2.0 and data["max_score"] == 5.0 and data["execution_time"] == 12
    assert [t["status"] for t in data["tests"]] == ["passed", "failed"]
    for t in data["tests"]:
        assert set(t) == {"name", "score", "max_score", "status", "output", "visibility",
                          "extra_data"}
        assert "\n" not in t["output"]
    assert data["tests"][1]["visibility"] == "after_published"
    assert data["extra_data"]["flags"]["ch01.b: B"] == ["mistake:flipped"]
    assert "seed" not in json.dumps(data)


@pytest.mark.parametrize("kwargs", [dict(score=3.0, max_score=2.0), dict(score=-1.0),
                                    dict(visibility="sometimes")])
def test_invalid_entries_are_refused(kwargs):
    args = dict(name="t", score=1.0, max_score=2.0, output="")
    args.update(kwargs)
    with pytest.raises(ValueError):
        R.TestResult(**args)


def test_atomic_write(tmp_path):
    out = tmp_path / "results.json"
    R.write_atomic(out, _results().as_json())
    assert json.loads(out.read_text())["score"] == 2.0
    assert os.listdir(tmp_path) == ["results.json"]


def test_crash_mid_write_leaves_no_file(tmp_path, monkeypatch):
    out = tmp_path / "results.json"

    def crash(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        R.write_atomic(out, _results().as_json())
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError):  # NaN is not JSON: nothing written either
        R.write_atomic(out, {"score": float("nan")})
    assert os.listdir(tmp_path) == []


def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    out = tmp_path / "results.json"
    R.write_atomic(out, {"score": 1.0})

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        R.write_atomic(out, {"score": 2.0})
    assert json.loads(out.read_text()) == {"score": 1.0}
    assert os.listdir(tmp_path) == ["results.json"]
