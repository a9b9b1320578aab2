"""Every kernel the Numba backend overrides agrees with the generic ("*") version on NumPy.

Shapes, paddings, strides and groups are drawn by hypothesis; each case runs in float64 (tight
tolerance) and float32 (loose tolerance, both sides computed in float32), and every test runs
at 1 and 2 numba threads (the `threads` fixture of conftest.py).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mocha.plugins.backends import numpy_backend
from mocha.plugins.backends.generic import batchnorm as kernels_batchnorm
from mocha.plugins.backends.generic import blas as kernels_blas
from mocha.plugins.backends.generic import conv as kernels_conv
from mocha.plugins.backends.generic import elementwise as kernels_elementwise
from mocha.plugins.backends.generic import lrn as kernels_lrn
from mocha.plugins.backends.generic import pool as kernels_pool
from mocha.plugins.backends.generic import softmax as kernels_softmax
from mocha.plugins.backends.generic import update as kernels_update

pytest.importorskip("numba")
pytestmark = pytest.mark.usefixtures("threads")

from mocha.plugins.backends.numba_backend import OVERRIDDEN, NumbaBackend  # noqa: E402

GENERIC = {
    **{n: getattr(kernels_conv, n) for n in ("im2col", "col2im", "conv_forward", "conv_backward")},
    **{
        n: getattr(kernels_pool, n)
        for n in ("max_pool_forward", "max_pool_backward", "avg_pool_forward", "avg_pool_backward")
    },
    "lrn_forward": kernels_lrn.lrn_forward,
    "lrn_backward": kernels_lrn.lrn_backward,
    "softmax": kernels_softmax.softmax,
    "gemm": kernels_blas.gemm,
    **kernels_elementwise.KERNELS,
    **kernels_update.KERNELS,
    **kernels_batchnorm.KERNELS,  # its cases: test_kernels_batchnorm.py
}
TOL = {np.float64: {"rtol": 1e-9, "atol": 1e-11}, np.float32: {"rtol": 2e-4, "atol": 2e-5}}
dtypes = st.sampled_from([np.float64, np.float32])


def backends(dtype):
    return (numpy_backend.NumpyBackend(dtype=dtype), NumbaBackend(dtype=dtype))


def both(name, dtype, *args, **kwargs):
    """(generic on NumPy, numba) results of kernel `name`."""
    ref_backend, nb = backends(dtype)
    ref = GENERIC[name](ref_backend, *args, **kwargs)
    got = nb.kernels.resolve(name)(*args, **kwargs)
    return ref, got


def assert_close(got, ref, dtype):
    if isinstance(ref, tuple):
        assert isinstance(got, tuple) and len(got) == len(ref)
        for g, r in zip(got, ref):
            assert_close(g, r, dtype)
        return
    if ref is None:
        assert got is None
        return
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.shape == ref.shape
    if np.issubdtype(ref.dtype, np.integer):
        np.testing.assert_array_equal(got, ref)
    else:
        assert got.dtype == ref.dtype
        np.testing.assert_allclose(got, ref, **TOL[dtype])


def test_every_override_has_a_generic_version_and_is_registered():
    assert set(OVERRIDDEN) == set(GENERIC)
    nb = NumbaBackend()
    for name in OVERRIDDEN:
        assert nb.kernels.implementation_of(name) == "numba"


@st.composite
def conv_cases(draw):
    groups = draw(st.integers(1, 3))
    C = groups * draw(st.integers(1, 3))
    F = groups * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H = draw(st.integers(max(1, kh - 2 * ph), 9))
    W = draw(st.integers(max(1, kw - 2 * pw), 9))
    N = draw(st.integers(1, 3))
    return N, C, H, W, F, groups, (kh, kw), (ph, pw), (sh, sw)


@given(case=conv_cases(), dtype=dtypes, bias=st.booleans(), seed=st.integers(0, 2**16))
def test_convolution(case, dtype, bias, seed):
    N, C, H, W, F, groups, kernel, pad, stride = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((F, C // groups, *kernel)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype) if bias else None
    ref, got = both("conv_forward", dtype, x, w, b, pad, stride, groups)
    assert_close(got, ref, dtype)
    gy = rng.standard_normal(ref.shape).astype(dtype)
    for need_dx in (True, False):
        ref, got = both("conv_backward", dtype, x, w, gy, pad, stride, groups, need_dx=need_dx)
        assert_close(got, ref, dtype)
    # the same, one image per chunk (the batch is split to keep the columns in cache)
    # (and the chunks spread over the threads, however small the convolution)
    import mocha.plugins.backends.numba_backend.threads as numba_threads

    chunked = NumbaBackend(dtype=dtype)
    chunked.conv_chunk_bytes = 1
    min_flops, numba_threads.CHUNK_THREADS_MIN_FLOPS = numba_threads.CHUNK_THREADS_MIN_FLOPS, 0
    try:
        got_f = chunked.kernels.conv_forward(x, w, b, pad, stride, groups)
        got_b = chunked.kernels.conv_backward(x, w, gy, pad, stride, groups)
    finally:
        numba_threads.CHUNK_THREADS_MIN_FLOPS = min_flops
    assert_close(got_f, GENERIC["conv_forward"](chunked, x, w, b, pad, stride, groups), dtype)
    assert_close(got_b, GENERIC["conv_backward"](chunked, x, w, gy, pad, stride, groups), dtype)
    # im2col / col2im, batched and single image
    for xs in (x, x[0]):
        ref_col, got_col = both("im2col", dtype, xs, kernel, pad, stride)
        assert_close(got_col, ref_col, dtype)
        col = rng.standard_normal(ref_col.shape).astype(dtype)
        assert_close(*reversed(both("col2im", dtype, col, xs.shape, kernel, pad, stride)), dtype)


def test_conv_forward_writes_into_out_and_reuses_workspaces():
    nb = NumbaBackend(dtype="float64")
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3))
    out = np.empty((2, 4, 4, 4))
    y = nb.kernels.conv_forward(x, w, None, (0, 0), (1, 1), 1, out=out)
    assert y is out
    np.testing.assert_allclose(out, kernels_conv.conv_forward(nb, x, w, None, (0, 0), (1, 1), 1))
    col = nb.workspace("col", (27, 32), np.float64)
    y2 = nb.kernels.conv_forward(x, w, None, (0, 0), (1, 1), 1)
    assert np.shares_memory(col, nb.workspace("col", (27, 32), np.float64))
    assert not np.shares_memory(y2, col)
    np.testing.assert_allclose(y2, out)


@given(
    case=conv_cases(),
    dtype=dtypes,
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
    chunk=st.sampled_from([0, 1]),
)
def test_row_wise_convolution(case, dtype, bias, seed, chunk):
    """The row-wise path (im2row + kh products; ∇x as the flipped forward) agrees with the
    generic kernels wherever it is eligible (stride 1, one group, padding < kernel)."""
    import mocha.plugins.backends.numba_backend.rowconv as numba_rowconv

    N, C, H, W, F, groups, kernel, pad, _stride = case
    pad = (min(pad[0], kernel[0] - 1), min(pad[1], kernel[1] - 1))
    H, W = max(H, kernel[0]), max(W, kernel[1])
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((F, C, *kernel)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype) if bias else None
    nb = NumbaBackend(dtype=dtype)
    nb.conv_chunk_bytes = chunk
    names = ("ROWS_MIN_K", "ROWS_BACKWARD_MIN_WIDTH", "ROWS_MIN_COLUMNS")
    saved = [getattr(numba_rowconv, n) for n in names]
    for n in names:
        setattr(numba_rowconv, n, 1)
    try:
        used = numba_rowconv.eligible(x.shape, w.shape, pad, (1, 1), 1)
        got = nb.kernels.conv_forward(x, w, b, pad, (1, 1), 1)
        gy = rng.standard_normal(got.shape).astype(dtype)
        got_b = nb.kernels.conv_backward(x, w, gy, pad, (1, 1), 1)
        got_w = nb.kernels.conv_backward(x, w, gy, pad, (1, 1), 1, need_dx=False)
    finally:
        for n, v in zip(names, saved):
            setattr(numba_rowconv, n, v)
    assert used == (kernel[0] > 1)
    assert_close(got, GENERIC["conv_forward"](nb, x, w, b, pad, (1, 1), 1), dtype)
    ref_b = GENERIC["conv_backward"](nb, x, w, gy, pad, (1, 1), 1)
    assert_close(got_b, ref_b, dtype)
    assert_close(got_w, (None, *ref_b[1:]), dtype)


def test_row_wise_convolution_is_used_for_wide_inputs(monkeypatch):
    """CIFAR-10's conv2 shape goes the row-wise way (and agrees), RGB input does not."""
    import mocha.plugins.backends.numba_backend.rowconv as numba_rowconv

    calls = []
    real = numba_rowconv.forward
    monkeypatch.setattr(numba_rowconv, "forward", lambda *a: calls.append(1) or real(*a))
    assert numba_rowconv.eligible((2, 32, 16, 16), (8, 32, 5, 5), (2, 2), (1, 1), 1)
    assert not numba_rowconv.eligible((2, 3, 32, 32), (8, 3, 5, 5), (2, 2), (1, 1), 1)
    assert not numba_rowconv.eligible((2, 32, 16, 16), (8, 32, 5, 5), (2, 2), (2, 2), 1)
    assert numba_rowconv.eligible((2, 32, 16, 16), (8, 32, 5, 5), (2, 2), (1, 1), 1, True)
    assert not numba_rowconv.eligible((2, 32, 8, 8), (8, 32, 5, 5), (2, 2), (1, 1), 1, True)
    assert not numba_rowconv.eligible((1, 32, 8, 8), (8, 32, 5, 5), (2, 2), (1, 1), 1)
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((4, 32, 12, 12)), rng.standard_normal((8, 32, 5, 5))
    nb = NumbaBackend(dtype="float64")
    got = nb.kernels.conv_forward(x, w, None, (2, 2), (1, 1), 1)
    assert calls == [1]
    assert_close(got, GENERIC["conv_forward"](nb, x, w, None, (2, 2), (1, 1), 1), np.float64)


@pytest.mark.parametrize("keep", [0, 1 << 30])
@pytest.mark.parametrize("chunk", [1, 0])
def test_conv_cache_keeps_columns_only_below_the_budget(keep, chunk):
    """With a cache, backward reuses the forward's columns when they fit
    `conv_keep_cols_bytes`, recomputes them otherwise; the numbers are the same either way."""
    nb = NumbaBackend(dtype="float64")
    nb.conv_keep_cols_bytes, nb.conv_chunk_bytes = keep, chunk
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((3, 4, 7, 7)), rng.standard_normal((6, 2, 3, 3))
    b = rng.standard_normal(6)
    cache: dict = {}
    y = nb.kernels.conv_forward(x, w, b, (1, 1), (1, 1), 2, cache=cache)
    assert ("cols" in cache) == bool(keep)
    assert (cache.get("key") is not None) == bool(keep)
    gy = rng.standard_normal(y.shape)
    got = nb.kernels.conv_backward(x, w, gy, (1, 1), (1, 1), 2, cache=cache)
    ref = GENERIC["conv_backward"](nb, x, w, gy, (1, 1), (1, 1), 2)
    assert_close(got, ref, np.float64)
    assert_close(y, GENERIC["conv_forward"](nb, x, w, b, (1, 1), (1, 1), 2), np.float64)
    assert cache.get("key") is None  # the columns now hold the column gradient


@st.composite
def pool_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1))
    sh, sw = draw(st.integers(1, kh)), draw(st.integers(1, kw))
    H, W = draw(st.integers(kh, 9)), draw(st.integers(kw, 9))
    oh = (H + 2 * ph - kh) // sh + 1
    ow = (W + 2 * pw - kw) // sw + 1
    N, C = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return (N, C, H, W), (kh, kw), (ph, pw), (sh, sw), (oh, ow)


@given(case=pool_cases(), dtype=dtypes, ties=st.booleans(), seed=st.integers(0, 2**16))
def test_pooling(case, dtype, ties, seed):
    shape, kernel, pad, stride, out_hw = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    if ties:  # few distinct values: the first maximum must win, as in the generic kernel
        x = np.round(x)
    x = x.astype(dtype)
    (y_ref, i_ref), (y, i) = both("max_pool_forward", dtype, x, kernel, pad, stride, out_hw)
    assert_close((y, i), (y_ref, i_ref), dtype)
    gy = rng.standard_normal(y_ref.shape).astype(dtype)
    assert_close(*reversed(both("max_pool_backward", dtype, gy, i_ref, shape)), dtype)
    assert_close(*reversed(both("avg_pool_forward", dtype, x, kernel, pad, stride, out_hw)), dtype)
    assert_close(*reversed(both("avg_pool_backward", dtype, gy, shape, kernel, pad, stride)), dtype)


@pytest.mark.parametrize("impl", ["generic", "numba"])
def test_pooling_kernels_write_into_out(impl):
    """`out=` receives the result (and is returned), also when it is not C-contiguous."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 7, 6))
    args = ((3, 2), (1, 0), (2, 2), (4, 3))
    nb = NumbaBackend(dtype="float64")
    kern = GENERIC if impl == "generic" else None

    def call(name, *a, **kw):
        return kern[name](nb, *a, **kw) if kern else nb.kernels.resolve(name)(*a, **kw)

    y_ref, i_ref = call("max_pool_forward", x, *args)
    for y_out in (np.empty((2, 3, 4, 3)), np.empty((2, 3, 3, 4)).transpose(0, 1, 3, 2)):
        i_out = np.empty((2, 3, 4, 3), dtype=np.int64)
        y, i = call("max_pool_forward", x, *args, out=(y_out, i_out))
        assert y is y_out and i is i_out
        np.testing.assert_array_equal(y_out, y_ref)
        np.testing.assert_array_equal(i_out, i_ref)
    gy = rng.standard_normal(y_ref.shape)
    gx_out = np.full(x.shape, np.nan)
    assert call("max_pool_backward", gy, i_ref, x.shape, out=gx_out) is gx_out
    np.testing.assert_allclose(gx_out, call("max_pool_backward", gy, i_ref, x.shape))
    a_out = np.full(y_ref.shape, np.nan)
    assert call("avg_pool_forward", x, *args, out=a_out) is a_out
    np.testing.assert_allclose(a_out, call("avg_pool_forward", x, *args))
    g_out = np.full(x.shape, np.nan)
    assert call("avg_pool_backward", gy, x.shape, *args[:3], out=g_out) is g_out
    np.testing.assert_allclose(g_out, call("avg_pool_backward", gy, x.shape, *args[:3]))


@given(
    mode=st.sampled_from(["across_channel", "within_channel"]),
    k=st.integers(1, 5),
    shape=st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 5), st.integers(1, 5)),
    scale=st.floats(0.01, 2.0),
    power=st.floats(0.25, 1.5),
    shift=st.floats(0.5, 2.0),
    dtype=dtypes,
    seed=st.integers(0, 2**16),
)
def test_lrn(mode, k, shape, scale, power, shift, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    ref, got = both("lrn_forward", dtype, x, k, scale, power, shift, mode)
    assert_close(got, ref, dtype)
    y, denom = ref
    gy = rng.standard_normal(shape).astype(dtype)
    ref, got = both("lrn_backward", dtype, x, y, denom, gy, k, scale, power, shift, mode)
    assert_close(got, ref, dtype)
    # out=: written in place when contiguous, copied into a strided view otherwise
    nb = NumbaBackend(dtype=dtype)
    outs = (np.empty_like(x), np.empty(shape[::-1], dtype).T)
    for o in outs:
        for impl in (GENERIC["lrn_forward"], None):
            o2 = np.empty_like(x)
            args = (x, k, scale, power, shift, mode)
            res = (
                impl(nb, *args, out=(o, o2)) if impl else nb.kernels.lrn_forward(*args, out=(o, o2))
            )
            assert res[0] is o and res[1] is o2
            assert_close((o, o2), (y, denom), dtype)
            g = np.full_like(o, np.nan)
            bargs = (x, y, denom, gy, k, scale, power, shift, mode)
            gx = (
                GENERIC["lrn_backward"](nb, *bargs, out=g)
                if impl
                else nb.kernels.lrn_backward(*bargs, out=g)
            )
            assert gx is g
            assert_close(g, ref, dtype)


def test_lrn_across_channel_on_2d_input_and_bad_mode():
    x = np.random.default_rng(0).standard_normal((4, 7))
    ref, got = both("lrn_forward", np.float64, x, 3, 1.0, 0.75, 1.0, "across_channel")
    assert_close(got, ref, np.float64)
    with pytest.raises(ValueError, match="unknown LRN mode"):
        NumbaBackend().kernels.lrn_forward(x, 3, 1.0, 0.75, 1.0, "sideways")


@given(
    shape=st.lists(st.integers(1, 5), min_size=2, max_size=4),
    data=st.data(),
    dtype=dtypes,
    scale=st.sampled_from([1.0, 50.0]),
    seed=st.integers(0, 2**16),
)
def test_softmax(shape, data, dtype, scale, seed):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)
    ref, got = both("softmax", dtype, x, axis)
    assert_close(got, ref, dtype)
    out = np.empty_like(x)
    assert NumbaBackend(dtype=dtype).kernels.softmax(x, axis, out=out) is out
    assert_close(out, ref, dtype)


@given(
    m=st.integers(1, 40),
    n=st.integers(1, 30),
    k=st.integers(1, 30),
    trans=st.tuples(st.booleans(), st.booleans()),
    ab=st.sampled_from([(1.0, 0.0), (0.5, 0.0), (2.0, 1.0), (1.0, -0.5)]),
    out_kind=st.sampled_from(["none", "contiguous", "strided"]),
    dtype=dtypes,
    seed=st.integers(0, 2**16),
)
def test_gemm(m, n, k, trans, ab, out_kind, dtype, seed):
    # every product is split over the threads (SPLIT_MIN_FLOPS = 0) where it has the rows
    import mocha.plugins.backends.numba_backend.blas as numba_blas

    rng = np.random.default_rng(seed)
    (ta, tb), (alpha, beta) = trans, ab
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    c = rng.standard_normal((m, n)).astype(dtype)
    if out_kind == "none":
        beta = 0.0
    kw = {"trans_a": ta, "trans_b": tb, "alpha": alpha, "beta": beta}
    ref_backend, nb = backends(dtype)

    def out():
        return {"none": None, "contiguous": c.copy(), "strided": np.asfortranarray(c)}[out_kind]

    ref = GENERIC["gemm"](ref_backend, a, b, out=out(), **kw)
    split_min, numba_blas.SPLIT_MIN_FLOPS = numba_blas.SPLIT_MIN_FLOPS, 0
    try:
        target = out()
        got = nb.kernels.gemm(a, b, out=target, **kw)
    finally:
        numba_blas.SPLIT_MIN_FLOPS = split_min
    if target is not None:
        assert got is target
    assert_close(got, ref, dtype)


def test_backend_is_preferred_and_importing_the_plugin_does_not_import_numba():
    from mocha.backend_choice import CPUBackend
    from mocha.plugins.backends.numpy_backend import NumpyBackend

    assert NumbaBackend.why_unavailable() is None
    assert NumbaBackend.priority > NumpyBackend.priority
    assert isinstance(CPUBackend(), NumbaBackend)
    code = (
        "import sys, mocha.plugins.backends.numba_backend as m; "
        "assert 'numba' not in sys.modules, 'numba imported'; "
        "m.NumbaBackend(); assert 'numba' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_large_inputs_take_the_parallel_path(monkeypatch):
    from mocha.plugins.backends.numba_backend import runtime

    SERIAL_BELOW = 1 << 17
    monkeypatch.setattr(runtime, "SERIAL_BELOW", SERIAL_BELOW)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 112, 112)).astype(np.float32)
    assert x.size >= SERIAL_BELOW
    (y_ref, i_ref), (y, i) = both(
        "max_pool_forward", np.float32, x, (3, 3), (1, 1), (2, 2), (56, 56)
    )
    assert_close((y, i), (y_ref, i_ref), np.float32)
    assert_close(
        *reversed(both("lrn_forward", np.float32, x, 3, 1.0, 0.75, 1.0, "within_channel")),
        np.float32,
    )
    assert_close(*reversed(both("softmax", np.float32, x, 1)), np.float32)
    # float64: ∇W sums 48400 products per entry, beyond float32's tolerance here
    w = rng.standard_normal((8, 3, 3, 3))
    gy = rng.standard_normal((4, 8, 110, 110))
    assert gy.size >= SERIAL_BELOW
    assert_close(
        *reversed(
            both("conv_backward", np.float64, x.astype(np.float64), w, gy, (0, 0), (1, 1), 1)
        ),
        np.float64,
    )


@given(
    size=st.integers(1, 3000),
    momentum=st.sampled_from([0.0, 0.9, 0.5]),
    rate=st.floats(1e-4, 1.0),
    alpha=st.floats(-2.0, 2.0),
    dtype=dtypes,
    seed=st.integers(0, 2**16),
)
def test_update_kernels_match_the_generic_ones_bit_for_bit(
    size, momentum, rate, alpha, dtype, seed
):
    """The SGD step and the scaled add: one compiled pass each, the same numbers as the
    generic NumPy statements (every operation rounded to the dtype in the same order)."""
    rng = np.random.default_rng(seed)
    h, g, w = (rng.standard_normal(size).astype(dtype) for _ in range(3))
    ref_backend, nb = backends(dtype)
    refs = [a.copy() for a in (h, g, w)]
    GENERIC["momentum_update"](ref_backend, *refs, momentum, rate)
    nb.kernels.momentum_update(h, g, w, momentum, rate)
    np.testing.assert_array_equal(h, refs[0])
    np.testing.assert_array_equal(w, refs[2])
    y, ref_y = w.copy(), w.copy()
    GENERIC["add_scaled"](ref_backend, ref_y, g, alpha)
    nb.kernels.add_scaled(y, g, alpha)
    np.testing.assert_array_equal(y, ref_y)


def test_update_kernels_take_the_generic_path_for_strided_views():
    rng = np.random.default_rng(0)
    h, g, w = (rng.standard_normal((6, 8))[:, ::2] for _ in range(3))  # not contiguous
    refs = [a.copy() for a in (h, g, w)]
    ref_backend, nb = backends(np.float64)
    GENERIC["momentum_update"](ref_backend, *refs, 0.9, 0.1)
    nb.kernels.momentum_update(h, g, w, 0.9, 0.1)
    np.testing.assert_array_equal(w, refs[2])
