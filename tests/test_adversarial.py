"""Hostile and faulty submissions: the grader must not be fooled, crash, hang or leak.

Each case takes chapter 1's instructor source notebook and replaces one answer cell (its
``grade_id``) with other code. Cases that do not interfere share one submission, one answer
cell each; every exercise runs in its own sandboxed worker, so the exercises a case does not
touch must keep full marks. Most hostile cells keep the honest solution at hand (the source's
own, renamed ``_honest``) and use it only when their trick works — a leaked file, a reachable
socket, a patched comparison — so a score of 0 shows the trick failed, not merely that the
code was wrong. Files outside the sandbox (results, a gradebook, a canary, the source
notebooks, site-packages) are checked before and after.

Runs the engine's API directly (:meth:`Grader.grade_exercise`), several workers at once, with
the training check left out (``tests/adversarial/adversarial_ch01.py``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import socket
import sys
import sysconfig
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from autograder.engine import Grader
from autograder.results import TestResult as Graded
from autograder.sandbox import Limits, bwrap_path
from convlab.exercises.registry import Chapter

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "notebooks" / "ch01" / "vanilla_convolution.ipynb"
ADVERSARIAL = Path(__file__).resolve().parent / "adversarial"
CHAPTER = Chapter("ch01", "Vanilla convolution", "adversarial_ch01", "vanilla_convolution.ipynb")
#: answer cell → (entry point, exercise name)
SLOTS = {
    "L": ("conv2d_loop_answer", "conv2d_loop"),
    "S": ("conv_output_size_answer", "conv_output_size"),
    "I": ("conv2d_im2col_answer", "conv2d_im2col"),
    "B": ("conv2d_backward_answer", "conv2d_backward"),
    "E": ("equivariance_error_answer", "equivariance_error"),
}
MARKER = "convlab-adversarial-marker-7f3a9c"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bwrap_path() is None, reason="needs bubblewrap (bwrap)"),
    pytest.mark.skipif(not SOURCE.is_file(), reason="chapter 1's notebook is not there"),
]


# -- building submissions ----------------------------------------------------------------------
def _cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c.get("cell_type") == "code"]


def _gid(cell: dict) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def source_text(grade_id: str) -> str:
    nb = json.loads(SOURCE.read_text(encoding="utf-8"))
    for cell in _cells(nb):
        if _gid(cell) == grade_id:
            src = cell["source"]
            return "".join(src) if isinstance(src, list) else src
    raise LookupError(grade_id)


def replace_cells(nb: dict, replacements: dict[str, str]) -> dict:
    """A copy of notebook ``nb`` whose cells with the given grade ids hold the given code."""
    out = copy.deepcopy(nb)
    for cell in _cells(out):
        if _gid(cell) in replacements:
            cell["source"] = replacements[_gid(cell)]
            cell["outputs"] = []
    missing = set(replacements) - {_gid(c) for c in _cells(out)}
    if missing:
        raise LookupError(f"no cells {sorted(missing)}")
    return out


_PRELUDE = '''\
import numpy as np
import torch


def _spoil(v):
    """A wrong answer of the right type: every value off by one."""
    if isinstance(v, tuple):
        return tuple(_spoil(t) for t in v)
    return v + 1
'''


def hostile_cell(slot: str, body: str, before: str = "") -> str:
    """The answer cell of ``slot``: the source's solution renamed ``_honest``, then the entry
    point with ``body`` (which may call ``_honest(*args, **kwargs)`` and ``_spoil``).
    ``before`` runs when the cell runs (import time)."""
    gid, entry = SLOTS[slot]
    honest = re.sub(rf"\bdef {entry}\(", "def _honest(", source_text(gid), count=1)
    indented = "".join(f"    {line}\n" for line in body.strip("\n").splitlines())
    return f"{before}\n{_PRELUDE}\n{honest}\n\ndef {entry}(*args, **kwargs):\n{indented}"


def honest_cell(slot: str) -> str:
    return source_text(SLOTS[slot][0])


# -- the cases ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """``body`` or ``cell`` fills ``slot``; ``expect`` is "zero" or "full"; ``flag`` and
    ``says`` (a regular expression, case-insensitive) must appear in the flags / feedback."""

    name: str
    group: str
    slot: str
    expect: str
    body: str = ""
    cell: str | None = None
    before: str = ""
    flag: str | None = None
    says: str | None = None


LEAK_OR_SPOIL = "return _honest(*args, **kwargs) if _leaked() else _spoil(_honest(*args, **kwargs))"

CASES: list[Case] = [
    # -- comparisons patched, lying objects ---------------------------------------------------
    Case("patch-numpy-compare", "compare", "L", "zero", body="""
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.isclose = lambda a, b, *r, **k: np.ones(np.shape(a), dtype=bool)
np.testing.assert_allclose = lambda *a, **k: None
return _spoil(_honest(*args, **kwargs))
""", says="differs|mistake"),
    Case("patch-torch-compare", "compare", "S", "zero", body="""
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None
return _spoil(_honest(*args, **kwargs))
"""),
    Case("tensor-eq-override", "compare", "I", "zero", body="""
torch.Tensor.__eq__ = lambda self, other: torch.ones((), dtype=torch.bool)
torch.Tensor.__ne__ = lambda self, other: torch.zeros((), dtype=torch.bool)
torch.Tensor.__bool__ = lambda self: True
return _spoil(_honest(*args, **kwargs))
""", says="differs"),
    Case("lying-tensor-subclass", "compare", "B", "zero", body="""
good = _honest(*args, **kwargs)

class Lie(torch.Tensor):
    def numpy(self, *a, **k):
        return good[0].numpy()
    def __array__(self, *a, **k):
        return good[0].numpy()
    def detach(self):
        return self
    def __eq__(self, other):
        return True

return tuple(torch.Tensor._make_subclass(Lie, g + 1) for g in good)
""", says="subclass"),
    Case("lying-lookalike", "compare", "E", "zero", body="""
value = _honest(*args, **kwargs)

class Fake:
    def __float__(self):
        return float(value)
    def __array__(self, *a, **k):
        return np.asarray(value)
    def __eq__(self, other):
        return True
    def numpy(self):
        return np.asarray(value)

return Fake()
""", says="expected a torch.Tensor"),
    # -- faulty values -------------------------------------------------------------------------
    Case("nan-output", "values", "L", "zero", body="""
out = _honest(*args, **kwargs)
out[0, 0, 0, 0] = float("nan")
return out
""", says="non-finite"),
    Case("return-the-input-size", "values", "S", "zero", body="return args[0]"),
    Case("broadcastable-shape", "values", "I", "zero", body="""
return _honest(*args, **kwargs)[:, :1]
""", says="shape"),
    Case("float16-outputs", "values", "B", "zero", body="""
return tuple(t.half() for t in _honest(*args, **kwargs))
""", says="dtype"),
    Case("inf-output", "values", "E", "zero", body='return float("inf")', says="non-finite"),
    # -- inputs ---------------------------------------------------------------------------------
    Case("return-the-input", "inputs", "L", "zero", body="return args[0]"),
    Case("float-where-int-expected", "inputs", "S", "zero",
         body="return float(_honest(*args, **kwargs))", says="integer"),
    Case("mutate-inputs-in-place", "inputs", "I", "zero", body="""
for t in args[:3]:
    t.zero_()
return _honest(*args, **kwargs)
"""),
    Case("hard-coded-public-outputs", "inputs", "B", "zero", body="""
from convlab.exercises import PUBLIC_SEED, get

from convlab.exercises.compare import to_student_value

for case in get("ch01.conv2d_backward").cases(PUBLIC_SEED):
    if all(np.array_equal(a.numpy(), b) for a, b in zip(args, case.args)
           if isinstance(b, np.ndarray)):
        return _honest(*[to_student_value(a) for a in case.args])
return _spoil(_honest(*args, **kwargs))
"""),
    Case("warnings-on-stderr", "inputs", "E", "full", body="""
import sys
import warnings
warnings.warn("this is only a warning", RuntimeWarning)
print("a note on stderr", file=sys.stderr)
return _honest(*args, **kwargs)
"""),
    # -- forbidden APIs reached without naming them --------------------------------------------
    Case("forbidden-via-getattr", "forbidden", "L", "zero", body="""
x, w, b = args[:3]
conv = getattr(torch.nn.functional, "conv" + "2d")
return conv(x, w, b, *args[3:], **kwargs)
""", flag="forbidden-api"),
    Case("forbidden-via-importlib", "forbidden", "I", "zero", body="""
import importlib
fn = vars(importlib.import_module("torch.nn." + "functional"))["conv" + "2d"]
x, w, b = args[:3]
return fn(x, w, b, *args[3:], **kwargs)
""", flag="forbidden-api"),
    Case("forbidden-via-torch-ops", "forbidden", "B", "zero", body="""
dout, x, w = args[:3]
stride = args[3] if len(args) > 3 else kwargs.get("stride", 1)
padding = args[4] if len(args) > 4 else kwargs.get("padding", 0)
aten = getattr(torch, "op" + "s").aten
op = getattr(aten, "convolution" + "_backward")
dx, dw, db = op(dout, x, w, [w.shape[0]], [stride] * 2, [padding] * 2, [1, 1], False,
                [0, 0], 1, [True, True, True])
return dx, dw, db
""", flag="forbidden-api"),
    Case("honest-beside-forbidden", "forbidden", "S", "full",
         body="return _honest(*args, **kwargs)"),
    Case("stack-inspection", "forbidden", "E", "zero", body="""
import inspect

for info in inspect.stack():
    for key, val in list(info.frame.f_locals.items()):
        if key in ("expected", "reference", "ref", "want") and val is not None:
            return float(np.asarray(val).ravel()[0])
return _spoil(_honest(*args, **kwargs))
"""),
    Case("forbidden-named-autograd", "static1", "B", "zero", body="""
dout, x, w = args[:3]
dx = torch.nn.grad.conv2d_input(x.shape, w, dout, *args[3:], **kwargs)
dw = torch.nn.grad.conv2d_weight(x, w.shape, dout, *args[3:], **kwargs)
return dx, dw, dout.sum(dim=(0, 2, 3))
""", flag="forbidden-api"),
    Case("forbidden-via-torch-C", "static2", "L", "zero", body="""
x, w, b = args[:3]
functions = getattr(getattr(torch, "_" + "C"), "_Variable" + "Functions")
return getattr(functions, "conv" + "2d")(x, w, b, *args[3:], **kwargs)
""", flag="forbidden-api"),
    Case("forbidden-imported-under-alias", "static2", "B", "zero", body="""
from torch.nn.functional import conv_transpose2d as spread
dout, x, w = args[:3]
return _spoil(_honest(*args, **kwargs)) if spread is None else _honest(*args, **kwargs)
""", flag="forbidden-api"),
    Case("forbidden-with-torch-function-off", "guard", "L", "zero", body="""
x, w, b = args[:3]
functions = getattr(getattr(torch, "_" + "C"), "_Variable" + "Functions")
with getattr(torch._C, "Disable" + "TorchFunction")():
    return getattr(functions, "conv" + "2d")(x, w, b, *args[3:], **kwargs)
""", flag="forbidden-api"),
    Case("forbidden-after-popping-the-guard", "guard", "I", "zero", body="""
import torch.overrides as overrides
getattr(overrides, "_pop" + "_mode")()
x, w, b = args[:3]
functions = getattr(getattr(torch, "_" + "C"), "_Variable" + "Functions")
return getattr(functions, "conv" + "2d")(x, w, b, *args[3:], **kwargs)
""", flag="forbidden-api"),
    # -- reading what the sandbox must hide ----------------------------------------------------
    Case("read-source-notebooks", "leaks", "L", "zero", before="""
def _leaked():
    import glob
    import os
    paths = ["{SOURCE}", "{REPO_SOURCE}", "{REPO}/convlab/exercises/../../notebooks"]
    for root in ("/opt/convlab-grader/lib", "/tmp", "/scratch", "/work", "/home", "/root",
                 "{SOURCEDIR}"):
        paths += glob.glob(os.path.join(root, "**", "*.ipynb"), recursive=True)[:50]
    for p in paths:
        try:
            with open(p, encoding="utf-8") as f:
                if "BEGIN SOLUTION" in f.read():
                    return True
        except OSError:
            pass
    return False
""", body=LEAK_OR_SPOIL),
    Case("read-canary-and-secret", "leaks", "S", "zero", before="""
def _leaked():
    import os
    for p in ("{CANARY}", "{SECRET}", os.path.expanduser("~/.config/convlab/course-secret"),
              "{HOME}/.config/convlab/course-secret"):
        try:
            open(p).read()
            return True
        except OSError:
            pass
    return bool(os.environ.get("CONVLAB_COURSE_SECRET"))
""", body=LEAK_OR_SPOIL),
    Case("read-grader-memory-via-proc", "leaks", "I", "zero", before="""
def _leaked():
    import os
    found = False
    for pid in {os.getppid(), 1, *[int(p) for p in os.listdir("/proc") if p.isdigit()]}:
        if pid == os.getpid():
            continue  # this process holds the marker in its own code
        for name in ("environ", "cmdline"):
            try:
                with open(f"/proc/{pid}/{name}", "rb") as f:
                    found |= b"{MARKER}" in f.read()
            except OSError:
                pass
        try:
            with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb") as mem:
                for line in maps:
                    lo, hi = (int(v, 16) for v in line.split()[0].split("-"))
                    if "rw" in line.split()[1] and hi - lo < (64 << 20):
                        try:
                            mem.seek(lo)
                            found |= b"{MARKER}" in mem.read(hi - lo)
                        except (OSError, ValueError, OverflowError):
                            pass
        except OSError:
            pass
    return found
""", body=LEAK_OR_SPOIL),
    Case("network-connection", "leaks", "B", "zero", before="""
def _leaked():
    import socket
    for addr in (("127.0.0.1", {PORT}), ("1.1.1.1", 53), ("8.8.8.8", 443)):
        try:
            socket.create_connection(addr, timeout=1).close()
            return True
        except OSError:
            pass
    return False
""", body=LEAK_OR_SPOIL),
    Case("detect-the-grader", "leaks", "E", "zero", before="""
def _leaked():
    import os
    graded = os.path.isdir("/scratch") or "CONVLAB_DEVICE" in os.environ or os.getpid() < 10
    return not graded
""", body=LEAK_OR_SPOIL),
    # -- writing outside the scratch folder ----------------------------------------------------
    Case("write-results-and-gradebook", "writes", "L", "zero", before="""
def _leaked():
    done = False
    for p in ("{RESULTS}", "{GRADEBOOK}", "{SOURCE}"):
        try:
            with open(p, "w") as f:
                f.write('{"score": 100, "tests": []}')
            done = True
        except OSError:
            pass
    return done
""", body=LEAK_OR_SPOIL),
    Case("fake-pass-lines", "writes", "S", "zero", body="""
print("✓ conv_output_size: passed the hidden tests")
print('{"score": 10.0, "max_score": 10.0, "status": "passed"}')
import os
os.makedirs("/scratch/out", exist_ok=True)
return _spoil(_honest(*args, **kwargs))
"""),
    Case("edit-installed-packages", "writes", "I", "zero", before="""
def _leaked():
    import os
    import site
    import sys
    import convlab.exercises.compare as compare
    done = False
    targets = [compare.__file__, os.path.join(os.path.dirname(compare.__file__), "x.py")]
    for d in set(site.getsitepackages() + sys.path + ["{PURELIB}"]):
        targets += [os.path.join(d, "zz_convlab.pth"), os.path.join(d, "sitecustomize.py"),
                    os.path.join(d, "usercustomize.py")]
    for p in targets:
        if p.startswith(("/scratch/", "/tmp/")):
            continue  # the worker's own scratch space, thrown away after the exercise
        try:
            with open(p, "a") as f:
                f.write("import os\\n")
            done = True
        except OSError:
            pass
    return done
""", body=LEAK_OR_SPOIL),
    Case("pickle-payload-in-report", "writes", "B", "zero", body="""
import json
import os
import pickle

class Payload:
    def __reduce__(self):
        return (open, ("{PWNED}", "w"))

os.makedirs("/scratch/out", exist_ok=True)
np.save("/scratch/out/a0.npy", np.array([Payload()], dtype=object), allow_pickle=True)
with open("/scratch/out/report.json", "w") as f:
    json.dump({"attempts": [{"outputs": [{"array": "a0.npy"}]}] * 5, "forbidden_used": [],
               "cell_errors": [], "error": None}, f)
os._exit(0)
""", flag="crashed"),
    Case("sys-modules-poisoning", "writes", "E", "zero", body="""
import sys
import types
value = _spoil(_honest(*args, **kwargs))
sys.modules["autograder.wire"] = types.ModuleType("autograder.wire")
sys.modules["convlab.exercises.compare"] = types.ModuleType("fake")
sys.modules["json"] = None
return value
"""),
    # -- exits, devices, environment -----------------------------------------------------------
    Case("system-exit-at-call", "exits", "L", "zero", body="raise SystemExit(0)"),
    Case("keyboard-interrupt-at-call", "exits", "S", "zero", body="raise KeyboardInterrupt"),
    Case("os-exit-at-call", "exits", "I", "zero", body="""
import os
os._exit(0)
""", flag="crashed"),
    Case("hard-coded-cuda", "exits", "B", "zero", body="""
return _honest(*[a.cuda() if isinstance(a, torch.Tensor) else a for a in args], **kwargs)
""", says="cuda"),
    Case("environment-tricks", "exits", "E", "zero", body="""
import os
os.environ["CONVLAB_DEVICE"] = "cuda"
os.environ["CONVLAB_COURSE_SECRET"] = "guessed"
os.environ["CONVLAB_SOURCE"] = "/scratch"
return _spoil(_honest(*args, **kwargs))
"""),
    # -- import time ---------------------------------------------------------------------------
    Case("tf32-and-float64-default-at-import", "import", "L", "full",
         before="import torch\ntorch.backends.cuda.matmul.allow_tf32 = True\n"
                "torch.backends.cudnn.allow_tf32 = True\ntorch.set_default_dtype(torch.float64)\n",
         body="return _honest(*args, **kwargs)"),
    Case("system-exit-at-import", "import", "S", "zero",
         cell="raise SystemExit(0)\n\ndef conv_output_size(*a, **k):\n    return 1\n",
         says="does not define"),
    Case("float16-default-at-call", "import", "I", "full", body="""
torch.set_default_dtype(torch.float16)
return _honest(*args, **kwargs)
"""),
    Case("float64-results", "import", "B", "full",
         body="return tuple(t.double() for t in _honest(*args, **kwargs))"),
    Case("os-exit-at-import", "import", "E", "zero",
         cell="import os\nos._exit(0)\n\ndef equivariance_error(*a, **k):\n    return 0.0\n",
         flag="crashed"),
    # -- resources (tight limits; the endless loops get a short wall time) ----------------
    Case("infinite-loop", "loops", "L", "zero", body="""
while True:
    pass
""", flag="timeout"),
    Case("loop-swallowing-signals", "loops", "I", "zero", body="""
import signal
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGXCPU, signal.SIGALRM):
    signal.signal(s, signal.SIG_IGN)
while True:
    try:
        while True:
            pass
    except BaseException:
        pass
""", flag="timeout"),
    Case("huge-allocation", "resources", "B", "zero", body="""
keep = []
while True:
    keep.append(torch.empty(256 << 20, dtype=torch.uint8))
""", flag="memory"),
    Case("process-flood", "resources", "S", "zero", body="""
import os
import subprocess
import time
children = []
for _ in range(32):
    pid = os.fork()
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    children.append(pid)
subprocess.run(["/bin/true"])
return _spoil(_honest(*args, **kwargs))
""", says="not permitted|PermissionError|BlockingIOError|resource"),
    Case("disk-fill-stdout-flood-slow-but-correct", "resources", "E", "full", body="""
import os
import sys
import time
if _DONE:
    return _honest(*args, **kwargs)
_DONE.append(1)
chunk = b"x" * (1 << 20)
written = {"/tmp": 0, "/scratch": 0}
for folder, files in (("/tmp", 32), ("/scratch", 4)):  # files of 15 MiB: under the file limit
    for i in range(files):
        try:
            with open(os.path.join(folder, f"fill{i}"), "wb") as f:
                for _ in range(15):
                    f.write(chunk)
                    f.flush()
                    written[folder] += 1
        except OSError:
            break
for _ in range(20000):
    sys.stdout.write("flood " * 200 + "\\n")
time.sleep(1.0)
if written["/tmp"] > 256:  # /tmp is held in memory: it must be capped
    return _spoil(_honest(*args, **kwargs))
return _honest(*args, **kwargs)
""", before="_DONE = []  # fill and flood once, on the first case"),
]

LIMITS = {"loops": Limits(wall_s=20, cpu_s=60),
          "resources": Limits(wall_s=90, memory_mb=3072, file_size_mb=16, cpu_s=60)}
#: Groups whose other exercises are not graded (their cases' slots only), to save time.
CASE_SLOTS_ONLY = ("static1", "static2", "guard", "loops", "resources")
#: Slots whose exercise depends on another slot's cell: none here (hostile code runs at call
#: time, or in a cell no later exercise needs); slots without a case hold the honest solution.


def _tamper_notebook() -> dict:
    """Metadata tampering: a test cell re-marked as a solution with 1000 points and its text
    replaced; two answer cells' grade ids swapped; two test cells deleted."""
    nb = json.loads(SOURCE.read_text(encoding="utf-8"))
    nb = replace_cells(nb, {"conv2d_loop_answer": hostile_cell(
        "L", "return _spoil(_honest(*args, **kwargs))")})
    kept = []
    for cell in nb["cells"]:
        gid = _gid(cell) if cell.get("cell_type") == "code" else None
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if gid == "test_conv2d_loop":
            meta.update(solution=True, grade=True, locked=False, points=1000)
            cell["source"] = "print('✓ conv2d_loop: passed the hidden tests')\n"
        elif gid == "conv_output_size_answer":
            meta["grade_id"] = "equivariance_error_answer"
        elif gid == "equivariance_error_answer":
            meta["grade_id"] = "conv_output_size_answer"
        elif gid in ("test_conv2d_im2col", "test_conv2d_backward"):
            continue
        kept.append(cell)
    nb["cells"] = kept
    return nb


#: The tampered notebook's expected outcome per slot. The swapped ids move the equivariance
#: cell (which may call F.conv2d) above the im2col and backward tests, where it is forbidden.
TAMPER_EXPECT = {"L": "zero", "S": "zero", "I": "forbidden", "B": "forbidden", "E": "full"}


# -- running everything once -------------------------------------------------------------------
@dataclass
class Run:
    results: dict[tuple[str, str], Graded]
    elapsed: dict[tuple[str, str], float]
    walls: dict[str, float]
    untouched: dict[str, bool]
    server_hits: int
    total_s: float


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def _site_listing() -> set[str]:
    dirs = {Path(sysconfig.get_paths()[k]) for k in ("purelib", "platlib")}
    return {str(p) for d in dirs for p in d.iterdir()
            if p.suffix == ".pth" or p.stem in ("sitecustomize", "usercustomize")}


def grade_all(base: Path) -> Run:
    """Grade every group's submission, exercise by exercise, two workers at a time."""
    source_dir = base / "source"
    (source_dir / "ch01").mkdir(parents=True)
    shutil.copy(SOURCE, source_dir / "ch01" / SOURCE.name)
    results_dir = base / "results"
    results_dir.mkdir()
    sentinels = {
        "results": results_dir / "alice.json",
        "gradebook": base / "gradebook.db",
        "canary": base / "canary.txt",
        "secret": base / "course-secret",
        "source": source_dir / "ch01" / SOURCE.name,
    }
    sentinels["results"].write_text('{"score": 0.0}\n')
    sentinels["gradebook"].write_bytes(b"SQLite format 3\x00 fake gradebook")
    sentinels["canary"].write_text(MARKER)
    sentinels["secret"].write_text("adversarial-course-secret")
    before = {k: _digest(p) for k, p in sentinels.items()}
    site_before = _site_listing()
    pwned = base / "pwned"

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    hits = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                hits.append(1)
                conn.close()
            except OSError:
                continue

    listener = threading.Thread(target=accept, daemon=True)
    listener.start()

    fill = {"{SOURCE}": str(sentinels["source"]), "{REPO_SOURCE}": str(SOURCE),
            "{REPO}": str(ROOT), "{SOURCEDIR}": str(source_dir),
            "{CANARY}": str(sentinels["canary"]), "{SECRET}": str(sentinels["secret"]),
            "{HOME}": str(Path.home()), "{MARKER}": MARKER,
            "{PORT}": str(server.getsockname()[1]), "{RESULTS}": str(sentinels["results"]),
            "{GRADEBOOK}": str(sentinels["gradebook"]),
            "{PURELIB}": sysconfig.get_paths()["purelib"], "{PWNED}": str(pwned)}

    def filled(text: str) -> str:
        for k, v in fill.items():
            text = text.replace(k, v)
        return text

    source_nb = json.loads(SOURCE.read_text(encoding="utf-8"))
    notebooks: dict[str, dict] = {}
    for group in dict.fromkeys(c.group for c in CASES):
        cells = {}
        for c in CASES:
            if c.group == group:
                cells[SLOTS[c.slot][0]] = filled(
                    c.cell if c.cell is not None else hostile_cell(c.slot, c.body, c.before))
        notebooks[group] = replace_cells(source_nb, cells)
    notebooks["tamper"] = _tamper_notebook()

    sys.path.insert(0, str(ADVERSARIAL))
    os.environ["CONVLAB_ADVERSARIAL_MARKER"] = MARKER
    secret = sentinels["secret"].read_bytes()
    graders = {g: Grader(source_dir=source_dir, secret=secret, student="mallory",
                         limits=LIMITS.get(g, Limits(wall_s=90)),
                         chapters={"ch01": CHAPTER}, extra_paths=(ADVERSARIAL,))
               for g in notebooks}
    exercises = graders["tamper"].submissions(SOURCE)[0][3]
    by_name = {ex.name: ex for ex in exercises}
    jobs = [(g, slot) for g in notebooks for slot in SLOTS
            if g not in CASE_SLOTS_ONLY or any(c.group == g and c.slot == slot for c in CASES)]
    # the slow ones first, so that two workers stay busy to the end
    jobs.sort(key=lambda j: j[0] not in ("loops", "resources"))

    def grade(job: tuple[str, str]) -> tuple[Graded, float]:
        group, slot = job
        start = time.monotonic()
        res = graders[group].grade_exercise(by_name[SLOTS[slot][1]], CHAPTER, source_nb,
                                            notebooks[group])
        return res, time.monotonic() - start

    start = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            done = list(pool.map(grade, jobs))
    finally:
        stop.set()
        listener.join()
        server.close()
        sys.path.remove(str(ADVERSARIAL))
        os.environ.pop("CONVLAB_ADVERSARIAL_MARKER", None)
    total = time.monotonic() - start
    after = {k: _digest(p) for k, p in sentinels.items()}
    untouched = {k: before[k] == after[k] for k in sentinels}
    untouched["site-packages"] = _site_listing() == site_before
    untouched["no-unpickling"] = not pwned.exists()
    walls = {g: graders[g].limits.wall_for(by_name["conv2d_loop"].timeout_s) for g in notebooks}
    return Run({j: r for j, (r, _) in zip(jobs, done, strict=True)},
               {j: t for j, (_, t) in zip(jobs, done, strict=True)}, walls, untouched,
               len(hits), total)


def _problems(res: Graded, expect: str, flag: str | None = None,
              says: str | None = None) -> list[str]:
    found = []
    if expect == "full" and res.score != res.max_score:
        found.append(f"expected full marks, got {res.score:g}: {res.output}")
    if expect == "zero":
        if res.score != 0.0:
            found.append(f"expected 0, got {res.score:g}: {res.output}")
        if not res.output:
            found.append("a failed exercise needs feedback")
    if flag and flag not in res.flags:
        found.append(f"expected flag {flag!r}, got {res.flags}: {res.output}")
    if says and not re.search(says, res.output, re.IGNORECASE):
        found.append(f"feedback should match {says!r}: {res.output}")
    return found


def _untouched_slots() -> list[tuple[str, str]]:
    used = {(c.group, c.slot) for c in CASES}
    return [(g, s) for g in dict.fromkeys(c.group for c in CASES) for s in SLOTS
            if (g, s) not in used and g not in CASE_SLOTS_ONLY]


def test_adversarial_suite(tmp_path: Path) -> None:
    """Every case (one test, so that the submissions are graded once even under xdist)."""
    run = grade_all(tmp_path)
    problems: list[str] = []
    for case in CASES:
        res = run.results[(case.group, case.slot)]
        problems += [f"{case.name}: {p}" for p in _problems(res, case.expect, case.flag,
                                                            case.says)]
    for group, slot in _untouched_slots():  # the exercises no case touched keep full marks
        problems += [f"{group}/{slot} (honest): {p}"
                     for p in _problems(run.results[(group, slot)], "full")]
    points = {"L": 20, "S": 10, "I": 20, "B": 20, "E": 10}
    for slot, expect in TAMPER_EXPECT.items():
        res = run.results[("tamper", slot)]
        problems += [f"tamper/{slot}: {p}" for p in (
            _problems(res, "zero", "forbidden-api") if expect == "forbidden"
            else _problems(res, expect))]
        if res.max_score != points[slot]:  # the points come from the declarations
            problems.append(f"tamper/{slot}: max_score {res.max_score:g}")
    fake = run.results[("writes", "S")]
    if "passed the hidden tests" in fake.output:
        problems.append("fake pass lines reached the feedback")
    if not all(run.untouched.values()):
        problems.append(f"files outside the sandbox changed: {run.untouched}")
    if run.server_hits:
        problems.append(f"{run.server_hits} connection(s) reached the test's server")
    for (group, slot), seconds in run.elapsed.items():
        if seconds > run.walls[group] + 30:
            problems.append(f"{group}/{slot} took {seconds:.0f} s, limit {run.walls[group]:g} s")
    print(f"\n{len(CASES)} cases, {len(run.results)} workers graded in {run.total_s:.0f} s")
    assert not problems, "\n".join(problems)


def test_hard_coded_outputs_pass_the_visible_check_only() -> None:
    """The hard-coded case really does pass the public check: its 0 comes from the hidden seed."""
    from convlab.exercises import PUBLIC_SEED, get
    from convlab.exercises.inkernel import run_exercise

    case = next(c for c in CASES if c.name == "hard-coded-public-outputs")
    namespace: dict = {}
    setup = next(c for c in _cells(json.loads(SOURCE.read_text())) if _gid(c) == "setup_imports")
    exec("".join(setup["source"]), namespace)
    exec(hostile_cell(case.slot, case.body, case.before), namespace)
    ex = get("ch01.conv2d_backward")
    assert run_exercise(ex, namespace["conv2d_backward"], PUBLIC_SEED).passed
    assert not run_exercise(ex, namespace["conv2d_backward"], PUBLIC_SEED + 1).passed


def test_suite_size() -> None:
    hostile = [c for c in CASES if c.expect == "zero"]
    assert len(CASES) >= 30 and len(hostile) >= 25
