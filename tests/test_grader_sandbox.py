"""Does the sandbox isolate the student's code, enforce its limits, and do the scores hold?

Each test here starts real workers (a Python interpreter importing torch, in bubblewrap), so
they are marked ``slow``; the fixture chapter ``ch90`` keeps the exercises themselves instant.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "grader"))
import gradertools as gt  # noqa: E402

from autograder import sandbox, wire  # noqa: E402
from autograder.sandbox import Limits, Sandbox  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sandbox.bwrap_path() is None, reason="needs bubblewrap (bwrap)"),
]

HONEST_CORR = ("def corr1d(x, w):\n    k = w.shape[0]\n"
               "    return torch.stack([(x[i:i + k] * w).sum() "
               "for i in range(x.shape[0] - k + 1)])\n")


def _scores(results) -> dict[str, tuple[float, str, tuple]]:
    return {t.name.split(":")[0]: (t.score, t.output, t.flags) for t in results.tests}


PROBE = r'''
import json, os, socket
probe = {}
def attempt(name, fn):
    try:
        probe[name] = repr(fn())
    except BaseException as exc:
        probe[name] = "refused: " + type(exc).__name__
attempt("connect", lambda: socket.create_connection(("1.1.1.1", 53), timeout=2))
attempt("read_notebooks", lambda: os.listdir(NOTEBOOKS))
attempt("read_results", lambda: os.listdir(RESULTS))
attempt("read_host_tmp", lambda: open(HOST_TMP).read())
attempt("write_usr", lambda: open("/usr/evil", "w"))
attempt("write_package", lambda: open("/opt/convlab-grader/lib/convlab/evil.py", "w"))
attempt("write_scratch", lambda: open("/scratch/ok", "w").write("x"))
attempt("write_tmp", lambda: open("/tmp/ok", "w").write("x"))
attempt("fork", lambda: os.fork())
probe["grader_files"] = sorted(os.listdir("/opt/convlab-grader/lib/autograder"))
probe["pid"] = os.getpid()
probe["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
probe["env"] = sorted(os.environ)
probe["root"] = sorted(os.listdir("/"))
print("PROBE" + json.dumps(probe))
'''


def test_the_worker_is_isolated(tmp_path):
    host_tmp = tmp_path / "host-secret.txt"
    host_tmp.write_text("secret")
    results = tmp_path / "results"
    results.mkdir()
    notebooks = Path(__file__).resolve().parents[1] / "notebooks"
    code = (f"NOTEBOOKS = {str(notebooks)!r}\nRESULTS = {str(results)!r}\n"
            f"HOST_TMP = {str(host_tmp)!r}\nimport torch\n" + PROBE + HONEST_CORR)
    ex = gt.EXERCISES_BY_NAME["corr1d"]
    scratch = tmp_path / "scratch"
    wire.write_job(scratch / "in", cells=[{"id": "probe", "source": code, "student": True}],
                   module="grader_fixture_ch", exercise="corr1d",
                   cases=[(c.args, dict(c.kwargs)) for c in ex.cases(1)], device="cpu")
    box = Sandbox(gt.LIMITS, extra_paths=(gt.HERE,))
    outcome = box.run(scratch, 60)
    assert outcome.returncode == 0, outcome.stderr
    line = next(x for x in outcome.stdout.splitlines() if x.startswith("PROBE"))
    probe = json.loads(line[len("PROBE"):])
    for name in ("connect", "read_notebooks", "read_results", "read_host_tmp", "write_usr",
                 "write_package", "fork"):
        assert probe[name].startswith("refused"), (name, probe[name])
    assert probe["write_scratch"] == "1" and probe["write_tmp"] == "1"
    assert probe["grader_files"] == sorted(sandbox.WORKER_MODULES)  # engine, scan...: absent
    assert probe["pid"] < 10 and len(probe["pids"]) <= 3  # its own PID namespace
    assert set(probe["env"]) <= {"PYTHONPATH", "HOME", "MPLBACKEND", "OMP_NUM_THREADS",
                                 "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "CONVLAB_DEVICE",
                                 "PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED", "LANG", "PATH",
                                 "USER", "LOGNAME",
                                 "PWD"}
    assert "work" not in probe["root"] and "home" not in probe["root"]
    assert not (tmp_path / "scratch" / "in").exists()  # the job is gone before student code
    report = wire.read_report(scratch / "out")
    assert report["error"] is None and report["cell_errors"] == []
    assert ex.judge(ex.cases(1), report["attempts"]).passed


def test_honest_buggy_and_stub_submissions(tmp_path):
    g = gt.grader()
    honest = g.grade(gt.SOURCE_NB)
    assert honest.score == honest.max_score == 3.0
    assert "bubblewrap" in honest.extra["protections"] and not honest.extra["insecure"]
    buggy = gt.submission(tmp_path, {
        "corr1d_answer": HONEST_CORR.replace("(x[i:i + k] * w)", "(x[i:i + k] * w.flip(0))"),
        "double_answer": "def double(x):\n    return 3 * x\n"}, name="buggy.ipynb")
    scores = _scores(g.grade(buggy))
    assert scores["ch90.corr1d"][0] == 0 and "kernel is flipped" in scores["ch90.corr1d"][1]
    assert "mistake:flipped" in scores["ch90.corr1d"][2]
    assert scores["ch90.double"][0] == 0 and "differs from the reference" in scores[
        "ch90.double"][1]
    stub = gt.submission(tmp_path, {"corr1d_answer": gt.stub("corr1d", "x, w"),
                                    "double_answer": gt.stub("double", "x")}, name="stub.ipynb")
    result = g.grade(stub)
    assert result.score == 0 and result.max_score == 3.0
    for _score, output, flags in _scores(result).values():
        assert "not implemented yet" in output and "\n" not in output and not flags


def test_forbidden_apis_tampering_and_exits(tmp_path):
    def tamper(nb):
        for c in nb["cells"]:
            if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "setup_imports":
                c["source"] = "import torch\nSCALE = 3\n"
    # getattr on a computed name escapes the static scan; the runtime guard catches it
    sneaky = ("def corr1d(x, w):\n    f = getattr(torch.nn.functional, 'conv' + '1d')\n"
              "    try:\n        return f(x[None, None], w[None, None])[0, 0]\n"
              "    except Exception:\n" + HONEST_CORR.split(":\n", 1)[1].replace("    ", "        ")
              )
    exiting = "def double(x):\n    return SCALE * x\n\nraise SystemExit(1)\n"
    path = gt.submission(tmp_path, {"corr1d_answer": sneaky, "double_answer": exiting},
                         edit=tamper)
    scores = _scores(gt.grader().grade(path))
    assert scores["ch90.corr1d"][0] == 0 and "forbidden-api" in scores["ch90.corr1d"][2]
    assert "torch.nn.functional.conv1d" in scores["ch90.corr1d"][1]
    # the tampered setup cell (SCALE = 3) is replaced by the source's; SystemExit is caught
    assert scores["ch90.double"][0] == 1.0, scores["ch90.double"]
    crash = gt.submission(tmp_path, {
        "corr1d_answer": "import os\ndef corr1d(x, w):\n    os._exit(3)\n",
        "double_answer": "def double(x):\n    raise KeyboardInterrupt\n"}, name="crash.ipynb")
    scores = _scores(gt.grader().grade(crash))
    assert scores["ch90.corr1d"][0] == 0 and "crashed" in scores["ch90.corr1d"][2]
    assert "exited with status 3" in scores["ch90.corr1d"][1]
    assert scores["ch90.double"][0] == 0 and "KeyboardInterrupt" in scores["ch90.double"][1]


def test_timeout_and_memory_limits(tmp_path):
    loop = "def corr1d(x, w):\n    while True:\n        pass\n"
    stubborn = ("def double(x):\n    while True:\n        try:\n            while True:\n"
                "                pass\n        except BaseException:\n            pass\n")
    path = gt.submission(tmp_path, {"corr1d_answer": loop, "double_answer": stubborn})
    start = time.monotonic()
    scores = _scores(gt.grader(limits=Limits(wall_s=15.0)).grade(path))
    assert time.monotonic() - start < 2 * 15.0 + 20
    for name in ("ch90.corr1d", "ch90.double"):
        assert scores[name][0] == 0 and scores[name][2] == ("timeout",), scores[name]
        assert "time limit" in scores[name][1]
    hog = "def double(x):\n    block = bytearray(6 << 30)\n    return 2 * x\n"
    path = gt.submission(tmp_path, {"double_answer": hog}, name="hog.ipynb")
    scores = _scores(gt.grader(limits=Limits(startup_s=45.0, memory_mb=3072)).grade(path))
    assert scores["ch90.corr1d"][0] == 2.0
    assert scores["ch90.double"][0] == 0 and "memory" in scores["ch90.double"][2]
    assert "MemoryError" in scores["ch90.double"][1]


def test_insecure_mode_grades_the_same_and_says_so():
    result = gt.grader(insecure=True).grade(gt.SOURCE_NB)
    assert result.score == 3.0
    assert result.extra["insecure"] and "insecure" in result.extra["protections"]
    assert "bubblewrap" not in result.extra["protections"]
