"""Data-parallel training under `mpiexec` equals training in one process.

Each test launches `mpiexec -n N python mpi_child.py ...` (the `mpi` extra installs MPICH's
`mpiexec` into the virtual environment) and compares with the same job run in this process
without MPI. They skip when mpi4py or mpiexec is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("mpi4py.MPI", exc_type=ImportError)

from mocha.distributed import find_mpiexec  # noqa: E402

CHILD = Path(__file__).with_name("mpi_child.py")
MPIEXEC = find_mpiexec()
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec (pip install '.[mpi]')")

sys.path.insert(0, str(CHILD.parent))
import mpi_child  # noqa: E402


def mpirun(n: int, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        NUMBA_NUM_THREADS="1",
    )
    return subprocess.run(
        [MPIEXEC, "-n", str(n), sys.executable, str(CHILD), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def params(path: str) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as f:
        return {name: f[name][()] for name in f if isinstance(f[name], h5py.Dataset)}


def result(prefix: Path, method: str, dtype: str, rank: int = 0):
    stem = f"{prefix}-{method}-{dtype}.rank{rank}"
    return params(stem + ".h5"), json.loads(Path(stem + ".json").read_text())


def assert_same(single, multi, rtol: float, atol: float) -> None:
    assert single.keys() == multi.keys() and single
    for name in single:
        np.testing.assert_allclose(multi[name], single[name], rtol=rtol, atol=atol, err_msg=name)


TOL = {"float64": (1e-10, 1e-12), "float32": (2e-4, 2e-5)}


@pytest.mark.parametrize("ranks", [2, 3])
def test_n_ranks_train_like_one_process(tmp_path, ranks):
    """N = 2: global batch 8 = 2 x 4; N = 3: batch 8 split 3 + 3 + 2 (uneven). 50 iterations,
    shuffled data wrapping over epochs, momentum SGD and Adam, float64 and float32."""
    methods, dtypes = "sgd,adam", "float64,float32"
    common = ["--method", methods, "--dtype", dtypes, "--batch", "8", "--iters", "50"]
    mpi_child.main([str(tmp_path / "single"), *common])
    run = mpirun(ranks, str(tmp_path / "multi"), *common, "--distributed")
    assert run.returncode == 0, run.stderr + run.stdout
    assert run.stdout.count("Performance on Validation Set after 50") == len(
        methods.split(",")
    ) * len(dtypes.split(","))  # printed by rank 0 only
    for method in methods.split(","):
        for dtype in dtypes.split(","):
            rtol, atol = TOL[dtype]
            single, info = result(tmp_path / "single", method, dtype)
            multi, minfo = result(tmp_path / "multi", method, dtype)
            assert_same(single, multi, rtol, atol)
            for rank in range(1, ranks):  # every rank applied the identical updates
                other, oinfo = result(tmp_path / "multi", method, dtype, rank)
                for name in multi:
                    np.testing.assert_array_equal(other[name], multi[name])
                assert oinfo["objective"] == minfo["objective"]
            # the reported objective and validation accuracy are the global ones
            trace, mtrace = info["trace"], minfo["trace"]
            assert trace.keys() == mtrace.keys() and len(trace) == 51
            np.testing.assert_allclose([mtrace[k] for k in trace], list(trace.values()), rtol=rtol)
            assert minfo["validation"].keys() == info["validation"].keys() == {"acc-accuracy"}
            assert minfo["validation"]["acc-accuracy"] == pytest.approx(
                info["validation"]["acc-accuracy"], rel=1e-12
            )


def test_a_killed_rank_ends_the_job_and_the_resume_is_exact(tmp_path):
    """Rank 1 is SIGKILLed at iteration 25 of 50 (snapshots every 10): the job ends with
    MPICH's message, the snapshots 0, 10, 20 are intact, and resuming them with 3 ranks (the
    2-rank snapshots on another number of ranks) ends with the uninterrupted parameters."""
    common = [
        "--method",
        "sgd",
        "--dtype",
        "float64",
        "--batch",
        "6",
        "--iters",
        "50",
        "--every",
        "10",
    ]
    mpi_child.main([str(tmp_path / "ref"), *common, "--snapdir", str(tmp_path / "refsnap")])
    snapdir = tmp_path / "snaps"
    killed = mpirun(
        2,
        str(tmp_path / "killed"),
        *common,
        "--snapdir",
        str(snapdir),
        "--distributed",
        "--kill-rank",
        "1",
        "--kill-at",
        "25",
        timeout=60,
    )
    assert killed.returncode != 0
    assert "BAD TERMINATION" in killed.stdout + killed.stderr
    assert not list(tmp_path.glob("killed-*"))  # it never finished
    names = sorted(p.name for p in snapdir.iterdir() if p.name != ".mocha.lock")  # stale lock
    assert names == ["snapshot-000000.h5", "snapshot-000010.h5", "snapshot-000020.h5"]
    for name in names:  # complete files, the same as the single-process ones
        assert_same(
            params(str(tmp_path / "refsnap" / name)), params(str(snapdir / name)), 1e-10, 1e-12
        )
    resumed = mpirun(
        3, str(tmp_path / "resumed"), *common, "--snapdir", str(snapdir), "--distributed"
    )
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    reference, _ = result(tmp_path / "ref", "sgd", "float64")
    final, info = result(tmp_path / "resumed", "sgd", "float64")
    assert_same(reference, final, 1e-10, 1e-12)
    assert min(map(int, info["trace"])) == 20  # it did resume from snapshot 20


def test_diverging_ranks_stop_with_a_clear_error(tmp_path):
    """A weight nudged on rank 1 at iteration 9 is caught by the checksum of iteration 15
    (`check_every=7`: iterations 1, 8, 15, ...) on every rank."""
    run = mpirun(
        2,
        str(tmp_path / "x"),
        "--method",
        "sgd",
        "--iters",
        "30",
        "--distributed",
        "--perturb-rank",
        "1",
        "--perturb-at",
        "9",
        timeout=60,
    )
    assert run.returncode != 0
    assert "iteration 15: the MPI ranks diverged: parameter 'weight' of layer 'ip2'" in (run.stderr)
    assert not list(tmp_path.glob("x-*"))
