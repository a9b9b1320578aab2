"""Data parallelism as the core sees it: which rank this is, which slice of a batch is its own.
Notes: docs/core.md."""

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
