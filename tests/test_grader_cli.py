"""Does ``grade`` refuse what it cannot read with one line, a non-zero exit and no file?"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from autograder import cli, sandbox


@pytest.fixture()
def secret(tmp_path):
    path = tmp_path / "secret"
    path.write_text("cli-test-secret")
    return path


def _grade(capsys, *args):
    code = cli.main(["grade", *map(str, args)])
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ("{not json", "invalid JSON"),
    (json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}),
     "not a notebook of any known chapter"),
])
def test_unreadable_submissions_exit_non_zero_without_results(tmp_path, capsys, secret,
                                                               content, message):
    sub = tmp_path / "submission.ipynb"
    if content is not None:
        sub.write_text(content)
    out = tmp_path / "results.json"
    code, err = _grade(capsys, sub, "--out", out, "--secret-file", secret)
    assert code == cli.EXIT_INPUT
    assert message in err and err.count("\n") == 1 and err.startswith("autograder: error:")
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["secret"] + (["submission.ipynb"] if content is not None else []))


def test_empty_folder_and_missing_out_folder(tmp_path, capsys, secret):
    (tmp_path / "empty").mkdir()
    code, err = _grade(capsys, tmp_path / "empty", "--out", tmp_path / "r.json",
                       "--secret-file", secret)
    assert code == cli.EXIT_INPUT and "no notebook" in err
    code, err = _grade(capsys, tmp_path / "empty", "--out", tmp_path / "nope" / "r.json",
                       "--secret-file", secret)
    assert code == cli.EXIT_INPUT and "does not exist" in err


def test_without_bubblewrap_grading_is_refused_unless_insecure(tmp_path, capsys, secret,
                                                                monkeypatch):
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    sub = tmp_path / "s.ipynb"
    sub.write_text(json.dumps({"cells": []}))
    code, err = _grade(capsys, sub, "--out", tmp_path / "r.json", "--secret-file", secret)
    assert code == cli.EXIT_NO_SANDBOX and "--insecure" in err and err.count("\n") == 1
    assert not (tmp_path / "r.json").exists()
    # with --insecure the sandbox is not needed; this notebook then fails as unknown
    code, err = _grade(capsys, sub, "--out", tmp_path / "r.json", "--secret-file", secret,
                       "--insecure")
    assert code == cli.EXIT_INPUT and "known chapter" in err


def test_bad_limits_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["grade", str(tmp_path), "--out", str(tmp_path / "r.json"), "--wall", "-1"])
    assert exc.value.code == 2 and "must be positive" in capsys.readouterr().err


def test_module_entry_point(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(tmp_path / "x.ipynb"),
                           "--out", str(tmp_path / "r.json")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == cli.EXIT_INPUT and "no such file" in proc.stderr
    assert not (tmp_path / "r.json").exists()
