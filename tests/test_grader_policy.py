"""The answer policy (:func:`autograder.scan.analyse`): each class of construct a determined
student could use to step around the grader is refused statically, with feedback naming the
construct and its line; honest answers, scratch cells and the student's own classes pass;
nothing the student names is ever imported in the grader's process.

Fast: nothing here starts a worker.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import notebook, scan
from autograder.notebook import ProgramCell
from convlab.exercises.registry import CHAPTERS

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("torch.nn.functional.conv2d", "torch.conv2d", "torch.nn.Conv2d.forward",
             "torch.Tensor.unfold", "torch.nn.functional.unfold")
SETUP = ProgramCell("setup cell 'setup_imports'",
                    "import numpy as np\nimport torch\nimport torch.nn.functional as F\n"
                    "from convlab.exercises import check\n", False)
HEAD = "def conv(x, w, b, stride=1, padding=0):\n"


def _first(code: str, *, entry: str = "conv", extra: list[ProgramCell] | None = None,
           forbidden: tuple[str, ...] = FORBIDDEN) -> scan.Finding | None:
    cells = [SETUP, *(extra or []), ProgramCell("your cell 'conv_answer'", code, True)]
    return scan.analyse(cells, entry, forbidden).first


# (class, code, what the feedback must name, line)
REFUSED = [
    # threads and processes, by any API
    ("threads", "import threading\n" + HEAD + "    return x\n", "import threading", 1),
    ("threads", "import _thread\n" + HEAD + "    return x\n", "import _thread", 1),
    ("threads", HEAD + "    from concurrent.futures import ThreadPoolExecutor\n    return x\n",
     "from concurrent.futures import ThreadPoolExecutor", 2),
    ("threads", "import multiprocessing.pool as mp\n" + HEAD + "    return x\n",
     "import multiprocessing.pool", 1),
    ("threads", HEAD + "    return torch.jit.wait(torch.jit.fork(F.relu, x))\n", "torch.jit",
     2),
    ("threads", "import torch.multiprocessing as tmp\n" + HEAD + "    return x\n",
     "torch.multiprocessing", 1),
    ("threads", "import asyncio\n" + HEAD + "    return x\n", "import asyncio", 1),
    ("threads", HEAD + "    return torch.futures.Future()\n", "torch.futures", 2),
    # code generation, by any route
    ("codegen", HEAD + "    return eval('x')\n", "eval", 2),
    ("codegen", HEAD + "    ns = {}\n    exec('y = 1', ns)\n    return x\n", "exec", 3),
    ("codegen", HEAD + "    code = compile('x', '<frozen loops>', 'eval')\n    return x\n",
     "compile", 2),
    ("codegen", HEAD + "    return __import__('torch').relu(x)\n", "__import__", 2),
    ("codegen", HEAD + "    cu = torch.jit.CompilationUnit('def f(x): return x')\n"
     "    return cu.f(x)\n", "torch.jit.CompilationUnit", 2),
    ("codegen", "from torch import jit\n" + HEAD + "    return x\n", "from torch import jit", 1),
    ("codegen", HEAD + "    return torch.compile(F.relu)(x)\n", "torch.compile", 2),
    ("codegen", HEAD + "    return torch.fx.symbolic_trace(F.relu)\n", "torch.fx", 2),
    ("codegen", HEAD + "    return torch.library.Library('x', 'DEF')\n", "torch.library", 2),
    ("codegen", HEAD + "    return torch.load('/tmp/w.pt')\n", "torch.load", 2),
    ("codegen", HEAD + "    return np.load('/tmp/w.npy', allow_pickle=True)\n", "numpy.load",
     2),
    ("codegen", "import pickle\n" + HEAD + "    return x\n", "import pickle", 1),
    ("codegen", "import types\n" + HEAD + "    return x\n", "import types", 1),
    ("codegen", "e = eval\n" + HEAD + "    return e('x')\n", "eval", 1),
    ("codegen", "import marshal\n" + HEAD + "    return x\n", "import marshal", 1),
    # interpreter and framework internals
    ("internals", "import sys\n" + HEAD + "    return x\n", "import sys", 1),
    ("internals", HEAD + "    import gc\n    return x\n", "import gc", 2),
    ("internals", "import ctypes\n" + HEAD + "    return x\n", "import ctypes", 1),
    ("internals", "from inspect import stack\n" + HEAD + "    return x\n",
     "from inspect import stack", 1),
    ("internals", "import importlib\n" + HEAD + "    return x\n", "import importlib", 1),
    ("internals", "import os\n" + HEAD + "    return x\n", "import os", 1),
    ("internals", "import builtins\n" + HEAD + "    return x\n", "import builtins", 1),
    ("internals", HEAD + "    return torch._C._VariableFunctions.relu(x)\n", "torch._C", 2),
    ("internals", HEAD + "    return torch.ops.aten.relu(x)\n", "torch.ops", 2),
    ("internals", "from torch.overrides import _pop_mode\n" + HEAD + "    return x\n",
     "_pop_mode", 1),
    ("internals", HEAD + "    return torch.relu.__wrapped__(x)\n", ".__wrapped__", 2),
    ("internals", HEAD + "    return x.__class__\n", ".__class__", 2),
    ("internals", HEAD + "    return x._version\n", "private attribute ._version", 2),
    ("internals", HEAD + "    return vars(F)['relu'](x)\n", "vars", 2),
    ("internals", HEAD + "    return globals()\n", "globals", 2),
    ("internals", HEAD + "    return __builtins__\n", "__builtins__", 2),
    ("internals", HEAD + "    with torch.backends.cudnn.flags(enabled=False):\n"
     "        return x\n", "torch.backends", 2),
    ("internals", HEAD + "    try:\n        1 / 0\n    except Exception as e:\n"
     "        return e.__traceback__\n", ".__traceback__", 5),
    ("internals", HEAD + "    return torch.func.vjp(F.relu, x)\n", "torch.func", 2),
    ("internals", HEAD + "    return torch.utils.checkpoint.checkpoint(F.relu, x)\n",
     "torch.utils", 2),
    ("internals", "class T(torch.Tensor):\n    def __torch_function__(self, *a):\n"
     "        return 0\n" + HEAD + "    return T()\n", "__torch_function__", 2),
    ("internals", HEAD + "    return get_ipython()._ns\n", "private attribute ._ns", 2),
    # attribute names computed at run time
    ("computed", HEAD + "    return getattr(F, 'conv' + '2d')(x, w)\n",
     "getattr() with a name computed at run time", 2),
    ("computed", HEAD + "    name = 'relu'\n    return getattr(torch, name)(x)\n",
     "getattr() with a name computed at run time", 3),
    ("computed", "g = getattr\n" + HEAD + "    return g(torch, 'relu')(x)\n",
     "getattr used as a value", 1),
    ("computed", "import operator\n" + HEAD
     + "    return operator.attrgetter('conv' + '2d')(F)(x, w)\n",
     "operator.attrgetter() with a name computed at run time", 3),
    ("computed", HEAD + "    setattr(x, 'n' + 'ame', 1)\n    return x\n",
     "setattr() with a name computed at run time", 2),
    # changing a library
    ("library", "torch.matmul = lambda a, b: a\n" + HEAD + "    return x\n",
     "assigning torch.matmul", 1),
    ("library", HEAD + "    np.allclose = lambda *a, **k: True\n    return x\n",
     "assigning numpy.allclose", 2),
    ("library", HEAD + "    setattr(torch, 'allclose', None)\n    return x\n",
     "assigning torch.allclose", 2),
    ("library", "torch.Tensor.__eq__ = lambda a, b: True\n" + HEAD + "    return x\n",
     ".__eq__", 1),
    # other modules: the reference, the grader itself, SciPy's convolutions
    ("module", "from scipy.signal import correlate\n" + HEAD + "    return x\n",
     "from scipy.signal import correlate", 1),
    ("module", "import convlab.functional as cf\n" + HEAD + "    return x\n",
     "import convlab.functional", 1),
    ("module", "import autograder.wire\n" + HEAD + "    return x\n", "import autograder.wire",
     1),
    ("module", HEAD + "    return check\n", "convlab.exercises.check", 2),
    ("module", "from torch.utils.model_dump import __main__\n" + HEAD + "    return x\n",
     "torch.utils.model_dump", 1),
    ("module", "from . import x\n" + HEAD + "    return x\n", "a relative import", 1),
]


@pytest.mark.parametrize("kind, code, names, line", REFUSED,
                         ids=[f"{k}-{i}" for i, (k, *_rest) in enumerate(REFUSED)])
def test_each_construct_is_refused_with_its_name_and_line(kind, code, names, line):
    finding = _first(code)
    assert finding is not None, code
    assert finding.kind == "policy" and names in finding.api, finding.message()
    assert finding.line == line and f"line {line}" in finding.message()
    assert "your cell 'conv_answer'" in finding.message()


@pytest.mark.parametrize("code, api", [
    (HEAD + "    return F.conv2d(x, w, b)\n", "torch.nn.functional.conv2d"),
    (HEAD + "    return torch.conv2d(x, w, b)\n", "torch.conv2d"),
    ("import torch.nn.functional as G\n" + HEAD + "    return G.conv2d(x, w, b)\n",
     "torch.nn.functional.conv2d"),
    ("from torch.nn.functional import *\n" + HEAD + "    return conv2d(x, w, b)\n",
     "torch.nn.functional.conv2d"),
    (HEAD + "    m = F\n    return m.conv2d(x, w, b)\n", "torch.nn.functional.conv2d"),
    (HEAD + "    return torch.nn.Conv2d(1, 1, 3)(x)\n", "torch.nn.Conv2d.forward"),
    (HEAD + "    return getattr(x, 'unfold')(2, 3, 1)\n", "torch.Tensor.unfold"),
    (HEAD + "    return x.unfold(2, 3, 1)\n", "torch.Tensor.unfold"),
    (HEAD + "    return F.conv2d.__wrapped__(x, w)\n", "torch.nn.functional.conv2d"),
])
def test_forbidden_apis_come_first(code, api):
    finding = _first(code)
    assert finding is not None and finding.kind == "forbidden" and finding.api == api


ALLOWED = [
    HEAD + "    return (x * w).sum() + b\n",
    "import math\nimport itertools\nfrom functools import reduce\n" + HEAD
    + "    return x * math.sqrt(2)\n",
    HEAD + "    eval = 3\n    return x * eval\n",  # the student's own variable
    HEAD + "    return np.lib.stride_tricks.as_strided(x.numpy(), (2, 2), (8, 8))\n",
    HEAD + "    return F.pad(x, (padding,) * 4).new_zeros(3).T\n",
    "import torch.nn as nn\n\nclass Block(nn.Module):\n    def __init__(self):\n"
    "        super().__init__()\n        self._scale = 2.0\n\n    def forward(self, x):\n"
    "        return x * self._scale\n\n    def __repr__(self):\n        return 'Block'\n\n"
    + HEAD + "    return Block()(x)\n",
    HEAD + "    return getattr(x, 'shape')\n",
    HEAD + "    with torch.no_grad():\n        return torch.einsum('ij,jk->ik', x, w)\n",
    HEAD + "    print(f'{x.shape} {conv.__name__}')\n    return x\n",
]


@pytest.mark.parametrize("code", ALLOWED)
def test_honest_constructs_pass(code):
    finding = _first(code)
    assert finding is None, finding.message()


def test_a_helper_in_another_cell_is_analysed_and_a_scratch_cell_costs_nothing():
    helper = ProgramCell("your added cell 1 after 'setup_imports'",
                         "def helper(x, w):\n    return F.conv2d(x, w)\n", True)
    finding = _first(HEAD + "    return helper(x, w)\n", extra=[helper])
    assert finding is not None and finding.cell == helper.label and finding.line == 2
    chain = ProgramCell("your added cell 2", "def outer(x):\n    return helper(x, x)\n", True)
    finding = _first(HEAD + "    return outer(x)\n", extra=[helper, chain])
    assert finding is not None and finding.cell == helper.label
    scratch = ProgramCell("your added cell 1 after 'setup_imports'",
                          "import threading\ny = F.conv2d(torch.ones(1, 1, 3, 3), "
                          "torch.ones(1, 1, 2, 2))\nexec('z = 1')\n", True)
    cells = [SETUP, scratch, ProgramCell("your cell 'conv_answer'",
                                         HEAD + "    return x\n", True)]
    analysis = scan.analyse(cells, "conv", FORBIDDEN)
    assert analysis.findings == []
    assert scratch not in analysis.program  # it is not even run


def test_an_unreached_function_in_a_reached_cell_is_not_run_by_instructor_cells():
    answer = ProgramCell("your cell 'conv_answer'", HEAD + "    return x\n\n"
                         "def demo_only(x):\n    import threading\n    return x\n", True)
    demo = ProgramCell("setup cell '5'", "print(demo_only(1))\n", False)
    uses_answer = ProgramCell("setup cell '6'", "print(conv(1, 2, 3))\n", False)
    analysis = scan.analyse([SETUP, answer, demo, uses_answer], "conv", FORBIDDEN)
    assert analysis.findings == []
    assert demo not in analysis.program and uses_answer in analysis.program


def test_a_cell_magic_body_is_analysed_as_code():
    nb = {"cells": [{"cell_type": "code", "metadata": {"nbgrader": {
        "grade_id": "conv_answer", "solution": True}},
        "source": "%%time\nimport threading\n" + HEAD + "    return x\n"}]}
    program = notebook.assemble(nb, nb)
    finding = scan.analyse(program, "conv", FORBIDDEN).first
    assert finding is not None and "threading" in finding.api
    other = {"cells": [{**nb["cells"][0], "source": "%%bash\nrm -rf /\n"}]}
    assert notebook.assemble(other, other)[0].source.strip() == ""


@pytest.mark.parametrize("code", [
    "x = " + "-" * 200000 + "1\n",  # a deep unary chain
    "x = " + "1 + " * 100000 + "1\n",  # a deep binary chain
    "x = " + "(" * 190 + "1" + ")" * 190 + "\n",
    "def conv(x, w, b, stride=1, padding=0):\n    return " + "[" * 150 + "x" + "]" * 150 + "\n",
])
def test_deep_code_never_crashes_the_analysis(code):
    cells = [SETUP, ProgramCell("your cell 'conv_answer'", code, True)]
    analysis = scan.analyse(cells, "conv", FORBIDDEN)  # returns: no RecursionError
    assert isinstance(analysis.findings, list)


def test_deep_code_that_cannot_be_parsed_is_refused_when_nothing_else_defines_the_entry():
    code = "def conv(x, w, b, stride=1, padding=0):\n    return " + "-" * 10 ** 6 + "x\n"
    cells = [SETUP, ProgramCell("your cell 'conv_answer'", code, True)]
    analysis = scan.analyse(cells, "conv", FORBIDDEN)
    try:
        compile(code, "<deep>", "exec")
    except (RecursionError, MemoryError, SyntaxError):
        parsable = False
    else:
        parsable = True
    if not parsable:
        assert analysis.first is not None or cells[1] in analysis.program


def test_the_scan_imports_nothing_the_student_names():
    """Run in a fresh interpreter: names the student writes never become imported modules."""
    code = (
        "import sys\n"
        "from autograder import scan\n"
        "from autograder.notebook import ProgramCell as P\n"
        "names = ['torch.utils.model_dump.__main__', 'torch.utils.bottleneck.__main__',\n"
        "         'antigravity', 'this', 'scipy.signal', 'torch._dynamo', 'torch.onnx']\n"
        "src = '\\n'.join(f'import {n}' for n in names) + '\\n' + '\\n'.join(\n"
        "    f'from {n} import x' for n in names) + '\\nx = torch.onnx.export\\n'\n"
        "src += 'def f(x):\\n    return x\\n'\n"
        "before = set(sys.modules)\n"
        "scan.analyse([P('your cell', src, True)], 'f', ('torch.nn.functional.conv2d',))\n"
        "scan.scan([P('your cell', src, True)], ('torch.nn.functional.conv2d',))\n"
        "new = sorted(m for m in set(sys.modules) - before)\n"
        "bad = [m for m in new if any(m.startswith(n.split('.')[0] + '.') or m == n\n"
        "       for n in names if not n.startswith('torch.nn'))]\n"
        "print('NEW', bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "NEW []" in out.stdout, out.stdout[-2000:]


def test_the_course_notebooks_pass_their_own_policy():
    """Every chapter's instructor solution passes the analysis of every exercise."""
    for cid, ch in CHAPTERS.items():
        nb = json.loads((ROOT / "notebooks" / cid / ch.notebook).read_text())
        for ex in importlib.import_module(ch.module).EXERCISES:
            program = notebook.assemble(nb, nb, stop_at=ex.grade_id)
            analysis = scan.analyse(program, ex.entry, ex.forbidden)
            assert analysis.findings == [], (ex.key, [f.message() for f in analysis.findings])
            assert any(c.student for c in analysis.program), ex.key


def test_a_scratch_cell_that_imports_what_the_answer_uses_still_costs_nothing():
    """The usual scratch cell imports torch (which every answer uses) and tries F.conv2d: only
    its import statements the answer needs join the program, not the cell."""
    scratch = ProgramCell("your added cell 1 after 'setup_imports'",
                          "import torch\nimport math\nimport torch.nn.functional as F\n"
                          "import torch.utils.bottleneck.__main__\n"
                          "print(F.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2)))\n",
                          True)
    answer = ProgramCell("your cell 'conv_answer'",
                         HEAD + "    return torch.relu(x) * math.pi\n", True)
    analysis = scan.analyse([SETUP, scratch, answer], "conv", FORBIDDEN)
    assert analysis.findings == []
    assert scratch not in analysis.program and answer in analysis.program
    added = [c for c in analysis.program if c.label.endswith("(its imports only)")]
    assert [c.source for c in added] == ["import math\n"] and added[0].student
    # an import the answer needs is analysed like any code of the answer's
    bad = ProgramCell("your added cell 1", "import scipy.signal as sig\nprint(1)\n", True)
    uses = ProgramCell("your cell 'conv_answer'", HEAD + "    return sig.correlate(x, w)\n",
                       True)
    finding = scan.analyse([SETUP, bad, uses], "conv", FORBIDDEN).first
    assert finding is not None and "scipy.signal" in finding.api
    assert finding.cell == "your added cell 1 (its imports only)"
