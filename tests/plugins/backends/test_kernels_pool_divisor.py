"""The mean-pooling divisors (`divisor="window" | "padded" | "image"`): the Numba kernels agree
with the generic ones (1 and 2 threads), and the default is the full window."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mocha.plugins.backends.generic.pool import avg_pool_backward, avg_pool_forward
from mocha.plugins.backends.numpy_backend import NumpyBackend


def _out(n, k, p, s):
    return -(-(n + 2 * p - k) // s) + 1


@pytest.mark.usefixtures("threads")
@settings(deadline=None, max_examples=30)
@given(
    hw=st.tuples(st.integers(1, 7), st.integers(1, 7)),
    k=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    s=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    p=st.tuples(st.integers(0, 1), st.integers(0, 1)),
    divisor=st.sampled_from(["window", "padded", "image"]),
    dtype=st.sampled_from([np.float64, np.float32]),
    seed=st.integers(0, 2**16),
)
def test_numba_agrees_with_generic(hw, k, s, p, divisor, dtype, seed):
    pytest.importorskip("numba")
    from mocha.plugins.backends.numba_backend import NumbaBackend

    out_hw = tuple(_out(n, ki, pi, si) for n, ki, pi, si in zip(hw, k, p, s))
    # every window must hold an image cell (the layers refuse the others at setup)
    assume(all((o - 1) * si - pi < n and pi < ki for o, si, pi, n, ki in zip(out_hw, s, p, hw, k)))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, *hw)).astype(dtype)
    gy = rng.standard_normal((2, 3, *out_hw)).astype(dtype)
    ref_b, nb = NumpyBackend(dtype=dtype), NumbaBackend(dtype=dtype)
    tol = {"rtol": 1e-12} if dtype == np.float64 else {"rtol": 1e-5, "atol": 1e-6}
    y_ref = avg_pool_forward(ref_b, x, k, p, s, out_hw, divisor=divisor)
    y = nb.kernels.avg_pool_forward(x, k, p, s, out_hw, divisor=divisor)
    np.testing.assert_allclose(y, y_ref, **tol)
    gx_ref = avg_pool_backward(ref_b, gy, x.shape, k, p, s, divisor=divisor)
    gx = nb.kernels.avg_pool_backward(gy, x.shape, k, p, s, divisor=divisor)
    np.testing.assert_allclose(gx, gx_ref, **tol)
    if divisor == "window":  # the keyword changes nothing when it names the default
        np.testing.assert_array_equal(y, nb.kernels.avg_pool_forward(x, k, p, s, out_hw))


def test_unknown_divisor_is_refused():
    with pytest.raises(ValueError, match="unknown mean-pooling divisor 'all'"):
        avg_pool_forward(NumpyBackend(), np.ones((1, 1, 2, 2)), (2, 2), (0, 0), (1, 1), (1, 1),
                         divisor="all")  # fmt: skip
