"""The order of the solver loop (semantics §6.2), checked from the outside with a recording
coffee break and a recording policy: the iteration-0 break, which mini-batch and which
parameters the reported objective belongs to, the iteration policies see, and a NaN objective.
(Solver methods, policies and snapshots have their own tests under tests/plugins/solvers.)"""

import math

import numpy as np
import pytest

import mocha
from mocha import CoffeeBreak, Net, SolverError, add_coffee_break, registry_reset
from mocha.core.policies import Policy

BS, N, D, C = 2, 8, 3, 3
RNG = np.random.default_rng(7)
X = RNG.standard_normal((N, D))
Y = RNG.integers(0, C, (N, 1)).astype(float)
LR = 0.5


class Recorder(CoffeeBreak):
    """Records, at every break, the iteration, objective, parameters and the current batch."""

    def __init__(self):
        self.calls = []
        self.events = []

    def init(self, lounge, solver, net):
        self.events.append("init")

    def enjoy(self, lounge, solver, net, state):
        w, b = (p.blob.to_host().astype(np.float64) for p in net.state_of("ip").parameters)
        self.calls.append(
            {
                "iter": state.iter,
                "obj": state.obj_val,
                "w": w,
                "b": b,
                "batch": net.output_blobs["data"].to_host().astype(np.float64),
                "losses": dict(state.losses),
            }
        )

    def destroy(self, lounge, solver, net):
        self.events.append("destroy")


class RecordingPolicy(Policy):
    """A fixed learning rate that remembers the iterations it was asked about."""

    def __init__(self, lr):
        self.lr, self.seen = lr, []

    def get(self, state):
        self.seen.append(state.iter)
        return self.lr

    def initial(self):
        return self.lr


def _net(backend, x=X):
    registry_reset(backend)
    return Net(
        "loop",
        backend,
        [
            mocha.MemoryDataLayer(name="data", data=[x, Y], batch_size=BS),
            mocha.InnerProductLayer(name="ip", output_dim=C, bottoms=["data"], tops=["ip"]),
            mocha.SoftmaxLossLayer(name="loss", bottoms=["ip", "label"]),
        ],
    )


def _solve(net, max_iter, lr_policy=None):
    params = mocha.make_solver_parameters(
        mocha.SGD(),
        max_iter=max_iter,
        regu_coef=0.0,
        lr_policy=lr_policy or mocha.LRPolicy.Fixed(LR),
        mom_policy=mocha.MomPolicy.Fixed(0.0),
    )
    solver = mocha.Solver(mocha.SGD(), params)
    recorder = add_coffee_break(solver, Recorder(), every_n_iter=1)
    state = mocha.solve(solver, net)
    return state, recorder


def _loss_and_grads(w, b, x, y):
    z = x @ w.T + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    rows, labels = np.arange(len(x)), y[:, 0].astype(int)
    loss = -np.log(p[rows, labels]).mean()
    p[rows, labels] -= 1
    p /= len(x)
    return loss, p.T @ x, p.sum(0)


def _batch(t):
    """Mini-batch t (0-based) of the unshuffled data, wrapping around."""
    idx = [(t * BS + i) % N for i in range(BS)]
    return X[idx], Y[idx]


def test_loop_order(backend):
    net = _net(backend)
    state, rec = _solve(net, max_iter=5)
    calls = rec.calls
    assert [c["iter"] for c in calls] == [0, 1, 2, 3, 4, 5]  # the iteration-0 break included
    assert state.iter == 5
    for t, call in enumerate(calls):
        x, y = _batch(t)
        # at the break of iteration t the net holds mini-batch t (0-based) ...
        np.testing.assert_allclose(call["batch"], x, rtol=1e-6)
        # ... and the objective is its loss under the parameters after update t
        loss, _, _ = _loss_and_grads(call["w"], call["b"], x, y)
        assert call["obj"] == pytest.approx(loss, rel=1e-4)
        assert call["losses"] == {"loss": pytest.approx(call["obj"])}
    for t in range(1, len(calls)):
        # update t used the gradient of mini-batch t-1 at the parameters of break t-1
        prev = calls[t - 1]
        _, gw, gb = _loss_and_grads(prev["w"], prev["b"], *_batch(t - 1))
        np.testing.assert_allclose(calls[t]["w"], prev["w"] - LR * gw, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(
            calls[t]["b"],
            prev["b"] - 2 * LR * gb,  # bias_lr = 2
            rtol=1e-4,
            atol=1e-6,
        )
    assert rec.events == ["init", "destroy"]
    net.shutdown()


def test_policies_see_iteration_one_at_the_first_update(backend):
    net = _net(backend)
    policy = RecordingPolicy(0.1)
    _solve(net, max_iter=3, lr_policy=policy)
    assert policy.seen == [1, 2, 3]
    net.shutdown()


def test_max_iter_zero_runs_only_the_iteration_zero_break(backend):
    net = _net(backend)
    state, rec = _solve(net, max_iter=0)
    assert [c["iter"] for c in rec.calls] == [0]
    assert state.iter == 0 and math.isfinite(state.obj_val)
    net.shutdown()


def test_request_stop_finishes_the_iteration(backend):
    class StopAt2(CoffeeBreak):
        def enjoy(self, lounge, solver, net, state):
            if state.iter == 2:
                solver.request_stop()

    net = _net(backend)
    params = mocha.make_solver_parameters(mocha.SGD(), max_iter=10)
    solver = mocha.Solver(mocha.SGD(), params)
    add_coffee_break(solver, StopAt2(), every_n_iter=1)
    assert mocha.solve(solver, net).iter == 2
    net.shutdown()


def test_nan_objective_raises_solver_error(backend):
    x = X.copy()
    x[2] = np.nan  # the second mini-batch: the initial forward is fine, iteration 1 is not
    net = _net(backend, x)
    with pytest.raises(SolverError) as info:
        _solve(net, max_iter=5)
    message = str(info.value)
    assert "objective became nan at iteration 1 of net 'loop'" in message
    assert "loss=nan" in message
    net.shutdown()


def test_nan_objective_still_shuts_the_coffee_breaks_down(backend):
    x = X.copy()
    x[2] = np.nan
    net = _net(backend, x)
    solver = mocha.Solver(mocha.SGD(), mocha.make_solver_parameters(mocha.SGD(), max_iter=5))
    recorder = add_coffee_break(solver, Recorder(), every_n_iter=1)
    with pytest.raises(SolverError):
        mocha.solve(solver, net)
    assert recorder.events == ["init", "destroy"]
    net.shutdown()


def test_freezing_during_a_solve_takes_effect_at_the_next_update(backend):
    class FreezeAt2(CoffeeBreak):
        def enjoy(self, lounge, solver, net, state):
            if state.iter == 2:
                mocha.freeze(net, "ip")

    net = _net(backend)
    solver = mocha.Solver(mocha.SGD(), mocha.make_solver_parameters(mocha.SGD(), max_iter=5))
    add_coffee_break(solver, FreezeAt2(), every_n_iter=1)
    recorder = add_coffee_break(solver, Recorder(), every_n_iter=1)
    mocha.solve(solver, net)
    weights = [c["w"] for c in recorder.calls]
    assert not np.array_equal(weights[1], weights[2])  # updated until iteration 2 ...
    for w in weights[3:]:  # ... and not after: the trainable list is not cached
        np.testing.assert_array_equal(w, weights[2])
    net.shutdown()
