"""The data layers' shards, in one process: ranks simulated with a stand-in communicator.

For every rank r of N, a data layer built on a backend whose `parallel` says "rank r of N"
serves rows [lo_r, hi_r) of the very batches one process would see; stacked over the ranks
they are the single-process batches, shuffles and wrap-arounds included. No MPI needed.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from mocha import MemoryDataLayer, SetupContext
from mocha.core.parallel import SINGLE_PROCESS, parallel_of
from mocha.distributed import DataParallel, DistributedError
from mocha.plugins.backends.numpy_backend import NumpyBackend
from mocha.plugins.layers.async_hdf5_data import AsyncHDF5DataLayer
from mocha.plugins.layers.hdf5_data import HDF5DataLayer


class FakeComm:
    """Rank `rank` of `size`; a broadcast keeps the local copy (all ranks drew the same)."""

    def __init__(self, rank: int, size: int) -> None:
        self.rank, self.size = rank, size

    def Get_rank(self) -> int:  # noqa: N802 - mpi4py's names
        return self.rank

    def Get_size(self) -> int:  # noqa: N802
        return self.size

    def Bcast(self, buf, root=0):  # noqa: N802
        pass


def ranked_backend(rank: int, size: int, seed: int = 3) -> NumpyBackend:
    backend = NumpyBackend(dtype="float64", seed=seed)
    backend.parallel = DataParallel(FakeComm(rank, size), mpi=None)
    return backend


@pytest.mark.parametrize(("batch", "size"), [(8, 2), (8, 3), (7, 7), (10, 4)])
def test_shard_bounds_partition_the_batch_evenly(batch, size):
    bounds = [DataParallel(FakeComm(r, size), None).shard_bounds(batch) for r in range(size)]
    assert bounds[0][0] == 0 and bounds[-1][1] == batch
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    sizes = [hi - lo for lo, hi in bounds]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_a_batch_smaller_than_the_ranks_is_an_error():
    with pytest.raises(
        DistributedError,
        match=r"MemoryDataLayer\('d'\): batch_size 2 is "
        r"smaller than the 3 MPI ranks",
    ):
        layer = MemoryDataLayer(name="d", data=[np.zeros((5, 2))], tops=["x"], batch_size=2)
        layer.state_cls(layer, ranked_backend(0, 3), [], [], SetupContext())


def test_one_process_is_the_default():
    assert parallel_of(NumpyBackend()) is SINGLE_PROCESS
    assert SINGLE_PROCESS.shard_bounds(5) == (0, 5) and SINGLE_PROCESS.is_root


def batches(layer, backend, steps: int) -> list[list[np.ndarray]]:
    state = layer.state_cls(layer, backend, [], [], SetupContext())
    try:
        out = []
        for _ in range(steps):
            state.forward(backend, [])
            out.append([b.data.copy() for b in state.blobs])
        return out
    finally:
        state.shutdown(backend)


def assert_ranks_stack_to_single(make_layer, size: int, steps: int = 9) -> None:
    single = batches(make_layer(), NumpyBackend(dtype="float64", seed=3), steps)
    ranks = [batches(make_layer(), ranked_backend(r, size), steps) for r in range(size)]
    for t in range(steps):
        for j, whole in enumerate(single[t]):
            np.testing.assert_array_equal(np.concatenate([r[t][j] for r in ranks]), whole)
    assert len(ranks[-1][0][0]) < len(single[0][0])


@pytest.mark.parametrize("size", [2, 3])
@pytest.mark.parametrize("shuffle", [False, True])
def test_memory_data_shards_stack_to_the_single_process_batches(size, shuffle):
    x = np.arange(26 * 2, dtype=np.float64).reshape(26, 2)
    y = np.arange(26, dtype=np.float64).reshape(26, 1)
    assert_ranks_stack_to_single(
        lambda: MemoryDataLayer(name="d", data=[x, y], batch_size=8, shuffle=shuffle), size
    )


@pytest.mark.parametrize("cls", [HDF5DataLayer, AsyncHDF5DataLayer])
def test_hdf5_shards_stack_to_the_single_process_batches(tmp_path, cls):
    for i, n in enumerate([9, 6]):
        with h5py.File(tmp_path / f"f{i}.h5", "w") as f:
            f["data"] = np.arange(100 * i, 100 * i + 2 * n, dtype=np.float64).reshape(n, 2)
            f["label"] = np.arange(n, dtype=np.float64)
    (tmp_path / "list.txt").write_text("f0.h5\nf1.h5\n")
    assert_ranks_stack_to_single(
        lambda: cls(source=str(tmp_path / "list.txt"), batch_size=7, shuffle=True), 3
    )


def test_a_data_layer_that_cannot_split_is_refused_at_the_start():
    import mocha

    backend = ranked_backend(0, 2)
    net = mocha.Net(
        "n",
        backend,
        [
            mocha.RandomNormalLayer(name="noise", tops=["x"], output_dims=(3,), batch_sizes=(2,)),
            mocha.MemoryDataLayer(name="d", data=[np.zeros((6, 1))], tops=["y"], batch_size=4),
            mocha.InnerProductLayer(name="ip", output_dim=1, bottoms=["x"], tops=["z"]),
            mocha.SquareLossLayer(name="loss", bottoms=["z", "y"]),
        ],
    )
    solver = mocha.Solver(mocha.SGD(), mocha.make_solver_parameters(mocha.SGD(), max_iter=1))
    with pytest.raises(
        DistributedError,
        match=r"RandomNormalLayer\('noise'\) of net 'n' does "
        r"not split its batches over MPI ranks",
    ):
        mocha.solve(solver, net)


def test_decay_on_validation_is_refused_at_the_start():
    import mocha

    backend = ranked_backend(0, 2)
    net = mocha.Net(
        "n",
        backend,
        [
            mocha.MemoryDataLayer(
                name="d", data=[np.zeros((6, 2)), np.zeros((6, 1))], batch_size=4
            ),
            mocha.InnerProductLayer(name="ip", output_dim=2, bottoms=["data"], tops=["z"]),
            mocha.SoftmaxLossLayer(name="loss", bottoms=["z", "label"]),
        ],
    )
    policy = mocha.LRPolicy.DecayOnValidation(0.1, "acc-accuracy")
    solver = mocha.Solver(
        mocha.SGD(), mocha.make_solver_parameters(mocha.SGD(), max_iter=1, lr_policy=policy)
    )
    with pytest.raises(
        DistributedError, match="does not support the rewinds of LRPolicy.DecayOnValidation"
    ):
        mocha.solve(solver, net)
