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

from autograder import sandbox, scan, wire  # noqa: E402
from autograder.engine import Grader  # noqa: E402
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


PROBE = r"""
import ctypes, json, os, resource, socket, sys, threading
probe = {}
def attempt(name, fn):
    try:
        probe[name] = repr(fn())[:200]
    except BaseException as exc:
        probe[name] = "refused: " + type(exc).__name__
libc = ctypes.CDLL(None, use_errno=True)
attempt("connect", lambda: socket.create_connection(("1.1.1.1", 53), timeout=2))
attempt("read_notebooks", lambda: os.listdir(NOTEBOOKS))
attempt("read_results", lambda: os.listdir(RESULTS))
attempt("read_host_tmp", lambda: open(HOST_TMP).read())
attempt("write_usr", lambda: open("/usr/evil", "w"))
attempt("write_root", lambda: open("/evil", "w"))
attempt("write_package", lambda: open("/opt/convlab-grader/lib/convlab/evil.py", "w"))
attempt("write_scratch", lambda: open("/scratch/ok", "w").write("x"))
attempt("write_tmp", lambda: open("/tmp/ok", "w").write("x"))
attempt("write_dev_shm", lambda: open("/dev/shm/x", "wb").write(b"x"))
attempt("write_dev", lambda: open("/dev/x", "wb").write(b"x"))
attempt("write_dev_null", lambda: open("/dev/null", "wb").write(b"x"))
attempt("fork", lambda: os.fork())
attempt("exec", lambda: os.execv("/usr/bin/true", ["true"]))
attempt("thread", lambda: threading.Thread(target=lambda: None).start())
attempt("memfd", lambda: os.memfd_create("x"))
def call(fn, *args):
    r = fn(*args)
    if r == -1:
        raise OSError(ctypes.get_errno(), "refused")
    return r
attempt("shmget", lambda: call(libc.shmget, 0, 1 << 20, 0o1600))
attempt("ptrace_parent", lambda: call(libc.ptrace, 16, os.getppid(), 0, 0))
params = ctypes.create_string_buffer(120)
attempt("io_uring", lambda: call(libc.syscall, 425, 8, params))
attempt("userfaultfd", lambda: call(libc.syscall, 323, 0))
attempt("setgroups", lambda: os.setgroups([]))
attempt("signal_parent", lambda: os.kill(os.getppid(), 0))
attempt("signal_group", lambda: os.kill(0, 0))
attempt("signal_all", lambda: os.kill(-1, 0))
attempt("signal_self", lambda: os.kill(os.getpid(), 0))
attempt("mountinfo", lambda: open("/proc/self/mountinfo").read())
attempt("proc_self", lambda: os.listdir("/proc/self"))
attempt("proc_1", lambda: open("/proc/1/cmdline").read())
attempt("proc", lambda: sorted(os.listdir("/proc")))
def _mode(fd):
    try:
        return os.fstat(fd).st_mode
    except OSError:
        return None
import stat
probe["pipes"] = sum(1 for fd in range(3, 256) if _mode(fd) is not None
                     and stat.S_ISFIFO(_mode(fd)))
probe["dumpable"] = libc.prctl(3, 0, 0, 0, 0)  # PR_GET_DUMPABLE, inherited from the parent
probe["pid"], probe["ppid"] = os.getpid(), os.getppid()
probe["sid"] = os.getsid(0)
probe["hostname"] = socket.gethostname()
probe["rlimits"] = {n: resource.getrlimit(getattr(resource, "RLIMIT_" + n))[0]
                    for n in ("CPU", "AS", "FSIZE", "NOFILE")}
probe["sizes"] = {d: os.statvfs(d).f_blocks * os.statvfs(d).f_frsize for d in ("/tmp", "/scratch")}
probe["grader_files"] = sorted(os.listdir("/opt/convlab-grader/lib/autograder"))
probe["env"] = sorted(os.environ)
probe["root"] = sorted(os.listdir("/"))
print("PROBE" + json.dumps(probe))
"""


def _job(code: str, ex) -> bytes:
    return wire.pack_job(cells=[{"id": "probe", "source": code, "student": True}],
                         module="grader_fixture_ch", exercise=ex.name,
                         cases=[(c.args, dict(c.kwargs)) for c in ex.cases(1)], device="cpu")


def _run_probe(tmp_path, box):
    host_tmp = tmp_path / "host-secret.txt"
    host_tmp.write_text("secret")
    results = tmp_path / "results"
    results.mkdir(exist_ok=True)
    notebooks = Path(__file__).resolve().parents[1] / "notebooks"
    code = (f"NOTEBOOKS = {str(notebooks)!r}\nRESULTS = {str(results)!r}\n"
            f"HOST_TMP = {str(host_tmp)!r}\nimport torch\n" + PROBE + HONEST_CORR)
    ex = gt.EXERCISES_BY_NAME["corr1d"]
    outcome = box.run(_job(code, ex), 60)
    assert outcome.returncode == 0, outcome.stderr
    line = next((x for x in outcome.stdout.splitlines() if x.startswith("PROBE")), None)
    assert line is not None, (outcome.stdout[-2000:], outcome.stderr[-2000:])
    report = wire.unpack_report(outcome.report)
    assert report["status"] == "ok" and report["result"]["cell_errors"] == []
    assert ex.judge(ex.cases(1), report["result"]["attempts"]).passed
    return json.loads(line[len("PROBE"):]), outcome


def _refused(probe, *names):
    return all(probe[n].startswith("refused") for n in names)


def test_every_listed_protection_is_in_force(tmp_path):
    """Each name in ``Sandbox.protections`` is checked here, from inside the sandbox."""
    box = Sandbox(gt.LIMITS, extra_paths=(gt.HERE,))
    probe, outcome = _run_probe(tmp_path, box)
    lim = gt.LIMITS
    mib = 1 << 20
    checks = {
        "process-per-exercise": probe["pid"] < 10,  # a fresh process tree, every time
        # of pipes above stderr, only the child's own result and progress pipes: not the report
        "trusted-parent-report": probe["pipes"] == 2,
        "data-only-results": True,  # tests/test_grader_wire.py
        "wall-timeout": True,  # test_timeout_and_memory_limits
        f"output-cap={lim.output_bytes}B": len(outcome.stdout) <= lim.output_bytes + 100,
        "clear-env": set(probe["env"]) <= {
            "PYTHONPATH", "HOME", "MPLBACKEND", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
            "OPENBLAS_NUM_THREADS", "CONVLAB_DEVICE", "PYTHONDONTWRITEBYTECODE",
            "PYTHONHASHSEED", "LANG", "PATH", "USER", "LOGNAME", "PWD",
            "PYTORCH_NVML_BASED_CUDA_CHECK"},
        f"rlimit-cpu={lim.cpu_s}s": probe["rlimits"]["CPU"] == lim.cpu_s,
        f"rlimit-as={lim.memory_mb}MiB": probe["rlimits"]["AS"] == (lim.memory_mb or 0) * mib,
        f"rlimit-fsize={lim.file_size_mb}MiB": probe["rlimits"]["FSIZE"] == lim.file_size_mb * mib,
        f"rlimit-nofile={lim.open_files}": probe["rlimits"]["NOFILE"] == lim.open_files,
        "seccomp-no-fork": _refused(probe, "fork"),
        "seccomp-no-exec": _refused(probe, "exec"),
        "seccomp-no-ptrace": _refused(probe, "ptrace_parent"),
        "seccomp-no-memfd": _refused(probe, "memfd"),
        "seccomp-no-sysv-shm": _refused(probe, "shmget"),
        "seccomp-no-threads": _refused(probe, "thread"),
        "seccomp-signals-to-self-only": _refused(probe, "signal_parent", "signal_group",
                                                 "signal_all")
        and not _refused(probe, "signal_self"),
        "non-dumpable-parent": probe["dumpable"] == 0,
        "bubblewrap": True,
        "no-network": _refused(probe, "connect"),
        "pid-namespace": probe["pid"] < 10 and probe["ppid"] < 10,
        "uts-namespace": probe["hostname"] == "sandbox",
        "cap-drop-all": _refused(probe, "setgroups"),
        "new-session": 0 < probe["sid"] < 10,  # its own session, led inside the sandbox
        "ro-root": _refused(probe, "write_usr", "write_root", "write_package"),
        "minimal-filesystem": _refused(probe, "read_notebooks", "read_results", "read_host_tmp")
        and set(probe["root"]) <= {"bin", "dev", "etc", "lib", "lib64", "opt", "proc", "root",
                                   "sbin", "scratch", "sys", "tmp", "usr"},
        f"private-tmp={lim.tmp_mb}MiB": probe["sizes"]["/tmp"] == lim.tmp_mb * mib,
        f"scratch-tmpfs={lim.scratch_mb}MiB": probe["sizes"]["/scratch"] == lim.scratch_mb * mib,
        "proc-cpuinfo-only": _refused(probe, "mountinfo", "proc_self", "proc_1")
        and probe["proc"] == "['cpuinfo']",
        "read-only-dev": _refused(probe, "write_dev_shm", "write_dev")
        and not _refused(probe, "write_dev_null"),
    }
    assert set(box.protections) <= set(checks), set(box.protections) - set(checks)
    failed = [p for p in box.protections if not checks[p]]
    assert not failed, (failed, probe)
    assert probe["grader_files"] == sorted(sandbox.WORKER_MODULES)  # engine, scan...: absent
    assert _refused(probe, "write_scratch") is False and probe["write_tmp"] == "1"
    assert _refused(probe, "io_uring", "userfaultfd")  # seccomp; the README names them


INSECURE_PROBE = r"""
import ctypes, json, os, threading
probe = {}
def attempt(name, fn):
    try:
        probe[name] = repr(fn())[:200]
    except BaseException as exc:
        probe[name] = "refused: " + type(exc).__name__
libc = ctypes.CDLL(None, use_errno=True)
def call(fn, *args):
    if fn(*args) == -1:
        raise OSError(ctypes.get_errno(), "refused")
attempt("fork", lambda: os.fork())
attempt("exec", lambda: os.execv("/usr/bin/true", ["true"]))
attempt("thread", lambda: threading.Thread(target=lambda: None).start())
attempt("memfd", lambda: os.memfd_create("x"))
attempt("ptrace_parent", lambda: call(libc.ptrace, 16, os.getppid(), 0, 0))
attempt("parent_memory", lambda: open(f"/proc/{os.getppid()}/mem", "rb").read(1))
attempt("signal_parent", lambda: os.kill(os.getppid(), 0))
probe["dumpable"] = libc.prctl(3, 0, 0, 0, 0)
print("PROBE" + json.dumps(probe))
"""


def test_the_insecure_mode_lists_only_what_it_has():
    box = Sandbox(gt.LIMITS, extra_paths=(gt.HERE,), insecure=True)
    ex = gt.EXERCISES_BY_NAME["corr1d"]
    outcome = box.run(_job("import torch\n" + INSECURE_PROBE + HONEST_CORR, ex), 60)
    line = next((x for x in outcome.stdout.splitlines() if x.startswith("PROBE")), None)
    assert line is not None, (outcome.stdout[-2000:], outcome.stderr[-2000:])
    probe = json.loads(line[len("PROBE"):])
    prot = set(box.protections)
    assert "bubblewrap" not in prot and "proc-cpuinfo-only" not in prot and "insecure" in prot
    for name, key in (("seccomp-no-fork", "fork"), ("seccomp-no-exec", "exec"),
                      ("seccomp-no-memfd", "memfd"), ("seccomp-no-threads", "thread"),
                      ("seccomp-no-ptrace", "ptrace_parent"),
                      ("seccomp-signals-to-self-only", "signal_parent")):
        assert name in prot and _refused(probe, key), (name, probe[key])
    assert probe["dumpable"] == 0 and _refused(probe, "parent_memory")


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
    # getattr on a computed name: refused by the policy, naming the construct and the line
    sneaky = ("def corr1d(x, w):\n    f = getattr(torch.nn.functional, 'conv' + '1d')\n"
              "    try:\n        return f(x[None, None], w[None, None])[0, 0]\n"
              "    except Exception:\n" + HONEST_CORR.split(":\n", 1)[1].replace("    ", "        ")
              )
    exiting = "def double(x):\n    return SCALE * x\n\nraise SystemExit(1)\n"
    path = gt.submission(tmp_path, {"corr1d_answer": sneaky, "double_answer": exiting},
                         edit=tamper)
    scores = _scores(gt.grader().grade(path))
    assert scores["ch90.corr1d"][0] == 0 and "policy" in scores["ch90.corr1d"][2]
    assert "getattr() with a name computed at run time" in scores["ch90.corr1d"][1]
    assert "line 2" in scores["ch90.corr1d"][1]
    # the tampered setup cell (SCALE = 3) is replaced by the source's; SystemExit is caught
    assert scores["ch90.double"][0] == 1.0, scores["ch90.double"]
    crash = gt.submission(tmp_path, {
        "corr1d_answer": "import os\ndef corr1d(x, w):\n    os._exit(3)\n",
        "double_answer": "def double(x):\n    raise KeyboardInterrupt\n"}, name="crash.ipynb")
    scores = _scores(gt.grader().grade(crash))
    assert scores["ch90.corr1d"][0] == 0 and "policy" in scores["ch90.corr1d"][2]
    assert "import os" in scores["ch90.corr1d"][1]
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


class _Unchecked(Grader):
    """The policy's findings dropped: the hostile code below really runs."""

    def analyse(self, program, ex):
        found = super().analyse(program, ex)
        return scan.Analysis(found.program, [], found.analysed)


TAMPERING_CORR = HONEST_CORR + """
def _tamper():
    import os
    import numpy as np
    for folder in ("/tmp", "/scratch"):
        for i in range(4):
            try:
                with open(f"{folder}/fill{i}", "wb") as f:
                    f.write(b"x" * (40 << 20))
            except OSError:
                break
    os.makedirs("/tmp/locked/deeper", exist_ok=True)
    os.chmod("/tmp/locked", 0)
    os.symlink("/usr", "/scratch/link")
    os.environ["TAMPERED"] = "1"
    torch.Tensor.__mul__ = lambda a, b: a
    np.multiply = None
    import sys
    sys.modules["torch"].add = None

_honest_corr1d = corr1d

def corr1d(x, w):
    _tamper()
    return _honest_corr1d(x, w)
"""
CHECKING_DOUBLE = """
import os

def double(x):
    clean = (not os.listdir("/tmp") and not os.listdir("/scratch") and "TAMPERED" not in
             os.environ and (torch.ones(2) * 3).sum().item() == 6.0 and torch.add is not None)
    return 2 * x if clean else 3 * x
"""


def test_exercises_of_one_notebook_cannot_touch_one_another(tmp_path):
    """One worker grades both exercises, each in a fresh child of the same trusted parent:
    files, environment and interpreter state left by the first never reach the second."""
    path = gt.submission(tmp_path, {"corr1d_answer": TAMPERING_CORR,
                                    "double_answer": CHECKING_DOUBLE})
    g = _Unchecked(source_dir=gt.SOURCE, secret=gt.SECRET, student="s1", limits=gt.LIMITS,
                   chapters={"ch90": gt.CHAPTER}, extra_paths=(gt.HERE,))
    scores = _scores(g.grade(path))
    assert "differs" in scores["ch90.corr1d"][1], scores  # its tampering hit its own run
    assert scores["ch90.double"][0] == 1.0, scores


def test_a_hung_cell_is_charged_once(tmp_path):
    """A reached cell that never ends costs its first exercise the wall time, and the others
    that would run it nothing more: found once, charged once."""
    hang = "def helper(x):\n    return x\n\nwhile True:\n    pass\n"
    uses = {"corr1d_answer": "def corr1d(x, w):\n    return helper(x)\n",
            "double_answer": "def double(x):\n    return helper(2 * x)\n"}
    path = gt.submission(tmp_path, uses, added=[("setup_imports", hang)])
    start = time.monotonic()
    scores = _scores(gt.grader(limits=Limits(wall_s=8.0, startup_s=45.0)).grade(path))
    elapsed = time.monotonic() - start
    for key in ("ch90.corr1d", "ch90.double"):
        assert scores[key][0] == 0 and scores[key][2] == ("timeout",), scores[key]
    assert "did not finish in time" in scores["ch90.double"][1], scores["ch90.double"]
    assert elapsed < 8.0 + 8.0, elapsed  # not twice the wall time (start-up ~4 s)
