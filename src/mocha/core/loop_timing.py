"""Where `solve()`'s time goes: the layers' forward and backward, the update, and the loop's own
cost (everything else: constraints, loss bookkeeping, coffee breaks, resume points, Python).
Notes: docs/core.md."""

from __future__ import annotations

from dataclasses import dataclass
from time import perf_counter
from typing import Any


def clock(backend: Any) -> float:
    """`perf_counter()` once `backend`'s queued device work is done (`synchronize()`; a no-op
    on the CPU), so a GPU's asynchronous kernels count in the part that launched them."""
    return backend.synchronize() or perf_counter()


@dataclass
class LoopTiming:
    """Seconds spent over `iterations` training iterations, by part."""

    iterations: int = 0
    total: float = 0.0
    forward: float = 0.0
    backward: float = 0.0
    update: float = 0.0

    @property
    def overhead(self) -> float:
        """Seconds of the loop's own cost (never below 0)."""
        return max(0.0, self.total - self.forward - self.backward - self.update)

    def summary(self) -> dict[str, Any]:
        """Per-iteration means in ms and `overhead_fraction` (of the iteration's time)."""
        n = max(self.iterations, 1)
        return {
            "iterations": self.iterations,
            "iteration_ms": 1e3 * self.total / n,
            "forward_ms": 1e3 * self.forward / n,
            "backward_ms": 1e3 * self.backward / n,
            "update_ms": 1e3 * self.update / n,
            "overhead_ms": 1e3 * self.overhead / n,
            "overhead_fraction": self.overhead / self.total if self.total > 0 else 0.0,
        }
