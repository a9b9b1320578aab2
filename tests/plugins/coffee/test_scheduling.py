"""Coffee-break scheduling and the lounge's statistics file (semantics §7.1, §7.3)."""

from __future__ import annotations

import io

import h5py
import numpy as np
import pytest

import mocha
from mocha import CoffeeBreak, MochaError, add_coffee_break, setup_coffee_lounge

RNG = np.random.default_rng(9)


class Calls(CoffeeBreak):
    def __init__(self):
        self.iters = []

    def enjoy(self, lounge, solver, net, state):
        self.iters.append(state.iter)


def _net(n=8, batch_size=3):
    backend = mocha.make_backend("numpy", dtype="float64", seed=0)
    backend.param_registry.clear()
    x = RNG.standard_normal((n, 3))
    y = RNG.integers(0, 2, (n, 1)).astype(float)
    return mocha.Net(
        "sched",
        backend,
        [
            mocha.MemoryDataLayer(name="data", data=[x, y], batch_size=batch_size),
            mocha.InnerProductLayer(name="ip", output_dim=2, bottoms=["data"], tops=["ip"]),
            mocha.SoftmaxLossLayer(name="loss", bottoms=["ip", "label"]),
        ],
    )


def _solver(max_iter, **kw):
    return mocha.Solver(
        mocha.SGD(), mocha.make_solver_parameters(mocha.SGD(), max_iter=max_iter, **kw)
    )


def test_every_n_iter_fires_on_multiples_including_zero():
    solver = _solver(10)
    every3, every1 = Calls(), Calls()
    add_coffee_break(solver, every3, every_n_iter=3)
    add_coffee_break(solver, every1, every_n_iter=1)
    mocha.solve(solver, _net())
    assert every3.iters == [0, 3, 6, 9]
    assert every1.iters == list(range(11))


@pytest.mark.parametrize("n,bs,every", [(8, 3, 1), (8, 3, 2), (3, 3, 1), (5, 2, 3)])
def test_every_n_epoch_follows_the_data_layer_and_never_fires_at_zero(n, bs, every):
    max_iter = 12
    solver = _solver(max_iter)
    calls = add_coffee_break(solver, Calls(), every_n_epoch=every)
    mocha.solve(solver, _net(n, bs))

    def epoch(t):  # after the forward of iteration t the layer consumed (t + 1)·bs samples
        return (t + 1) * bs // n

    expected = [
        t for t in range(1, max_iter + 1) if epoch(t) != epoch(t - 1) and epoch(t) % every == 0
    ]
    assert calls.iters == expected
    if n == bs:  # the initial forward already completed an epoch: still no break at 0
        assert epoch(0) == 1 and calls.iters[0] == 1


def test_every_n_iter_wins_over_every_n_epoch():
    solver = _solver(4)
    calls = add_coffee_break(solver, Calls(), every_n_iter=2, every_n_epoch=1)
    mocha.solve(solver, _net(3, 3))
    assert calls.iters == [0, 2, 4]


def test_negative_schedule_is_refused():
    with pytest.raises(ValueError, match="every_n_iter=-1"):
        add_coffee_break(_solver(1), Calls(), every_n_iter=-1)


def _summary():
    return mocha.TrainingSummary("iter", "obj_val", "learning_rate", stream=io.StringIO())


def _file(path):
    with h5py.File(path, "r") as f:
        return {k: dict(zip(f[k]["iter"][()].tolist(), f[k]["value"][()].tolist())) for k in f}


def test_statistics_land_in_the_lounge_and_its_file(tmp_path):
    path = tmp_path / "sub" / "statistics.h5"
    solver = _solver(7)
    setup_coffee_lounge(solver, save_into=str(path), every_n_iter=3)
    add_coffee_break(solver, _summary(), every_n_iter=2)
    seen_on_disk = {}

    class Peek(CoffeeBreak):  # runs before the lounge saves in the same check
        def enjoy(self, lounge, solver, net, state):
            if state.iter == 5:
                seen_on_disk.update(_file(path))

    add_coffee_break(solver, Peek(), every_n_iter=1)
    state = mocha.solve(solver, _net())
    lounge = solver.coffee_lounge
    assert sorted(lounge.statistics) == ["learning_rate", "obj_val"]
    assert sorted(lounge.statistics["obj_val"]) == [0, 2, 4, 6]
    assert lounge.statistics["obj_val"][6] == pytest.approx(lounge.series("obj_val")[1][-1])
    assert sorted(seen_on_disk["obj_val"]) == [0, 2]  # saved at iteration 3, not yet at 4
    assert _file(path) == lounge.statistics  # the final save at the end of the solve
    assert state.iter == 7


def test_merge_overwrite_panic(tmp_path):
    path = str(tmp_path / "statistics.h5")
    first = _solver(4)
    setup_coffee_lounge(first, save_into=path)
    add_coffee_break(first, _summary(), every_n_iter=2)
    mocha.solve(first, _net())
    before = _file(path)

    merged = _solver(4)
    setup_coffee_lounge(merged, save_into=path, file_exists="merge")
    add_coffee_break(
        merged, mocha.TrainingSummary("iter", "momentum", stream=io.StringIO()), every_n_iter=3
    )
    mocha.solve(merged, _net())
    after = _file(path)
    assert after["obj_val"] == before["obj_val"]  # kept from the first run
    assert sorted(after["momentum"]) == [0, 3]  # added by the second

    overwrite = _solver(1)
    setup_coffee_lounge(overwrite, save_into=path, file_exists="overwrite")
    add_coffee_break(
        overwrite, mocha.TrainingSummary("iter", "momentum", stream=io.StringIO()), every_n_iter=1
    )
    mocha.solve(overwrite, _net())
    assert sorted(_file(path)) == ["momentum"]

    panic = _solver(1)
    setup_coffee_lounge(panic, save_into=path, file_exists="panic")
    with pytest.raises(MochaError, match="already exists"):
        mocha.solve(panic, _net())
    with pytest.raises(ValueError, match="file_exists"):
        setup_coffee_lounge(panic, save_into=path, file_exists="append")


def test_a_failed_load_leaves_the_statistics_file_alone(tmp_path):
    path = str(tmp_path / "statistics.h5")
    first = _solver(2)
    setup_coffee_lounge(first, save_into=path)
    add_coffee_break(first, _summary(), every_n_iter=1)
    mocha.solve(first, _net())
    before = _file(path)
    bad = tmp_path / "model.h5"
    bad.write_bytes(b"not an HDF5 file")
    second = _solver(2, load_from=str(bad))
    setup_coffee_lounge(second, save_into=path)
    events = []

    class Life(CoffeeBreak):
        def init(self, lounge, solver, net):
            events.append("init")

        def enjoy(self, lounge, solver, net, state):
            pass

        def destroy(self, lounge, solver, net):
            events.append("destroy")

    add_coffee_break(second, Life(), every_n_iter=1)
    with pytest.raises(mocha.SnapshotError, match="cannot open"):
        mocha.solve(second, _net())
    assert _file(path) == before and events == []


def test_nan_at_iteration_zero_still_shuts_the_breaks_down():
    net = _net()
    net.states[0].arrays[0][0, 0] = np.nan  # the first mini-batch
    solver = _solver(3)
    events = []

    class Life(CoffeeBreak):
        def init(self, lounge, solver, net):
            events.append("init")

        def enjoy(self, lounge, solver, net, state):
            events.append(state.iter)

        def destroy(self, lounge, solver, net):
            events.append("destroy")

    add_coffee_break(solver, Life(), every_n_iter=1)
    with np.errstate(all="ignore"), pytest.raises(mocha.SolverError, match="iteration 0"):
        mocha.solve(solver, net)
    assert events == ["init", "destroy"]
