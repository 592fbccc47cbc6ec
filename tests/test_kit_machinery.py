"""The chapter kit's machinery on its own: the forbidden-API vocabulary, cases read by name,
mistakes that say when they apply, the loop probe, training checks as data (caching, fairness,
fabricated runs), the scaffold, and the reference facts chapters 1–3 rely on."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from kit import build, by_id, each_exercise, pair_id

from convlab.exercises import PUBLIC_SEED, apis
from convlab.exercises.inkernel import run_exercise
from convlab.exercises.lines import TracerTampered, _settrace, count_student_lines
from convlab.exercises.registry import chapter_of_module
from convlab.exercises.scaffold import graded_cell_source, skeleton
from convlab.exercises.spec import Case, Exercise, Mistake, declare
from convlab.exercises.training import TrainingExercise, Uniform, reference_run


# -- the vocabulary ----------------------------------------------------------------------------
def test_every_named_set_resolves_on_this_installation():
    sets = {n: v for n, v in vars(apis).items() if n.isupper() and isinstance(v, tuple)}
    assert {"CONV", "TRANSPOSED", "UNFOLD", "AUTOGRAD", "SHUFFLE", "TRACER"} <= set(sets)
    for name, group in sets.items():
        assert apis.forbid(group) == tuple(dict.fromkeys(group)), name


def test_resolve_finds_functions_methods_and_module_attributes():
    assert apis.resolve("torch.nn.functional.conv2d").value is torch.nn.functional.conv2d
    owner, attr = apis.resolve("torch.Tensor.unfold")
    assert owner is torch.Tensor and attr == "unfold"
    assert apis.resolve("torch.nn.Conv2d.forward").owner is torch.nn.Conv2d


@pytest.mark.parametrize("name", ["torch.nn.functional.conv9d", "torch.Tensor.no_such_method",
                                  "no_such_package.f", "conv2d", "torch..conv2d"])
def test_a_name_that_does_not_resolve_is_an_error_when_declarations_load(name):
    with pytest.raises(ValueError, match="resolve|dotted"):
        apis.forbid(apis.CONV, name)


def test_the_in_kernel_guard_and_the_grader_use_the_one_resolver():
    from convlab.exercises import forbid

    assert forbid._resolve is apis.resolve


# -- declarations --------------------------------------------------------------------------------
def _stub(x, scale=2):
    """Multiply.

    Returns:
    - x * scale
    """


def _toy(**changes) -> Exercise:
    fields = dict(name="toy", entry="_stub", points=1, stub=_stub,
                  make_cases=lambda rng: [Case.of("one", x=np.ones(3, np.float32), scale=3)],
                  reference=lambda c: (c.x * c.scale,))
    return Exercise(**{**fields, **changes})


def test_cases_are_read_by_name_and_passed_in_the_stubs_order():
    (case,) = _toy().cases(0)
    assert case.args[1] == 3 and case.names == ("x", "scale") and case.scale == 3
    assert case.with_(scale=5).args[1] == 5 and case.with_(scale=5).x is case.x
    with pytest.raises(AttributeError, match="no parameter 'padding'"):
        _ = case.padding
    with pytest.raises(ValueError, match="no parameter"):
        case.with_(padding=1)
    bare = Case(case.args)  # as a grading worker receives it
    assert _toy().named(bare).scale == 3


def test_a_mistake_applies_only_where_it_says_and_a_broken_one_is_loud():
    def broken(case):
        raise KeyError("a bug in the declaration")

    quiet = _toy(diagnoses=(Mistake("never", "unused", broken, when=lambda c: False),))
    assert not run_exercise(quiet, lambda x, scale: x, 0).passed
    loud = _toy(diagnoses=(Mistake("broken", "unused", broken),))
    with pytest.raises(KeyError, match="a bug in the declaration"):
        run_exercise(loud, lambda x, scale: x, 0)


def test_the_contract_is_the_stubs_signature_and_docstring():
    assert _toy().contract == (
        'def _stub(x, scale=2):\n    """Multiply.\n\n    Returns:\n    - x * scale\n    """\n')


def test_declare_stamps_the_chapter_from_the_registry():
    assert chapter_of_module("convlab.exercises.ch02") == "ch02"
    assert chapter_of_module("ch97") == "ch97"  # a test chapter's module, as a worker sees it
    with pytest.raises(ValueError, match="no chapter"):
        chapter_of_module("convlab.exercises.extras")
    (ex,) = declare("convlab.exercises.ch03", _toy())
    assert ex.key == "ch03.toy"
    with pytest.raises(ValueError, match="repeat"):
        declare("ch97", _toy(), _toy())


@pytest.mark.parametrize("kc", [by_id("ch01"), by_id("ch98")], ids=pair_id)
def test_the_scaffold_writes_what_the_notebook_tests_expect(kc):
    cells = skeleton(kc.id, kc.exercises())["cells"]
    sources = ["".join(c["source"]) for c in cells]
    for ex in kc.exercises():
        assert graded_cell_source(ex) in sources
        if ex.contract:
            assert any(s.startswith(ex.contract + ex.indent + "### BEGIN SOLUTION")
                       for s in sources)
    assert len({c["id"] for c in cells}) == len(cells)


@pytest.mark.parametrize("seed", [PUBLIC_SEED, 1, 2, 3])
def test_the_convolution_cases_cover_what_they_claim(seed):
    """``CONV_COVERS`` holds for every seed: 1×1, non-square and whole-input kernels, stride 1
    to 3 (above the kernel once), padding 0 to 2, batch, channels and filters of 1 and more."""
    from convlab.exercises.conv import make_conv_cases

    cases = make_conv_cases(np.random.default_rng(seed))
    kernels = [c.w.shape[-2:] for c in cases]
    assert (1, 1) in kernels and any(kh != kw for kh, kw in kernels)
    assert any(c.w.shape[-2:] == tuple(n + 2 * c.padding for n in c.x.shape[-2:]) for c in cases)
    assert {1, 3} <= {c.stride for c in cases} and any(c.stride > c.w.shape[-1] for c in cases)
    assert {0, 2} <= {c.padding for c in cases}
    for axis in (0, 1):  # batch, channels
        assert {1} < {c.x.shape[axis] for c in cases}
    assert {1} < {c.w.shape[0] for c in cases}
    assert any(c.x.shape[2] != c.x.shape[3] for c in cases)


# -- the loop probe ------------------------------------------------------------------------------
def test_the_line_count_sees_student_code_only():
    def three_lines(x):
        y = x + 1
        y = y * 2
        return y

    assert count_student_lines(three_lines, torch.ones(3))[1] == 3
    assert count_student_lines(np.linalg.norm, np.ones(3))[1] == 0  # library code


@pytest.mark.parametrize("filename", ["<frozen loop>", "<frozen importlib._bootstrap>x",
                                      "<frozen os.loop>"])
def test_a_loop_compiled_under_a_frozen_name_is_still_counted(filename):
    """Only code of a module that is really frozen into the interpreter counts as library
    code: a file name that merely looks like one is the student's."""
    namespace: dict = {}
    exec(compile("def looped(n):\n    t = 0\n    for i in range(n):\n        t += i\n"
                 "    return t\n", filename, "exec"), namespace)
    assert count_student_lines(namespace["looped"], 10)[1] > 10


def test_switching_the_tracer_off_is_caught():
    def hide(x):
        _settrace(None)
        return x

    with pytest.raises(TracerTampered):
        count_student_lines(hide, 1)


def test_loops_over_kernel_offsets_pass_and_a_loop_over_output_rows_does_not():
    kc = by_id("ch01")
    im2col = kc.exercise("conv2d_im2col")
    solution = build(kc, "conv2d_im2col")
    w, b = torch.randn(3, 2, 3, 3), torch.randn(3)
    small = count_student_lines(solution, torch.randn(1, 2, 9, 9), w, b, 1, 1)[1]
    assert small == count_student_lines(solution, torch.randn(1, 2, 18, 18), w, b, 1, 1)[1]

    def by_rows(x, w, b, stride=1, padding=0):
        kh = w.shape[2]
        x_pad = torch.nn.functional.pad(x, (padding, padding, padding, padding))
        rows = [solution(x_pad[:, :, i * stride:i * stride + kh], w, b, stride, 0)
                for i in range((x_pad.shape[2] - kh) // stride + 1)]
        return torch.cat(rows, dim=2)

    assert run_exercise(kc.exercise("conv2d_loop"), by_rows, PUBLIC_SEED).passed
    assert "python-loop" in run_exercise(im2col, by_rows, PUBLIC_SEED).flags


# -- training checks -----------------------------------------------------------------------------
TRAINING = [(kc, ex) for kc, ex in each_exercise() if isinstance(ex, TrainingExercise)]


def _short(ex: TrainingExercise) -> TrainingExercise:
    lenient = 0.3 if ex.spec.metric == "accuracy" else 0.06
    return ex.replace(training=dataclasses.replace(ex.spec, steps=40, bar=lenient))


@pytest.mark.parametrize(("kc", "ex"), TRAINING, ids=pair_id)
def test_a_fabricated_training_run_is_caught(kc, ex):
    """A plausible curve with untrained weights: the curve alone would pass, the weights do
    not; a made-up curve or a short one is caught before the weights are looked at."""
    short = _short(ex)
    case = short.cases(PUBLIC_SEED)[-1]  # the training run (after any module checks)
    seed = case.kwargs["seed"]
    losses, weights = reference_run(short.spec, seed, "cpu")
    untrained = short.spec.net(None, seed=seed + 1).state_arrays()
    verdict = short.judge([case], [(losses, *untrained.values())])
    assert not verdict.passed and short.spec.metric_flag in verdict.flags, verdict
    assert "in convlab's network" in verdict.message
    assert short.judge([case], [(losses, *(w for _, w in weights))]).passed
    made_up = np.linspace(losses[0], losses[-1] / 3, len(losses)).astype(np.float32)
    verdict = short.judge([case], [(made_up, *(w for _, w in weights))])
    assert not verdict.passed and "diverges from the reference after step" in verdict.message
    verdict = short.judge([case], [(losses[:5], *(w for _, w in weights))])
    assert not verdict.passed and "loss curve has shape" in verdict.message


def test_an_initialisation_rule_accepts_its_own_draws_and_names_a_slip():
    """A module check's rule passes right draws (a hundred entries and more), names the draws
    of a slip's bound, and refuses all-zero or one-signed values."""
    rule = Uniform(0.5, (("half-bound", 0.25),), zero="zeros")
    rng = np.random.default_rng(0)
    for n in (96, 1000):
        assert all(rule.problem("w", rng.uniform(-0.5, 0.5, n)) is None for _ in range(300))
        assert rule.problem("w", rng.uniform(-0.25, 0.25, n))[0] == "half-bound"
    assert rule.problem("b", np.zeros(96))[0] == "zeros"
    mistake, reason = rule.problem("w", rng.uniform(0.0, 0.5, 96))
    assert mistake == "" and "both signs" in reason


def test_the_reference_run_is_computed_once_per_seed_and_device():
    ex = _short(by_id("ch98").exercise("train_linear"))
    before = reference_run.cache_info().hits
    first = reference_run(ex.spec, 3, "cpu")
    assert reference_run(ex.spec, 3, "cpu") is first
    assert reference_run.cache_info().hits == before + 1


@pytest.mark.parametrize(("kc", "ex"), TRAINING, ids=pair_id)
def test_the_pass_bar_and_steps_do_not_depend_on_the_hardware(kc, ex, monkeypatch):
    """One number of steps and one bar; the run on either device returns that many losses."""
    spec = ex.spec
    assert isinstance(spec.steps, int) and isinstance(spec.bar, float)
    assert not any("gpu" in f.name or "cpu" in f.name for f in dataclasses.fields(spec))


@pytest.mark.slow
def test_another_exercises_mistake_is_not_charged_to_the_training_check():
    """Chapter 2's unit module calls the student's channel_shuffle; while the training check
    runs, convlab's stands in for it, so a broken shuffle leaves the check's verdict alone."""
    kc = by_id("ch02")
    short = _short(kc.exercise("train_shufflenet"))
    unit = build(kc, "ShuffleUnit")
    scope = unit.forward.__globals__
    scope["channel_shuffle"] = lambda x, groups: x.flip(1)  # a wrong shuffle
    verdict = run_exercise(short, unit, PUBLIC_SEED)
    assert verdict.passed, verdict.message
    assert scope["channel_shuffle"](torch.arange(3.0).view(1, 3, 1, 1), 1)[0, 0] == 2


# -- reference facts the chapters rely on --------------------------------------------------------
def test_resnext_forms_a_b_c_are_equal_with_the_reference_mapping():
    from convlab.blocks.resnext import resnext_form_a, resnext_form_b, resnext_form_c

    ex = by_id("ch02").exercise("resnext_branches_to_grouped")
    rng = np.random.default_rng(0)
    for case in ex.cases(3):
        w1, w2, w3 = (torch.from_numpy(a).double() for a in case.args)
        W1, W2, W3 = (torch.from_numpy(a).double() for a in ex.reference(case))
        x = torch.from_numpy(rng.standard_normal((2, w1.shape[2], 5, 6)))
        a = resnext_form_a(x, w1, w2, w3)
        torch.testing.assert_close(resnext_form_b(x, w1, w2, W3), a)
        torch.testing.assert_close(resnext_form_c(x, W1, W2, W3, w1.shape[0]), a)


def test_branches_in_another_order_pass_and_another_block_fails():
    kc = by_id("ch02")
    ex, solution = kc.exercise("resnext_branches_to_grouped"), build(kc,
                                                                     "resnext_branches_to_grouped")
    assert run_exercise(ex, lambda w1, w2, w3: solution(w1.flip(0), w2.flip(0), w3.flip(0)),
                        PUBLIC_SEED).passed
    scaled = run_exercise(ex, lambda *w: (lambda W: (W[0], W[1], 1.01 * W[2]))(solution(*w)),
                          PUBLIC_SEED)
    assert not scaled.passed and "form (c) with these weights differs" in scaled.message


def test_the_folded_reference_unit_is_convlabs_block_in_eval_mode():
    from convlab.blocks import ShuffleNetUnit
    from convlab.models.small import shufflenet_unit_reference

    rng = np.random.default_rng(1)
    for c_in, c_out, stride in ((24, 24, 1), (24, 48, 2)):
        block = ShuffleNetUnit(c_in, c_out, groups=3, stride=stride).double().eval()
        params = []
        for layer in (block.compress, block.depthwise, block.expand):
            w = torch.from_numpy(rng.standard_normal(tuple(layer[0].weight.shape)))
            with torch.no_grad():
                layer[0].weight.copy_(w)
            params += [w, torch.zeros(w.shape[0], dtype=torch.float64)]
        x = torch.from_numpy(rng.standard_normal((2, c_in, 7, 7)))
        scale = (1 + block.compress[1].eps) ** -0.5  # eval BN with identity statistics
        folded = [p * scale if i % 2 == 0 else p for i, p in enumerate(params)]
        with torch.no_grad():
            torch.testing.assert_close(shufflenet_unit_reference(x, folded, 3, stride), block(x))


def test_circular_padding_is_exactly_equivariant_and_zero_padding_is_not():
    ex = by_id("ch01").exercise("equivariance_error")
    for case in ex.cases(PUBLIC_SEED):
        (error,) = ex.reference(case)
        assert (error < 1e-5) if case.circular else (error > 1e-2), (case.label, error)


@pytest.mark.parametrize(("chapter", "name", "answer"), [
    ("ch01", "conv_output_size", lambda size, kernel_size, stride=1, padding=0, dilation=1:
     float((size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1)),
    ("ch03", "overlap_count", lambda size, kernel_size, stride: torch.zeros(
        stride * (size[0] - 1) + kernel_size, stride * (size[1] - 1) + kernel_size)),
])
def test_integer_answers_must_be_integers(chapter, name, answer):
    verdict = run_exercise(by_id(chapter).exercise(name), answer, PUBLIC_SEED)
    assert not verdict.passed and "expected an integer" in verdict.message


def test_a_wrong_shape_is_reported_without_a_wall_of_numbers():
    verdict = run_exercise(by_id("ch01").exercise("conv2d_loop"),
                           lambda x, w, b, stride=1, padding=0: torch.zeros(1, 1, 1, 1),
                           PUBLIC_SEED)
    assert not verdict.passed and "has shape" in verdict.message and len(verdict.message) < 300


def test_a_forbidden_api_is_refused_under_its_other_names_and_hides_the_original():
    """The stand-in keeps no ``__wrapped__`` to the original, and a re-export of the same
    function elsewhere in convlab (``convlab.functional.conv2d_naive``) is swapped too."""
    import convlab.functional
    from convlab.exercises.forbid import Forbidden, ForbiddenAPIError

    original = convlab.functional.conv2d_naive
    x, w = torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2)
    with Forbidden(["convlab.functional.conv.conv2d_naive"]) as guard:
        stand_in = vars(convlab.functional)["conv2d_naive"]
        assert stand_in is not original and not hasattr(stand_in, "__wrapped__")
        with pytest.raises(ForbiddenAPIError):
            stand_in(x, w)
    assert guard.used == ["convlab.functional.conv.conv2d_naive"]
    assert convlab.functional.conv2d_naive is original  # restored on exit
    assert original(x, w).shape == (1, 1, 2, 2)
