"""The parameter-update kernels (`generic.update`): `momentum_update` and `add_scaled` against
the formulas of semantics §6.3 written out in plain NumPy, on every registered CPU backend."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mocha.plugins.backends.generic import update
from mocha.plugins.backends.numpy_backend import NumpyBackend


class _NoWorkspace:
    """A backend without workspaces (the generic kernels then allocate their temporaries)."""

    xp = np


@given(
    shape=st.sampled_from([(7,), (3, 5), (2, 3, 4)]),
    momentum=st.floats(0.0, 0.99),
    rate=st.floats(1e-5, 1.0),
    seed=st.integers(0, 2**16),
)
def test_momentum_update_is_the_sgd_step(shape, momentum, rate, seed):
    rng = np.random.default_rng(seed)
    h, g, w = (rng.standard_normal(shape) for _ in range(3))
    expected_h = momentum * h - rate * g
    expected_w = w + expected_h
    for backend in (NumpyBackend(dtype="float64"), _NoWorkspace()):
        hh, ww = h.copy(), w.copy()
        update.momentum_update(backend, hh, g, ww, momentum, rate)
        np.testing.assert_allclose(hh, expected_h, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(ww, expected_w, rtol=1e-12, atol=1e-14)


@given(alpha=st.floats(-3.0, 3.0), seed=st.integers(0, 2**16))
def test_add_scaled_adds_alpha_x(alpha, seed):
    rng = np.random.default_rng(seed)
    y, x = rng.standard_normal((2, 4, 6))
    for backend in (NumpyBackend(dtype="float64"), _NoWorkspace()):
        yy = y.copy()
        update.add_scaled(backend, yy, x, alpha)
        np.testing.assert_allclose(yy, y + alpha * x, rtol=1e-12, atol=1e-14)


def test_float32_arithmetic_stays_in_float32():
    """Scalars are rounded to the arrays' dtype: a float32 step equals the float32 statements
    h *= m; h -= rate·g; w += h exactly."""
    rng = np.random.default_rng(3)
    h, g, w = (rng.standard_normal(100).astype(np.float32) for _ in range(3))
    hh, ww = h.copy(), w.copy()
    update.momentum_update(NumpyBackend(), hh, g, ww, 0.9, 0.01)
    h *= np.float32(0.9)
    h -= g * np.float32(0.01)
    w += h
    assert hh.dtype == np.float32
    np.testing.assert_array_equal(hh, h)
    np.testing.assert_array_equal(ww, w)


@pytest.mark.parametrize("name", ["momentum_update", "add_scaled"])
def test_the_kernels_are_in_the_table(name):
    from mocha.core.kernel_names import KERNEL_NAMES

    assert name in KERNEL_NAMES
    assert NumpyBackend().kernels.resolve(name) is not None
