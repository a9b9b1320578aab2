"""The generic im2col/col2im/conv kernels on their own: layout, adjointness, batching."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from mocha.plugins.backends.generic.conv import col2im, conv_backward, conv_forward, im2col
from mocha.plugins.backends.numpy_backend import NumpyBackend

B = NumpyBackend(dtype="float64")


def naive_im2col(x, kernel, pad, stride):
    N, C, H, W = x.shape
    (kh, kw), (ph, pw), (sh, sw) = kernel, pad, stride
    oh, ow = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    col = np.zeros((C * kh * kw, N * oh * ow))
    for c, p, q, n, i, j in np.ndindex(C, kh, kw, N, oh, ow):
        h, w = i * sh - ph + p, j * sw - pw + q
        if 0 <= h < H and 0 <= w < W:
            col[(c * kh + p) * kw + q, (n * oh + i) * ow + j] = x[n, c, h, w]
    return col


@st.composite
def geometry(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H, W = draw(st.integers(max(1, kh - 2 * ph), 6)), draw(st.integers(max(1, kw - 2 * pw), 6))
    return (draw(st.integers(1, 2)), draw(st.integers(1, 3)), H, W), (kh, kw), (ph, pw), (sh, sw)


@given(g=geometry(), seed=st.integers(0, 2**16))
def test_im2col_layout_and_col2im_is_its_adjoint(g, seed):
    shape, kernel, pad, stride = g
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    col = im2col(B, x, kernel, pad, stride)
    np.testing.assert_array_equal(col, naive_im2col(x, kernel, pad, stride))
    c = rng.standard_normal(col.shape)
    # <im2col(x), c> == <x, col2im(c)>
    np.testing.assert_allclose(
        np.sum(col * c), np.sum(x * col2im(B, c, shape, kernel, pad, stride))
    )
    # a single image is the N = 1 case
    np.testing.assert_array_equal(
        im2col(B, x[0], kernel, pad, stride), naive_im2col(x[:1], kernel, pad, stride)
    )


def test_col2im_sums_overlapping_patches():
    col = im2col(B, np.ones((1, 3, 3)), (2, 2), (0, 0), (1, 1))
    counts = col2im(B, np.ones_like(col), (1, 3, 3), (2, 2), (0, 0), (1, 1))
    np.testing.assert_array_equal(counts[0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


def test_conv_without_bias_and_without_dx():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 2, 4, 4)), rng.standard_normal((3, 2, 2, 2))
    y = conv_forward(B, x, w, None, (0, 0), (1, 1), 1)
    yb = conv_forward(B, x, w, np.arange(3.0), (0, 0), (1, 1), 1)
    np.testing.assert_allclose(
        yb - y, np.broadcast_to(np.arange(3.0)[None, :, None, None], y.shape)
    )
    dx, dw, db = conv_backward(B, x, w, np.ones_like(y), (0, 0), (1, 1), 1, need_dx=False)
    assert dx is None and dw.shape == w.shape
    np.testing.assert_allclose(db, [18.0, 18.0, 18.0])
