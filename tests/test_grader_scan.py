"""Does the static scan find forbidden APIs under their aliases, and only in student cells?"""

from __future__ import annotations

import pytest

from autograder.notebook import ProgramCell
from autograder.scan import scan

FORBIDDEN = ("torch.nn.functional.conv2d", "torch.Tensor.unfold")
SETUP = ProgramCell("setup cell 'setup'", "import torch\nimport torch.nn.functional as F\n"
                    "from torch.nn import functional as nnf\n", False)


def _scan(code: str, setup: ProgramCell = SETUP) -> list:
    return scan([setup, ProgramCell("your cell 'a'", code, True)], FORBIDDEN)


@pytest.mark.parametrize("code, api", [
    ("def f(x, w):\n    return F.conv2d(x, w)", "torch.nn.functional.conv2d"),
    ("def f(x, w):\n    return nnf.conv2d(x, w)", "torch.nn.functional.conv2d"),
    ("def f(x, w):\n    return torch.conv2d(x, w)", "torch.nn.functional.conv2d"),
    ("def f(x, w):\n    return torch.nn.functional.conv2d(x, w)", "torch.nn.functional.conv2d"),
    ("from torch.nn.functional import conv2d as c\ndef f(x, w):\n    return c(x, w)",
     "torch.nn.functional.conv2d"),
    ("import torch.nn as nn\ndef f(x, w):\n    return nn.functional.conv2d(x, w)",
     "torch.nn.functional.conv2d"),
    ("g = F.conv2d\n", "torch.nn.functional.conv2d"),
    ("from torch.nn.functional import *\ndef f(x, w):\n    return conv2d(x, w)",
     "torch.nn.functional.conv2d"),
    ("def f(x):\n    return x.unfold(2, 3, 1)", "torch.Tensor.unfold"),
    ("def f(x):\n    return getattr(x, 'unfold')(2, 3, 1)", "torch.Tensor.unfold"),
])
def test_aliases_are_found(code, api):
    findings = _scan(code)
    assert findings and findings[0].api == api
    assert findings[0].cell == "your cell 'a'" and findings[0].line >= 1
    assert api in findings[0].message()


@pytest.mark.parametrize("code", [
    "def f(x, w):\n    return (x * w).sum()",
    "def conv2d(x, w):\n    return x\ny = conv2d(1, 2)",  # the student's own conv2d
    "def f(x):\n    return F.unfold(x, 3)",  # functional unfold is another API
    "def f(x):\n    return F.relu(x)",
    "def f(:\n",  # a syntax error is the worker's to report
])
def test_clean_code_passes(code):
    assert _scan(code) == []


def test_instructor_cells_are_not_scanned():
    setup = ProgramCell("setup cell 's'", "import torch.nn.functional as F\ny = F.conv2d", False)
    assert scan([setup], FORBIDDEN) == []
    assert scan([ProgramCell("your cell 'a'", "F.conv2d", True)], ()) == []
