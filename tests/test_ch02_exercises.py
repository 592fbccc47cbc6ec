"""Do chapter 2's exercise declarations pass the notebook's solutions and catch the usual
mistakes by name?

The solutions are read from the instructor notebook's answer cells (never copied here); the
mistakes are planted in them by small textual edits; the student stub is nbgrader's.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from convlab.exercises import PUBLIC_SEED, derive_seed, get, kernel_hidden_seed, run_exercise
from convlab.exercises.ch02 import (
    EXERCISES,
    TRAIN_SHUFFLENET,
    ShuffleDigitsNet,
    resnext_form_a,
    resnext_form_b,
    resnext_form_c,
    shufflenet_unit_reference,
    unit_params,
)

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "ch02" / "group_convolution.ipynb"
_SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION[ \t]*$",
                       re.S | re.M)
SEEDS = (PUBLIC_SEED, derive_seed(b"another course", "student-1", "ch02"), 7)
#: Answer cells an entry's solution calls (the unit calls the student's channel_shuffle).
NEEDS = {"shufflenet_unit_forward": ("channel_shuffle",)}


# -- reading the notebook ------------------------------------------------------------------
def cells() -> list[dict[str, Any]]:
    return json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]


def source(cell: dict[str, Any]) -> str:
    text = cell["source"]
    return "".join(text) if isinstance(text, list) else text


def grade_id(cell: dict[str, Any]) -> str:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")


def setup_source() -> str:
    return "\n".join(source(c) for c in cells()
                     if c["cell_type"] == "code" and grade_id(c).startswith("setup_"))


def answer_source(entry: str) -> str:
    (cell,) = [c for c in cells() if grade_id(c) == f"{entry}_answer"]
    return source(cell)


def stub(text: str) -> str:
    """What nbgrader's student edition holds: the solution region replaced by its stub."""
    return _SOLUTION.sub(lambda m: f"{m.group(1)}# YOUR CODE HERE\n{m.group(1)}"
                         "raise NotImplementedError()", text)


def build(entry: str, text: str | None = None) -> Callable[..., Any]:
    """The function ``entry`` defined by ``text`` (default: the instructor solution), run after
    the setup cells and the answer cells it needs, as a notebook kernel would."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(setup_source(), "<setup>", "exec"), namespace)
    for dep in NEEDS.get(entry, ()):
        exec(compile(answer_source(dep), f"<{dep}>", "exec"), namespace)
    exec(compile(answer_source(entry) if text is None else text, f"<{entry}>", "exec"),
         namespace)
    return namespace[entry]


def plant(entry: str, *edits: tuple[str, str]) -> Callable[..., Any]:
    """The solution of ``entry`` with each ``(old, new)`` edit applied (``old`` must occur)."""
    text = answer_source(entry)
    for old, new in edits:
        assert old in text, f"{old!r} not in the {entry} solution"
        text = text.replace(old, new)
    return build(entry, text)


def fails_with(key: str, func: Callable[..., Any], flag: str, seed: int = PUBLIC_SEED) -> str:
    verdict = run_exercise(get(key), func, seed)
    assert not verdict.passed, verdict.message
    assert flag in verdict.flags, (flag, verdict)
    return verdict.message


# -- the solutions pass, the stubs fail ---------------------------------------------------
QUICK = [ex for ex in EXERCISES if ex is not TRAIN_SHUFFLENET]


def test_the_points_add_up_to_100():
    assert sum(ex.points for ex in EXERCISES) == 100
    assert [ex.name for ex in EXERCISES] == [
        "group_conv2d", "resnext_branches_to_grouped", "channel_shuffle", "shufflenet_unit",
        "train_shufflenet"]


@pytest.mark.parametrize("ex", QUICK, ids=lambda e: e.name)
@pytest.mark.parametrize("seed", SEEDS)
def test_the_solution_passes(ex, seed):
    verdict = run_exercise(ex, build(ex.entry), seed)
    assert verdict.passed, verdict.message


@pytest.mark.parametrize("ex", QUICK, ids=lambda e: e.name)
def test_the_solution_passes_the_hidden_tests(ex):
    verdict = run_exercise(ex, build(ex.entry), kernel_hidden_seed(ex.key))
    assert verdict.passed, verdict.message


@pytest.mark.parametrize("ex", QUICK, ids=lambda e: e.name)
def test_the_student_stub_fails_clearly(ex):
    func = build(ex.entry, stub(answer_source(ex.entry)))
    verdict = run_exercise(ex, func, PUBLIC_SEED)
    assert not verdict.passed
    assert "not implemented yet" in verdict.message, verdict.message


def test_the_stub_keeps_the_signature_and_docstring():
    for ex in EXERCISES:
        text = stub(answer_source(ex.entry))
        assert "### BEGIN SOLUTION" not in text and "raise NotImplementedError()" in text
        assert f"def {ex.entry}(" in text and '"""' in text


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.name)
def test_hidden_seeds_change_the_inputs(ex):
    hidden = kernel_hidden_seed(ex.key)
    assert hidden != PUBLIC_SEED

    def inputs(seed):
        out = []
        for c in ex.cases(seed):
            for a in (*c.args, *c.kwargs.values()):
                for part in (a if isinstance(a, tuple) else (a,)):
                    out.append((np.shape(part), np.asarray(part).tobytes()))
        return out

    assert inputs(PUBLIC_SEED) == inputs(PUBLIC_SEED)
    assert inputs(PUBLIC_SEED) != inputs(hidden)


# -- 1. group convolution ------------------------------------------------------------------
GROUP_BUGS = {
    "group-mapping-reversed": [(
        "cols = cols.reshape(N, g, m * kH * kW, H_out * W_out)",
        "cols = cols.reshape(N, g, m * kH * kW, H_out * W_out).flip(1)")],
    "groups-interleaved": [(
        "cols = cols.reshape(N, g, m * kH * kW, H_out * W_out)",
        "cols = cols.reshape(N, m, g, kH * kW, H_out * W_out).transpose(1, 2)"
        ".reshape(N, g, m * kH * kW, H_out * W_out)")],
    "outputs-interleaved": [(
        "out = out.reshape(N, C_out, H_out, W_out)",
        "out = out.transpose(1, 2).reshape(N, C_out, H_out, W_out)")],
    "bias-missing": [("out = out + bias.view(1, C_out, 1, 1)", "pass")],
}


@pytest.mark.parametrize("mistake", GROUP_BUGS)
def test_group_conv_mistakes_are_named(mistake):
    buggy = plant("group_conv2d", *GROUP_BUGS[mistake])
    assert "wrong group mapping" in fails_with(
        "ch02.group_conv2d", buggy, f"mistake:{mistake}") or mistake == "bias-missing"


@pytest.mark.parametrize("api", ["F.conv2d", "torch.conv2d", "torch.nn.functional.conv2d"])
def test_group_conv_forbids_convolution_apis_even_when_swallowed(api):
    def cheat(x, weight, bias=None, groups=1, stride=1, padding=0):
        try:
            return eval(api)(x, weight, bias, stride, padding, 1, groups)
        except Exception:  # swallowing the error does not hide the call
            return torch.zeros(1)

    verdict = run_exercise(get("ch02.group_conv2d"),
                           cheat if api != "F.conv2d" else _with_f(cheat), PUBLIC_SEED)
    assert not verdict.passed and "forbidden-api" in verdict.flags, verdict


def _with_f(func: Callable[..., Any]) -> Callable[..., Any]:
    import torch.nn.functional as F

    func.__globals__["F"] = F
    return func


def test_convlab_conv_is_forbidden_in_group_conv():
    def cheat(x, weight, bias=None, groups=1, stride=1, padding=0):
        from convlab.functional import conv2d

        return conv2d(x, weight, bias, stride, padding, 1, groups)

    assert "forbidden-api" in run_exercise(get("ch02.group_conv2d"), cheat, PUBLIC_SEED).flags


# -- 2. ResNeXt's forms ----------------------------------------------------------------------
def test_forms_a_b_c_are_equal_with_the_reference_mapping():
    rng = np.random.default_rng(0)
    ex = get("ch02.resnext_branches_to_grouped")
    for case in ex.cases(3):
        w1, w2, w3 = (torch.from_numpy(a).double() for a in case.args)
        W1, W2, W3 = (torch.from_numpy(a).double() for a in ex.reference(case))
        x = torch.from_numpy(rng.standard_normal((2, w1.shape[2], 5, 6)))
        a = resnext_form_a(x, w1, w2, w3)
        torch.testing.assert_close(resnext_form_b(x, w1, w2, W3), a)
        torch.testing.assert_close(resnext_form_c(x, W1, W2, W3, w1.shape[0]), a)


RESNEXT_BUGS = {
    "w3-reshaped-without-permute": [(
        "W3 = w3.permute(1, 0, 2, 3, 4).reshape(C_out, C * d, 1, 1)",
        "W3 = w3.reshape(C_out, C * d, 1, 1)")],
}


@pytest.mark.parametrize("mistake", RESNEXT_BUGS)
def test_resnext_mistakes_are_named(mistake):
    fails_with("ch02.resnext_branches_to_grouped",
               plant("resnext_branches_to_grouped", *RESNEXT_BUGS[mistake]), f"mistake:{mistake}")


def test_the_dense_block_diagonal_weight_is_named():
    def dense(w1, w2, w3):
        C, d, C_in = w1.shape[:3]
        W2 = torch.zeros(C * d, C * d, 3, 3)
        for i in range(C):
            W2[i * d:(i + 1) * d, i * d:(i + 1) * d] = w2[i]
        return (w1.reshape(C * d, C_in, 1, 1), W2,
                w3.permute(1, 0, 2, 3, 4).reshape(w3.shape[1], C * d, 1, 1))

    fails_with("ch02.resnext_branches_to_grouped", dense, "mistake:w2-dense-block-diagonal")


def test_branches_in_another_order_compute_the_same_block_and_pass():
    solution = build("resnext_branches_to_grouped")

    def reordered(w1, w2, w3):
        return solution(w1.flip(0), w2.flip(0), w3.flip(0))

    assert run_exercise(get("ch02.resnext_branches_to_grouped"), reordered, PUBLIC_SEED).passed


def test_a_mapping_that_computes_something_else_fails():
    def scaled(w1, w2, w3):
        W1, W2, W3 = build("resnext_branches_to_grouped")(w1, w2, w3)
        return W1, W2, 1.01 * W3

    verdict = run_exercise(get("ch02.resnext_branches_to_grouped"), scaled, PUBLIC_SEED)
    assert not verdict.passed and "form (c) with these weights differs" in verdict.message


# -- 3. channel shuffle ----------------------------------------------------------------------
def test_the_shuffle_transposed_the_wrong_way_is_named():
    buggy = plant("channel_shuffle", (
        "x.reshape(N, groups, C // groups, H, W)", "x.reshape(N, C // groups, groups, H, W)"),
        ("reshape(N, C, H, W)\n", "reshape(N, C, H, W)\n"))
    message = fails_with("ch02.channel_shuffle", buggy, "mistake:shuffle-transposed-wrong-way")
    assert "transposed the wrong way" in message


def test_a_shuffle_that_moves_nothing_is_named():
    buggy = plant("channel_shuffle", (".transpose(1, 2)", ""))
    fails_with("ch02.channel_shuffle", buggy, "mistake:shuffle-identity")


@pytest.mark.parametrize("api", ["torch.channel_shuffle", "torch.nn.functional.channel_shuffle",
                                 "torch.native_channel_shuffle"])
def test_library_shuffles_are_forbidden(api):
    def cheat(x, groups):
        return eval(api)(x, groups)

    assert "forbidden-api" in run_exercise(get("ch02.channel_shuffle"), cheat, PUBLIC_SEED).flags


def test_the_shuffle_module_is_forbidden():
    def cheat(x, groups):
        return torch.nn.ChannelShuffle(groups)(x)

    assert "forbidden-api" in run_exercise(get("ch02.channel_shuffle"), cheat, PUBLIC_SEED).flags


# -- 4. the ShuffleNet unit --------------------------------------------------------------------
UNIT_BUGS = {
    "missing-residual-add": [("return F.relu(x + h)", "return F.relu(h)")],
    "missing-concat-shortcut": [("return F.relu(torch.cat([shortcut, h], dim=1))",
                                 "return F.relu(h)")],
    "concat-order": [("torch.cat([shortcut, h], dim=1)", "torch.cat([h, shortcut], dim=1)")],
    "missing-shuffle": [("h = channel_shuffle(h, groups)", "pass")],
    "shuffle-transposed-wrong-way": [("h = channel_shuffle(h, groups)",
                                      "h = channel_shuffle(h, h.shape[1] // groups)")],
    "relu-after-depthwise": [("groups=h.shape[1])  # depthwise",
                              "groups=h.shape[1]).relu()  # depthwise")],
}


@pytest.mark.parametrize("mistake", UNIT_BUGS)
def test_unit_mistakes_are_named(mistake):
    fails_with("ch02.shufflenet_unit", plant("shufflenet_unit_forward", *UNIT_BUGS[mistake]),
               f"mistake:{mistake}")


def test_the_unit_forbids_library_shuffles():
    solution = plant("shufflenet_unit_forward", ("h = channel_shuffle(h, groups)",
                                                 "h = torch.channel_shuffle(h, groups)"))
    assert "forbidden-api" in run_exercise(get("ch02.shufflenet_unit"), solution,
                                           PUBLIC_SEED).flags


def test_the_reference_unit_is_convlabs_block_in_eval_mode():
    """With batch norm at identity statistics, convlab.blocks.ShuffleNetUnit and the folded
    functional reference compute the same thing."""
    from convlab.blocks import ShuffleNetUnit

    rng = np.random.default_rng(1)
    for c_in, c_out, stride in ((24, 24, 1), (24, 48, 2)):
        block = ShuffleNetUnit(c_in, c_out, groups=3, stride=stride).double().eval()
        params = []
        for layer in (block.compress, block.depthwise, block.expand):
            conv = layer[0]
            w = torch.from_numpy(rng.standard_normal(tuple(conv.weight.shape)))
            with torch.no_grad():
                conv.weight.copy_(w)
            params += [w, torch.zeros(w.shape[0], dtype=torch.float64)]
        x = torch.from_numpy(rng.standard_normal((2, c_in, 7, 7)))
        scale = (1 + block.compress[1].eps) ** -0.5  # eval BN: x / sqrt(1 + eps)
        ours = shufflenet_unit_reference(x, params, 3, stride, shuffle=True)
        with torch.no_grad():
            theirs = block(x)
        assert ours.shape == theirs.shape
        # each BN scales by `scale`; with zero biases the branch is scale³ times ours
        folded = [params[0] * scale, params[1], params[2] * scale, params[3], params[4] * scale,
                  params[5]]
        torch.testing.assert_close(shufflenet_unit_reference(x, folded, 3, stride), theirs)


# -- 5. the training check -------------------------------------------------------------------
SHORT = dataclasses.replace(TRAIN_SHUFFLENET, steps_cpu=30, accuracy_bar_cpu=0.4)


def test_a_fabricated_training_run_is_caught():
    from convlab.exercises.ch02 import _train_shuffle_net

    (case,) = SHORT.cases(PUBLIC_SEED)
    seed = case.kwargs["seed"]
    reference, weights = _train_shuffle_net(None, seed, SHORT.steps_cpu, SHORT.batch_size,
                                            SHORT.lr, torch.device("cpu"))
    untrained = ShuffleDigitsNet(seed=seed + 1).state_arrays()
    verdict = SHORT.judge([case], [(reference, *untrained.values())])
    assert not verdict.passed and "training-accuracy" in verdict.flags
    assert SHORT.judge([case], [(reference, *weights.values())]).passed
    flat = np.linspace(2.3, 0.1, SHORT.steps_cpu).astype(np.float32)
    verdict = SHORT.judge([case], [(flat, *weights.values())])
    assert not verdict.passed and "diverges from the reference after step" in verdict.message


def test_the_training_check_forbids_library_shuffles():
    def cheat(x, params, groups, stride):
        return torch.nn.functional.channel_shuffle(x, groups)

    assert "forbidden-api" in run_exercise(SHORT, cheat, PUBLIC_SEED).flags


@pytest.mark.slow
def test_a_unit_without_its_shuffle_trains_off_the_reference():
    buggy = plant("shufflenet_unit_forward", *UNIT_BUGS["missing-shuffle"])
    verdict = run_exercise(SHORT, buggy, PUBLIC_SEED)
    assert not verdict.passed
    assert "training-curve" in verdict.flags or "training-accuracy" in verdict.flags


@pytest.mark.slow
def test_the_solution_passes_the_training_check():
    verdict = run_exercise(SHORT, build("shufflenet_unit_forward"), PUBLIC_SEED)
    assert verdict.passed, verdict.message


def test_the_digits_network_checks_its_width():
    with pytest.raises(ValueError, match="divisible by 2·groups"):
        ShuffleDigitsNet(channels=10)
    assert len(unit_params(np.random.default_rng(0), 12, 24, 6, 3, 2)) == 6
