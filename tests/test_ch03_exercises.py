"""Do chapter 3's exercise declarations pass the notebook's solutions and catch the usual
mistakes by name?

The solutions are read from the instructor notebook's answer cells (never copied here); the
mistakes are planted in them by small textual edits; the student stub is nbgrader's.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest
import torch

from convlab.exercises import PUBLIC_SEED, derive_seed, get, kernel_hidden_seed, run_exercise
from convlab.exercises.ch03 import EXERCISES, TRAIN_DECODER

NOTEBOOK = (Path(__file__).resolve().parents[1] / "notebooks" / "ch03"
            / "transposed_convolution.ipynb")
_SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION[ \t]*$",
                       re.S | re.M)
SEEDS = (PUBLIC_SEED, derive_seed(b"another course", "student-1", "ch03"), 7)


# -- reading the notebook ------------------------------------------------------------------
def notebook() -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK, as_version=4)


def grade_id(cell: Any) -> str:
    return cell.metadata.get("nbgrader", {}).get("grade_id", "")


def setup_source() -> str:
    return "\n".join(c.source for c in notebook().cells
                     if c.cell_type == "code" and grade_id(c).startswith("setup_"))


def answer_source(entry: str) -> str:
    (cell,) = [c for c in notebook().cells if grade_id(c) == f"{entry}_answer"]
    return cell.source


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
    return ("    ### BEGIN SOLUTION\n", f"    ### BEGIN SOLUTION\n    {line}\n")


def fails_with(key: str, func: Callable[..., Any], flag: str, seed: int = PUBLIC_SEED) -> str:
    verdict = run_exercise(get(key), func, seed)
    assert not verdict.passed, verdict.message
    assert flag in verdict.flags, (flag, verdict)
    return verdict.message


# -- the solutions pass, the stubs fail ---------------------------------------------------
QUICK = [ex for ex in EXERCISES if ex is not TRAIN_DECODER]


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
    verdict = run_exercise(dataclasses.replace(TRAIN_DECODER, steps_cpu=5)
                           if ex is TRAIN_DECODER else ex, func, PUBLIC_SEED)
    assert not verdict.passed
    assert "not implemented yet" in verdict.message, verdict.message


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.name)
def test_hidden_seeds_differ_from_the_public_one_and_change_the_inputs(ex):
    hidden = kernel_hidden_seed(ex.key)
    assert hidden != PUBLIC_SEED

    def inputs(seed):
        return [(np.shape(a), np.asarray(a).tobytes())
                for c in ex.cases(seed) for a in (*c.args, *c.kwargs.values()) if a is not None]

    assert inputs(PUBLIC_SEED) == inputs(PUBLIC_SEED)  # deterministic
    assert inputs(PUBLIC_SEED) != inputs(hidden)


def test_the_cases_cover_what_the_diagnoses_need():
    scatter = get("ch03.conv_transpose2d_scatter").cases(PUBLIC_SEED)
    assert scatter[0].args[1].shape[0] == scatter[0].args[1].shape[1]  # square first: axes
    assert any(c.kwargs["output_padding"] and c.kwargs["padding"] for c in scatter)
    assert any(c.args[1].shape[2] != c.args[1].shape[3] for c in scatter)  # rectangular kernel
    assert any(c.args[2] is None for c in scatter)
    zero = get("ch03.zero_insert_conv").cases(PUBLIC_SEED)
    assert any(c.kwargs["padding"] > c.args[1].shape[-1] - 1 for c in zero)  # cropping case
    counts = get("ch03.overlap_count").cases(PUBLIC_SEED)
    assert any(k < s for (_, k, s) in (c.args for c in counts))  # stamps with gaps


# -- 1. scatter: the usual mistakes are named --------------------------------------------------
SCATTER_BUGS = {
    "output-padding-ignored": [("s, p, op = stride, padding, output_padding",
                                "s, p, op = stride, padding, 0")],
    "padding-not-cropped": [("out = full[:, :, p:full_h - p, p:full_w - p]", "out = full")],
    "weight-axes-swapped": [('"nc,cokl->nokl"', '"nc,ockl->nokl"')],
    "kernel-flipped": [("x[:, :, i, j], w)", "x[:, :, i, j], w.flip(-1, -2))")],
    "bias-missing": [("out = out + b.view(1, -1, 1, 1)", "out = out")],
}


@pytest.mark.parametrize("mistake", SCATTER_BUGS)
def test_scatter_mistakes_are_named(mistake):
    message = fails_with("ch03.conv_transpose2d_scatter",
                         plant("conv_transpose2d_scatter", *SCATTER_BUGS[mistake]),
                         f"mistake:{mistake}")
    named = [d.message for d in get("ch03.conv_transpose2d_scatter").diagnoses
             if d.name == mistake]
    assert any(message.endswith(m) for m in named), message


def test_output_padding_ignored_is_named_in_plain_words():
    message = fails_with("ch03.conv_transpose2d_scatter",
                         plant("conv_transpose2d_scatter",
                               *SCATTER_BUGS["output-padding-ignored"]),
                         "mistake:output-padding-ignored")
    assert message.split(": ", 1)[1].startswith("output_padding was ignored")


FORBIDDEN_SCATTERS = {
    "torch.nn.functional.conv_transpose2d":
        lambda x, w, b=None, stride=1, padding=0, output_padding=0:
        torch.nn.functional.conv_transpose2d(x, w, b, stride, padding, output_padding),
    "torch.nn.ConvTranspose2d.forward":
        lambda x, w, b=None, stride=1, padding=0, output_padding=0:
        torch.nn.ConvTranspose2d(w.shape[0], w.shape[1], w.shape[2:], stride, padding,
                                 output_padding)(x),
    "torch.nn.grad.conv2d_input":
        lambda x, w, b=None, stride=1, padding=0, output_padding=0:
        torch.nn.grad.conv2d_input((1, 1, 9, 9), w, x, stride, padding),
    "torch.nn.functional.fold":
        lambda x, w, b=None, stride=1, padding=0, output_padding=0:
        torch.nn.functional.fold(x.flatten(2), (4, 4), 1),
}


@pytest.mark.parametrize("api", FORBIDDEN_SCATTERS)
def test_forbidden_apis_are_caught_even_when_the_error_is_swallowed(api):
    func = FORBIDDEN_SCATTERS[api]

    def sneaky(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except Exception:
            return torch.zeros(1)

    assert api in fails_with("ch03.conv_transpose2d_scatter", sneaky, "forbidden-api")


def test_convlab_transposed_convolution_is_forbidden_too():
    import convlab.functional
    import convlab.linalg

    def library(x, w, b=None, stride=1, padding=0, output_padding=0):
        return convlab.functional.conv_transpose2d(x, w, b, stride, padding, output_padding)

    def as_conv(x, w, b=None, stride=1, padding=0, output_padding=0):
        return convlab.linalg.conv_transpose2d_as_conv(x, w, b, stride, padding, output_padding)

    for func in (library, as_conv):
        fails_with("ch03.conv_transpose2d_scatter", func, "forbidden-api")


def test_the_grader_scan_finds_an_imported_convlab_transposed_convolution():
    """A function imported before the guard escapes it in the student's kernel; the grader's
    static scan names it whatever alias it was given."""
    from autograder import scan
    from autograder.notebook import ProgramCell

    cell = ProgramCell("your cell", "from convlab.functional import conv_transpose2d as up\n"
                                    "def conv_transpose2d_scatter(x, w, b=None, stride=1):\n"
                                    "    return up(x, w, b, stride)\n", True)
    findings = scan.scan([cell], get("ch03.conv_transpose2d_scatter").forbidden)
    assert [f.api for f in findings][:1] == ["convlab.functional.conv_transpose2d"]


# -- 2. the convolution matrix ---------------------------------------------------------------
MATRIX_BUGS = {
    "returned-transpose": [("    return C\n", "    return C.T\n")],
    "kernel-flipped": [("= w[u, v]", "= w[kH - 1 - u, kW - 1 - v]")],
    "padding-ignored": [at_start("padding = 0")],
    "column-major": [("C[i * W_out + j, r * W + q]", "C[j * H_out + i, q * H + r]")],
}


@pytest.mark.parametrize("mistake", MATRIX_BUGS)
def test_matrix_mistakes_are_named(mistake):
    fails_with("ch03.conv_matrix", plant("conv_matrix", *MATRIX_BUGS[mistake]),
               f"mistake:{mistake}")


def test_building_c_from_basis_vectors_with_a_library_convolution_is_forbidden():
    def by_columns(input_hw, w, stride=1, padding=0):
        H, W = input_hw
        eye = torch.eye(H * W, dtype=w.dtype).reshape(H * W, 1, H, W)
        cols = torch.nn.functional.conv2d(eye, w[None, None], stride=stride, padding=padding)
        return cols.reshape(H * W, -1).T

    fails_with("ch03.conv_matrix", by_columns, "forbidden-api")


def test_the_solution_matrix_is_the_transposed_convolution_read_backwards():
    """Cᵀ y of the student's C equals convlab's transposed convolution of y."""
    from convlab.functional import conv_transpose2d
    from convlab.linalg import matching_output_padding

    conv_matrix = build("conv_matrix")
    w = torch.randn(3, 3, dtype=torch.float64)
    for hw, s, p in (((4, 4), 1, 0), ((6, 5), 2, 1)):
        C = conv_matrix(hw, w, s, p)
        y = torch.randn(C.shape[0], dtype=torch.float64)
        ho = (hw[0] + 2 * p - 3) // s + 1
        op = matching_output_padding(hw, 3, s, p)
        t = conv_transpose2d(y.reshape(1, 1, ho, -1), w[None, None], stride=s, padding=p,
                             output_padding=op)
        torch.testing.assert_close((C.T @ y).reshape(hw), t[0, 0])


# -- 3. overlap counts -------------------------------------------------------------------------
def test_overlap_mistakes_are_named_and_counts_must_be_integers():
    fails_with("ch03.overlap_count", plant("overlap_count", at_start("stride = 1")),
               "mistake:stride-ignored")
    as_float = plant("overlap_count", ("dtype=torch.int64", "dtype=torch.float32"))
    verdict = run_exercise(get("ch03.overlap_count"), as_float, PUBLIC_SEED)
    assert not verdict.passed and "expected an integer" in verdict.message


# -- 4. zero insertion -------------------------------------------------------------------------
ZERO_INSERT_BUGS = {
    "kernel-not-flipped": [("torch.flip(w, (2, 3)).transpose(0, 1)", "w.transpose(0, 1)")],
    "channel-axes-not-swapped": [("torch.flip(w, (2, 3)).transpose(0, 1)",
                                  "torch.flip(w, (2, 3))")],
    "s-zeros-inserted": [at_start("stride = stride + 1")],
    "padding-not-reduced": [("eh, ew = kH - 1 - p, kW - 1 - p", "eh, ew = kH - 1, kW - 1")],
}


@pytest.mark.parametrize("mistake", ZERO_INSERT_BUGS)
def test_zero_insertion_mistakes_are_named(mistake):
    message = fails_with("ch03.zero_insert_conv",
                         plant("zero_insert_conv", *ZERO_INSERT_BUGS[mistake]),
                         f"mistake:{mistake}")
    if mistake == "kernel-not-flipped":
        assert "kernel was not flipped in the zero-insertion construction" in message


def test_zero_insertion_may_use_conv2d_but_not_a_transposed_convolution():
    assert "torch.nn.functional.conv2d" not in get("ch03.zero_insert_conv").forbidden

    def library(x, w, stride=1, padding=0):
        return torch.conv_transpose2d(x, w, None, stride, padding)

    assert "torch.conv_transpose2d" in fails_with("ch03.zero_insert_conv", library,
                                                  "forbidden-api")


# -- 5. the training check ---------------------------------------------------------------------
SHORT = dataclasses.replace(TRAIN_DECODER, steps_cpu=40, mse_bar_cpu=0.06)


def test_a_fabricated_training_run_is_caught():
    """A plausible loss curve with untrained weights: the curve alone would pass; the weights,
    evaluated in the grader's process with the reference operator, do not."""
    from convlab.models.small import DigitsAutoencoder

    (case,) = SHORT.cases(PUBLIC_SEED)
    seed = case.kwargs["seed"]
    reference, weights = SHORT._train(None, seed, SHORT.steps_cpu, torch.device("cpu"))
    untrained = DigitsAutoencoder(seed=seed + 1).state_arrays()
    verdict = SHORT.judge([case], [(reference, *untrained.values())])
    assert not verdict.passed and "training-error" in verdict.flags
    assert "above the bar" in verdict.message
    assert SHORT.judge([case], [(reference, *weights.values())]).passed
    flat = np.linspace(0.2, 0.01, SHORT.steps_cpu).astype(np.float32)
    verdict = SHORT.judge([case], [(flat, *weights.values())])
    assert not verdict.passed and "diverges from the reference after step" in verdict.message
    short = SHORT.judge([case], [(reference[:5], *weights.values())])
    assert not short.passed and "loss curve has shape" in short.message


def test_the_solution_trains_like_the_reference_and_a_wrong_one_does_not():
    solution = build("conv_transpose2d_scatter")
    verdict = run_exercise(SHORT, solution, PUBLIC_SEED)
    assert verdict.passed, verdict.message
    ignored = plant("conv_transpose2d_scatter", *SCATTER_BUGS["output-padding-ignored"])
    verdict = run_exercise(SHORT, ignored, PUBLIC_SEED)
    assert not verdict.passed and verdict.message.startswith("training failed")


def test_the_training_check_forbids_library_transposed_convolutions():
    assert "forbidden-api" in run_exercise(
        SHORT, FORBIDDEN_SCATTERS["torch.nn.functional.conv_transpose2d"], PUBLIC_SEED).flags
