"""Small conversions the references share: plain arrays in, float64 tensors for the
computation, plain arrays of the input's dtype out."""

from __future__ import annotations

import numpy as np
import torch


def f64(a: np.ndarray | None) -> torch.Tensor | None:
    """A float64 tensor holding ``a`` (``None`` stays ``None``)."""
    return None if a is None else torch.from_numpy(np.array(a, dtype=np.float64))


def like(t: torch.Tensor, a: np.ndarray) -> np.ndarray:
    """``t`` as a plain array of ``a``'s dtype."""
    return t.detach().cpu().numpy().astype(a.dtype)


def flip(w: np.ndarray) -> np.ndarray:
    """``w`` flipped in its last two (spatial) axes."""
    return np.ascontiguousarray(w[..., ::-1, ::-1])
