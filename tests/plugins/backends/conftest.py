"""Fixtures of the backend tests.

`threads`: the test runs once with one numba thread and once with two (numba's thread count
of the calling thread, which the compiled loops and the convolutions' chunk plans read; it is
restored afterwards). The Numba kernels take different code paths with more than one thread
(serial vs parallel loops, chunks spread over threads), so agreement is checked at both.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(params=[1, 2], ids=lambda n: f"threads{n}")
def threads(request: pytest.FixtureRequest) -> Iterator[int]:
    numba = pytest.importorskip("numba")
    count = request.param
    if count > numba.config.NUMBA_NUM_THREADS:
        pytest.skip(
            f"numba's pool has {numba.config.NUMBA_NUM_THREADS} thread(s) "
            f"(NUMBA_NUM_THREADS); this case needs {count}"
        )
    before = numba.get_num_threads()
    numba.set_num_threads(count)
    try:
        yield count
    finally:
        numba.set_num_threads(before)
