"""The backends' `threads=`: validated, applied by `init()` to numba's and BLAS's pools (BLAS
through threadpoolctl) and restored by `shutdown()` (`mocha run --threads`:
tests/cli/test_run_threads.py)."""

from __future__ import annotations

import pytest
from threadpoolctl import threadpool_info

from mocha.backend_choice import CPUBackend, DefaultBackend, make_backend
from mocha.core.backend import available_cores, init, shutdown
from mocha.plugins.backends import _blas_threads as blas_threads
from mocha.plugins.backends.numpy_backend import NumpyBackend


def _blas_counts() -> set[int]:
    return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


@pytest.fixture
def blas_at_two():
    if not blas_threads.available():
        pytest.skip("threadpoolctl finds no BLAS here")
    before = blas_threads.set_threads(2)
    try:
        yield
    finally:
        blas_threads.restore(before)


def test_threads_default_to_the_available_cores_and_are_validated():
    assert DefaultBackend().threads == available_cores() >= 1
    assert CPUBackend(threads=1).threads == 1
    assert make_backend("numpy", threads=3).threads == 3
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(ValueError, match=f"threads must be a whole number >= 1, not {bad!r}"):
            NumpyBackend(threads=bad)


def test_numpy_backend_sets_blas_threads_and_restores_them(blas_at_two):
    backend = NumpyBackend(threads=1)
    assert backend.thread_info() == {"threads": 1}
    init(backend)
    try:
        assert _blas_counts() == {1}
    finally:
        shutdown(backend)
    assert _blas_counts() == {2}


def test_numba_backend_sets_numba_threads_keeps_blas_at_one_and_restores(blas_at_two):
    numba = pytest.importorskip("numba")
    from mocha.plugins.backends.numba_backend import NumbaBackend

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs NUMBA_NUM_THREADS >= 2")
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    backend = NumbaBackend(threads=2)
    try:
        init(backend)
        assert numba.get_num_threads() == 2
        assert _blas_counts() == {1}  # BLAS never wakes its own (spinning) workers
        info = backend.thread_info()
        assert info["threads"] == info["numba_threads"] == 2
        shutdown(backend)
        assert numba.get_num_threads() == 1
        assert _blas_counts() == {2}
    finally:
        numba.set_num_threads(before)


def test_numba_backend_refuses_more_threads_than_numbas_pool():
    numba = pytest.importorskip("numba")
    from mocha.plugins.backends.numba_backend import NumbaBackend

    limit = numba.config.NUMBA_NUM_THREADS
    backend = NumbaBackend(threads=limit + 1)
    with pytest.raises(ValueError, match=f"threads={limit + 1} .*NUMBA_NUM_THREADS={limit}"):
        init(backend)
    assert not backend.initialized
    backend = NumbaBackend()  # the default count is lowered to the pool's size instead
    backend.threads = limit + 1
    init(backend)
    try:
        assert backend.threads == limit == numba.get_num_threads()
    finally:
        shutdown(backend)
