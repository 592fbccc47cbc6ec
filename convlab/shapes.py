"""A small semantic-segmentation task made on the fly: shapes to be labelled pixel by pixel.

Images come from :func:`skimage.draw.random_shapes`, which draws circles, rectangles, triangles
and ellipses and returns each shape's name and bounding box. Each shape is drawn by its own call
(one shape, a random grey level), so that its pixels are known exactly; shapes that would
overlap are skipped. The label of a pixel is its shape's class (:data:`CLASSES`), 0 for the
background. The grey level is random, so a pixel's value says *that* a shape is there, never
*which* one: a network has to see enough of the shape — a large enough receptive field — to
label it, which makes the task a test of context.

Example:
    >>> X, y = shapes_dataset(4, size=32, seed=0)
    >>> tuple(X.shape), tuple(y.shape), int(y.max()) < len(CLASSES)
    ((4, 1, 32, 32), (4, 32, 32), True)
"""

from __future__ import annotations

import numpy as np
import torch

from .data import _check_int

#: Label of each class; 0 is the background.
CLASSES = ("background", "circle", "rectangle", "triangle", "ellipse")
_INDEX = {name: i for i, name in enumerate(CLASSES)}


def shapes_dataset(
    n: int,
    size: int = 32,
    seed: int = 0,
    max_shapes: int = 3,
    min_size: int = 6,
    max_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` images of random shapes and their per-pixel class labels.

    Args:
        n: number of images.
        size: side of the square images.
        seed: seed of the generator (same seed, same images).
        max_shapes: at most this many shapes per image (at least one).
        min_size, max_size: range of the shapes' sizes in pixels (``max_size`` default
            ``size // 2``).

    Returns:
        ``(X, y)``: ``X`` float32 in ``[0, 1]`` with background 0 and each shape a random grey
        level in ``[0.3, 1]``; ``y`` int64 labels in ``0 .. len(CLASSES) − 1``.

    Shape:
        - X: :math:`(n, 1, \\text{size}, \\text{size})`
        - y: :math:`(n, \\text{size}, \\text{size})`
    """
    from skimage.draw import random_shapes

    n = _check_int("n", n, 1)
    size = _check_int("size", size, 8)
    seed = _check_int("seed", seed, 0)
    max_shapes = _check_int("max_shapes", max_shapes, 1)
    min_size = _check_int("min_size", min_size, 2)
    max_size = size // 2 if max_size is None else _check_int("max_size", max_size, min_size)
    rng = np.random.default_rng(seed)
    X = np.zeros((n, size, size), dtype=np.float32)
    y = np.zeros((n, size, size), dtype=np.int64)
    for i in range(n):
        wanted = int(rng.integers(1, max_shapes + 1))
        placed, tries = 0, 0
        while placed < wanted and tries < 20 * wanted:
            tries += 1
            image, labels = random_shapes(
                (size, size), max_shapes=1, min_shapes=1, min_size=min_size, max_size=max_size,
                channel_axis=None, intensity_range=(0, 180), rng=rng,
            )
            if not labels:
                continue
            mask = image != 255  # the shape's pixels (the background is 255)
            if (y[i][mask] != 0).any() or not mask.any():
                continue  # would overlap a shape already placed
            X[i][mask] = rng.uniform(0.3, 1.0)
            y[i][mask] = _INDEX[labels[0][0]]
            placed += 1
    return torch.from_numpy(X).unsqueeze(1), torch.from_numpy(y)


def confusion(pred: torch.Tensor, truth: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Pixel counts ``C[t, p]``: pixels of true class ``t`` predicted as ``p``.

    Shape: pred, truth ``(N, H, W)`` ints -> ``(num_classes, num_classes)`` int64.
    """
    if pred.shape != truth.shape:
        raise ValueError(f"pred and truth must have the same shape, got {tuple(pred.shape)} "
                         f"and {tuple(truth.shape)}")
    index = truth.reshape(-1).long() * num_classes + pred.reshape(-1).long()
    return torch.bincount(index, minlength=num_classes**2).reshape(num_classes, num_classes)


def iou_per_class(pred: torch.Tensor, truth: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Intersection over union of each class over all pixels (``nan`` where a class is absent
    from both).

    :math:`\\text{IoU}_c = \\frac{|P_c \\cap T_c|}{|P_c \\cup T_c|}`, with :math:`P_c` the
    pixels predicted as ``c`` and :math:`T_c` those labelled ``c``.
    """
    c = confusion(pred, truth, num_classes).double()
    inter = c.diag()
    union = c.sum(0) + c.sum(1) - inter
    return torch.where(union > 0, inter / union.clamp(min=1), torch.full_like(inter, float("nan")))


def mean_iou(pred: torch.Tensor, truth: torch.Tensor, num_classes: int) -> float:
    """Mean of :func:`iou_per_class` over the classes present (the usual mIoU)."""
    iou = iou_per_class(pred, truth, num_classes)
    return float(iou[~iou.isnan()].mean())
