"""Data-parallel training over MPI (the `mpi` extra: mpi4py and MPICH from PyPI).

    mpirun -n 4 mocha run EXPERIMENT.toml          # the command line turns it on by itself

From Python, call `enable(backend)` before building the nets, then train as usual and launch
the script with `mpirun -n N python train.py`:

    import mocha.distributed
    backend = mocha.make_backend("numpy"); mocha.init(backend)
    mocha.distributed.enable(backend)      # every rank: same RNG as rank 0, batches split
    net = Net(...); solver = Solver(...); solve(solver, net)

Each data layer's `batch_size` is the *global* mini-batch: rank r serves its own rows of each
batch, gradients are averaged by allreduce before the update (weighted by the rows each rank
served), so N ranks train exactly like one process (up to the order of floating-point sums).
Rank 0 alone prints, draws progress and writes snapshots and statistics; validation is split
over the ranks and its statistics combined. See `mocha.core.parallel` for the hooks and
`mocha.distributed.data_parallel` for the reduction.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from mocha.core.parallel import parallel_of
from mocha.distributed.data_parallel import DataParallel, bcast_json
from mocha.distributed.launch import (
    MPI_EXTRA_HINT,
    DistributedError,
    find_mpiexec,
    import_mpi,
    launched_world_size,
)

__all__ = [
    "MPI_EXTRA_HINT",
    "DataParallel",
    "DistributedError",
    "enable",
    "find_mpiexec",
    "import_mpi",
    "is_root",
    "launched_world_size",
    "rank_and_size",
]


def enable(
    backend: Any,
    *,
    comm: Any = None,
    bucket_mb: float = 4.0,
    check_every: int = 100,
    abort_on_error: bool = True,
    quiet: bool = True,
) -> DataParallel:
    """Make `backend` data-parallel over `comm` (default `MPI.COMM_WORLD`); returns the
    `DataParallel`. Call it on every rank, after `mocha.init(backend)` and before building nets.

    Args:
        bucket_mb: size of the gradient buckets reduced together (MiB).
        check_every: compare parameter checksums across ranks every that many iterations
            (0: never).
        abort_on_error: an exception that escapes to the top of any rank aborts the whole
            job (`MPI_Abort`) instead of leaving the others waiting forever.
        quiet: ranks other than 0 log warnings only.

    Raises:
        DistributedError: mpi4py cannot be imported (the message names the extra).
    """
    mpi = import_mpi()
    comm = comm if comm is not None else mpi.COMM_WORLD
    parallel = DataParallel(comm, mpi, bucket_mb=bucket_mb, check_every=check_every)
    backend.set_rng_state(bcast_json(comm, backend.rng_state()))  # same draws on every rank
    backend.parallel = parallel
    if abort_on_error and parallel.size > 1:
        _abort_on_uncaught(comm)
    if quiet and parallel.rank != 0:
        logging.getLogger("mocha").setLevel(logging.WARNING)
    return parallel


def is_root(backend: Any = None) -> bool:
    """Whether this process prints and saves: rank 0 of `backend`'s data-parallel run, or of
    `MPI.COMM_WORLD` when no backend is given and mpi4py is already imported."""
    if backend is not None:
        return parallel_of(backend).is_root
    return rank_and_size()[0] == 0


def rank_and_size() -> tuple[int, int]:
    """(rank, size) in `MPI.COMM_WORLD` when mpi4py is already imported, else (0, 1)."""
    mpi_module = sys.modules.get("mpi4py.MPI")
    if mpi_module is None:
        return 0, 1
    world = mpi_module.COMM_WORLD
    return world.Get_rank(), world.Get_size()


def _abort_on_uncaught(comm: Any) -> None:
    previous = sys.excepthook

    def hook(kind: Any, value: Any, tb: Any) -> None:
        previous(kind, value, tb)
        sys.stderr.flush()
        comm.Abort(1)

    if getattr(sys.excepthook, "_mocha_mpi_abort", False):
        return
    hook._mocha_mpi_abort = True  # type: ignore[attr-defined]
    sys.excepthook = hook
