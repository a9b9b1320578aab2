"""The generic LRN kernels on their own: closed forms and the mode check."""

import numpy as np
import pytest

from mocha.plugins.backends.generic.lrn import lrn_backward, lrn_forward
from mocha.plugins.backends.numpy_backend import NumpyBackend

B = NumpyBackend(dtype="float64")


def test_single_channel_closed_form():
    x = np.array([[2.0]])  # 2-D across channels: one channel, window [0, 0] of k = 3
    y, denom = lrn_forward(B, x, 3, 1.5, 0.75, 1.0, "across_channel")
    np.testing.assert_allclose(denom, [[1.0 + 1.5 / 3 * 4.0]])
    np.testing.assert_allclose(y, [[2.0 / 3.0**0.75]])


def test_within_channel_window_is_square():
    x = np.zeros((1, 2, 3, 3))
    x[0, 0, 0, 0] = 1.0
    _, denom = lrn_forward(B, x, 3, 9.0, 1.0, 1.0, "within_channel")
    # the 3x3 windows holding (0, 0) are the four around the corner; channel 1 is untouched
    np.testing.assert_allclose(denom[0, 0], [[2, 2, 1], [2, 2, 1], [1, 1, 1]])
    np.testing.assert_allclose(denom[0, 1], np.ones((3, 3)))


def test_power_zero_is_the_identity_with_unit_gradient():
    x = np.random.default_rng(0).standard_normal((2, 4, 2, 2))
    y, denom = lrn_forward(B, x, 3, 1.0, 0.0, 1.0, "across_channel")
    np.testing.assert_allclose(y, x)
    g = np.ones_like(x)
    np.testing.assert_allclose(
        lrn_backward(B, x, y, denom, g, 3, 1.0, 0.0, 1.0, "across_channel"), g
    )


def test_unknown_mode():
    with pytest.raises(ValueError, match="unknown LRN mode 'sideways'"):
        lrn_forward(B, np.ones((1, 2)), 3, 1.0, 0.75, 1.0, "sideways")
