"""Does chapter 1's kernel analysis split a kernel's energy as its docstring says?"""

from __future__ import annotations

import numpy as np
import pytest

from convlab.viz.training import kernel_energy_shares


def test_hand_made_kernels_land_in_their_part():
    sobel = np.array([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    prewitt = np.array([[-1.0, 0, 1], [-1, 0, 1], [-1, 0, 1]])
    laplacian = np.array([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]])
    box = np.ones((3, 3))
    shares = kernel_energy_shares(np.stack([prewitt, prewitt.T, box, laplacian, sobel])[:, None])
    np.testing.assert_allclose(shares["slope"][:2], 1.0)  # a pure ramp detector
    np.testing.assert_allclose(shares["level"][2], 1.0)  # a pure level
    assert shares["level"][3] == pytest.approx(0) and shares["slope"][3] == pytest.approx(0)
    assert 0.5 < shares["slope"][4] < 1  # Sobel: mostly slope, some curvature
    for part in shares.values():
        assert part.shape == (5,)
    np.testing.assert_allclose(sum(shares.values()), 1.0)


def test_random_kernels_have_the_stated_expected_shares():
    rng = np.random.default_rng(0)
    for k in (3, 5):
        shares = kernel_energy_shares(rng.standard_normal((20000, 1, k, k)))
        assert shares["level"].mean() == pytest.approx(1 / k**2, abs=0.01)
        assert shares["slope"].mean() == pytest.approx(2 / k**2, abs=0.01)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="weight must be"):
        kernel_energy_shares(np.zeros((3, 3)))
