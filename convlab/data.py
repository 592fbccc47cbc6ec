"""Embedded data: scikit-learn's handwritten digits and a few bundled photos.

Nothing here touches the network. The digits (1,797 grey 8×8 images of 0–9, values 0..16) come
with scikit-learn; the photos come with scikit-image and scikit-learn.

* :func:`digits_tensors` — one split as tensors ``X`` of shape ``(N, 1, H, W)`` (float32 in
  ``[0, 1]``) and labels ``y`` of shape ``(N,)`` (int64).
* :func:`digits_loaders` — the train and test splits as :class:`~torch.utils.data.DataLoader`,
  with a seeded shuffling order and optional random translation of the training images.
* :func:`sample_image` — a bundled photo as a grey float array in ``[0, 1]``.

The split is fixed: a stratified 1,437/360 split drawn once with :data:`SPLIT_SEED`, so every
reader, student and grader sees the same training and test images.

Example:
    >>> X, y = digits_tensors("train")
    >>> tuple(X.shape), tuple(y.shape)
    ((1437, 1, 8, 8), (1437,))
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

#: Seed of the fixed stratified split; changing it changes every experiment in the book.
SPLIT_SEED = 0
#: Images in the test split (20 % of 1,797, rounded up by scikit-learn's splitter).
TEST_SIZE = 360
#: The largest pixel value in scikit-learn's digits; images are divided by it.
DIGITS_MAX = 16.0
#: Upsampling modes accepted by :func:`digits_tensors`.
UPSAMPLE_MODES = ("bilinear", "nearest")
#: What :func:`digits_loaders` yields as targets.
TARGETS = ("label", "image")

_SPLITS = ("train", "test", "all")


@lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(X_train, y_train, X_test, y_test)`` as numpy arrays, images ``(N, 8, 8)`` in [0, 1]."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / DIGITS_MAX).astype(np.float32)  # (1797, 8, 8)
    labels = digits.target.astype(np.int64)  # (1797,)
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, labels, test_size=TEST_SIZE, random_state=SPLIT_SEED, stratify=labels
    )
    return x_tr, y_tr, x_te, y_te


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def digits_tensors(
    split: str = "train", upsample: int = 1, mode: str = "bilinear"
) -> tuple[torch.Tensor, torch.Tensor]:
    """One split of the digits as tensors.

    Args:
        split: ``"train"`` (1,437 images), ``"test"`` (360) or ``"all"`` (1,797, train first).
        upsample: integer scale factor; ``upsample=2`` gives 16×16 images, ``upsample=4`` 32×32.
        mode: ``"bilinear"`` (``align_corners=False``, smooth strokes) or ``"nearest"``
            (each pixel becomes an ``upsample × upsample`` block).

    Returns:
        ``(X, y)``: ``X`` float32 in ``[0, 1]``, ``y`` int64 labels in ``0..9``.

    Shape:
        - X: :math:`(N, 1, 8s, 8s)` with :math:`s` = ``upsample``
        - y: :math:`(N,)`
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")
    upsample = _check_int("upsample", upsample, 1)
    if mode not in UPSAMPLE_MODES:
        raise ValueError(f"mode must be one of {UPSAMPLE_MODES}, got {mode!r}")
    x_tr, y_tr, x_te, y_te = _digits_arrays()
    if split == "train":
        images, labels = x_tr, y_tr
    elif split == "test":
        images, labels = x_te, y_te
    else:
        images, labels = np.concatenate([x_tr, x_te]), np.concatenate([y_tr, y_te])
    X = torch.from_numpy(images.copy()).unsqueeze(1)  # (N, 8, 8) -> (N, 1, 8, 8)
    if upsample > 1:
        kwargs = {"align_corners": False} if mode == "bilinear" else {}
        X = F.interpolate(X, scale_factor=upsample, mode=mode, **kwargs)  # -> (N, 1, 8s, 8s)
        X = X.clamp_(0.0, 1.0)
    return X.contiguous(), torch.from_numpy(labels.copy())


class TranslatedDigits(Dataset):
    """Images shifted by a random whole number of pixels in each direction (zero fill).

    Each access pads the image by ``translate`` pixels on every side and crops a window of the
    original size at a random offset in ``0..2*translate``; the offsets come from a
    :class:`torch.Generator` seeded with ``seed`` so that two runs draw the same shifts. With
    ``y=None`` the target is the shifted image itself (for autoencoders).

    Shape:
        - item: ``(image (1, H, W), label ())``
    """

    def __init__(
        self, X: torch.Tensor, y: torch.Tensor | None, translate: int, seed: int = 0
    ) -> None:
        if X.ndim != 4 or (y is not None and X.shape[0] != y.shape[0]):
            raise ValueError(f"X must be (N, C, H, W) with N == len(y), got {tuple(X.shape)}")
        self.X, self.y = X, y
        self.translate = _check_int("translate", translate, 0)
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return self.X.shape[0]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, t = self.X[i], self.translate
        if t > 0:
            h, w = image.shape[-2:]
            padded = F.pad(image, (t, t, t, t))  # (C, H, W) -> (C, H + 2t, W + 2t)
            dy, dx = torch.randint(0, 2 * t + 1, (2,), generator=self.generator).tolist()
            image = padded[:, dy : dy + h, dx : dx + w]  # -> (C, H, W)
        return image, (image if self.y is None else self.y[i])


def digits_loaders(
    batch_size: int = 64,
    upsample: int = 1,
    translate: int = 0,
    seed: int = 0,
    mode: str = "bilinear",
    test_batch_size: int = 512,
    targets: str = "label",
) -> tuple[DataLoader, DataLoader]:
    """Train and test :class:`~torch.utils.data.DataLoader` over the fixed digits split.

    The training loader shuffles with a :class:`torch.Generator` seeded by ``seed`` (and draws
    the translations from a second generator seeded by ``seed + 1``), runs in the main process
    (``num_workers=0``), and so yields the same batches in the same order for the same
    arguments. As with any PyTorch loader, the generators advance from one pass to the next,
    so a run that must repeat another builds its own loaders. The test loader neither
    shuffles nor translates.

    Args:
        batch_size: training batch size (the last batch of an epoch may be smaller).
        upsample: integer scale factor of the images (see :func:`digits_tensors`).
        translate: largest random shift in pixels of a training image (0: none).
        seed: fixes the shuffling order and the shifts.
        mode: upsampling mode, ``"bilinear"`` or ``"nearest"``.
        test_batch_size: batch size of the test loader.
        targets: ``"label"`` yields ``(X, y)`` with class labels ``y (B,)``; ``"image"`` yields
            ``(X, X)`` (for autoencoders: the target is the input image itself).

    Returns:
        ``(train_loader, test_loader)`` yielding ``(X (B, 1, 8s, 8s), y (B,))``.
    """
    if targets not in TARGETS:
        raise ValueError(f"targets must be one of {TARGETS}, got {targets!r}")
    batch_size = _check_int("batch_size", batch_size, 1)
    test_batch_size = _check_int("test_batch_size", test_batch_size, 1)
    translate = _check_int("translate", translate, 0)
    seed = _check_int("seed", seed, 0)
    X_tr, y_tr = digits_tensors("train", upsample=upsample, mode=mode)
    X_te, y_te = digits_tensors("test", upsample=upsample, mode=mode)
    image_targets = targets == "image"
    if image_targets:
        y_tr, y_te = X_tr, X_te
    train_set: Dataset
    if translate:
        train_set = TranslatedDigits(X_tr, None if image_targets else y_tr, translate, seed + 1)
    else:
        train_set = torch.utils.data.TensorDataset(X_tr, y_tr)
    train = DataLoader(
        train_set,
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
        num_workers=0,
    )
    test = DataLoader(
        torch.utils.data.TensorDataset(X_te, y_te), batch_size=test_batch_size, shuffle=False
    )
    return train, test


def _camera() -> np.ndarray:
    from skimage import data

    return data.camera()


def _astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def _coins() -> np.ndarray:
    from skimage import data

    return data.coins()


def _china() -> np.ndarray:
    from sklearn.datasets import load_sample_image

    return load_sample_image("china.jpg")


def _flower() -> np.ndarray:
    from sklearn.datasets import load_sample_image

    return load_sample_image("flower.jpg")


_IMAGES = {
    "camera": _camera,  # scikit-image, 512×512 grey
    "astronaut": _astronaut,  # scikit-image, 512×512 RGB
    "coins": _coins,  # scikit-image, 303×384 grey
    "china": _china,  # scikit-learn, 427×640 RGB
    "flower": _flower,  # scikit-learn, 427×640 RGB
}
#: Names accepted by :func:`sample_image`.
SAMPLE_IMAGES = tuple(_IMAGES)


def sample_image(name: str = "camera") -> np.ndarray:
    """A bundled photo as a grey float64 array in ``[0, 1]``.

    Colour photos are converted with ITU-R BT.601 luma weights,
    :math:`Y = 0.299 R + 0.587 G + 0.114 B`.

    Args:
        name: one of :data:`SAMPLE_IMAGES` (``camera``, ``astronaut``, ``coins`` from
            scikit-image; ``china``, ``flower`` from scikit-learn).

    Shape:
        - Output: :math:`(H, W)`
    """
    if name not in _IMAGES:
        raise ValueError(f"name must be one of {SAMPLE_IMAGES}, got {name!r}")
    image = _IMAGES[name]().astype(np.float64) / 255.0
    if image.ndim == 3:
        image = image[..., :3] @ np.array([0.299, 0.587, 0.114])  # (H, W, 3) -> (H, W)
    return image
