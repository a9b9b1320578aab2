"""Finding MPI: is this process one of an `mpirun` job, is mpi4py there, where is `mpiexec`.

Nothing here imports mpi4py until `import_mpi()` is called, so a process started without
`mpirun` (or without the `mpi` extra) never touches MPI.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from mocha.core.errors import MochaError

MPI_EXTRA_HINT = 'install the mpi extra: pip install "mocha-dl[mpi]" (mpi4py and MPICH)'

# Set by the launchers for every process they start: MPICH/Hydra and Intel MPI (PMI_SIZE),
# Open MPI (OMPI_COMM_WORLD_SIZE), PMIx-based launchers (PMIX_SIZE is not standard, so only
# the first two plus MPICH's MPI_LOCALNRANKS are read).
_SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS")


class DistributedError(MochaError):
    """Distributed training is misconfigured, MPI is missing, or the ranks disagree."""


def launched_world_size(environ: dict[str, str] | None = None) -> int:
    """The number of processes of the `mpirun`/`mpiexec` job this process belongs to, read
    from the launcher's environment variables (1 when not started by an MPI launcher)."""
    env = os.environ if environ is None else environ
    for name in _SIZE_VARIABLES:
        value = env.get(name, "")
        if value.strip().isdigit():
            return max(1, int(value))
    return 1


def import_mpi() -> Any:
    """`mpi4py.MPI`, or a `DistributedError` that says which extra to install."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise DistributedError(
            f"distributed (data-parallel) training needs mpi4py and an MPI library, which "
            f"cannot be imported here ({exc}); {MPI_EXTRA_HINT}"
        ) from None
    return MPI


def find_mpiexec() -> str | None:
    """The `mpiexec` (or `mpirun`) to launch jobs with: first the one next to this Python
    (the `mpich` wheel installs it into the virtual environment's `bin/`), then `PATH`."""
    here = Path(sys.executable).parent
    for name in ("mpiexec", "mpirun"):
        candidate = here / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    for name in ("mpiexec", "mpirun"):
        found = shutil.which(name)
        if found:
            return found
    return None
