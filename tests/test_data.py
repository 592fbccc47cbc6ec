"""Is the digits split fixed, stratified and scaled; do the loaders repeat; do bad args fail?"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from convlab.data import (
    SAMPLE_IMAGES,
    TranslatedDigits,
    digits_loaders,
    digits_tensors,
    sample_image,
)


def test_split_sizes_shapes_and_ranges() -> None:
    X_tr, y_tr = digits_tensors("train")
    X_te, y_te = digits_tensors("test")
    assert X_tr.shape == (1437, 1, 8, 8) and y_tr.shape == (1437,)
    assert X_te.shape == (360, 1, 8, 8) and y_te.shape == (360,)
    assert X_tr.dtype == torch.float32 and y_tr.dtype == torch.int64
    assert X_tr.min() == 0.0 and X_tr.max() == 1.0
    assert set(y_tr.tolist()) == set(range(10)) == set(y_te.tolist())


def test_split_is_stratified_disjoint_and_complete() -> None:
    from sklearn.datasets import load_digits

    X_all, y_all = digits_tensors("all")
    assert X_all.shape[0] == 1797
    # every original image appears exactly once across the two splits
    original = torch.from_numpy(load_digits().images.astype(np.float32) / 16).flatten(1)
    key = lambda t: sorted(map(tuple, t.flatten(1).numpy().round(4).tolist()))  # noqa: E731
    assert key(X_all) == key(original)
    train_frac = np.bincount(digits_tensors("train")[1].numpy(), minlength=10) / 1437
    all_frac = np.bincount(y_all.numpy(), minlength=10) / 1797
    assert np.abs(train_frac - all_frac).max() < 0.005


def test_split_is_fixed_across_calls() -> None:
    a, b = digits_tensors("test"), digits_tensors("test")
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_upsample(mode: str) -> None:
    X, _ = digits_tensors("test", upsample=2, mode=mode)
    assert X.shape == (360, 1, 16, 16)
    assert 0.0 <= X.min() and X.max() <= 1.0
    if mode == "nearest":
        X8, _ = digits_tensors("test")
        assert torch.equal(X[:, :, ::2, ::2], X8)  # each pixel became a 2×2 block


def test_loaders_repeat_batches_for_a_seed() -> None:
    def first_batches(seed: int) -> list[torch.Tensor]:
        train, _ = digits_loaders(batch_size=32, translate=1, seed=seed)
        return [X for X, _ in itertools.islice(train, 3)]

    a, b, c = first_batches(0), first_batches(0), first_batches(1)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a[0], c[0])


def test_loader_sizes_and_targets() -> None:
    train, test = digits_loaders(batch_size=100, upsample=2, targets="image")
    X, Y = next(iter(train))
    assert X.shape == (100, 1, 16, 16) and torch.equal(X, Y)
    assert sum(len(y) for _, y in test) == 360
    assert len(train) == 15  # ceil(1437 / 100)


def test_translation_shifts_the_image() -> None:
    X = torch.zeros(1, 1, 8, 8)
    X[0, 0, 3, 4] = 1.0
    ds = TranslatedDigits(X, torch.zeros(1, dtype=torch.int64), translate=2, seed=0)
    positions = set()
    for _ in range(50):
        image, _ = ds[0]
        assert image.shape == (1, 8, 8) and image.sum() == 1.0
        r, c = divmod(int(image.flatten().argmax()), 8)
        assert abs(r - 3) <= 2 and abs(c - 4) <= 2
        positions.add((r, c))
    assert len(positions) > 5


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"batch_size": 1.5}, TypeError, "batch_size"),
        ({"upsample": 0}, ValueError, "upsample"),
        ({"translate": -1}, ValueError, "translate"),
        ({"mode": "cubic"}, ValueError, "mode"),
        ({"targets": "labels"}, ValueError, "targets"),
    ],
)
def test_bad_loader_args(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        digits_loaders(**kwargs)


def test_bad_split() -> None:
    with pytest.raises(ValueError, match="split"):
        digits_tensors("validation")


@pytest.mark.parametrize("name", SAMPLE_IMAGES)
def test_sample_images_are_grey_floats(name: str) -> None:
    image = sample_image(name)
    assert image.ndim == 2 and image.dtype == np.float64
    assert 0.0 <= image.min() < image.max() <= 1.0


def test_sample_image_bad_name() -> None:
    with pytest.raises(ValueError, match="name"):
        sample_image("lena")
