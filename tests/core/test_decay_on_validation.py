"""LRPolicy.DecayOnValidation (semantics §6.7): when the validation statistic gets worse, the
solver rewinds to the last good snapshot (parameters, momentum, iteration) and the rate is
scaled by gamma."""

from __future__ import annotations

import io

import h5py
import numpy as np
import pytest

import mocha
from mocha import CoffeeBreak, LRPolicy, MomPolicy, add_coffee_break, registry_reset

RNG = np.random.default_rng(4)
N, D, C = 6, 4, 3
X = RNG.standard_normal((N, D))
Y = RNG.integers(0, C, (N, 1)).astype(float)


class ScriptedValidation(mocha.ValidationPerformance):
    """A validation whose statistic follows a script (one value per call)."""

    def __init__(self, values):
        super().__init__(validation_net=None)
        self.values = list(values)

    def init(self, lounge, solver, net):
        pass

    def enjoy(self, lounge, solver, net, state):
        lounge.update_statistics("acc-accuracy", self.values.pop(0))
        for listener in self.listeners:
            listener(lounge, net, state)


class Record(CoffeeBreak):
    def __init__(self):
        self.rows = []

    def enjoy(self, lounge, solver, net, state):
        w = net.state_of("ip").parameters[0].blob.to_host().copy()
        self.rows.append((state.iter, state.internal["learning_rate"], w))


def _net(backend, y=Y, name="train", phase="train", layers=None):
    loss = (
        mocha.SoftmaxLossLayer(name="loss", bottoms=["ip", "label"])
        if phase == "train"
        else mocha.AccuracyLayer(name="acc", bottoms=["ip", "label"])
    )
    return mocha.Net(
        name,
        backend,
        [mocha.MemoryDataLayer(name="data", data=[X, y], batch_size=N), *layers, loss],
        phase=phase,
    )


def _ip():
    return [mocha.InnerProductLayer(name="ip", output_dim=C, bottoms=["data"], tops=["ip"])]


def test_worse_validation_rewinds_to_the_good_snapshot_and_halves_the_rate(tmp_path):
    backend = mocha.make_backend("numpy", dtype="float64", seed=2)
    registry_reset(backend)
    net = _net(backend, layers=_ip())
    policy = LRPolicy.DecayOnValidation(0.1, "acc-accuracy", 0.5)
    solver = mocha.Solver(
        mocha.SGD(),
        mocha.make_solver_parameters(
            mocha.SGD(), max_iter=8, lr_policy=policy, mom_policy=MomPolicy.Fixed(0.9)
        ),
    )
    add_coffee_break(solver, mocha.Snapshot(str(tmp_path)), every_n_iter=2)
    validation = add_coffee_break(
        solver, ScriptedValidation([0.5, 0.6, 0.7, 0.65, 0.72, 0.8]), every_n_iter=2
    )
    mocha.setup(policy, validation, solver)
    rec = add_coffee_break(solver, Record(), every_n_iter=1)
    state = mocha.solve(solver, net)

    assert state.iter == 8
    assert [r[0] for r in rec.rows] == [0, 1, 2, 3, 4, 5, 6, 5, 6, 7, 8]
    assert [r[1] for r in rec.rows] == [0.1] * 7 + [0.05] * 4
    assert (policy.curr_lr, policy.n_decays, policy.best) == (0.05, 1, (8, 0.8))
    assert solver.coffee_lounge.statistics["acc-accuracy"] == {
        0: 0.5,
        2: 0.6,
        4: 0.7,
        6: 0.72,
        8: 0.8,
    }
    # the step after the rewind starts from snapshot 4 with its momentum, at half the rate:
    # W5' - W4 - μ·h4 = (W5 - W4 - μ·h4) / 2
    with h5py.File(tmp_path / "snapshot-000004.h5", "r") as f:
        w4, h4 = f["ip___weight"][()], f["solver/history/ip___weight/h"][()]
        # rewritten after the rewind: a resume from it keeps the decayed rate
        assert '"curr_lr": 0.05' in f["solver"].attrs["lr_policy"]
        assert bool(f["solver"].attrs["exact_resume"])
    np.testing.assert_array_equal(rec.rows[4][2], w4)
    assert np.abs(h4).max() > 0
    first, second = rec.rows[5][2] - w4 - 0.9 * h4, rec.rows[7][2] - w4 - 0.9 * h4
    np.testing.assert_allclose(second, first / 2, rtol=1e-10, atol=1e-15)
    # the abandoned trajectory's snapshot was set aside, then iteration 6 was saved again
    with h5py.File(tmp_path / "snapshot-000006.abandoned.h5", "r") as f:
        abandoned = f["ip___weight"][()]
        assert f["solver"].attrs["iteration"] == 6
    with h5py.File(tmp_path / "snapshot-000006.h5", "r") as f:
        assert not np.array_equal(f["ip___weight"][()], abandoned)
        assert '"curr_lr": 0.05' in f["solver"].attrs["lr_policy"]
    net.shutdown()


def test_real_validation_that_drops_decays_until_min_lr(tmp_path):
    backend = mocha.make_backend("numpy", dtype="float64", seed=2)
    registry_reset(backend)
    layers = _ip()
    wrong = (Y + 1) % C  # training on shifted labels makes validation accuracy fall
    net = _net(backend, y=wrong, layers=layers)
    vnet = _net(backend, name="valid", phase="test", layers=layers)
    policy = LRPolicy.DecayOnValidation(0.5, "acc-accuracy", 0.5, min_lr=0.2)
    solver = mocha.Solver(
        mocha.SGD(),
        mocha.make_solver_parameters(
            mocha.SGD(), max_iter=12, lr_policy=policy, load_from=str(tmp_path)
        ),
    )
    add_coffee_break(solver, mocha.Snapshot(str(tmp_path)), every_n_iter=3)
    validation = add_coffee_break(
        solver, mocha.ValidationPerformance(vnet, stream=io.StringIO()), every_n_iter=3
    )
    policy.setup(validation, solver)  # the snapshot folder is found through the Snapshot break
    rec = add_coffee_break(solver, Record(), every_n_iter=1)
    mocha.solve(solver, net)
    iters = [r[0] for r in rec.rows]
    rewinds = sum(1 for a, b in zip(iters, iters[1:]) if b <= a)
    # 0.5 -> 0.25 -> 0.125, then lr < min_lr stops the decays
    assert (policy.n_decays, rewinds, policy.curr_lr) == (2, 2, 0.125)
    accuracy = solver.coffee_lounge.statistics["acc-accuracy"]
    assert accuracy[0] > min(accuracy.values())
    assert "Performance on Validation Set after 12 iterations" in validation.last_report
    net.shutdown()
    vnet.shutdown()


def test_setup_needs_a_listening_policy_and_a_validation():
    solver = mocha.Solver(mocha.SGD(), mocha.make_solver_parameters(mocha.SGD()))
    with pytest.raises(TypeError, match="not a policy"):
        mocha.setup(LRPolicy.Fixed(0.1), ScriptedValidation([]), solver)
    with pytest.raises(TypeError, match="register"):
        mocha.setup(LRPolicy.DecayOnValidation(0.1, "k"), object(), solver)


def test_missing_statistic_is_a_clear_error(tmp_path):
    backend = mocha.make_backend("numpy", dtype="float64", seed=2)
    registry_reset(backend)
    net = _net(backend, layers=_ip())
    policy = LRPolicy.DecayOnValidation(0.1, "acc-accuracy")
    solver = mocha.Solver(
        mocha.SGD(), mocha.make_solver_parameters(mocha.SGD(), max_iter=2, lr_policy=policy)
    )

    class Silent(ScriptedValidation):
        def enjoy(self, lounge, solver, net, state):
            for listener in self.listeners:
                listener(lounge, net, state)

    mocha.setup(policy, add_coffee_break(solver, Silent([]), every_n_iter=1), solver)
    with pytest.raises(mocha.SolverError, match="no statistic 'acc-accuracy' at iteration 0"):
        mocha.solve(solver, net)
