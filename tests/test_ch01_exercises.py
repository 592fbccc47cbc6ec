"""Do chapter 1's exercise declarations pass the notebook's solutions and catch the usual
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
from convlab.exercises.ch01 import (
    EXERCISES,
    TRAIN_DIGITS_CNN,
    TracerTampered,
    _settrace,
    count_student_lines,
)

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "ch01" / "vanilla_convolution.ipynb"
_SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION[ \t]*$",
                       re.S | re.M)
SEEDS = (PUBLIC_SEED, derive_seed(b"another course", "student-1", "ch01"), 7)


# -- reading the notebook (plain JSON: these tests also run where no Jupyter is installed) ---
def code_cells() -> list[dict]:
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    return [{**c, "source": "".join(c["source"]) if isinstance(c["source"], list) else c["source"]}
            for c in cells if c["cell_type"] == "code"]


def grade_id(cell: Any) -> str:
    return cell["metadata"].get("nbgrader", {}).get("grade_id", "")


def setup_source() -> str:
    """The setup cells' code, joined."""
    return "\n".join(c["source"] for c in code_cells() if grade_id(c).startswith("setup_"))


def answer_source(entry: str) -> str:
    """The instructor solution of answer cell ``<entry>_answer``."""
    (cell,) = [c for c in code_cells() if grade_id(c) == f"{entry}_answer"]
    return cell["source"]


def stub(source: str) -> str:
    """What nbgrader's student edition holds: the solution region replaced by its stub."""
    return _SOLUTION.sub(lambda m: f"{m.group(1)}# YOUR CODE HERE\n{m.group(1)}"
                         "raise NotImplementedError()", source)


def build(entry: str, source: str | None = None) -> Callable[..., Any]:
    """The function ``entry`` defined by ``source`` (default: the instructor solution), run
    after the setup cells, as a notebook kernel would."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(setup_source(), "<setup>", "exec"), namespace)
    exec(compile(answer_source(entry) if source is None else source, f"<{entry}>", "exec"),
         namespace)
    return namespace[entry]


def plant(entry: str, *edits: tuple[str, str]) -> Callable[..., Any]:
    """The solution of ``entry`` with each ``(old, new)`` edit applied (``old`` must occur)."""
    source = answer_source(entry)
    for old, new in edits:
        assert old in source, f"{old!r} not in the {entry} solution"
        source = source.replace(old, new)
    return build(entry, source)


def at_start(line: str) -> tuple[str, str]:
    """An edit that puts ``line`` first in the solution body."""
    return ("    ### BEGIN SOLUTION\n", f"    ### BEGIN SOLUTION\n    {line}\n")


def fails_with(key: str, func: Callable[..., Any], flag: str, seed: int = PUBLIC_SEED) -> str:
    verdict = run_exercise(get(key), func, seed)
    assert not verdict.passed, verdict.message
    assert flag in verdict.flags, (flag, verdict)
    return verdict.message


# -- the solutions pass, the stubs fail ---------------------------------------------------
QUICK = [ex for ex in EXERCISES if ex is not TRAIN_DIGITS_CNN]


@pytest.mark.parametrize("ex", QUICK, ids=lambda e: e.name)
@pytest.mark.parametrize("seed", SEEDS)
def test_the_solution_passes(ex, seed):
    verdict = run_exercise(ex, build(ex.entry), seed)
    assert verdict.passed, verdict.message


@pytest.mark.parametrize("ex", QUICK, ids=lambda e: e.name)
def test_the_solution_passes_the_hidden_tests(ex):
    verdict = run_exercise(ex, build(ex.entry), kernel_hidden_seed(ex.key))
    assert verdict.passed, verdict.message


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.name)
def test_the_student_stub_fails_clearly(ex):
    func = build(ex.entry, stub(answer_source(ex.entry)))
    verdict = run_exercise(ex, func, PUBLIC_SEED)
    assert not verdict.passed
    assert "not implemented yet" in verdict.message, verdict.message


def test_the_stub_keeps_the_signature_and_docstring():
    for ex in EXERCISES:
        source = stub(answer_source(ex.entry))
        assert "### BEGIN SOLUTION" not in source and "raise NotImplementedError()" in source
        assert f"def {ex.entry}(" in source and '"""' in source


# -- seeds -----------------------------------------------------------------------------------
@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.name)
def test_hidden_seeds_differ_from_the_public_one_and_change_the_inputs(ex):
    hidden = kernel_hidden_seed(ex.key)
    assert hidden != PUBLIC_SEED

    def inputs(seed):
        return [(np.shape(a), np.asarray(a).tobytes())
                for c in ex.cases(seed) for a in (*c.args, *c.kwargs.values())]

    assert inputs(PUBLIC_SEED) == inputs(PUBLIC_SEED)  # deterministic
    assert inputs(PUBLIC_SEED) != inputs(hidden)


def test_the_seed_draws_the_shapes_too():
    shapes = {tuple(c.args[0].shape for c in get("ch01.conv2d_loop").cases(s)) for s in range(6)}
    assert len(shapes) > 1


def test_conv_cases_cover_the_edge_cases():
    for seed in SEEDS:
        cases = get("ch01.conv2d_loop").cases(seed)
        kernels = [c.args[1].shape[-2:] for c in cases]
        assert (1, 1) in kernels
        assert any(c.args[3] > c.args[1].shape[-1] for c in cases)  # stride > kernel
        assert any(k[0] != k[1] for k in kernels)
        assert any(c.args[0].shape[2] != c.args[0].shape[3] for c in cases)
        assert all(c.args[0].dtype == np.float32 for c in cases)


# -- 1. loops: the usual mistakes are named ----------------------------------------------------
LOOP_BUGS = {
    "flipped-kernel": [("window * w[f]", "window * w[f].flip(-1, -2)")],
    "kernel-transposed": [("window * w[f]", "window * w[f].transpose(-1, -2)")],
    "padding-off-by-one": [at_start("padding = padding + 1")],
    "output-size-missing-plus-one": [("// stride + 1", "// stride")],
    "stride-ignored": [at_start("stride = 1")],
    "bias-missing": [(" + b[f]", "")],
    "bias-per-input-channel": [(" + b[f]", " + C * b[f]")],
}


@pytest.mark.parametrize("mistake", LOOP_BUGS)
def test_loop_mistakes_are_named(mistake):
    message = fails_with("ch01.conv2d_loop", plant("conv2d_loop", *LOOP_BUGS[mistake]),
                         f"mistake:{mistake}")
    named = [d.message for d in get("ch01.conv2d_loop").diagnoses if d.name == mistake]
    assert any(message.endswith(m) for m in named), message


def test_padding_off_by_one_is_reported_as_a_size_error():
    message = fails_with("ch01.conv2d_loop", plant("conv2d_loop", at_start("padding += 1")),
                         "mistake:padding-off-by-one")
    assert "off-by-one size" in message and "p + 1" in message


def test_forbidden_apis_are_caught_even_when_the_error_is_swallowed():
    def sneaky(x, w, b, stride=1, padding=0):
        try:
            return torch.nn.functional.conv2d(x, w, b, stride=stride, padding=padding)
        except Exception:
            return torch.zeros(1)

    def windows(x, w, b, stride=1, padding=0):
        return x.unfold(2, w.shape[2], stride)

    def module(x, w, b, stride=1, padding=0):
        layer = torch.nn.Conv2d(x.shape[1], w.shape[0], w.shape[2:], stride, padding)
        return layer(x)

    for func, api in ((sneaky, "torch.nn.functional.conv2d"), (windows, "torch.Tensor.unfold"),
                      (module, "torch.nn.Conv2d.forward")):
        message = fails_with("ch01.conv2d_loop", func, "forbidden-api")
        assert api in message


def test_convlab_conv_is_forbidden_too():
    from convlab.functional import conv2d

    def borrowed(x, w, b, stride=1, padding=0):
        return conv2d(x, w, b, stride=stride, padding=padding)

    assert "convlab.functional.conv2d" in get("ch01.conv2d_loop").forbidden
    fails_with("ch01.conv2d_loop", borrowed, "forbidden-api")


def test_a_wrong_shape_is_reported_without_a_wall_of_numbers():
    def flat(x, w, b, stride=1, padding=0):
        return torch.zeros(x.shape[0], w.shape[0], 1, 1)

    verdict = run_exercise(get("ch01.conv2d_loop"), flat, PUBLIC_SEED)
    assert not verdict.passed and "has shape" in verdict.message and len(verdict.message) < 300


# -- 2. the output size ----------------------------------------------------------------------
SIZE_BUGS = {
    "missing-plus-one": [("// stride + 1", "// stride")],
    "ceil-instead-of-floor": [("return (size + 2 * padding - effective) // stride + 1",
                               "return -(-(size + 2 * padding - effective) // stride) + 1")],
    "dilation-ignored": [("dilation * (kernel_size - 1) + 1", "(kernel_size - 1) + 1")],
    "padding-one-side": [("2 * padding", "padding")],
}


@pytest.mark.parametrize("mistake", SIZE_BUGS)
@pytest.mark.parametrize("seed", SEEDS[:2])
def test_output_size_mistakes_are_named(mistake, seed):
    fails_with("ch01.conv_output_size", plant("conv_output_size", *SIZE_BUGS[mistake]),
               f"mistake:{mistake}", seed)


def test_output_size_must_be_an_int():
    def as_float(size, kernel_size, stride=1, padding=0, dilation=1):
        return float((size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1)

    verdict = run_exercise(get("ch01.conv_output_size"), as_float, PUBLIC_SEED)
    assert not verdict.passed and "expected an integer" in verdict.message


# -- 3. im2col: mistakes and the loop probe --------------------------------------------------
IM2COL_BUGS = {
    "flipped-kernel": [("w.reshape(num_filters, -1)", "w.flip(-1, -2).reshape(num_filters, -1)")],
    "padding-off-by-one": [at_start("padding = padding + 1")],
    "stride-ignored": [at_start("stride = 1")],
    "bias-missing": [(" + b[:, None]", "")],
}


@pytest.mark.parametrize("mistake", IM2COL_BUGS)
def test_im2col_mistakes_are_named(mistake):
    fails_with("ch01.conv2d_im2col", plant("conv2d_im2col", *IM2COL_BUGS[mistake]),
               f"mistake:{mistake}")


def test_the_loop_solution_fails_im2col_for_its_loops():
    loops = build("conv2d_loop")
    message = fails_with("ch01.conv2d_im2col", loops, "python-loop")
    assert "loops over output positions in Python" in message
    assert run_exercise(get("ch01.conv2d_loop"), loops, PUBLIC_SEED).passed


def test_a_loop_over_output_rows_alone_is_caught():
    solution = build("conv2d_im2col")

    def by_rows(x, w, b, stride=1, padding=0):
        kh = w.shape[2]
        x_pad = torch.nn.functional.pad(x, (padding, padding, padding, padding))
        h_out = (x_pad.shape[2] - kh) // stride + 1
        rows = [solution(x_pad[:, :, i * stride:i * stride + kh], w, b, stride, 0)
                for i in range(h_out)]  # h_out tensors (N, F, 1, W_out)
        return torch.cat(rows, dim=2)

    assert run_exercise(get("ch01.conv2d_loop"), by_rows, PUBLIC_SEED).passed
    fails_with("ch01.conv2d_im2col", by_rows, "python-loop")


def test_loops_over_kernel_offsets_are_allowed():
    solution = build("conv2d_im2col")
    x, w, b = torch.randn(1, 2, 9, 9), torch.randn(3, 2, 3, 3), torch.randn(3)
    _, small = count_student_lines(solution, x, w, b, 1, 1)
    _, large = count_student_lines(solution, torch.randn(1, 2, 18, 18), w, b, 1, 1)
    assert small == large > 0


def test_the_line_count_sees_student_code_only():
    def three_lines(x):
        y = x + 1
        y = y * 2
        return y

    _, lines = count_student_lines(three_lines, torch.ones(3))
    assert lines == 3
    _, lines = count_student_lines(np.linalg.norm, np.ones(3))  # library code is not counted
    assert lines == 0


def test_switching_the_tracer_off_is_caught():
    def hide(x):
        _settrace(None)
        return x

    with pytest.raises(TracerTampered):
        count_student_lines(hide, 1)

    def forbidden(x, w, b, stride=1, padding=0):
        import sys

        sys.settrace(None)
        return build("conv2d_im2col")(x, w, b, stride, padding)

    fails_with("ch01.conv2d_im2col", forbidden, "forbidden-api")


def test_im2col_forbids_unfold():
    def with_unfold(x, w, b, stride=1, padding=0):
        cols = torch.nn.functional.unfold(x, w.shape[2:], padding=padding, stride=stride)
        return cols

    assert "torch.nn.functional.unfold" in fails_with("ch01.conv2d_im2col", with_unfold,
                                                      "forbidden-api")


# -- 4. backward -------------------------------------------------------------------------------
BACKWARD_BUGS = {
    "dx-kernel-not-flipped": [("w[:, :, u, v])", "w[:, :, kH - 1 - u, kW - 1 - v])")],
    "dw-flipped": [("dw[:, :, u, v] =", "dw[:, :, kH - 1 - u, kW - 1 - v] =")],
    "dx-not-cropped": [("dx = dx_pad[:, :, padding:padding + H, padding:padding + W]",
                        "dx = dx_pad")],
    "dx-stride-ignored": [("dx_pad[:, :, rows, cols] +=",
                           "dx_pad[:, :, u:u + H_out, v:v + W_out] +=")],
    "dw-stride-ignored": [("x_pad[:, :, rows, cols])", "x_pad[:, :, u:u + H_out, v:v + W_out])")],
    "db-not-summed-over-batch": [("dout.sum(dim=(0, 2, 3))", "dout.sum(dim=(2, 3))")],
    "db-not-summed-over-space": [("dout.sum(dim=(0, 2, 3))", "dout.sum(dim=0)")],
    "db-averaged": [("dout.sum(dim=(0, 2, 3))", "dout.mean(dim=(0, 2, 3))")],
}


@pytest.mark.parametrize("mistake", BACKWARD_BUGS)
def test_backward_mistakes_are_named(mistake):
    fails_with("ch01.conv2d_backward", plant("conv2d_backward", *BACKWARD_BUGS[mistake]),
               f"mistake:{mistake}")


def test_backward_by_autograd_is_forbidden():
    def by_autograd(dout, x, w, stride=1, padding=0):
        x = x.clone().requires_grad_(True)
        w = w.clone().requires_grad_(True)
        b = torch.zeros(w.shape[0], requires_grad=True)
        out = build("conv2d_im2col")(x, w, b, stride, padding)
        out.backward(dout)
        return x.grad, w.grad, b.grad

    assert "torch.Tensor.backward" in fails_with("ch01.conv2d_backward", by_autograd,
                                                 "forbidden-api")


# -- 6. equivariance ---------------------------------------------------------------------------
EQUIVARIANCE_BUGS = {
    "padding-mode-ignored": [('"circular" if circular else "constant"', '"constant"')],
    "shifted-back-the-wrong-way": [("torch.roll(conv_same(image), shifts=shift",
                                    "torch.roll(conv_same(image), shifts=(-shift[0], -shift[1])")],
    "no-padding": [("p = kernel.shape[-1] // 2", "p = 0")],
    "mean-not-max": [(".abs().max()", ".abs().mean()")],
    "not-absolute": [(".abs().max()", ".max()")],
}


@pytest.mark.parametrize("mistake", EQUIVARIANCE_BUGS)
def test_equivariance_mistakes_are_named(mistake):
    fails_with("ch01.equivariance_error",
               plant("equivariance_error", *EQUIVARIANCE_BUGS[mistake]), f"mistake:{mistake}")


def test_circular_padding_is_exactly_equivariant_and_zero_padding_is_not():
    ex = get("ch01.equivariance_error")
    for case in ex.cases(PUBLIC_SEED):
        (error,) = ex.reference(case)
        circular = case.args[3]
        assert (error < 1e-5) if circular else (error > 1e-2), (case.label, error)


# -- 5. the training check ---------------------------------------------------------------------
SHORT = dataclasses.replace(TRAIN_DIGITS_CNN, steps_cpu=40, accuracy_bar_cpu=0.5)


def test_a_fabricated_training_run_is_caught():
    """A plausible loss curve with untrained weights: the curve alone would pass; the weights,
    evaluated in the grader's process, do not."""
    (case,) = SHORT.cases(PUBLIC_SEED)
    reference, weights = SHORT._train(None, case.kwargs["seed"], SHORT.steps_cpu,
                                      torch.device("cpu"))
    from convlab.models.small import DigitsCNN

    untrained = DigitsCNN(seed=case.kwargs["seed"] + 1).state_arrays()
    verdict = SHORT.judge([case], [(reference, *untrained.values())])
    assert not verdict.passed and "training-accuracy" in verdict.flags
    assert "below the bar" in verdict.message
    # the same curve with the honestly trained weights passes
    assert SHORT.judge([case], [(reference, *weights.values())]).passed
    # a made-up curve is caught before the weights are looked at
    flat = np.linspace(2.3, 0.1, SHORT.steps_cpu).astype(np.float32)
    verdict = SHORT.judge([case], [(flat, *weights.values())])
    assert not verdict.passed and "diverges from the reference after step" in verdict.message
    short = SHORT.judge([case], [(reference[:5], *weights.values())])
    assert not short.passed and "loss curve has shape" in short.message


@pytest.mark.slow
def test_a_wrong_convolution_trains_off_the_reference_curve():
    flipped = plant("conv2d_im2col", *IM2COL_BUGS["flipped-kernel"])
    verdict = run_exercise(SHORT, flipped, PUBLIC_SEED)
    assert not verdict.passed
    assert "training-curve" in verdict.flags or "training-accuracy" in verdict.flags


@pytest.mark.gpu
def test_the_training_check_runs_its_long_version_on_the_gpu():
    verdict = run_exercise(TRAIN_DIGITS_CNN, build("conv2d_im2col"), PUBLIC_SEED)
    assert verdict.passed, verdict.message
    assert f"trained {TRAIN_DIGITS_CNN.steps_gpu} steps" in verdict.message


@pytest.mark.slow
def test_the_solution_passes_the_training_check():
    verdict = run_exercise(TRAIN_DIGITS_CNN, build("conv2d_im2col"), PUBLIC_SEED)
    assert verdict.passed, verdict.message
    assert "test accuracy" in verdict.message


def test_the_training_check_forbids_library_convolutions():
    def library(x, w, b, stride=1, padding=0):
        return torch.conv2d(x, w, b, stride, padding)

    assert "forbidden-api" in run_exercise(SHORT, library, PUBLIC_SEED).flags
