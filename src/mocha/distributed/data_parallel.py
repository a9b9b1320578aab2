"""`DataParallel`: the MPI implementation of the core's data-parallel hooks.

Every rank holds the whole net and the same parameters. Rank r serves rows `[lo_r, hi_r)` of
each global mini-batch of B samples (`shard_bounds`: the B rows split as evenly as possible,
the first `B mod N` ranks one more), so its loss layers average over n_r = hi_r - lo_r
samples. The single-process gradient is then the weighted sum

    g = Σ_r (n_r / B) · g_r

which one `MPI_Allreduce(SUM)` of the pre-scaled gradients computes; the same weights combine
the objective and the losses. A regularizer's gradient (added in backward) is identical on
every rank and the weights sum to 1, so it counts once; constraints and the update run after
the reduction on identical values, so every rank applies the identical update. This assumes
loss layers that average over their batch (all built-in ones do).

Gradients travel in buckets of about `bucket_mb` MiB (contiguous host buffers, allocated
once), each reduced by a non-blocking `Iallreduce` so that the buckets pipeline; they are
reduced after the whole backward. Overlapping them with backward does not pay here: MPICH and
Open MPI only progress a non-blocking collective inside MPI calls (no progress thread by
default), and the numpy/numba backends compute backward on the calling thread, so a bucket
started early would still finish inside the final wait (see benchmarks/README.md).

Every `check_every` iterations a checksum of every parameter (sum and sum of squares) is
compared across ranks (one small allreduce); a difference stops training on every rank with
a `DistributedError` naming the parameter.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import numpy as np

from mocha.core.parallel import Parallel
from mocha.distributed.launch import DistributedError

logger = logging.getLogger("mocha")

# has_stats layers keep running means with `n_accum`: these attributes are combined by weight
RUNNING_MEANS = ("accuracy", "loss_accum")


class DataParallel(Parallel):
    """Data-parallel training over the MPI communicator `comm` (see the module docstring)."""

    def __init__(self, comm: Any, mpi: Any, bucket_mb: float = 4.0, check_every: int = 100):
        if bucket_mb <= 0:
            raise DistributedError(f"bucket_mb must be > 0, got {bucket_mb}")
        if int(check_every) != check_every or check_every < 0:
            raise DistributedError(f"check_every must be an int >= 0, got {check_every}")
        self.comm, self.mpi = comm, mpi
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.bucket_bytes = int(bucket_mb * (1 << 20))
        self.check_every = int(check_every)
        self.weight = 1.0 / self.size  # n_r / B, set from the training net's data layer
        self._buckets: list[tuple[np.ndarray, list[tuple[Any, int, int]]]] = []
        self._bucket_key: tuple = ()
        self.allreduce_seconds = 0.0  # time spent reducing gradients (benchmarks)
        self.allreduce_bytes = 0

    def __repr__(self) -> str:
        return f"DataParallel(rank={self.rank}, size={self.size})"

    # -- data ----------------------------------------------------------------------------
    def shard_bounds(self, batch_size: int, who: str = "") -> tuple[int, int]:
        base, extra = divmod(int(batch_size), self.size)
        if base == 0:
            raise DistributedError(
                f"{who or 'a data layer'}: batch_size {batch_size} is smaller than the "
                f"{self.size} MPI ranks; every rank needs at least one sample of each batch "
                f"(the batch size is the global one, split over the ranks)"
            )
        lo = self.rank * base + min(self.rank, extra)
        return lo, lo + base + (1 if self.rank < extra else 0)

    def agree(self, array: Any) -> Any:
        host = np.ascontiguousarray(np.asarray(array))
        self.comm.Bcast(host, root=0)
        return host

    # -- solver hooks --------------------------------------------------------------------
    def after_init(self, solver: Any, net: Any, state: Any) -> None:
        policy = solver.params.get("lr_policy")
        if callable(getattr(policy, "on_validation", None)):  # LRPolicy.DecayOnValidation
            raise DistributedError(
                f"{policy!r}: data-parallel training does not support the rewinds of "
                f"LRPolicy.DecayOnValidation yet; use another learning-rate policy with mpirun"
            )
        for each in [net, *_other_nets(solver)]:
            _check_sharded(each)
        self.weight = _shard_weight(net)
        for _, param in net.parameters():  # parameters from rank 0
            data = param.blob.data
            host = np.ascontiguousarray(net.backend.to_host(data))
            self.comm.Bcast(host, root=0)
            data[...] = net.backend.asarray(host, dtype=data.dtype)
        self._bucket_key = ()

    def after_forward(self, solver: Any, net: Any, state: Any) -> None:
        names = sorted(state.losses)
        local = np.array([state.obj_val] + [state.losses[n] for n in names], dtype=np.float64)
        local *= self.weight
        total = np.empty_like(local)
        self.comm.Allreduce(local, total, op=self.mpi.SUM)
        state.obj_val = float(total[0])
        state.losses = {n: float(v) for n, v in zip(names, total[1:])}

    def after_backward(self, solver: Any, net: Any, state: Any) -> None:
        self.average_statistics(net)
        if self.check_every and (state.iter - 1) % self.check_every == 0:
            self.check_parameters(net, state.iter)
        grads = [p.gradient.data for s in net.trainable_states() for p in s.parameters]
        if not grads:
            return
        started = time.perf_counter()
        buckets = self._layout(grads)
        backend = net.backend
        requests = []
        for buf, members in buckets:
            for g, lo, hi in members:
                buf[lo:hi] = backend.to_host(g).reshape(-1)
            buf *= self.weight
            requests.append(self.comm.Iallreduce(self.mpi.IN_PLACE, buf, op=self.mpi.SUM))
            self.allreduce_bytes += buf.nbytes
        self.mpi.Request.Waitall(requests)
        for buf, members in buckets:
            for g, lo, hi in members:
                g[...] = backend.asarray(buf[lo:hi].reshape(g.shape), dtype=g.dtype)
        self.allreduce_seconds += time.perf_counter() - started

    def after_breaks(self, solver: Any, net: Any, state: Any) -> None:
        flags = np.array(
            [1 if solver.stop_requested else 0, 1 if solver._rewind_request is not None else 0],
            dtype=np.int64,
        )
        self.comm.Allreduce(self.mpi.IN_PLACE, flags, op=self.mpi.MAX)
        if flags[1]:
            solver._rewind_request = None
            raise DistributedError(
                f"iteration {state.iter}: a coffee break asked to rewind to a snapshot "
                f"(LRPolicy.DecayOnValidation), which data-parallel training does not support "
                f"yet; use another learning-rate policy with mpirun"
            )
        if flags[0]:
            solver.stop_requested = True

    def average_statistics(self, net: Any) -> None:
        """Moving statistics kept as parameters (the `statistics` of a layer state, e.g.
        BatchNormLayer's mean and variance, folded in by its backward from this rank's shard)
        become their weighted mean over the ranks, Σ_r (n_r / B)·s_r, so that every rank
        holds the same values. Each rank normalizes with its own shard's batch statistics
        (no synchronized BatchNorm), so a BatchNorm net trains close to, not exactly like,
        one process."""
        arrays = [p.blob.data for s in net.states for p in getattr(s, "statistics", ())]
        if not arrays:
            return
        backend = net.backend
        local = np.concatenate(
            [np.asarray(backend.to_host(a), dtype=np.float64).reshape(-1) for a in arrays]
        )
        local *= self.weight
        total = np.empty_like(local)
        self.comm.Allreduce(local, total, op=self.mpi.SUM)
        at = 0
        for a in arrays:
            a[...] = backend.asarray(total[at : at + a.size].reshape(a.shape), dtype=a.dtype)
            at += a.size

    def reduce_statistics(self, net: Any) -> None:
        states = [s for s in net.states if s.layer.has_stats]
        local: list[float] = []
        for s in states:
            n = float(getattr(s, "n_accum", 0))
            local.append(n)
            local.extend(float(getattr(s, a)) * n for a in RUNNING_MEANS if hasattr(s, a))
        if not local:
            return
        total = np.empty(len(local), dtype=np.float64)
        self.comm.Allreduce(np.array(local, dtype=np.float64), total, op=self.mpi.SUM)
        i = 0
        for s in states:
            n, i = total[i], i + 1
            for a in RUNNING_MEANS:
                if hasattr(s, a):
                    setattr(s, a, float(total[i] / n) if n else 0.0)
                    i += 1
            if hasattr(s, "n_accum"):
                s.n_accum = int(n)
            else:
                logger.warning(
                    "%s keeps no n_accum; its statistics are rank %d's share only",
                    type(s).__name__,
                    self.rank,
                )

    # -- checks --------------------------------------------------------------------------
    def check_parameters(self, net: Any, iteration: int) -> None:
        """Compare a checksum of every parameter across ranks; raise when they differ."""
        params = net.parameters()
        sums = []
        for _, p in params:
            host = np.asarray(net.backend.to_host(p.blob.data), dtype=np.float64)
            sums.extend((float(host.sum()), float(np.square(host).sum())))
        local = np.array(sums + [-v for v in sums], dtype=np.float64)
        high = np.empty_like(local)
        self.comm.Allreduce(local, high, op=self.mpi.MAX)
        k = len(sums)
        bad = [j for j in range(k) if high[j] != -high[k + j]]
        if bad:
            layer, param = params[bad[0] // 2]
            message = (
                f"iteration {iteration}: the MPI ranks diverged: parameter {param.name!r} of "
                f"layer {layer!r} differs between ranks (checksum from {-high[k + bad[0]]!r} "
                f"to {high[bad[0]]!r}); every rank must run the same net, solver and data"
            )
            # said now, on every rank: when one rank exits with the exception, mpiexec kills
            # the others, often before their tracebacks (and this message, their last line)
            # reach stderr
            logger.error("rank %d: %s", self.rank, message)
            raise DistributedError(message)

    def _layout(self, grads: list[Any]) -> list[tuple[np.ndarray, list[tuple[Any, int, int]]]]:
        """Buckets of about `bucket_bytes`, rebuilt when the gradient arrays change."""
        key = tuple((id(g), g.shape, str(g.dtype)) for g in grads)
        if key == self._bucket_key:
            return self._buckets
        buckets, current, size, dtype = [], [], 0, None
        for g in grads:
            if current and (size * g.dtype.itemsize >= self.bucket_bytes or g.dtype != dtype):
                buckets.append((np.empty(size, dtype=dtype), current))
                current, size = [], 0
            dtype = g.dtype
            current.append((g, size, size + int(g.size)))
            size += int(g.size)
        buckets.append((np.empty(size, dtype=dtype), current))
        self._buckets, self._bucket_key = buckets, key
        return buckets


def _other_nets(solver: Any) -> list[Any]:
    nets = []
    for scheduled in solver.coffee_lounge.coffee_breaks:
        getter = getattr(scheduled.coffee, "resume_nets", None)
        if callable(getter):
            nets.extend(getter())
    return nets


def _check_sharded(net: Any) -> None:
    for i in net.data_layers:
        state = net.states[i]
        if getattr(state, "shard", None) is None:
            raise DistributedError(
                f"{type(state.layer).__name__}({state.layer.name!r}) of net {net.name!r} does "
                f"not split its batches over MPI ranks, so data-parallel training cannot use "
                f"it; use MemoryDataLayer, HDF5DataLayer or AsyncHDF5DataLayer"
            )


def _shard_weight(net: Any) -> float:
    """n_r / B of the training net's data layers (all must split the same way)."""
    weights = set()
    for i in net.data_layers:
        lo, hi, batch = net.states[i].shard
        weights.add((hi - lo) / batch)
    if len(weights) > 1:
        raise DistributedError(
            f"net {net.name!r}: its data layers split their batches into different fractions "
            f"({sorted(weights)}) over the MPI ranks; give them batch sizes divisible by the "
            f"number of ranks"
        )
    return weights.pop() if weights else 1.0


def bcast_json(comm: Any, value: Any) -> Any:
    """Rank 0's `value` (JSON-able) on every rank."""
    return json.loads(comm.bcast(json.dumps(value) if comm.Get_rank() == 0 else None, root=0))
