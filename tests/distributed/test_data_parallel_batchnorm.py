"""Data-parallel training of a BatchNorm net: every rank ends with the same parameters,
moving statistics included (averaged over the ranks after each backward), where without the
averaging the checksum would stop the job ("the MPI ranks diverged")."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mpi4py")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from test_data_parallel import MPIEXEC, mpirun, params  # noqa: E402

pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec (pip install '.[mpi]')")


def test_batchnorm_statistics_agree_on_every_rank(tmp_path):
    common = ["--method", "sgd", "--iters", "20", "--batch", "8", "--batchnorm"]
    run = mpirun(2, str(tmp_path / "multi"), *common, "--distributed", timeout=120)
    assert run.returncode == 0, run.stderr + run.stdout
    ranks = [params(str(tmp_path / f"multi-sgd-float64.rank{r}.h5")) for r in (0, 1)]
    assert {"bn___mean", "bn___variance", "bn___scale_factor"} <= ranks[0].keys()
    for name in ranks[0]:
        np.testing.assert_array_equal(ranks[1][name], ranks[0][name], err_msg=name)
    assert np.abs(ranks[0]["bn___mean"]).max() > 0  # the statistics did move
