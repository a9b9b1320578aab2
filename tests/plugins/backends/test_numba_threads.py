"""Chunk-level parallelism of the Numba backend (`numba_backend.threads`)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("numba")

import mocha.plugins.backends._blas_threads as blas_threads  # noqa: E402
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
    if numba.config.NUMBA_NUM_THREADS >= 2 and blas_threads.available():
        assert big.threads == 2 and len(big.chunks) % 2 == 0
        assert max(n1 - n0 for n0, n1 in big.chunks) <= 2  # 2 MiB per chunk: 2 images
        assert max(n1 - n0 for n0, n1 in small.chunks) <= 8  # 4x as large, one thread


def _two_threads():
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2 or not blas_threads.available():
        pytest.skip("needs 2 numba threads and a BLAS whose threads threadpoolctl can set")
    return numba


def test_map_chunks_runs_every_chunk_once_on_serial_threads():
    numba = _two_threads()
    NumbaBackend().kernels.softmax(np.zeros((2, 2)))  # start numba's pool
    seen: list[tuple[int, int, int, str, int]] = []
    lock = threading.Lock()
    helper_started = threading.Event()

    def job(t, n0, n1):
        if t == 0:  # the caller's first chunk waits until the helper has taken one
            helper_started.wait(30)
        else:
            helper_started.set()
        with lock:
            seen.append((t, n0, n1, threading.current_thread().name, numba.get_num_threads()))

    chunks = [(0, 3), (3, 6), (6, 9), (9, 10)]
    before = numba.get_num_threads()
    numba.set_num_threads(2)
    blas_before = blas_threads.set_threads(2)
    try:
        numba_threads.map_chunks(numba_threads.ChunkPlan(chunks, 2), job)
        after = numba.get_num_threads()
        blas_after = blas_threads.get_threads()
    finally:
        numba.set_num_threads(before)
        blas_threads.restore(blas_before)
    assert after == 2 and set(blas_after) == {2}  # numba's and BLAS's settings are restored
    assert sorted((n0, n1) for _, n0, n1, _, _ in seen) == chunks
    assert {t for t, *_ in seen} == {0, 1}
    assert all(threads == 1 for *_, threads in seen)
    assert {name for t, _, _, name, _ in seen if t == 1} != {threading.current_thread().name}


def test_map_chunks_hands_chunks_to_whichever_thread_is_free():
    """A helper busy with a slow chunk does not hold the others up: the caller takes them."""
    numba = _two_threads()
    seen: list[tuple[int, int]] = []
    lock = threading.Lock()
    release = threading.Event()

    def job(t, n0, n1):
        if t == 1:
            release.wait(30)  # the helper's chunk lasts until the caller has done the rest
        with lock:
            seen.append((t, n0))
            if sum(1 for tt, _ in seen if tt == 0) == 5:
                release.set()

    before = numba.get_num_threads()
    numba.set_num_threads(2)
    try:
        numba_threads.map_chunks(numba_threads.ChunkPlan([(i, i + 1) for i in range(6)], 2), job)
    finally:
        release.set()
        numba.set_num_threads(before)
    assert sorted(n0 for _, n0 in seen) == list(range(6))
    # the helper ran at most one chunk (it may even have started after the caller finished)
    assert sum(1 for t, _ in seen if t == 0) >= 5


def test_map_chunks_propagates_a_chunks_error():
    numba = _two_threads()
    before = numba.get_num_threads()
    numba.set_num_threads(2)

    def job(t, n0, n1):
        if n0 == 1:  # whichever thread runs it
            raise ValueError(f"chunk {n0}:{n1} failed")

    try:
        with pytest.raises(ValueError, match="chunk 1:2 failed"):
            numba_threads.map_chunks(numba_threads.ChunkPlan([(0, 1), (1, 2)], 2), job)
        assert numba.get_num_threads() == 2
    finally:
        numba.set_num_threads(before)


def test_threaded_convolution_is_reproducible_and_matches_one_thread():
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
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3)


def test_chunk_threads_work_in_a_forked_child():
    """A child forked after the helper pool exists gets its own pool instead of waiting
    forever on the parent's (threads do not survive a fork)."""
    import multiprocessing

    numba = _two_threads()
    before = numba.get_num_threads()
    numba.set_num_threads(2)
    try:
        numba_threads.map_chunks(
            numba_threads.ChunkPlan([(0, 1), (1, 2)], 2), lambda t, a, b: None
        )  # the parent's pool exists now
    finally:
        numba.set_num_threads(before)
    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=_map_in_child)
    child.start()
    child.join(60)
    if child.is_alive():
        child.kill()
        pytest.fail("map_chunks hung in a forked child")
    assert child.exitcode == 0


def _map_in_child():
    import numba

    numba.set_num_threads(2)
    seen = []
    numba_threads.map_chunks(
        numba_threads.ChunkPlan([(0, 1), (1, 2)], 2), lambda t, a, b: seen.append(a)
    )
    raise SystemExit(0 if sorted(seen) == [0, 1] else 1)
