"""The generic pooling kernels on their own: the argmax index format and clipped windows."""

import numpy as np

from mocha.plugins.backends.generic.pool import (
    avg_pool_backward,
    avg_pool_forward,
    max_pool_backward,
    max_pool_forward,
)
from mocha.plugins.backends.numpy_backend import NumpyBackend

B = NumpyBackend(dtype="float64")


def test_argmax_index_is_flat_within_the_plane():
    x = np.arange(2 * 3 * 4 * 5, dtype=float).reshape(2, 3, 4, 5)
    y, idx = max_pool_forward(B, x, (2, 2), (0, 0), (2, 2), (2, 3))
    assert idx.dtype == np.int64
    # the bottom-right cell of each window is the max; the last column window is cut to 1 wide
    np.testing.assert_array_equal(idx[0, 0], [[6, 8, 9], [16, 18, 19]])
    np.testing.assert_array_equal(idx[1, 2], idx[0, 0])
    np.testing.assert_array_equal(
        y.reshape(6, -1), np.take_along_axis(x.reshape(6, -1), idx.reshape(6, -1), axis=1)
    )
    gx = max_pool_backward(B, np.ones_like(y), idx, x.shape)
    assert gx.sum() == y.size and gx[1, 2, 1, 1] == 1 and gx[1, 2, 0, 0] == 0


def test_padding_is_never_read_and_the_mean_divides_by_the_full_window():
    x = -np.ones((1, 1, 2, 2))
    y, idx = max_pool_forward(B, x, (3, 3), (1, 1), (1, 1), (2, 2))
    np.testing.assert_array_equal(y, -np.ones((1, 1, 2, 2)))
    m = avg_pool_forward(B, x, (3, 3), (1, 1), (1, 1), (2, 2))
    np.testing.assert_allclose(m, np.full((1, 1, 2, 2), -4 / 9))
    g = avg_pool_backward(B, np.ones((1, 1, 2, 2)), x.shape, (3, 3), (1, 1), (1, 1))
    np.testing.assert_allclose(g, np.full((1, 1, 2, 2), 4 / 9))


def test_float32_stays_float32():
    x = np.ones((1, 1, 4, 4), dtype=np.float32)
    B32 = NumpyBackend(dtype="float32")
    y, idx = max_pool_forward(B32, x, (2, 2), (0, 0), (2, 2), (2, 2))
    assert y.dtype == np.float32
    assert max_pool_backward(B32, y, idx, x.shape).dtype == np.float32
    assert avg_pool_forward(B32, x, (2, 2), (0, 0), (2, 2), (2, 2)).dtype == np.float32


def test_numba_loops_match_the_generic_kernel_on_ties_and_padding():
    """The Numba loops' specialised interior rows (2x2 and 3x3 windows, column stride 2) and
    their clipped border windows: constant planes and integer data (many ties: the first
    maximum wins) with windows cut by the padding and by the image edge."""
    import pytest

    pytest.importorskip("numba")
    from mocha.plugins.backends.numba_backend import NumbaBackend

    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        ref, nb = NumpyBackend(dtype=dtype), NumbaBackend(dtype=dtype)
        for k, s, p, H, W in [
            (2, 2, 0, 24, 24),
            (2, 2, 1, 7, 9),
            (3, 2, 0, 32, 32),
            (3, 2, 1, 9, 8),
            (3, 2, 2, 11, 10),
            (3, 1, 1, 6, 7),
            (2, 1, 0, 5, 6),
        ]:
            oh = -(-(H + 2 * p - k) // s) + 1
            ow = -(-(W + 2 * p - k) // s) + 1
            oh -= p > 0 and (oh - 1) * s >= H + p
            ow -= p > 0 and (ow - 1) * s >= W + p
            args = ((k, k), (p, p), (s, s), (oh, ow))
            for x in (
                np.full((2, 3, H, W), 1.5),
                rng.integers(-2, 3, (2, 3, H, W)).astype(float),
                rng.standard_normal((2, 3, H, W)),
            ):
                x = x.astype(dtype)
                y_ref, i_ref = max_pool_forward(ref, x, *args)
                y, i = nb.kernels.resolve("max_pool_forward")(x, *args)
                np.testing.assert_array_equal(y, y_ref)
                np.testing.assert_array_equal(i, i_ref)
                m = nb.kernels.resolve("avg_pool_forward")(x, *args)
                np.testing.assert_allclose(m, avg_pool_forward(ref, x, *args), rtol=1e-5, atol=1e-6)
