"""Initializers (semantics §4.2): Constant, Xavier's bound, Gaussian statistics, Orthogonal on
the numpy shape (A7), reproducibility through the backend's seeded RNG."""

import numpy as np
import pytest

from mocha import LayerConfigError, NullInitializer
from mocha.plugins.components.initializers import (
    ConstantInitializer,
    GaussianInitializer,
    OrthogonalInitializer,
    XavierInitializer,
)
from mocha.testing import reference_backend


def draw(initializer, shape, seed=0, dtype="float64", backend=None):
    backend = backend or reference_backend(dtype, seed)
    blob = backend.zeros(shape)
    initializer.init(backend, blob)
    return blob.to_host()


def test_constant_fills_and_null_leaves_alone():
    np.testing.assert_array_equal(draw(ConstantInitializer(value=0.5), (2, 3)), 0.5)
    backend = reference_backend()
    blob = backend.from_host(np.arange(4.0))
    NullInitializer().init(backend, blob)
    np.testing.assert_array_equal(blob.to_host(), np.arange(4.0))


@pytest.mark.parametrize(
    "shape, fan_in", [((50, 40), 40), ((30, 3, 5, 5), 75), ((400,), 1), ((64, 2, 1, 3), 6)]
)
def test_xavier_is_uniform_within_sqrt_3_over_fan_in(shape, fan_in):
    w = draw(XavierInitializer(), shape)
    s = np.sqrt(3.0 / fan_in)
    assert np.all(w >= -s) and np.all(w < s)
    assert np.abs(w).max() > 0.9 * s  # the bound is reached, not a narrower one
    assert abs(w.mean()) < 0.1 * s
    assert w.var() == pytest.approx(1.0 / fan_in, rel=0.15)  # Var U(-s, s) = s²/3


def test_gaussian_mean_and_std():
    w = draw(GaussianInitializer(mean=0.3, std=2.0), (300, 300))
    assert w.mean() == pytest.approx(0.3, abs=0.02)
    assert w.std() == pytest.approx(2.0, rel=0.01)
    np.testing.assert_array_equal(draw(GaussianInitializer(mean=1.5, std=0.0), (3, 2)), 1.5)


def test_gaussian_refuses_a_negative_std():
    with pytest.raises(LayerConfigError, match=r"GaussianInitializer: field 'std' = -1"):
        GaussianInitializer(std=-1.0)


def _flat(w):
    return w.reshape(w.shape[0], -1)


@pytest.mark.parametrize("shape", [(3, 10), (5, 2, 3, 3)])
def test_orthogonal_rows_are_orthonormal_when_fewer_outputs_than_inputs(shape):
    q = _flat(draw(OrthogonalInitializer(), shape))
    np.testing.assert_allclose(q @ q.T, np.eye(q.shape[0]), atol=1e-12)


@pytest.mark.parametrize("shape", [(10, 3), (20, 1, 2, 2), (6, 6)])
def test_orthogonal_columns_are_orthonormal_when_more_outputs_than_inputs(shape):
    q = _flat(draw(OrthogonalInitializer(), shape))
    np.testing.assert_allclose(q.T @ q, np.eye(q.shape[1]), atol=1e-12)


def test_orthogonal_gain_scales_and_float32_is_kept():
    q = _flat(draw(OrthogonalInitializer(gain=3.0), (4, 2, 3)))
    np.testing.assert_allclose(q @ q.T, 9 * np.eye(4), atol=1e-10)
    w = draw(OrthogonalInitializer(), (4, 8), dtype="float32")
    assert w.dtype == np.float32
    np.testing.assert_allclose(w @ w.T, np.eye(4), atol=1e-5)


@pytest.mark.parametrize(
    "initializer", [XavierInitializer(), GaussianInitializer(), OrthogonalInitializer()]
)
def test_seeded_reproducibility_through_the_backend_rng(initializer):
    a = draw(initializer, (6, 5), seed=11)
    np.testing.assert_array_equal(a, draw(initializer, (6, 5), seed=11))
    assert not np.array_equal(a, draw(initializer, (6, 5), seed=12))
    backend = reference_backend(seed=11)
    first, second = (draw(initializer, (6, 5), backend=backend) for _ in range(2))
    np.testing.assert_array_equal(first, a)
    assert not np.array_equal(first, second)  # the RNG advances
    state = backend.rng_state()
    third = draw(initializer, (6, 5), backend=backend)
    backend.set_rng_state(state)
    np.testing.assert_array_equal(draw(initializer, (6, 5), backend=backend), third)


def test_initializers_run_on_each_backend(backend):
    w = draw(XavierInitializer(), (8, 12), backend=backend)
    assert w.dtype == backend.dtype and np.all(np.abs(w) <= np.sqrt(3 / 12))
    q = draw(OrthogonalInitializer(), (4, 12), backend=backend)
    np.testing.assert_allclose(q @ q.T, np.eye(4), atol=1e-5)
