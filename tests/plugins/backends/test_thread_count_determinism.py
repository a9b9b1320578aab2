"""Results do not depend on the thread count: a LeNet-sized net trained at 1 and at 2 threads
ends with bitwise the same parameters, with the BLAS kernel OpenBLAS picks and with
`OPENBLAS_CORETYPE=Haswell` (whose kernels round differently for other call shapes, which
made 1 and 2 threads differ before the work split stopped depending on the threads), and a
run resumed at another thread count is exact. Each run is a child process
(`thread_count_child.py`), so the BLAS kernel and numba's pool are set before they load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("numba")

CHILD = Path(__file__).with_name("thread_count_child.py")
ITERS = 8


def _has_avx2() -> bool:
    try:
        return " avx2" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def _env(coretype: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OMP_NUM_THREADS")}
    env["NUMBA_NUM_THREADS"] = "2"
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    return env


def _train(tmp: Path, threads: int, iters: int, name: str, coretype=None, **opts) -> dict:
    out = tmp / f"{name}.h5"
    args = [sys.executable, str(CHILD), str(threads), str(iters), str(out)]
    for key, value in opts.items():
        args += [f"--{key}", str(value)]
    proc = subprocess.run(args, env=_env(coretype), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["threads"] == threads and report["iter"] == iters
    params: dict[str, np.ndarray] = {}
    with h5py.File(out) as f:
        f.visititems(lambda n, o: params.__setitem__(n, o[()]) if hasattr(o, "dtype") else None)
    assert len(params) == 8  # 4 layers x (weights, bias)
    return params


def _assert_bitwise(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype == np.float32
        assert np.array_equal(a[key].view(np.uint32), b[key].view(np.uint32)), key


@pytest.mark.parametrize(
    "coretype",
    [None, pytest.param("Haswell", marks=pytest.mark.skipif(not _has_avx2(), reason="no AVX2"))],
    ids=["native-kernel", "OPENBLAS_CORETYPE=Haswell"],
)
def test_lenet_trains_to_the_same_bits_at_one_and_two_threads(tmp_path, coretype):
    one = _train(tmp_path, 1, ITERS, "one", coretype)
    two = _train(tmp_path, 2, ITERS, "two", coretype)
    _assert_bitwise(one, two)
    start = _train(tmp_path, 1, 0, "start", coretype)
    assert any(not np.array_equal(start[k], one[k]) for k in one)  # it did train


def test_a_run_resumed_at_another_thread_count_is_exact(tmp_path):
    straight = _train(tmp_path, 1, ITERS, "straight")
    snapdir = tmp_path / "snapshots"
    _train(tmp_path, 2, ITERS // 2, "first_half", snapdir=snapdir, every=ITERS // 2)
    assert any(snapdir.iterdir())
    resumed = _train(tmp_path, 1, ITERS, "resumed", snapdir=snapdir, every=ITERS // 2)
    _assert_bitwise(straight, resumed)
