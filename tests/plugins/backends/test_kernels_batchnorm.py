"""The batch normalization kernels: the Numba versions agree with the generic ones (float64
tight, float32 loose; 1 and 2 threads), and the generic ones agree with a NumPy oracle."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mocha.plugins.backends.generic.batchnorm import batchnorm_backward, batchnorm_forward
from mocha.plugins.backends.numpy_backend import NumpyBackend

TOL = {np.float64: {"rtol": 1e-9, "atol": 1e-11}, np.float32: {"rtol": 2e-4, "atol": 2e-4}}


def test_generic_forward_and_backward_match_the_closed_forms():
    rng = np.random.default_rng(0)
    x, gy = rng.standard_normal((2, 3, 10)) * 2 + 1, rng.standard_normal((2, 3, 10))
    gamma, beta = np.array([1.0, 2.0, -0.5]), np.array([0.0, 1.0, 3.0])
    mean, var = np.empty(3), np.empty(3)
    y = batchnorm_forward(NumpyBackend(dtype="float64"), x, mean, var, 1e-5, gamma, beta, True)
    np.testing.assert_allclose(mean, x.mean(axis=(0, 2)), rtol=1e-14)
    np.testing.assert_allclose(var, x.var(axis=(0, 2)), rtol=1e-14)
    xhat = (x - mean[:, None]) / np.sqrt(var[:, None] + 1e-5)
    np.testing.assert_allclose(y, xhat * gamma[:, None] + beta[:, None], rtol=1e-13)
    gx, ds, db = batchnorm_backward(
        NumpyBackend(dtype="float64"), x, gy, mean, var, 1e-5, gamma, True
    )
    np.testing.assert_allclose(db, gy.sum(axis=(0, 2)), rtol=1e-13)
    np.testing.assert_allclose(ds, (gy * xhat).sum(axis=(0, 2)), rtol=1e-13)
    # gx through the Jacobian: project out the mean and the x̂ direction per channel
    m = 20
    expect = (
        gamma[:, None]
        / np.sqrt(var[:, None] + 1e-5)
        * (gy - db[:, None] / m - xhat * ds[:, None] / m)
    )
    np.testing.assert_allclose(gx, expect, rtol=1e-12, atol=1e-13)


@pytest.mark.usefixtures("threads")
@settings(deadline=None, max_examples=30)
@given(
    shape=st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 40)),
    affine=st.booleans(),
    batch=st.booleans(),
    want_gx=st.booleans(),
    dtype=st.sampled_from([np.float64, np.float32]),
    seed=st.integers(0, 2**16),
)
def test_numba_agrees_with_generic(shape, affine, batch, want_gx, dtype, seed):
    pytest.importorskip("numba")
    from mocha.plugins.backends.numba_backend import NumbaBackend

    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    C = shape[1]
    scale = rng.uniform(0.5, 2, C).astype(dtype) if affine else None
    shift = rng.standard_normal(C).astype(dtype) if affine else None
    results = []
    for backend in (NumpyBackend(dtype=dtype), NumbaBackend(dtype=dtype)):
        mean = np.full(C, 0.25, dtype)
        var = np.full(C, 1.5, dtype)
        y = np.empty_like(x)
        backend.kernels.batchnorm_forward(x, mean, var, 1e-5, scale, shift, batch, out=y)
        outs = (np.empty_like(x) if want_gx else None, np.empty(C, dtype), np.empty(C, dtype))
        grads = backend.kernels.batchnorm_backward(x, gy, mean, var, 1e-5, scale, batch, out=outs)
        results.append((y, mean, var, *grads))
    for got, ref in zip(results[1], results[0]):
        if ref is None:
            assert got is None
            continue
        assert got.dtype == ref.dtype
        np.testing.assert_allclose(got, ref, **TOL[dtype])
