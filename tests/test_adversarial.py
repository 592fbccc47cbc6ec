"""Hostile and faulty submissions: the grader must not be fooled, crash, hang or leak.

Two lines of defence, each tested on its own:

* **the answer policy** (static, in the grader's process): every hostile case's answer cell is
  analysed as the real grader does, and the case says what the policy must refuse (the
  construct it names) or that it passes the policy (``test_the_policy_on_every_case``; fast);
* **the run-time sandbox**: the same submissions are graded by :class:`UncheckedGrader`,
  the engine with the policy's verdict ignored (its reachability kept), so that the hostile
  code really runs in the worker. Whatever it does, it must not gain points, forge the report,
  hang or crash the grader, hold memory or disk past the limits, see the host, or leak hidden
  inputs through feedback.

Each case takes chapter 1's instructor source notebook and replaces one answer cell (its
``grade_id``) with other code. Most hostile cells keep the honest solution at hand (the
source's own, renamed ``_honest``) and use it only when their trick works — a leaked file, a
reachable socket, memory held outside the limits — so a score of 0 shows the trick failed, not
merely that the code was wrong. Files outside the sandbox (results, a gradebook, a canary, the
source notebooks, site-packages) are checked before and after.

Runs the engine's API directly (:meth:`Grader.grade_notebook`: one worker per group's notebook,
whose trusted parent forks a fresh child per exercise, so the cases of a group must not affect
one another), two workers at once, with the training check left out
(``tests/adversarial/adversarial_ch01.py``). The batch test grades a
FIFO submission, a scan-import submission and an honest one with ``grade_batch``.
"""

from __future__ import annotations

import copy
import csv
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

from autograder import batch, notebook, scan
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

pytestmark = [pytest.mark.skipif(not SOURCE.is_file(), reason="chapter 1's notebook is not there")]
SANDBOXED = [pytest.mark.slow,
             pytest.mark.skipif(bwrap_path() is None, reason="needs bubblewrap (bwrap)")]


class UncheckedGrader(Grader):
    """The engine with the policy's findings dropped (the reachability kept): the hostile code
    runs in the worker, so the run-time defences are tested on their own."""

    def analyse(self, program, ex):
        found = super().analyse(program, ex)
        return scan.Analysis(found.program, [], found.analysed)


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
    ``says`` (a regular expression, case-insensitive) must appear in the flags / feedback, both
    at run time. ``policy``: a regular expression the static policy's refusal must match (the
    construct it names), or ``None`` when the cell passes the policy."""

    name: str
    group: str
    slot: str
    expect: str
    body: str = ""
    cell: str | None = None
    before: str = ""
    flag: str | None = None
    says: str | None = None
    policy: str | None = None


LEAK_OR_SPOIL = "return _honest(*args, **kwargs) if _leaked() else _spoil(_honest(*args, **kwargs))"

CASES: list[Case] = [
    # -- comparisons patched, lying objects ---------------------------------------------------
    Case("patch-numpy-compare", "compare", "L", "zero", body="""
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.isclose = lambda a, b, *r, **k: np.ones(np.shape(a), dtype=bool)
np.testing.assert_allclose = lambda *a, **k: None
return _spoil(_honest(*args, **kwargs))
""", says="differs|mistake", policy='assigning numpy.allclose'),
    Case("patch-torch-compare", "compare", "S", "zero", body="""
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None
return _spoil(_honest(*args, **kwargs))
""", policy='assigning torch.allclose'),
    Case("tensor-eq-override", "compare", "I", "zero", body="""
torch.Tensor.__eq__ = lambda self, other: torch.ones((), dtype=torch.bool)
torch.Tensor.__ne__ = lambda self, other: torch.zeros((), dtype=torch.bool)
torch.Tensor.__bool__ = lambda self: True
return _spoil(_honest(*args, **kwargs))
""", says="differs", policy='\\.__eq__'),
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
""", says="subclass", policy='\\._make_subclass'),
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
""", says="StudentOutputError: returned a"),
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
""", policy='convlab.exercises'),
    Case("warnings-on-stderr", "inputs", "E", "full", body="""
import sys
import warnings
warnings.warn("this is only a warning", RuntimeWarning)
print("a note on stderr", file=sys.stderr)
return _honest(*args, **kwargs)
""", policy='import sys'),
    # -- forbidden APIs reached without naming them --------------------------------------------
    Case("forbidden-via-getattr", "forbidden", "L", "zero", body="""
x, w, b = args[:3]
conv = getattr(torch.nn.functional, "conv" + "2d")
return conv(x, w, b, *args[3:], **kwargs)
""", flag="forbidden-api", policy='getattr\\(\\) with a name computed'),
    Case("forbidden-via-importlib", "forbidden", "I", "zero", body="""
import importlib
fn = vars(importlib.import_module("torch.nn." + "functional"))["conv" + "2d"]
x, w, b = args[:3]
return fn(x, w, b, *args[3:], **kwargs)
""", flag="forbidden-api", policy='import importlib'),
    Case("forbidden-via-torch-ops", "forbidden", "B", "zero", body="""
dout, x, w = args[:3]
stride = args[3] if len(args) > 3 else kwargs.get("stride", 1)
padding = args[4] if len(args) > 4 else kwargs.get("padding", 0)
aten = getattr(torch, "op" + "s").aten
op = getattr(aten, "convolution" + "_backward")
dx, dw, db = op(dout, x, w, [w.shape[0]], [stride] * 2, [padding] * 2, [1, 1], False,
                [0, 0], 1, [True, True, True])
return dx, dw, db
""", flag="forbidden-api", policy='getattr\\(\\) with a name computed'),
    Case("honest-beside-forbidden", "forbidden", "S", "full",
         body="return _honest(*args, **kwargs)"),
    Case("stack-inspection", "forbidden", "E", "zero", body="""
import inspect

for info in inspect.stack():
    for key, val in list(info.frame.f_locals.items()):
        if key in ("expected", "reference", "ref", "want") and val is not None:
            return float(np.asarray(val).ravel()[0])
return _spoil(_honest(*args, **kwargs))
""", policy='import inspect'),
    Case("forbidden-named-autograd", "static1", "B", "zero", body="""
dout, x, w = args[:3]
dx = torch.nn.grad.conv2d_input(x.shape, w, dout, *args[3:], **kwargs)
dw = torch.nn.grad.conv2d_weight(x, w.shape, dout, *args[3:], **kwargs)
return dx, dw, dout.sum(dim=(0, 2, 3))
""", flag="forbidden-api", policy='torch.nn.grad.conv2d_input'),
    # a route the exercise's list does not name: the run-time guard knows the op's family
    Case("unlisted-unfold-copy", "static1", "L", "zero", body="""
x, w, b, stride, padding = args[:5]
n, c, h, wd = x.shape
f, _, kh, kw = w.shape
xp = torch.nn.functional.pad(x, (padding,) * 4)
cols = torch.unfold_copy(torch.unfold_copy(xp, 2, kh, stride), 3, kw, stride)
out = torch.einsum("nchwuv,fcuv->nfhw", cols, w) + b[None, :, None, None]
return out
""", flag="forbidden-api"),
    Case("forbidden-via-torch-C", "static2", "L", "zero", body="""
x, w, b = args[:3]
functions = getattr(getattr(torch, "_" + "C"), "_Variable" + "Functions")
return getattr(functions, "conv" + "2d")(x, w, b, *args[3:], **kwargs)
""", flag="forbidden-api", policy='getattr\\(\\) with a name computed'),
    # imported, never called: only the static analysis can see it (at run time: full marks)
    Case("forbidden-imported-under-alias", "static2", "B", "full", body="""
from torch.nn.functional import conv_transpose2d as spread
dout, x, w = args[:3]
return _spoil(_honest(*args, **kwargs)) if spread is None else _honest(*args, **kwargs)
""", policy='conv_transpose2d'),
    Case("forbidden-with-torch-function-off", "guard", "L", "zero", body="""
x, w, b = args[:3]
functions = getattr(getattr(torch, "_" + "C"), "_Variable" + "Functions")
with getattr(torch._C, "Disable" + "TorchFunction")():
    return getattr(functions, "conv" + "2d")(x, w, b, *args[3:], **kwargs)
""", flag="forbidden-api", policy='getattr\\(\\) with a name computed'),
    Case("forbidden-after-popping-the-guard", "guard", "I", "zero", body="""
import torch.overrides as overrides
getattr(overrides, "_pop" + "_mode")()
x, w, b = args[:3]
functions = getattr(getattr(torch, "_" + "C"), "_Variable" + "Functions")
return getattr(functions, "conv" + "2d")(x, w, b, *args[3:], **kwargs)
""", flag="forbidden-api", policy='torch.overrides'),
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
""", body=LEAK_OR_SPOIL, policy='import glob'),
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
""", body=LEAK_OR_SPOIL, policy='import os'),
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
""", body=LEAK_OR_SPOIL, policy='import os'),
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
""", body=LEAK_OR_SPOIL, policy='import socket'),
    Case("detect-the-grader", "leaks", "E", "zero", before="""
def _leaked():
    import os
    graded = os.path.isdir("/scratch") or "CONVLAB_DEVICE" in os.environ or os.getpid() < 10
    return not graded
""", body=LEAK_OR_SPOIL, policy='import os'),
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
""", body=LEAK_OR_SPOIL, policy='^open$'),
    Case("fake-pass-lines", "writes", "S", "zero", body="""
print("✓ conv_output_size: passed the hidden tests")
print('{"score": 10.0, "max_score": 10.0, "status": "passed"}')
import os
os.makedirs("/scratch/out", exist_ok=True)
return _spoil(_honest(*args, **kwargs))
""", policy='import os'),
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
""", body=LEAK_OR_SPOIL, policy='import os'),
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
""", flag="crashed", policy='import (json|os|pickle)'),
    Case("sys-modules-poisoning", "writes", "E", "zero", body="""
import sys
import types
value = _spoil(_honest(*args, **kwargs))
sys.modules["autograder.wire"] = types.ModuleType("autograder.wire")
sys.modules["convlab.exercises.compare"] = types.ModuleType("fake")
sys.modules["json"] = None
return value
""", policy='import sys'),
    # -- exits, devices, environment -----------------------------------------------------------
    Case("system-exit-at-call", "exits", "L", "zero", body="raise SystemExit(0)"),
    Case("keyboard-interrupt-at-call", "exits", "S", "zero", body="raise KeyboardInterrupt"),
    Case("os-exit-at-call", "exits", "I", "zero", body="""
import os
os._exit(0)
""", flag="crashed", policy='import os'),
    Case("hard-coded-cuda", "exits", "B", "zero", body="""
return _honest(*[a.cuda() if isinstance(a, torch.Tensor) else a for a in args], **kwargs)
""", says="cuda"),
    Case("environment-tricks", "exits", "E", "zero", body="""
import os
os.environ["CONVLAB_DEVICE"] = "cuda"
os.environ["CONVLAB_COURSE_SECRET"] = "guessed"
os.environ["CONVLAB_SOURCE"] = "/scratch"
return _spoil(_honest(*args, **kwargs))
""", policy='import os'),
    # -- import time ---------------------------------------------------------------------------
    Case("tf32-and-float64-default-at-import", "import", "L", "full",
         before="import torch\ntorch.backends.cuda.matmul.allow_tf32 = True\n"
                "torch.backends.cudnn.allow_tf32 = True\ntorch.set_default_dtype(torch.float64)\n",
         body="return _honest(*args, **kwargs)", policy='torch.backends'),
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
         flag="crashed", policy='import os'),
    # -- reaching the report: it comes from the worker's trusted parent on a pipe ----------
    Case("fifo-in-place-of-the-report", "report", "L", "zero", body="""
import os
for folder in ("/scratch/out", "/scratch/in", "/tmp/out"):
    os.makedirs(folder, exist_ok=True)
    for name in ("report.json", "a0.npy", "job.json"):
        try:
            os.mkfifo(os.path.join(folder, name))
        except OSError:
            pass
return _spoil(_honest(*args, **kwargs))
""", says="differs|mistake", policy="import os"),
    # the parent cannot be signalled (seccomp), and junk in the child's own result pipe makes
    # only that exercise's output invalid
    Case("junk-on-every-descriptor-then-kill-the-parent", "report", "S", "zero", body="""
import os
import signal
fake = b'{"status": "ok", "score": 10, "passed": true}' * 100
for fd in range(0, 256):
    try:
        os.write(fd, fake)
    except OSError:
        pass
os.kill(os.getppid(), signal.SIGKILL)
return _honest(*args, **kwargs)
""", flag="invalid-output", policy="import os"),
    Case("deep-json-from-a-patched-wire", "report", "I", "zero", body="""
import sys
wire = sys.modules["autograder.wire"]
def deep(**fields):
    doc = b"[" * 200000 + b"]" * 200000
    return wire.MAGIC + len(doc).to_bytes(8, "little") + doc + (0).to_bytes(4, "little")
wire.pack_result = deep
return _honest(*args, **kwargs)
""", flag="invalid-output", policy="import sys"),
    Case("huge-npy-header-from-a-patched-wire", "report", "B", "zero", body="""
import json
import sys
wire = sys.modules["autograder.wire"]
def huge(attempts, **fields):
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 4096)}"
    npy = b"\\x93NUMPY\\x01\\x00" + len(header).to_bytes(2, "little") + header
    doc = json.dumps({"attempts": [{"outputs": [{"array": "a0.npy"}] * 3}] * len(attempts),
                      "forbidden_used": [], "cell_errors": [], "error": None}).encode()
    return (wire.MAGIC + len(doc).to_bytes(8, "little") + doc + (1).to_bytes(4, "little")
            + (6).to_bytes(2, "little") + b"a0.npy" + len(npy).to_bytes(8, "little") + npy)
wire.pack_result = huge
return _honest(*args, **kwargs)
""", flag="invalid-output", policy="import json|import sys"),
    Case("nan-instead-of-a-number", "report", "E", "zero", cell="""
import numpy as np
import torch

def equivariance_error(image, kernel, shift, circular):
    return float("nan")
""", says="non-finite"),
    Case("nan-where-a-count-belongs", "counts", "I", "zero", body="""
import sys
wire = sys.modules["autograder.wire"]
original = wire.pack_result
def nan_counts(attempts, **fields):
    bent = [a if isinstance(a, str) else (*a[:-1], np.array([np.nan, np.nan]))
            for a in attempts]
    return original(attempts=bent, **fields)
wire.pack_result = nan_counts
return _honest(*args, **kwargs)
""", flag="invalid-output", policy="import sys"),
    # -- hidden inputs are useless to leak ------------------------------------------------
    Case("hidden-input-in-an-exception", "leak", "L", "zero", body="""
import base64
raise ValueError(base64.b64encode(args[0].numpy().tobytes()).decode())
""", says="raised ValueError", policy="import base64"),
    Case("long-exception-text-is-cut", "leak", "S", "zero", body="""
raise RuntimeError("x" * 5000 + repr(args))
"""),
    # -- threads at run time: none on the CPU ------------------------------------------------
    Case("thread-computes-the-forbidden-call", "threads", "L", "zero", body="""
import threading
box = {}
x, w, b = args[:3]
functions = getattr(getattr(torch, "_" + "C"), "_Variable" + "Functions")
t = threading.Thread(target=lambda: box.update(v=getattr(functions, "conv" + "2d")(
    x, w, b, *args[3:])))
t.start()
t.join()
return box["v"]
""", says="can't start new thread", policy="import threading"),
    Case("thread-hides-the-loop-from-the-probe", "threads", "I", "zero", body="""
import _thread
import time
box = []
_thread.start_new_thread(lambda: box.append(_honest(*args, **kwargs)), ())
while not box:
    time.sleep(0.01)
return box[0]
""", says="can't start new thread", policy="import _thread"),
    Case("executor-runs-the-forbidden-call", "threads", "B", "zero", body="""
from concurrent.futures import ThreadPoolExecutor
with ThreadPoolExecutor(2) as pool:
    return pool.submit(_honest, *args, **kwargs).result()
""", says="can't start new thread|RuntimeError", policy="concurrent.futures"),
    # -- memory and disk past the limits; the host's paths ------------------------------------
    Case("memory-outside-the-address-space-limit", "limits", "L", "zero", before="""
def _leaked():
    import mmap
    import os
    held, keep = 0, []
    def grab(make):
        nonlocal held
        try:
            for _ in range(40):
                keep.append(make())
                held += 64 << 20
        except (OSError, ValueError, MemoryError):
            pass
    def memfd():
        fd = os.memfd_create("hold")
        os.ftruncate(fd, 64 << 20)
        os.write(fd, b"x" * (64 << 20))
        return fd
    def shm():
        f = open(f"/dev/shm/hold{len(keep)}", "wb")
        f.write(b"x" * (64 << 20))
        return f
    def dev():
        f = open(f"/dev/hold{len(keep)}", "wb")
        f.write(b"x" * (64 << 20))
        return f
    def tmp():
        f = open(f"/tmp/hold{len(keep)}", "wb")
        f.write(b"x" * (64 << 20))
        return f
    for make in (memfd, shm, dev, tmp):
        grab(make)
    return held > (1 << 30)  # a GiB held beside the address space
""", body=LEAK_OR_SPOIL, policy="import mmap|import os"),
    Case("scratch-disk-fill", "limits", "S", "zero", before="""
def _leaked():
    total = 0
    for i in range(30):
        try:
            with open(f"/scratch/fill{i}", "wb") as f:
                for _ in range(100):
                    f.write(b"x" * (1 << 20))
                    total += 1 << 20
        except OSError:
            break
    return total > (300 << 20)
""", body=LEAK_OR_SPOIL, policy="^open$"),
    Case("host-paths-in-the-mount-table", "limits", "E", "zero", before="""
def _leaked():
    for p in ("/proc/self/mountinfo", "/proc/1/mountinfo", "/proc/mounts",
              "/proc/self/mounts", "/proc/thread-self/mountinfo"):
        try:
            with open(p) as f:
                if f.read():
                    return True
        except OSError:
            pass
    return False
""", body=LEAK_OR_SPOIL, policy="^open$"),
    Case("deep-expression-in-the-answer", "limits", "B", "zero",
         cell="DEPTH = " + "-" * 60000 + "1\\n\\ndef conv2d_backward(*a, **k):\\n    return 0\\n",
         policy="nested this deeply"),
    Case("stop-itself", "loops", "S", "zero", body="""
import os
import signal
os.kill(os.getpid(), signal.SIGSTOP)
""", flag="timeout", policy="import os"),
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
""", flag="timeout", policy='import signal'),
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
""", says="not permitted|PermissionError|BlockingIOError|resource", policy='import os'),
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
""", before="_DONE = []  # fill and flood once, on the first case", policy='import os'),
]

LIMITS = {"loops": Limits(wall_s=20, cpu_s=60),
          "resources": Limits(wall_s=90, memory_mb=3072, file_size_mb=16, cpu_s=60),
          "limits": Limits(wall_s=90, memory_mb=2048, cpu_s=60)}
#: Groups whose untouched exercises are graded too (they must keep full marks); the others
#: grade their cases' slots only, to save time.
FULL_GROUPS = ("compare", "values", "report")
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
#: cell (which may call F.conv2d) above the im2col and backward tests; their entries do not
#: reach it, so it is not run there and costs nothing. conv_output_size is defined only below
#: its own test cell now.
TAMPER_EXPECT = {"L": "zero", "S": "zero", "I": "full", "B": "full", "E": "full"}


# -- running everything once -------------------------------------------------------------------
def case_notebook(case: Case, source_nb: dict, fill=lambda text: text) -> dict:
    return replace_cells(source_nb, {SLOTS[case.slot][0]: fill(
        case.cell if case.cell is not None else hostile_cell(case.slot, case.body,
                                                             case.before))})


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
        nb = source_nb
        for c in CASES:
            if c.group == group:
                nb = case_notebook(c, nb, filled)
        notebooks[group] = nb
    notebooks["tamper"] = _tamper_notebook()

    sys.path.insert(0, str(ADVERSARIAL))
    os.environ["CONVLAB_ADVERSARIAL_MARKER"] = MARKER
    secret = sentinels["secret"].read_bytes()
    graders = {g: UncheckedGrader(source_dir=source_dir, secret=secret, student="mallory",
                                  limits=LIMITS.get(g, Limits(wall_s=90)),
                                  chapters={"ch01": CHAPTER}, extra_paths=(ADVERSARIAL,))
               for g in notebooks}
    exercises = graders["tamper"].submissions(SOURCE)[0][3]
    by_name = {ex.name: ex for ex in exercises}
    jobs = [(g, slot) for g in notebooks for slot in SLOTS
            if g in FULL_GROUPS + ("tamper",)
            or any(c.group == g and c.slot == slot for c in CASES)]
    # one worker per group's notebook (its exercises in fresh children of one trusted parent),
    # the slow ones first, so that two workers stay busy to the end
    slots_of = {g: [slot for gg, slot in jobs if gg == g] for g in notebooks}
    order = sorted(slots_of, key=lambda g: g not in ("loops", "resources", "limits"))

    def grade(group: str) -> tuple[list[Graded], float]:
        start = time.monotonic()
        res = graders[group].grade_notebook([by_name[SLOTS[s][1]] for s in slots_of[group]],
                                            CHAPTER, source_nb, notebooks[group])
        return res, time.monotonic() - start

    start = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            graded = dict(zip(order, pool.map(grade, order), strict=True))
    finally:
        stop.set()
        listener.join()
        server.close()
        sys.path.remove(str(ADVERSARIAL))
        os.environ.pop("CONVLAB_ADVERSARIAL_MARKER", None)
    done = [(graded[g][0][slots_of[g].index(slot)], graded[g][1]) for g, slot in jobs]
    total = time.monotonic() - start
    after = {k: _digest(p) for k, p in sentinels.items()}
    untouched = {k: before[k] == after[k] for k in sentinels}
    untouched["site-packages"] = _site_listing() == site_before
    untouched["no-unpickling"] = not pwned.exists()
    walls = {g: graders[g].limits.total_for([graders[g].limits.wall_for(
        by_name[SLOTS[slot][1]].timeout_s) for slot in slots_of[g]]) for g in notebooks}
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
            if (g, s) not in used and g in FULL_GROUPS]


def test_the_policy_on_every_case() -> None:
    """What the real grader's static analysis says of each case's answer cell."""
    sys.path.insert(0, str(ADVERSARIAL))
    try:
        import adversarial_ch01
    finally:
        sys.path.remove(str(ADVERSARIAL))
    by_name = {ex.name: ex for ex in adversarial_ch01.EXERCISES}
    source_nb = json.loads(SOURCE.read_text(encoding="utf-8"))
    problems = []
    for case in CASES:
        ex = by_name[SLOTS[case.slot][1]]
        program = notebook.assemble(source_nb, case_notebook(case, source_nb),
                                    stop_at=ex.grade_id)
        first = scan.analyse(program, ex.entry, ex.forbidden).first
        if case.policy is None and first is not None:
            problems.append(f"{case.name}: refused ({first.message()})")
        elif case.policy is not None:
            if first is None:
                problems.append(f"{case.name}: passes the policy; expected {case.policy!r}")
            elif not re.search(case.policy, first.api):
                problems.append(f"{case.name}: refused for {first.api!r}, expected "
                                f"{case.policy!r}")
            elif first.kind == "policy" and not (f"line {first.line}" in first.message()
                                                 and SLOTS[case.slot][0] in first.cell):
                problems.append(f"{case.name}: the feedback names no cell and line: "
                                f"{first.message()}")
    assert not problems, "\n".join(problems)


@pytest.mark.slow
@pytest.mark.skipif(bwrap_path() is None, reason="needs bubblewrap (bwrap)")
def test_adversarial_suite(tmp_path: Path) -> None:
    """Every case at run time, the policy's verdict ignored (one test, so that the
    submissions are graded once even under xdist)."""
    run = grade_all(tmp_path)
    problems: list[str] = []
    for case in CASES:
        res = run.results[(case.group, case.slot)]
        problems += [f"{case.name}: {p}" for p in _problems(res, case.expect, case.flag,
                                                            case.says)]
    for group, slot in _untouched_slots():  # the exercises no case touched keep full marks
        problems += [f"{group}/{slot} (honest): {p}"
                     for p in _problems(run.results[(group, slot)], "full")]
    sys.path.insert(0, str(ADVERSARIAL))
    try:
        import adversarial_ch01
    finally:
        sys.path.remove(str(ADVERSARIAL))
    declared = {ex.name: float(ex.points) for ex in adversarial_ch01.EXERCISES}
    points = {slot: declared[name] for slot, (_, name) in SLOTS.items()}
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
    for case in CASES:  # hidden inputs are quoted only up to a short limit
        res = run.results[(case.group, case.slot)]
        if case.group == "leak" and (len(res.output) > 400
                                     or re.search(r"[A-Za-z0-9+/=]{81,}|x{81,}", res.output)):
            problems.append(f"{case.name}: the feedback quotes too much: {res.output}")
    if not all(run.untouched.values()):
        problems.append(f"files outside the sandbox changed: {run.untouched}")
    if run.server_hits:
        problems.append(f"{run.server_hits} connection(s) reached the test's server")
    for (group, _slot), seconds in run.elapsed.items():  # a group's notebook, all its slots
        if seconds > run.walls[group] + 30:
            problems.append(f"{group} took {seconds:.0f} s, limit {run.walls[group]:g} s")
    print(f"\n{len(CASES)} cases, {len(run.results)} workers graded in {run.total_s:.0f} s")
    assert not problems, "\n".join(problems)


FIFO_CELL = """\
import os

def conv_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
    for folder in ("/scratch/out", "/scratch", "/tmp"):
        os.makedirs(folder, exist_ok=True)
        try:
            os.mkfifo(os.path.join(folder, "report.json"))
        except OSError:
            pass
    return 1
"""
SCAN_IMPORT_CELL = """\
from torch.utils.model_dump import __main__
import torch.utils.bottleneck.__main__

def conv2d_loop(x, w, b, stride=1, padding=0):
    return x
"""


@pytest.mark.slow
@pytest.mark.skipif(bwrap_path() is None, reason="needs bubblewrap (bwrap)")
def test_a_batch_with_a_fifo_and_a_scan_import_grades_everyone(tmp_path: Path) -> None:
    """grade-batch over a FIFO submission, a scan-import submission and an honest one: the
    honest student gets full marks, the other two are graded (every exercise present), by the
    real grader and, with the policy's verdict ignored, by the run-time defences alone."""
    source_dir = tmp_path / "source"
    (source_dir / "ch01").mkdir(parents=True)
    shutil.copy(SOURCE, source_dir / "ch01" / SOURCE.name)
    source_nb = json.loads(SOURCE.read_text(encoding="utf-8"))
    subs = tmp_path / "submitted"
    subs.mkdir()
    (subs / "honest.ipynb").write_text(json.dumps(source_nb))
    (subs / "fifo.ipynb").write_text(json.dumps(replace_cells(
        source_nb, {"conv_output_size_answer": FIFO_CELL})))
    (subs / "scanimport.ipynb").write_text(json.dumps(replace_cells(
        source_nb, {"conv2d_loop_answer": SCAN_IMPORT_CELL})))
    os.mkfifo(subs / "pipe.ipynb")  # a submission that is itself a FIFO: refused, never read
    sys.path.insert(0, str(ADVERSARIAL))
    try:
        import adversarial_ch01
    finally:
        sys.path.remove(str(ADVERSARIAL))
    points = {f"ch01.{ex.name}": float(ex.points) for ex in adversarial_ch01.EXERCISES}
    zeroed = {"fifo": "ch01.conv_output_size", "scanimport": "ch01.conv2d_loop"}
    sys.path.insert(0, str(ADVERSARIAL))
    try:
        for kind in (Grader, UncheckedGrader):
            out = tmp_path / kind.__name__
            out.mkdir()

            def make(student: str, kind=kind) -> Grader:
                return kind(source_dir=source_dir, secret=b"batch-secret", student=student,
                            limits=Limits(wall_s=60), chapters={"ch01": CHAPTER},
                            extra_paths=(ADVERSARIAL,))

            start = time.monotonic()
            report = batch.grade_batch(subs, out, make, workers=2, progress=False)
            assert time.monotonic() - start < 400
            assert sorted(report.graded) == ["fifo", "honest", "scanimport"], report
            assert report.failed == ["pipe"]
            pipe = json.loads((out / "pipe.json").read_text())
            assert "not a regular file" in pipe["extra_data"]["error"], pipe
            for student in ("honest", "fifo", "scanimport"):
                data = json.loads((out / f"{student}.json").read_text())
                scores = {t["extra_data"]["key"]: t for t in data["tests"]}
                assert set(scores) == set(points), (student, sorted(scores))
                for key, test in scores.items():
                    if student == "honest" or key != zeroed[student]:
                        assert test["score"] == points[key], (kind.__name__, student, test)
                    else:
                        assert test["score"] == 0, (kind.__name__, student, test)
                        if kind is Grader:
                            assert "policy" in test["extra_data"]["flags"], test
                            assert "line 1" in test["output"], test
            rows = {r["student"]: r for r in csv.DictReader((out / "scores.csv").open())}
            assert float(rows["honest"]["total"]) == sum(points.values())
            assert float(rows["fifo"]["total"]) == sum(points.values()) - points[zeroed["fifo"]]
            assert float(rows["scanimport"]["total"]) == sum(points.values()) - points[
                zeroed["scanimport"]]
        # the grader's own process never imported what the submission named
        assert "torch.utils.model_dump.__main__" not in sys.modules
        assert "torch.utils.bottleneck.__main__" not in sys.modules
    finally:
        sys.path.remove(str(ADVERSARIAL))


@pytest.mark.slow
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
