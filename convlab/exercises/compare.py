"""Crossing the boundary between student code and the grader, and comparing what crossed.

``to_student_value`` turns the grader's plain inputs into what the student's function expects;
``to_plain_outputs`` turns what it returned into plain ``numpy`` arrays, refusing tensor
subclasses and lookalikes; ``compare_outputs`` checks shape, dtype, finiteness, then values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


class StudentOutputError(TypeError):
    """The student's function returned something that is not a plain tensor, array or number."""


def to_student_value(value: Any) -> Any:
    """Float and integer arrays become fresh ``torch`` tensors; everything else passes as is."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.array(value, copy=True))
    if isinstance(value, tuple):
        return tuple(to_student_value(v) for v in value)
    return value


def _one_plain(value: Any) -> np.ndarray:
    kind = type(value)
    if kind is torch.Tensor:
        t = value.detach()
        if t.is_cuda:
            t = t.cpu()
        return np.array(t.resolve_conj().resolve_neg().numpy(), copy=True)
    if kind is np.ndarray:
        if value.dtype == object:
            raise StudentOutputError("returned an object array; return numbers")
        return np.array(value, copy=True)
    if kind in (int, float, bool, np.float32, np.float64, np.int64, np.int32, np.bool_):
        return np.asarray(value)
    if isinstance(value, torch.Tensor):
        raise StudentOutputError(
            f"returned a {kind.__name__}, a subclass of torch.Tensor; return a plain torch.Tensor"
        )
    raise StudentOutputError(
        f"returned a {kind.__module__}.{kind.__qualname__}; expected a torch.Tensor or a number"
    )


def to_plain_outputs(value: Any) -> tuple[np.ndarray, ...]:
    """A tensor, array, number, or a tuple/list of them → a tuple of plain arrays."""
    if type(value) in (tuple, list):
        return tuple(_one_plain(v) for v in value)
    return (_one_plain(value),)


def describe_dtype(dtype: np.dtype) -> str:
    return {"float32": "float32", "float64": "float64"}.get(dtype.name, dtype.name)


def compare_outputs(
    got: tuple[np.ndarray, ...],
    expected: tuple[np.ndarray, ...],
    *,
    rtol: float = 1e-4,
    atol: float = 1e-4,
) -> str | None:
    """``None`` when ``got`` matches ``expected``; otherwise a one-line reason.

    Rules, in order: the same number of outputs; each a plain ``np.ndarray``; exactly the
    expected shape (no broadcasting); a dtype of the same kind (float64 is accepted where
    float32 is expected, since it is only more precise; integers where integers are expected);
    all finite; then ``|got - expected| <= atol + rtol * |expected|`` everywhere.
    """
    if len(got) != len(expected):
        return f"returned {len(got)} value(s), expected {len(expected)}"
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        name = "the output" if len(expected) == 1 else f"output {i + 1}"
        if type(g) is not np.ndarray:
            return f"{name} is a {type(g).__name__}, not an array"
        if g.shape != e.shape:
            return f"{name} has shape {tuple(g.shape)}, expected {tuple(e.shape)}"
        if e.dtype.kind == "f":
            if g.dtype.kind != "f":
                return f"{name} has dtype {describe_dtype(g.dtype)}, expected a float dtype"
            if g.dtype.itemsize < e.dtype.itemsize:
                return f"{name} has dtype {describe_dtype(g.dtype)}, expected {e.dtype.name}"
        elif e.dtype.kind in "iu":
            if g.dtype.kind not in "iu":
                return f"{name} has dtype {describe_dtype(g.dtype)}, expected an integer"
        elif e.dtype.kind == "b" and g.dtype.kind != "b":
            return f"{name} has dtype {describe_dtype(g.dtype)}, expected bool"
        if g.dtype.kind == "f" and not np.isfinite(g).all():
            bad = int(np.size(g) - np.isfinite(g).sum())
            return f"{name} has {bad} non-finite value(s) (NaN or inf)"
        g64 = g.astype(np.float64)
        e64 = e.astype(np.float64)
        err = np.abs(g64 - e64)
        tol = atol + rtol * np.abs(e64)
        if not (err <= tol).all():
            worst = float(err.max()) if err.size else 0.0
            frac = float((err > tol).mean())
            return (
                f"{name} differs from the reference in {frac:.0%} of its entries "
                f"(largest difference {worst:.3g})"
            )
    return None
