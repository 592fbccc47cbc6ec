"""Does ``fit`` repeat its loss curve, learn the digits, and reject bad arguments?"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from convlab.data import digits_loaders
from convlab.models.small import DigitsAutoencoder, DigitsCNN
from convlab.train import History, deterministic, evaluate, fit, pick_device, seed_everything


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # tiny networks: one thread avoids contention on a shared machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _run(conv, steps: int, seed: int = 0, eval_every: int | None = None) -> History:  # noqa: ANN001
    train, test = digits_loaders(batch_size=64, seed=seed)
    return fit(DigitsCNN(conv=conv, seed=seed), train, test, steps=steps, lr=0.05,
               eval_every=eval_every, device="cpu", seed=seed, progress=False)


def test_fit_is_reproducible() -> None:
    a, b = _run(F.conv2d, 30, eval_every=15), _run(F.conv2d, 30, eval_every=15)
    assert a.train_loss == b.train_loss and len(a.train_loss) == 30
    assert a.eval_steps == [15, 30] and a.eval_accuracy == b.eval_accuracy
    c = _run(F.conv2d, 30, seed=1, eval_every=15)
    assert c.train_loss != a.train_loss


def test_reference_conv_tracks_torch_conv() -> None:
    from convlab.functional import conv2d

    torch_run, ours = _run(F.conv2d, 60, eval_every=60), _run(conv2d, 60, eval_every=60)
    np.testing.assert_allclose(ours.train_loss, torch_run.train_loss, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_digits_cnn_learns() -> None:
    history = _run(F.conv2d, 300)
    assert history.test_accuracy >= 0.93
    assert np.mean(history.train_loss[-20:]) < 0.25 * np.mean(history.train_loss[:5])


def test_history_as_dict_is_plain() -> None:
    d = _run(F.conv2d, 5).as_dict()
    assert d["steps"] == 5 and len(d["train_loss"]) == 5 and d["eval_steps"][-1] == 5
    assert all(isinstance(v, float) for v in d["train_loss"])
    assert 0.0 <= d["test_accuracy"] <= 1.0 and d["device"] == "cpu"


def test_epochs_count_batches() -> None:
    train, _ = digits_loaders(batch_size=500)
    h = fit(DigitsCNN(conv=F.conv2d), train, epochs=2, device="cpu", progress=False)
    assert h.steps == 6 and math.isnan(h.test_accuracy)  # 3 batches per epoch


def test_steps_beyond_an_epoch_restart_the_loader() -> None:
    train, _ = digits_loaders(batch_size=1000)
    h = fit(DigitsCNN(conv=F.conv2d), train, steps=5, device="cpu", progress=False)
    assert h.steps == 5


def test_evaluate_restores_mode_and_handles_image_targets() -> None:
    net = DigitsAutoencoder(conv_transpose=F.conv_transpose2d, conv=F.conv2d)
    _, test = digits_loaders(targets="image")
    net.train()
    loss, acc = evaluate(net, test, loss_fn=F.mse_loss)
    assert net.training and loss > 0 and math.isnan(acc)


def test_autoencoder_trains() -> None:
    train, test = digits_loaders(batch_size=64, seed=0, targets="image")
    net = DigitsAutoencoder(conv_transpose=F.conv_transpose2d, conv=F.conv2d, seed=0)
    h = fit(net, train, test, steps=60, lr=0.01, optimizer="adam", loss_fn=F.mse_loss,
            device="cpu", progress=False)
    assert h.eval_loss[-1] < 0.5 * h.eval_loss[0]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one of steps or epochs"),
        ({"steps": 3, "epochs": 1}, "exactly one of steps or epochs"),
        ({"steps": 0}, "steps"),
        ({"epochs": -1}, "epochs"),
        ({"steps": 3, "optimizer": "rmsprop"}, "optimizer"),
        ({"steps": 3, "lr": 0.0}, "lr"),
        ({"steps": 3, "eval_every": 0}, "eval_every"),
    ],
)
def test_fit_bad_args(kwargs: dict, match: str) -> None:
    train, _ = digits_loaders()
    with pytest.raises(ValueError, match=match):
        fit(DigitsCNN(conv=F.conv2d), train, progress=False, **kwargs)


def test_pick_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONVLAB_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert pick_device().type == expected
    assert pick_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("CONVLAB_DEVICE", "cpu")
    assert pick_device() == torch.device("cpu")
    with pytest.raises(ValueError, match="device"):
        pick_device("tpu-ish")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            pick_device("cuda")


def test_seed_everything_and_deterministic() -> None:
    seed_everything(3)
    a = torch.rand(3)
    seed_everything(3)
    assert torch.equal(a, torch.rand(3))
    with pytest.raises(ValueError, match="seed"):
        seed_everything(-1)
    try:
        deterministic(True)
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    finally:
        deterministic(False)
    assert not torch.are_deterministic_algorithms_enabled()


@pytest.mark.gpu
def test_fit_on_gpu_matches_cpu() -> None:
    try:
        deterministic(True)
        train, test = digits_loaders(batch_size=64, seed=0)
        gpu = fit(DigitsCNN(conv=F.conv2d, seed=0), train, test, steps=50, device="cuda",
                  progress=False)
    finally:
        deterministic(False)
    cpu = _run(F.conv2d, 50)
    np.testing.assert_allclose(gpu.train_loss, cpu.train_loss, rtol=1e-3, atol=1e-4)
