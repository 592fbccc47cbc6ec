"""Every registered chapter's declarations against its notebook's solutions, in this process:
the solutions pass on the public and the hidden seeds, nbgrader's stubs fail clearly, the seeds
change the inputs, and every planted mistake is named (``tests/kit.py``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from kit import (
    build,
    each_exercise,
    pair_id,
    planting,
    registered,
)

from convlab.exercises import PUBLIC_SEED, derive_seed, kernel_hidden_seed
from convlab.exercises.apis import resolve
from convlab.exercises.inkernel import run_exercise
from convlab.exercises.training import TrainingExercise

QUICK = each_exercise(quick=True)
SEEDS = (PUBLIC_SEED, derive_seed(b"another course", "student-1", "kit"), 7)


def _plants() -> list:
    out = []
    for kc in registered():
        for exercise, old, new, expected in kc.planted().PLANTED:
            training = isinstance(kc.exercise(exercise), TrainingExercise)
            out.append(pytest.param(kc, exercise, old, new, expected,
                                    id=f"{kc.id}-{exercise}-{expected}",
                                    marks=[pytest.mark.slow] if training else []))
    return out


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("kc", "ex"), QUICK, ids=pair_id)
def test_the_solution_passes(kc, ex, seed):
    verdict = run_exercise(ex, build(kc, ex.entry), seed)
    assert verdict.passed, verdict.message


@pytest.mark.parametrize(("kc", "ex"), QUICK, ids=pair_id)
def test_the_solution_passes_the_hidden_tests(kc, ex):
    verdict = run_exercise(ex, build(kc, ex.entry), kernel_hidden_seed(ex.key))
    assert verdict.passed, verdict.message


@pytest.mark.parametrize(("kc", "ex"), each_exercise(), ids=pair_id)
def test_the_student_stub_fails_clearly(kc, ex):
    verdict = run_exercise(ex, build(kc, ex.entry, student_edition=True), PUBLIC_SEED)
    assert not verdict.passed
    assert "not implemented yet" in verdict.message, verdict.message
    assert "Traceback" not in verdict.message and len(verdict.message) < 400


@pytest.mark.parametrize(("kc", "ex"), each_exercise(), ids=pair_id)
def test_hidden_seeds_differ_from_the_public_one_and_change_the_inputs(kc, ex):
    hidden = kernel_hidden_seed(ex.key)
    assert hidden != PUBLIC_SEED

    def inputs(seed: int) -> list:
        flat = [v for c in ex.cases(seed) for v in c.values.values()]
        flat = [p for v in flat for p in (v if isinstance(v, tuple) else (v,))]
        return [(np.shape(v), np.asarray(v).tobytes()) for v in flat]

    assert inputs(PUBLIC_SEED) == inputs(PUBLIC_SEED)  # deterministic
    assert inputs(PUBLIC_SEED) != inputs(hidden)


@pytest.mark.parametrize(("kc", "exercise", "old", "new", "expected"), _plants())
def test_planted_mistakes_are_named(kc, exercise, old, new, expected):
    ex = kc.exercise(exercise)
    verdict = run_exercise(ex, build(kc, ex.entry, planting(old, new)), PUBLIC_SEED)
    assert not verdict.passed, verdict.message
    named = [d.message for d in ex.diagnoses if d.name == expected]
    if named:
        assert f"mistake:{expected}" in verdict.flags, verdict
        assert any(verdict.message.endswith(m) for m in named), verdict.message
    else:
        assert expected in verdict.flags, verdict


@pytest.mark.parametrize(("kc", "ex"), [p for p in each_exercise() if p[1].forbidden],
                         ids=pair_id)
def test_every_forbidden_api_is_caught_even_when_its_error_is_swallowed(kc, ex):
    """A solution that calls each forbidden API (catching the error) and returns the honest
    answer still fails, naming the first API it called."""
    honest = build(kc, ex.entry)

    def sneaky(*args, **kwargs):
        for name in ex.forbidden:
            try:
                resolve(name).value(torch.zeros(1))
            except Exception:
                pass
        return honest(*args, **kwargs)

    verdict = run_exercise(ex, sneaky, PUBLIC_SEED)
    assert not verdict.passed and "forbidden-api" in verdict.flags, verdict
    assert ex.forbidden[0] in verdict.message
