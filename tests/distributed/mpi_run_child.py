"""`mocha run ARGS...` with a fault injected, for tests/distributed/test_mpi_faults.py (run under
mpiexec):

    python mpi_run_child.py FAULT ARGS...

FAULT is one of
* `none`;
* `interleave`: on ranks other than 0, the snapshot folder is seen missing by the first
  look (`os.path.isdir`) and, as rank 0 creates it meanwhile, present by any later look: the
  bad interleaving of a fresh start (`load_from` = a folder that does not exist yet);
* `raise-at-K`: rank 1 raises an error in the coffee breaks of iteration K, so the job is
  aborted (`MPI_Abort`) while rank 0 holds the snapshot folder's lock.
"""

from __future__ import annotations

import os
import sys

import mocha.experiment
from mocha.cli.app import main
from mocha.core.coffee import CoffeeBreak


class RaiseAt(CoffeeBreak):
    all_ranks = True

    def __init__(self, iteration: int) -> None:
        self.iteration = iteration

    def enjoy(self, lounge, solver, net, state):
        if state.iter == self.iteration and net.backend.parallel.rank == 1:
            raise RuntimeError(f"injected fault on rank 1 at iteration {state.iter}")


def _interleave(folder: str) -> None:
    real_isdir = os.path.isdir

    def isdir(path):
        if os.path.abspath(os.fspath(path)) == folder:
            os.makedirs(folder, exist_ok=True)  # rank 0 creates it right after this look
            return False
        return real_isdir(path)

    os.path.isdir = isdir


def _rank() -> int:
    return int(os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "0")))


if __name__ == "__main__":
    fault, args = sys.argv[1], sys.argv[2:]
    if fault == "interleave" and _rank() != 0:
        _interleave(os.path.abspath(args[args.index("--load-from") + 1]))
    elif fault.startswith("raise-at-"):
        run = mocha.experiment.run_experiment
        at = int(fault.rsplit("-", 1)[1])

        def run_with_fault(exp, options=None, *, extra_coffee_breaks=(), **overrides):
            extra = [*extra_coffee_breaks, (RaiseAt(at), 1)]
            return run(exp, options, extra_coffee_breaks=extra, **overrides)

        mocha.experiment.run_experiment = run_with_fault
    sys.argv = ["mocha", *args]
    main()
