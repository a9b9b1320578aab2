"""Chunk-level parallelism of the Numba backend (`numba_backend.threads`)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("numba")

import mocha.plugins.backends.numba_backend.threads as numba_threads  # noqa: E402
from mocha.plugins.backends.numba_backend import NumbaBackend  # noqa: E402


@given(N=st.integers(1, 300), per_chunk=st.integers(0, 400), threads=st.integers(1, 4))
def test_balanced_chunks_tile_the_batch(N, per_chunk, threads):
    chunks = numba_threads.balanced_chunks(N, per_chunk, threads)
    assert chunks[0][0] == 0 and chunks[-1][1] == N
    assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:]))
    assert all(n1 > n0 for n0, n1 in chunks)
    assert max(n1 - n0 for n0, n1 in chunks) <= max(1, min(N, per_chunk))
    if threads > 1 and N >= threads and len(chunks) > 1:
        sizes = [n1 - n0 for n0, n1 in chunks]
        per_thread = [sum(sizes[t::threads]) for t in range(threads)]
        assert max(per_thread) - min(per_thread) <= max(sizes)


def test_plan_spreads_only_large_convolutions():
    import numba

    nb = NumbaBackend()
    before = numba.get_num_threads()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    try:
        big = numba_threads.plan_chunks(nb, 100, 1 << 20, 1e9)
        small = numba_threads.plan_chunks(nb, 100, 1 << 20, 1e5)
    finally:
        numba.set_num_threads(before)
    assert small.threads == 1
    assert max(n1 - n0 for n0, n1 in small.chunks) <= 2  # 2 MiB per chunk: 2 images
    assert small.chunks == big.chunks  # the chunks never depend on the threads
    if numba.config.NUMBA_NUM_THREADS >= 2:
        assert big.threads == 2 and len(big.chunks) % 2 == 0
        assert max(n1 - n0 for n0, n1 in big.chunks) <= 2


@given(N=st.integers(1, 300), bytes_per_image=st.integers(1, 1 << 22))
def test_chunk_plans_and_product_blocks_do_not_depend_on_the_thread_count(N, bytes_per_image):
    import numba

    from mocha.plugins.backends.numba_backend import blas as numba_blas

    nb = NumbaBackend()
    before = numba.get_num_threads()
    plans = []
    try:
        for count in range(1, numba.config.NUMBA_NUM_THREADS + 1):
            numba.set_num_threads(count)
            plans.append(numba_threads.plan_chunks(nb, N, bytes_per_image, 1e12).chunks)
    finally:
        numba.set_num_threads(before)
    assert all(p == plans[0] for p in plans)
    blocks = numba_blas.split_blocks(N)
    assert blocks[0][0] == 0 and blocks[-1][1] == N and len(blocks) <= numba_blas.SPLIT_BLOCKS
    assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))
    assert all((i1 - i0) % numba_blas.SPLIT_ALIGN == 0 for i0, i1 in blocks[:-1])


def _two_threads():
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 numba threads")
    return numba


def test_run_plan_runs_on_the_plans_threads_and_restores_the_count():
    numba = _two_threads()
    seen = []
    before = numba.get_num_threads()
    numba.set_num_threads(2)
    try:
        for threads in (1, 2):
            plan = numba_threads.ChunkPlan([(0, 2), (2, 3)], threads)
            numba_threads.run_plan(plan, lambda *a: seen.append((a, numba.get_num_threads())))
            assert numba.get_num_threads() == 2
    finally:
        numba.set_num_threads(before)
    assert seen == [((), 1), ((), 2)]
    np.testing.assert_array_equal(plan.bounds, [0, 2, 3])
    assert plan.largest == 2


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_gemm_matches_numpy_on_every_view_layout(dtype):
    """`loops.blas.gemm` (NumPy's BLAS called from compiled code) on row-major views, on
    transposes, on sub-blocks of larger arrays, with alpha and beta; and it refuses (returns
    False, writes nothing) views with no contiguous axis or mismatched shapes."""
    from numba import njit

    from mocha.plugins.backends.numba_backend.loops.blas import gemm

    call = njit(lambda a, b, c, alpha, beta: gemm(a, b, c, alpha, beta))
    rng = np.random.default_rng(1)
    big = rng.standard_normal((40, 50)).astype(dtype)
    cases = [
        (big[:7, :5], big[10:15, :9]),  # row-major sub-blocks (leading dimension 50)
        (np.ascontiguousarray(big[:5, :7]).T, big[20:25, 3:12]),  # a transposed
        (big[:7, :5], np.ascontiguousarray(big[:9, :5]).T),  # b transposed
        (big[:1, :5], big[:5, :1]),  # 1x1 result
    ]
    for a, b in cases:
        for alpha, beta in ((1.0, 0.0), (0.5, 1.0), (2.0, -0.5)):
            c = rng.standard_normal((a.shape[0], b.shape[1])).astype(dtype)
            expected = alpha * (a.astype(np.float64) @ b) + beta * c
            assert call(a, b, c, alpha, beta)
            np.testing.assert_allclose(c, expected, rtol=1e-5, atol=1e-5)
    c = np.zeros((20, 9), dtype)
    assert not call(big[::2, ::2][:20, :5], big[:5, :9], c, 1.0, 0.0)  # no contiguous axis
    assert not call(big[:7, :5], big[:6, :9], np.zeros((7, 9), dtype), 1.0, 0.0)  # K differs
    assert not c.any()


def test_threaded_convolution_is_bitwise_the_same_at_one_and_two_threads():
    numba = _two_threads()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 32, 12, 12)).astype(np.float32)
    w = rng.standard_normal((16, 32, 5, 5)).astype(np.float32)
    gy = rng.standard_normal((16, 16, 12, 12)).astype(np.float32)
    nb = NumbaBackend()
    nb.conv_chunk_bytes = 1  # one image per chunk: many chunks, both threads busy
    before = numba.get_num_threads()
    results = []
    min_flops = numba_threads.CHUNK_THREADS_MIN_FLOPS
    numba_threads.CHUNK_THREADS_MIN_FLOPS = 0
    try:
        for threads in (2, 2, 1):
            numba.set_num_threads(threads)
            y = nb.kernels.conv_forward(x, w, None, (2, 2), (1, 1), 1)
            results.append((y, *nb.kernels.conv_backward(x, w, gy, (2, 2), (1, 1), 1)))
    finally:
        numba.set_num_threads(before)
        numba_threads.CHUNK_THREADS_MIN_FLOPS = min_flops
    for a, b in zip(results[0], results[1]):
        np.testing.assert_array_equal(a, b)  # bitwise, same thread count
    for a, b in zip(results[0], results[2]):
        np.testing.assert_array_equal(a, b)  # bitwise at 1 thread too: the same chunks


def test_without_a_cblas_the_backend_says_what_is_missing(monkeypatch):
    """No BLAS library with a CBLAS sgemm/dgemm pair: the binding raises an ImportError that
    says what it looked for, where, and what to do (the backend is then unavailable)."""
    import mocha.plugins.backends.numba_backend.loops.blas as binding

    monkeypatch.setattr(binding, "_blas_files", lambda: [])
    with pytest.raises(ImportError, match=r"no CBLAS .*none found.*NumPy backend"):
        binding._register()
    library = binding.LIBRARY.split(" (")[0]
    with pytest.raises(ImportError, match=r"no_such_sgemm.*libscipy_openblas"):
        binding._register([library], wide=(("no_such_sgemm", "no_such_dgemm"),), narrow=())


def test_the_binding_calls_the_blas_numpy_itself_loaded():
    import mocha.plugins.backends.numba_backend.loops.blas as binding

    root = os.path.dirname(os.path.dirname(np.__file__))
    library = binding.LIBRARY.split(" (")[0]
    assert os.path.realpath(library).startswith(os.path.realpath(root))


_LP64_CHILD = """
import glob, os, sys
import numpy as np, scipy
from numba import njit
import mocha.plugins.backends.numba_backend.loops.blas as binding
libs = glob.glob(os.path.join(os.path.dirname(scipy.__file__) + ".libs", "libscipy_openblas-*"))
if not libs:
    print("NO-LP64-LIBRARY")
    sys.exit(0)
print(binding._register(libs, wide=()))  # SciPy's own OpenBLAS: 32-bit integers
import llvmlite.binding as llvm
assert llvm.address_of_symbol("mocha_sgemm64") == binding._keep[-2].address  # the shim
call = njit(lambda a, b, c, alpha, beta: binding.gemm(a, b, c, alpha, beta))
rng = np.random.default_rng(0)
for dtype in (np.float32, np.float64):
    a = rng.standard_normal((9, 7)).astype(dtype)
    b = rng.standard_normal((5, 7)).astype(dtype).T
    c = rng.standard_normal((9, 5)).astype(dtype)
    expected = 0.5 * (a.astype(np.float64) @ b) + 2.0 * c
    assert call(a, b, c, 0.5, 2.0)
    np.testing.assert_allclose(c, expected, rtol=1e-5, atol=1e-5)
"""


def test_a_32bit_integer_cblas_is_reached_through_the_shim():
    """A conda/MKL NumPy links a CBLAS with 32-bit integers: `gemm` reaches it through a
    compiled shim. Checked in a fresh process against SciPy's own OpenBLAS (LP64)."""
    import subprocess
    import sys

    pytest.importorskip("scipy")
    done = subprocess.run(
        [sys.executable, "-c", _LP64_CHILD], capture_output=True, text=True, timeout=300
    )
    if "NO-LP64-LIBRARY" in done.stdout:
        pytest.skip("SciPy has no bundled OpenBLAS here")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "(scipy_cblas_sgemm)" in done.stdout
