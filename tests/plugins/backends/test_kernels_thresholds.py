"""The Numba kernels agree with the generic ("*") ones at 1 and 2 numba threads, on shapes
drawn across the backend's threading thresholds.

The Numba backend changes code paths with the size of the work: loops under
`SERIAL_BELOW` elements run on one thread; convolutions over `CHUNK_THREADS_MIN_FLOPS` spread
their chunks over the threads (a backward pass that also computes ∇x counts twice the FLOPs of
its forward, so the two passes can take different sides); the columns of a batch are kept
for the backward pass up to `conv_keep_cols_bytes` and split into chunks of
`conv_chunk_bytes`. A bug on one side of a threshold hides from tests that stay on the other
(issue 11: with 2 threads, LeNet's conv2 at batch 2 and 3 computed ∇W from the forward's
cached columns cut into different chunks). So batches of 1-8 images, channel counts from 1 to
32 and filter counts up to 50 are drawn, with and without the layer's column cache, in
float32 and float64, and every result — forward, ∇x, ∇W, ∇b; pooling, LRN, softmax and the
elementwise kernels forward and backward — is compared with the generic kernel on NumPy.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mocha.plugins.backends import numpy_backend
from mocha.plugins.backends.generic import conv as kernels_conv
from mocha.plugins.backends.generic import elementwise as kernels_elementwise
from mocha.plugins.backends.generic import lrn as kernels_lrn
from mocha.plugins.backends.generic import pool as kernels_pool
from mocha.plugins.backends.generic import softmax as kernels_softmax

pytest.importorskip("numba")

import mocha.plugins.backends.numba_backend.runtime as runtime  # noqa: E402
from mocha.plugins.backends.numba_backend import NumbaBackend  # noqa: E402

#: The threshold these tests put both sides of (the module lowers `runtime.SERIAL_BELOW` to
#: it, so that moderate shapes take the parallel path).
SERIAL_BELOW = 1 << 17


@pytest.fixture(autouse=True, scope="module")
def _lower_serial_threshold():
    saved, runtime.SERIAL_BELOW = runtime.SERIAL_BELOW, SERIAL_BELOW
    yield
    runtime.SERIAL_BELOW = saved


DTYPES = st.sampled_from([np.float64, np.float32])
#: Relative to the largest magnitude of the reference: float32 sums of up to ~10^4 products.
TOL = {np.float64: 1e-10, np.float32: 1e-4}
#: LeNet's conv2 (20 -> 50 channels, 5x5, on 12x12): the shape of issue 11.
LENET_CONV2 = (20, 12, 12, 50, (5, 5), (0, 0), (1, 1))


def close(got, ref, dtype, what):
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.shape == ref.shape and got.dtype == ref.dtype, what
    scale = max(1.0, float(np.abs(ref).max(initial=0.0)))
    np.testing.assert_allclose(got, ref, rtol=TOL[dtype], atol=TOL[dtype] * scale, err_msg=what)


@st.composite
def conv_cases(draw):
    C = draw(st.sampled_from([1, 3, 8, 20, 32]))
    F = draw(st.sampled_from([4, 16, 32, 50]))
    kernel = draw(st.sampled_from([(3, 3), (5, 5), (3, 5)]))
    pad = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    stride = draw(st.sampled_from([(1, 1), (2, 2)]))
    H = draw(st.integers(kernel[0], 16))
    W = draw(st.integers(kernel[1], 16))
    return C, H, W, F, kernel, pad, stride


@settings(max_examples=8)
@given(N=st.integers(1, 8), case=conv_cases(), dtype=DTYPES, seed=st.integers(0, 2**16))
@example(N=2, case=LENET_CONV2, dtype=np.float64, seed=0)
@example(N=3, case=LENET_CONV2, dtype=np.float64, seed=1)
@example(N=2, case=LENET_CONV2, dtype=np.float32, seed=2)
@example(N=3, case=LENET_CONV2, dtype=np.float32, seed=3)
@example(N=8, case=LENET_CONV2, dtype=np.float32, seed=4)
def test_convolution_at_1_and_2_threads(threads, N, case, dtype, seed):
    """Forward, then backward with and without ∇x, each with the forward's column cache (as
    the convolution layer calls them) and without; all against the generic kernels."""
    C, H, W, F, kernel, pad, stride = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((F, C, *kernel)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    ref_backend = numpy_backend.NumpyBackend(dtype=dtype)
    y_ref = kernels_conv.conv_forward(ref_backend, x, w, b, pad, stride, 1)
    gy = rng.standard_normal(y_ref.shape).astype(dtype)
    refs = {
        need_dx: kernels_conv.conv_backward(ref_backend, x, w, gy, pad, stride, 1, need_dx=need_dx)
        for need_dx in (False, True)
    }
    nb = NumbaBackend(dtype=dtype)
    for cached in (True, False):
        for need_dx in (False, True):
            cache = {} if cached else None
            what = f"{threads} thread(s), cache={cached}, need_dx={need_dx}"
            y = np.empty_like(y_ref)
            assert nb.kernels.conv_forward(x, w, b, pad, stride, 1, out=y, cache=cache) is y
            close(y, y_ref, dtype, f"forward, {what}")
            dx, dw, db = nb.kernels.conv_backward(
                x, w, gy, pad, stride, 1, need_dx=need_dx, cache=cache
            )
            dx_ref, dw_ref, db_ref = refs[need_dx]
            close(dw, dw_ref, dtype, f"∇W, {what}")
            close(db, db_ref, dtype, f"∇b, {what}")
            if need_dx:
                close(dx, dx_ref, dtype, f"∇x, {what}")
            else:
                assert dx is None


@pytest.mark.parametrize("N", [2, 3])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_lenet_conv2_layer_agrees_with_numpy(threads, N, dtype):
    """Issue 11's case through the layer (its column cache included): ConvolutionLayer with
    50 5x5 filters on (N, 20, 12, 12), on Numba vs the float64 NumPy reference."""
    from mocha import ConvolutionLayer
    from mocha.testing.gradcheck import check_layer

    layer = ConvolutionLayer(name="conv2", n_filter=50, kernel=(5, 5), bottoms=["x"], tops=["y"])
    x = np.random.default_rng(N).standard_normal((N, 20, 12, 12)).astype(dtype)
    check_layer(layer, [x], NumbaBackend(dtype=dtype), gradcheck=False)


@st.composite
def image_cases(draw):
    N = draw(st.integers(1, 8))
    C = draw(st.sampled_from([1, 3, 20, 32]))
    H, W = draw(st.integers(3, 40)), draw(st.integers(3, 40))
    return N, C, H, W


@settings(max_examples=8)
@given(
    shape=image_cases(),
    dtype=DTYPES,
    seed=st.integers(0, 2**16),
    kernel=st.sampled_from([(2, 2), (3, 3)]),
    stride=st.sampled_from([(1, 1), (2, 2)]),
)
@example(shape=(8, 32, 40, 40), dtype=np.float32, seed=0, kernel=(3, 3), stride=(2, 2))
def test_pooling_lrn_softmax_at_1_and_2_threads(threads, shape, dtype, seed, kernel, stride):
    """Pooling (max, mean), LRN (both modes) and softmax, forward and backward, on sizes on
    both sides of `SERIAL_BELOW`."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    ref_backend, nb = numpy_backend.NumpyBackend(dtype=dtype), NumbaBackend(dtype=dtype)
    pad = (kernel[0] // 2, kernel[1] // 2)
    out_hw = tuple(
        (s + 2 * p - k) // st_ + 1 for s, p, k, st_ in zip(shape[2:], pad, kernel, stride)
    )
    y_ref, i_ref = kernels_pool.max_pool_forward(ref_backend, x, kernel, pad, stride, out_hw)
    y, i = nb.kernels.max_pool_forward(x, kernel, pad, stride, out_hw)
    close(y, y_ref, dtype, "max pool forward")
    np.testing.assert_array_equal(i, i_ref)
    gy = rng.standard_normal(y_ref.shape).astype(dtype)
    close(
        nb.kernels.max_pool_backward(gy, i_ref, shape),
        kernels_pool.max_pool_backward(ref_backend, gy, i_ref, shape),
        dtype,
        "max pool backward",
    )
    close(
        nb.kernels.avg_pool_forward(x, kernel, pad, stride, out_hw),
        kernels_pool.avg_pool_forward(ref_backend, x, kernel, pad, stride, out_hw),
        dtype,
        "mean pool forward",
    )
    close(
        nb.kernels.avg_pool_backward(gy, shape, kernel, pad, stride),
        kernels_pool.avg_pool_backward(ref_backend, gy, shape, kernel, pad, stride),
        dtype,
        "mean pool backward",
    )
    g = rng.standard_normal(shape).astype(dtype)
    for mode in ("across_channel", "within_channel"):
        args = (x, 5 if mode == "across_channel" else 3, 1.0, 0.75, 1.0, mode)
        y_ref, d_ref = kernels_lrn.lrn_forward(ref_backend, *args)
        y, d = nb.kernels.lrn_forward(*args)
        close(y, y_ref, dtype, f"LRN {mode} forward")
        close(d, d_ref, dtype, f"LRN {mode} denominator")
        bargs = (x, y_ref, d_ref, g, *args[1:])
        close(
            nb.kernels.lrn_backward(*bargs),
            kernels_lrn.lrn_backward(ref_backend, *bargs),
            dtype,
            f"LRN {mode} backward",
        )
    close(nb.kernels.softmax(x, 1), kernels_softmax.softmax(ref_backend, x, 1), dtype, "softmax")


@settings(max_examples=8)
@given(shape=image_cases(), dtype=DTYPES, seed=st.integers(0, 2**16))
@example(shape=(8, 32, 40, 40), dtype=np.float64, seed=0)
def test_elementwise_at_1_and_2_threads(threads, shape, dtype, seed):
    """Neurons, dropout and the softmax-loss gradient, forward and backward, on sizes on both
    sides of `SERIAL_BELOW`."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    u = rng.random(shape).astype(dtype)
    ref_backend, nb = numpy_backend.NumpyBackend(dtype=dtype), NumbaBackend(dtype=dtype)
    calls = {
        "relu_forward": (x, 0.0),
        "relu_backward": (np.maximum(x, 0), g, 0.0),
        "lrelu_forward": (x,),
        "lrelu_backward": (x, g),
        "sigmoid_forward": (x,),
        "sigmoid_backward": (1 / (1 + np.exp(-x)), g),
        "tanh_forward": (x,),
        "tanh_backward": (np.tanh(x), g),
        "dropout_mask": (u, 0.3, 1 / 0.7),
        "dropout_apply": (x, (u > 0.3).astype(dtype)),
    }
    for name, args in calls.items():
        close(
            nb.kernels.resolve(name)(*args),
            getattr(kernels_elementwise, name)(ref_backend, *args),
            dtype,
            name,
        )
    prob = kernels_softmax.softmax(ref_backend, x, 1)
    label = rng.integers(0, shape[1], (shape[0], 1, *shape[2:])).astype(np.int64)
    close(
        nb.kernels.softmax_loss_backward(prob, label, 1, 0.5),
        kernels_elementwise.softmax_loss_backward(ref_backend, prob, label, 1, 0.5),
        dtype,
        "softmax_loss_backward",
    )
    assert 8 * 32 * 40 * 40 >= SERIAL_BELOW  # the explicit example takes the parallel path
