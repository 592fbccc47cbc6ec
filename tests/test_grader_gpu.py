"""Does grading on the GPU work: the worker sees CUDA and the scores are the same as on CPU?"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "grader"))
import gradertools as gt  # noqa: E402

from autograder import sandbox  # noqa: E402


@pytest.mark.gpu
def test_fixture_grades_on_cuda():
    insecure = sandbox.bwrap_path() is None
    result = gt.grader(device="cuda", insecure=insecure).grade(gt.SOURCE_NB)
    assert result.score == result.max_score == 3.0, [t.output for t in result.tests]
    assert result.extra["device"] == "cuda"
    assert not any(p.startswith("rlimit-as") for p in result.extra["protections"])
