"""Data parallelism as the core sees it: which rank this is, which slice of a batch is its own.

In one process (the default) this is rank 0 of 1: every data layer serves whole batches and
every hook does nothing, so nothing changes. `mocha.distributed.enable(backend)` (needs the
`mpi` extra) puts a `DataParallel` on `backend.parallel` *before the nets are built*; then

* **data layers** (`MemoryDataLayer`, `HDF5DataLayer`, `AsyncHDF5DataLayer`) allocate their
  tops for `shard_bounds(batch_size)` only: every rank walks the same global stream of
  mini-batches (same seed, same cursor) and keeps rows `[lo, hi)` of each; the union over the
  ranks is exactly the single-process batch. Shuffle orders drawn during training go through
  `agree(order)` (rank 0's copy), so ranks never disagree on a permutation;
* **the solver** calls `after_init` (broadcast the parameters from rank 0), `after_forward`
  (reduce the objective and losses), `after_backward` (average the gradients, weighted by the
  shard sizes, so every rank applies the single-process update) and `after_breaks` (agree on
  a stop request);
* **the coffee lounge** runs a break on ranks other than 0 only when the break sets
  `all_ranks = True` (ValidationPerformance, whose evaluation is collective); statistics and
  snapshots are written by rank 0 alone;
* **statistics** of has_stats layers are combined by `reduce_statistics(net)` after a
  validation epoch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mocha.core.backend import Backend
    from mocha.core.net import Net
    from mocha.core.solver import Solver


class Parallel:
    """One process: rank 0 of 1, whole batches, hooks that do nothing."""

    rank: int = 0
    size: int = 1

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def shard_bounds(self, batch_size: int, who: str = "") -> tuple[int, int]:
        """Rows `[lo, hi)` of a global batch of `batch_size` that this rank serves."""
        return 0, batch_size

    def agree(self, array: Any) -> Any:
        """Rank 0's copy of an array every rank drew the same way (a shuffle order)."""
        return array

    def after_init(self, solver: Solver, net: Net, state: Any) -> None:
        """Before the first forward: parameters made equal on every rank."""

    def after_forward(self, solver: Solver, net: Net, state: Any) -> None:
        """After each forward: `state.obj_val` and `state.losses` over the global batch."""

    def after_backward(self, solver: Solver, net: Net, state: Any) -> None:
        """After each backward, before the update: the global-batch gradients."""

    def after_breaks(self, solver: Solver, net: Net, state: Any) -> None:
        """After the coffee breaks: every rank stops when one asked to."""

    def reduce_statistics(self, net: Net) -> None:
        """The statistics of `net`'s has_stats layers over every rank's share of the data."""


SINGLE_PROCESS = Parallel()


def parallel_of(backend: Backend) -> Parallel:
    """The data-parallel context installed on `backend` (one process when there is none)."""
    return getattr(backend, "parallel", None) or SINGLE_PROCESS
